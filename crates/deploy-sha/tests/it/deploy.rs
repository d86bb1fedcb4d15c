//! Deploys that succeed, fail and roll back.

use lastgood_testkit::run::Ran;

use crate::{Site, read};

#[test]
fn good_deploy_sets_outputs_state_journal_and_summary() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        summary: md,
        ..
    } = site
        .bin()
        .summary_with_links()
        .args(["--sha", &v2, "--health-expect-version", "sha"])
        .run();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["deployed-sha"], v2.as_str());
    assert_eq!(json["previous-sha"], initial.as_str());
    assert_eq!(json["healthy"], "true");
    assert_eq!(json["rolled-back"], "false");
    assert_eq!(json["outcome"], "deployed");
    assert!(json["duration-ms"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(site.head(), v2);
    assert_eq!(site.fx.read_app("version.txt"), "v2\n");
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), initial);
    assert_eq!(
        site.app.restarts(),
        vec![format!("start {v2}"), format!("done {v2}")]
    );
    let journal = site.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["event"], "deploy");
    assert_eq!(journal[0]["outcome"], "deployed");
    assert_eq!(journal[0]["sha"], v2.as_str());
    assert_eq!(journal[0]["previous_sha"], initial.as_str());
    assert_eq!(journal[0]["environment"], "preprod");
    assert!(journal[0]["duration_ms"].is_u64());
    // Lock released, no marker left behind.
    assert!(!site.state.join("lock.holder.json").exists());
    assert!(!site.state.join("deploy-in-progress.json").exists());
    assert!(md.contains("deployed"), "{md}");
    assert!(
        md.contains(&format!("https://github.com/o/r/commit/{v2}")),
        "{md}"
    );
}

#[test]
fn redeploying_the_same_sha_restarts_and_checks_again() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    assert_eq!(site.run(&["--sha", &v2]).code, 0);
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &v2.to_uppercase()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["deployed-sha"], v2.as_str());
    assert_eq!(json["previous-sha"], v2.as_str());
    assert_eq!(
        site.state_file("previous-sha.txt").unwrap(),
        initial,
        "a re-deploy keeps the real previous SHA"
    );
    assert_eq!(site.app.restarts().len(), 4, "restarted twice");
    assert_eq!(site.journal().len(), 2);
}

#[test]
fn broken_deploy_is_rolled_back_and_previous_is_restored() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    assert_eq!(site.run(&["--sha", &v2]).code, 0);
    let bad = site.push("broken\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(json["rolled-back"], "true");
    assert_eq!(json["healthy"], "true");
    assert_eq!(json["deployed-sha"], v2.as_str());
    assert_eq!(json["previous-sha"], v2.as_str());
    assert_eq!(site.head(), v2, "HEAD is back");
    assert_eq!(site.fx.read_app("version.txt"), "v2\n");
    assert_eq!(
        site.state_file("previous-sha.txt").unwrap(),
        initial,
        "previous never names the SHA that just failed"
    );
    assert!(stderr.contains("health check failed"), "{stderr}");
    assert!(stderr.contains("status 500"), "{stderr}");
    let journal = site.journal();
    assert_eq!(journal.len(), 3);
    assert_eq!(journal[1]["event"], "deploy");
    assert_eq!(journal[1]["outcome"], "rolled-back");
    assert_eq!(journal[1]["sha"], bad.as_str());
    assert!(journal[1]["detail"].as_str().unwrap().contains("500"));
    assert_eq!(journal[2]["event"], "rollback");
    assert_eq!(journal[2]["outcome"], "rolled-back");
    assert_eq!(journal[2]["sha"], v2.as_str());
    assert_eq!(journal[2]["previous_sha"], bad.as_str());
    let restarts = site.app.restarts();
    assert_eq!(restarts.last().unwrap(), &format!("done {v2}"));
}

#[test]
fn without_rollback_the_failed_sha_stays() {
    let site = Site::new();
    let initial = site.head();
    let bad = site.push("broken\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad, "--rollback-on-failure", "false"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["rolled-back"], "false");
    assert_eq!(json["healthy"], "false");
    assert_eq!(json["deployed-sha"], bad.as_str());
    assert_eq!(site.head(), bad);
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), initial);
    assert_eq!(site.journal()[0]["outcome"], "failed");
}

#[test]
fn failing_restart_is_a_failed_deploy_and_rolls_back() {
    let site = Site::new();
    let initial = site.head();
    let bad = site
        .fx
        .commit(&[("fail-restart", "x"), ("version.txt", "v2\n")], "boom");
    site.fx.push();
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(site.head(), initial);
    assert!(
        stderr.contains("cannot start: fail-restart is present"),
        "the restart's output tail is shown: {stderr}"
    );
    assert!(!site.fx.app.join("fail-restart").exists());
}

