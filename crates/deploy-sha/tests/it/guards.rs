//! Bad input and refusals: exit 2 (or 3 for the environment) with nothing changed.

use lastgood_testkit::run::Ran;

use crate::Site;

#[test]
fn malformed_and_hostile_shas_change_nothing() {
    let site = Site::new();
    let initial = site.head();
    let short = initial[..7].to_owned();
    for bad in [
        short.as_str(),
        "main",
        "HEAD~1",
        "$(touch pwned)",
        "`touch pwned`",
        "0123456789abcdef0123456789abcdef0123456g",
        "--upload-pack=touch pwned",
    ] {
        // As the action passes it: through the environment.
        let Ran { code, stderr, .. } = site.bin().input("sha", bad).run();
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("`sha`"), "{bad}: {stderr}");
        site.assert_untouched(&initial);
        assert!(!site.state.exists(), "state dir created for {bad}");
    }
    assert!(!site.fx.tmp.path().join("pwned").exists());
    assert!(!site.fx.app.join("pwned").exists());
}

#[test]
fn unknown_sha_is_refused_after_fetching() {
    let site = Site::new();
    let initial = site.head();
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let Ran { code, stderr, .. } = site.run(&["--sha", unknown]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not found after fetching origin"),
        "{stderr}"
    );
    site.assert_untouched(&initial);
}

#[test]
fn sha_not_on_the_branch_is_refused_unless_allowed() {
    let site = Site::new();
    let initial = site.head();
    let side = site
        .fx
        .commit_on_branch("feature", &[("version.txt", "feature\n")], "feature");
    let Ran { code, stderr, .. } = site.run(&["--sha", &side]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("origin/main"), "{stderr}");
    assert!(stderr.contains("allow-unreachable"), "{stderr}");
    site.assert_untouched(&initial);

    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &side, "--allow-unreachable"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["deployed-sha"], side.as_str());
}

