//! End to end on the real docker engine: the sample app (`examples/sample-app`) runs under
//! compose, reading a deployed checkout (a clone of a bare `origin`), and `deploy-sha` moves it.
//!
//! Every test starts its own compose project on free ports and tears it down on drop (even on
//! panic). Without docker the tests print why and pass, unless `LASTGOOD_REQUIRE_DOCKER=1`.

use std::path::Path;

use lastgood_testkit::docker::{self, SampleApp};
use lastgood_testkit::git::GitFixture;
use lastgood_testkit::run::Bin;
use serde_json::Value;

/// A running sample app in `environment` over a fresh fixture whose first commit holds `VERSION`,
/// with `restart: "no"`.
fn start(environment: &str) -> Option<(GitFixture, SampleApp)> {
    start_with(environment, "no")
}

/// [`start`] with the restart policy `restart`.
fn start_with(environment: &str, restart: &str) -> Option<(GitFixture, SampleApp)> {
    if !docker::require_docker() {
        return None;
    }
    let fx = GitFixture::with_files(&[("VERSION", "1.0\n")]);
    let app = SampleApp::new(environment, &fx.app).restart_policy(restart);
    app.project.up();
    let initial = fx.initial.clone();
    app.wait_health(|s, b| s == 200 && b.contains(&initial))
        .unwrap_or_else(|| panic!("the sample app never came up:\n{}", app.project.logs()));
    Some((fx, app))
}

/// A binary of this workspace, scrubbed, driving `app`'s compose project.
fn bin(path: &Path, app: &SampleApp) -> Bin {
    Bin::new(path).envs(app.project.vars())
}

/// `deploy-sha` for `app` (through its compose file unless `extra` has a `--restart-command`),
/// with a quick health gate proving the deployed SHA answers.
fn deploy(fx: &GitFixture, app: &SampleApp, state: &Path, extra: &[&str]) -> Bin {
    let cmd = bin(assert_cmd::cargo::cargo_bin!("deploy-sha"), app)
        .arg("--app-dir")
        .arg(&fx.app)
        .arg("--state-dir")
        .arg(state)
        .args(["--environment", &app.environment])
        .args(["--health-url", &app.health_url()])
        .args(["--health-expect-version", "sha"])
        .args(["--health-attempts", "10"])
        .args(["--health-interval", "500ms"])
        .args(["--health-timeout", "3s"])
        .args(["--lock-timeout", "30s"])
        .json()
        .args(extra);
    if extra.contains(&"--restart-command") {
        cmd
    } else {
        cmd.arg("--compose-file")
            .arg(docker::sample_compose_file(&app.environment))
    }
}

/// `save-rollback-point` (another package's binary: `cargo test --workspace` builds it).
fn save_rollback_point(fx: &GitFixture, app: &SampleApp, state: &Path) -> Bin {
    let srp = lastgood_testkit::workspace_bin("save-rollback-point");
    bin(&srp, app)
        .arg("--app-dir")
        .arg(&fx.app)
        .arg("--state-dir")
        .arg(state)
        .args(["--lock-timeout", "30s"])
        .json()
}

/// Runs `bin`, checks its exit code, and returns its `--json` outputs.
fn run(bin: Bin, code: i32) -> Value {
    bin.expects(code).run().outputs
}

/// Runs `bin`, checks its exit code, and returns its stderr.
fn stderr_of(bin: Bin, code: i32) -> String {
    bin.expects(code).run().stderr
}

/// Commits version 2.0 (`VERSION`) and pushes it; returns its SHA.
fn push_v2(fx: &GitFixture) -> String {
    let v2 = fx.commit(&[("VERSION", "2.0\n")], "v2");
    fx.push();
    v2
}