#[test]
fn local_edits_to_tracked_files_are_saved_before_the_reset() {
    let site = Site::new();
    let v2 = site.push("v2\n");
    site.fx.write_app("version.txt", "hotfix on the server\n");
    site.fx.write_app("notes.txt", "untracked notes\n");
    let Ran { code, stderr, .. } = site.run(&["--sha", &v2]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(site.fx.read_app("version.txt"), "v2\n");
    assert_eq!(
        site.fx.read_app("notes.txt"),
        "untracked notes\n",
        "untracked files are left alone"
    );
    let patches = site.backups("local-changes-");
    assert_eq!(patches.len(), 2, "{patches:?}");
    let patch = patches.iter().find(|p| p.extension().unwrap() == "patch");
    let patch = std::fs::read_to_string(patch.unwrap()).unwrap();
    assert!(patch.contains("+hotfix on the server"), "{patch}");
    assert!(stderr.contains("saved before the reset"), "{stderr}");
    // The patch applies back onto the old commit.
    let archive = patches
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"));
    assert!(std::fs::metadata(archive.unwrap()).unwrap().len() > 0);
}

#[test]
fn previous_and_last_validated_keywords() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    assert_eq!(site.run(&["--sha", &v2]).code, 0);
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", "previous"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["deployed-sha"], initial.as_str());
    std::fs::write(site.state.join("last-validated-sha.txt"), format!("{v2}\n")).unwrap();
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", "last-validated"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["deployed-sha"], v2.as_str());
}

#[test]
fn a_rollback_that_fails_too_is_reported_as_failed() {
    let site = Site::new();
    let bad1 = site.push("broken 1\n");
    let Ran {
        code,
        outputs: json,
        ..
    } = site.run(&["--sha", &bad1, "--rollback-on-failure", "false"]);
    assert_eq!((code, json["outcome"].as_str()), (1, Some("failed")));
    let bad2 = site.push("broken 2\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad2]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["rolled-back"], "true", "the previous SHA was put back");
    assert_eq!(json["healthy"], "false");
    assert_eq!(json["deployed-sha"], bad1.as_str());
    assert_eq!(site.head(), bad1);
    assert!(stderr.contains("rollback to"), "{stderr}");
    let journal = site.journal();
    assert_eq!(journal.last().unwrap()["event"], "rollback");
    assert_eq!(journal.last().unwrap()["outcome"], "failed");
}

#[test]
fn a_failed_redeploy_of_the_sha_in_service_does_not_move_the_service() {
    let site = Site::new();
    let v2 = site.push("v2\n");
    assert_eq!(site.run(&["--sha", &v2]).code, 0);
    // An untracked file (left alone by the reset) makes the restart fail.
    site.fx.write_app("fail-restart", "x");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &v2]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["rolled-back"], "false");
    assert_eq!(json["deployed-sha"], v2.as_str());
    assert_eq!(site.head(), v2, "the service stays as it was");
    assert!(stderr.contains("already in service"), "{stderr}");
    assert!(
        read(&site.state.join("logs/restart.log")).contains("cannot start"),
        "the last restart's output is kept"
    );
}

#[test]
fn a_hung_restart_is_killed_after_restart_timeout_and_rolled_back() {
    let site = Site::new();
    let initial = site.head();
    let hangs = site
        .fx
        .commit(&[("hang", "x"), ("version.txt", "v2\n")], "hangs");
    site.fx.push();
    let start = std::time::Instant::now();
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&[
        "--sha",
        &hangs,
        "--restart-command",
        "sh -c 'if [ -f hang ]; then echo hanging; sleep 600; fi'",
        "--restart-timeout",
        "500ms",
    ]);
    assert!(start.elapsed() < std::time::Duration::from_secs(120));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(json["deployed-sha"], initial.as_str());
    assert_eq!(site.head(), initial);
    assert!(
        stderr.contains("did not finish within 500ms") && stderr.contains("restart-timeout"),
        "{stderr}"
    );
    let journal = site.journal();
    assert!(
        journal[0]["detail"]
            .as_str()
            .unwrap()
            .contains("did not finish within 500ms"),
        "{journal:?}"
    );
    assert!(!site.state.join("lock.holder.json").exists());
}

#[test]
fn an_untracked_file_the_new_sha_starts_tracking_is_saved_before_the_reset() {
    let site = Site::new();
    // Made by hand on the server, then committed upstream with other content.
    site.fx.write_app("config.txt", "made on the server\n");
    let v2 = site.fx.commit(
        &[("config.txt", "from the repo\n"), ("version.txt", "v2\n")],
        "track config",
    );
    site.fx.push();
    let Ran { code, stderr, .. } = site.run(&["--sha", &v2]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(site.fx.read_app("config.txt"), "from the repo\n");
    let archives: Vec<_> = site
        .backups("local-changes-")
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    assert_eq!(archives.len(), 1, "{stderr}");
    let out = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&archives[0])
        .arg("config.txt")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "made on the server\n");
    assert!(stderr.contains("config.txt"), "{stderr}");
}