#[test]
fn app_dir_that_is_not_a_checkout() {
    let site = Site::new();
    let initial = site.head();
    let plain = site.fx.tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let Ran { code, stderr, .. } =
        site.run(&["--sha", &initial, "--app-dir", plain.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`app-dir`"), "{stderr}");
    assert!(site.app.restarts().is_empty());
}

#[test]
fn restart_command_with_unbalanced_quotes() {
    let site = Site::new();
    let initial = site.head();
    let Ran { code, stderr, .. } = site.run(&["--sha", &initial, "--restart-command", "sh 'oops"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`restart-command`"), "{stderr}");
    site.assert_untouched(&initial);
}

#[test]
fn malformed_restart_timeout_changes_nothing() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    for bad in ["0s", "soon", "5 fortnights"] {
        let Ran { code, stderr, .. } = site.run(&["--sha", &v2, "--restart-timeout", bad]);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("`restart-timeout`"), "{stderr}");
        site.assert_untouched(&initial);
    }
}

#[test]
fn missing_restart_program_is_an_environment_error_before_any_change() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let Ran { code, stderr, .. } =
        site.run(&["--sha", &v2, "--restart-command", "no-such-program-xyz"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no-such-program-xyz"), "{stderr}");
    assert_eq!(site.head(), initial);
    assert_eq!(site.state_file("previous-sha.txt"), None);
}

#[test]
fn unwritable_state_dir_is_exit_3_and_nothing_changed() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    // A regular file where a directory should be: fails even for root.
    let file = site.fx.tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let state = file.join("preprod");
    let Ran { code, stderr, .. } =
        site.run(&["--sha", &v2, "--state-dir", state.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("state directory"), "{stderr}");
    assert_eq!(site.head(), initial);
    assert!(site.app.restarts().is_empty());
}

#[test]
fn prod_requires_the_typed_confirmation() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let Ran { code, stderr, .. } = site.run(&["--sha", &v2, "--require-confirm"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("DEPLOY"), "{stderr}");
    for wrong in ["deploy", "yes", "DEPLOY!"] {
        let Ran { code, stderr, .. } =
            site.run(&["--sha", &v2, "--require-confirm", "--confirm", wrong]);
        assert_eq!(code, 2, "{wrong}: {stderr}");
        assert!(stderr.contains("type DEPLOY"), "{stderr}");
    }
    site.assert_untouched(&initial);
    let Ran { code, stderr, .. } =
        site.run(&["--sha", &v2, "--require-confirm", "--confirm", "DEPLOY"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn prod_only_takes_the_sha_validated_on_preprod() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let v3 = site.push("v3\n");
    let preprod = site.fx.tmp.path().join("state/preprod-other");
    std::fs::create_dir_all(&preprod).unwrap();
    let prod_state = site.fx.tmp.path().join("state/prod");
    let prod = |extra: &[&str]| {
        let mut args = vec![
            "--state-dir",
            prod_state.to_str().unwrap(),
            "--require-validated-from",
            preprod.to_str().unwrap(),
            "--require-confirm",
            "--confirm",
            "DEPLOY",
        ];
        args.extend_from_slice(extra);
        site.run(&args)
    };
    // Nothing validated yet.
    let Ran { code, stderr, .. } = prod(&["--sha", &v2]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nothing is validated"), "{stderr}");
    std::fs::write(preprod.join("last-validated-sha.txt"), format!("{v2}\n")).unwrap();
    // Not the validated one.
    let Ran { code, stderr, .. } = prod(&["--sha", &v3]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not the last validated SHA"), "{stderr}");
    assert_eq!(site.head(), initial);
    assert!(site.app.restarts().is_empty());
    // `sha` defaults to the validated one.
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = prod(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["deployed-sha"], v2.as_str());
}

#[test]
fn sha_is_required_without_require_validated_from() {
    let site = Site::new();
    let initial = site.head();
    let Ran { code, stderr, .. } = site.run(&[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`sha`"), "{stderr}");
    site.assert_untouched(&initial);
}

#[test]
fn missing_docker_is_exit_3_before_any_change() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    // A PATH with git and nothing else: no docker, no docker-compose.
    let bin = site.fx.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let git = which("git");
    std::os::unix::fs::symlink(git, bin.join("git")).unwrap();
    let Ran { code, stderr, .. } = site
        .bin()
        .env("PATH", &bin)
        .no_input("restart-command")
        .args(["--sha", &v2, "--compose-file", "compose.yml"])
        .run();
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("docker-compose"), "{stderr}");
    assert_eq!(site.head(), initial);
    assert_eq!(site.state_file("previous-sha.txt"), None);
    assert!(site.journal().is_empty());
}

/// The path of `program` in PATH.
fn which(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap()
}

#[test]
fn compose_file_or_service_that_looks_like_an_option_changes_nothing() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    // A stand-in docker-compose that only records how it was called.
    let bin = site.fx.tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(which("git"), bin.join("git")).unwrap();
    let calls = site.fx.tmp.path().join("compose-calls");
    let compose = bin.join("docker-compose");
    std::fs::write(
        &compose,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&compose, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (input, bad) in [
        ("compose-file", "-"),
        ("compose-file", "--project-directory=/"),
        ("compose-service", "--no-deps"),
    ] {
        let Ran { code, stderr, .. } = site
            .bin()
            .env("PATH", &bin)
            .no_input("restart-command")
            .args(["--sha", &v2])
            .arg(format!("--{input}={bad}"))
            .run();
        assert_eq!(code, 2, "{input}={bad}: {stderr}");
        assert!(stderr.contains(&format!("`{input}`")), "{stderr}");
        assert_eq!(site.head(), initial);
        assert!(site.journal().is_empty());
        assert_eq!(
            crate::read(&calls)
                .lines()
                .filter(|l| l.contains(" up "))
                .count(),
            0
        );
    }
}

#[test]
fn a_fetch_that_hangs_is_killed_and_changes_nothing() {
    let site = Site::new();
    let initial = site.head();
    // A remote that accepts connections and never answers (the kernel completes the handshake
    // for the backlog; nobody reads).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/repo.git",
        listener.local_addr().unwrap().port()
    );
    site.fx.git_app(&["remote", "add", "stall", &url]);
    let start = std::time::Instant::now();
    let Ran { code, stderr, .. } = site.run(&[
        "--sha",
        &initial,
        "--remote",
        "stall",
        "--fetch-timeout",
        "1s",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("from stall did not finish within 1s"),
        "{stderr}"
    );
    assert!(stderr.contains("`fetch-timeout`"), "{stderr}");
    // Generous upper bound: killed long before the lock timeout or git's own.
    assert!(start.elapsed() < std::time::Duration::from_secs(25));
    site.assert_untouched(&initial);
    assert_eq!(site.state_file("deploy-in-progress.json"), None);
    // The lock is free: the next deploy runs at once.
    let Ran { code, stderr, .. } = site.run(&["--sha", &initial, "--lock-timeout", "1s"]);
    assert_eq!(code, 0, "{stderr}");
    drop(listener);
}

#[test]
fn fetch_timeout_must_be_a_positive_duration() {
    let site = Site::new();
    let initial = site.head();
    for bad in ["0s", "soon"] {
        let Ran { code, stderr, .. } = site.run(&["--sha", &initial, "--fetch-timeout", bad]);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("`fetch-timeout`"), "{bad}: {stderr}");
        site.assert_untouched(&initial);
    }
}