/// The commit the running app says it serves (its revision record; status 200 required).
fn answering_version(app: &SampleApp) -> String {
    let (status, body) = app.get(docker::REVISION_PATH).expect("the app answers");
    assert_eq!(status, 200, "{body}");
    docker::record_revision(&body).expect("a revision line")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_good_sha_is_deployed_after_a_rollback_point_and_answers() {
    let Some((fx, app)) = start("preprod") else {
        return;
    };
    let state = fx.tmp.path().join("state-preprod");

    let point = run(save_rollback_point(&fx, &app, &state), 0);
    assert_eq!(point["previous-sha"], fx.initial.as_str());
    assert_eq!(point["rollback-sha"], fx.initial.as_str());
    assert_eq!(
        read(&state.join("previous-sha.txt")),
        format!("{}\n", fx.initial)
    );
    assert_eq!(
        read(&state.join("last-validated-sha.txt")),
        format!("{}\n", fx.initial)
    );

    let v2 = push_v2(&fx);
    let out = run(deploy(&fx, &app, &state, &["--sha", &v2]), 0);
    assert_eq!(out["deployed-sha"], v2.as_str());
    assert_eq!(out["previous-sha"], fx.initial.as_str());
    assert_eq!(out["healthy"], "true");
    assert_eq!(out["rolled-back"], "false");
    assert_eq!(out["outcome"], "deployed");

    assert_eq!(answering_version(&app), v2);
    let (status, record) = app.get(docker::REVISION_PATH).expect("record");
    assert_eq!(status, 200);
    assert!(
        record.contains("Mangetamain") && record.contains("\nversion: 2.0\n"),
        "{record}"
    );
    assert_eq!(fx.head(), v2);
    assert_eq!(
        read(&state.join("previous-sha.txt")),
        format!("{}\n", fx.initial)
    );
    let last = lastgood_testkit::state::journal(&state)
        .pop()
        .expect("a journal entry");
    assert_eq!(last["event"], "deploy");
    assert_eq!(last["sha"], v2.as_str());
    assert_eq!(last["outcome"], "deployed");
}

/// A broken commit (`fail` in `app.conf`) is rolled back: the previous version answers again.
fn broken_sha_is_rolled_back(fail: &str, restart: &str) {
    let Some((fx, app)) = start_with("preprod", restart) else {
        return;
    };
    let state = fx.tmp.path().join("state-preprod");
    let broken = fx.commit(&[("app.conf", &format!("fail={fail}\n"))], "broken");
    fx.push();

    let out = run(deploy(&fx, &app, &state, &["--sha", &broken]), 1);
    assert_eq!(out["outcome"], "rolled-back", "{out}");
    assert_eq!(out["rolled-back"], "true");
    assert_eq!(out["previous-sha"], fx.initial.as_str());
    assert_eq!(out["deployed-sha"], fx.initial.as_str());

    assert_eq!(fx.head(), fx.initial);
    assert_eq!(answering_version(&app), fx.initial);
    let outcomes: Vec<Value> = lastgood_testkit::state::journal(&state)
        .iter()
        .map(|e| e["outcome"].clone())
        .collect();
    assert!(
        outcomes.contains(&Value::from("rolled-back")),
        "{outcomes:?}"
    );
}

#[test]
fn a_sha_failing_its_health_check_is_rolled_back() {
    broken_sha_is_rolled_back("health", "no");
}

#[test]
fn a_sha_failing_at_start_is_rolled_back_even_while_docker_restarts_it_in_a_loop() {
    // The compose files' default policy: docker keeps restarting the broken container until the
    // rollback recreates it.
    broken_sha_is_rolled_back("start", "unless-stopped");
}

#[test]
fn prod_refuses_unconfirmed_or_unvalidated_shas_and_stays_untouched() {
    let Some((fx, app)) = start("prod") else {
        return;
    };
    let state = fx.tmp.path().join("state-prod");
    let preprod = fx.tmp.path().join("state-preprod");
    let preprod_str = preprod.to_str().expect("UTF-8 path");
    std::fs::create_dir_all(&preprod).expect("preprod state");
    std::fs::write(
        preprod.join("last-validated-sha.txt"),
        format!("{}\n", fx.initial),
    )
    .expect("validate initial");
    let v2 = push_v2(&fx);
    let confirmed = [
        "--require-confirm=true",
        "--confirm",
        "DEPLOY",
        "--require-validated-from",
        preprod_str,
    ];
    let untouched = || {
        assert_eq!(fx.head(), fx.initial);
        assert_eq!(answering_version(&app), fx.initial);
    };

    // Not confirmed.
    let err = stderr_of(
        deploy(&fx, &app, &state, &["--sha", &v2, "--require-confirm=true"]),
        2,
    );
    assert!(err.contains("confirm"), "{err}");
    untouched();
    let err = stderr_of(
        deploy(
            &fx,
            &app,
            &state,
            &[
                "--sha",
                &v2,
                "--require-confirm=true",
                "--confirm",
                "deploy",
            ],
        ),
        2,
    );
    assert!(err.contains("confirm"), "{err}");
    untouched();

    // Confirmed, but not the SHA validated on preprod.
    let err = stderr_of(
        deploy(
            &fx,
            &app,
            &state,
            &[&["--sha", &v2][..], &confirmed].concat(),
        ),
        2,
    );
    assert!(err.contains("validated"), "{err}");
    untouched();

    // Once preprod validated it, the SHA defaults to it and prod moves.
    std::fs::write(preprod.join("last-validated-sha.txt"), format!("{v2}\n")).expect("validate");
    let out = run(deploy(&fx, &app, &state, &confirmed), 0);
    assert_eq!(out["deployed-sha"], v2.as_str());
    assert_eq!(out["outcome"], "deployed");
    assert_eq!(answering_version(&app), v2);
}

#[test]
fn local_edits_are_kept_in_backups() {
    let Some((fx, app)) = start("preprod") else {
        return;
    };
    let state = fx.tmp.path().join("state-preprod");
    fx.write_app("VERSION", "1.0-hotfix-on-the-vm\n");

    let point = run(save_rollback_point(&fx, &app, &state), 0);
    let archive = point["backup"].as_str().unwrap_or_default();
    assert!(
        Path::new(archive).is_file(),
        "save-rollback-point wrote no archive: {point}"
    );

    let v2 = push_v2(&fx);
    run(deploy(&fx, &app, &state, &["--sha", &v2]), 0);
    assert_eq!(fx.read_app("VERSION"), "2.0\n");
    assert_eq!(answering_version(&app), v2);

    let patches: Vec<String> = std::fs::read_dir(state.join("backups"))
        .expect("backups/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .map(|p| read(&p))
        .collect();
    assert!(
        patches.iter().any(|p| p.contains("1.0-hotfix-on-the-vm")),
        "the local edit is in no patch of backups/: {patches:?}"
    );
}

#[test]
fn the_seeds_plain_restart_also_loads_the_new_commit_and_rolls_back() {
    let Some((fx, app)) = start("preprod") else {
        return;
    };
    let state = fx.tmp.path().join("state-preprod");
    let v2 = push_v2(&fx);
    let out = run(
        deploy(
            &fx,
            &app,
            &state,
            &["--sha", &v2, "--restart-mode", "restart"],
        ),
        0,
    );
    assert_eq!(out["outcome"], "deployed");
    assert_eq!(answering_version(&app), v2);

    let broken = fx.commit(&[("app.conf", "fail=start\n")], "broken");
    fx.push();
    let out = run(
        deploy(
            &fx,
            &app,
            &state,
            &["--sha", &broken, "--restart-mode", "restart"],
        ),
        1,
    );
    assert_eq!(out["outcome"], "rolled-back", "{out}");
    assert_eq!(answering_version(&app), v2);
}

#[test]
fn the_version_check_catches_a_restart_that_did_not_happen() {
    let Some((fx, app)) = start("preprod") else {
        return;
    };
    let state = fx.tmp.path().join("state-preprod");
    let v2 = push_v2(&fx);
    // A restart command that restarts nothing: the old container keeps answering, healthy, with
    // the old version; only `health-expect-version: sha` tells.
    let out = run(
        deploy(
            &fx,
            &app,
            &state,
            &["--sha", &v2, "--restart-command", "true"],
        ),
        1,
    );
    assert_eq!(out["outcome"], "rolled-back", "{out}");
    assert_eq!(fx.head(), fx.initial);
    assert_eq!(answering_version(&app), fx.initial);
}
