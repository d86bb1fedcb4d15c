//! Two deploys at once, lock timeouts, and a deploy killed in the middle.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};

use lastgood_testkit::run::Ran;
use lastgood_testkit::wait_until;

use crate::{Site, read};

/// How long a background deploy may take to get somewhere (generous: a slow, busy machine).
const BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts deploy-sha in the background, stderr to `log`.
fn spawn(site: &Site, extra: &[&str], log: &std::path::Path) -> Child {
    site.bin()
        .args(extra)
        .into_command()
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Starts deploying `sha` in the background with the restart held (until [`release`]), stderr
/// to `<name>.log`; returns once the restart has started.
fn start_held(site: &Site, sha: &str, name: &str) -> (Child, PathBuf) {
    std::fs::write(&site.app.hold, "").unwrap();
    let log = site.fx.tmp.path().join(format!("{name}.log"));
    let child = spawn(site, &["--sha", sha], &log);
    wait_until("the restart", BOUND, || {
        site.app.restarts().contains(&format!("start {sha}"))
    });
    (child, log)
}

/// Lets a held restart finish.
fn release(site: &Site) {
    std::fs::remove_file(&site.app.hold).unwrap();
}

/// Kills a deploy with SIGKILL (no cleanup runs), then lets its orphaned restart finish.
fn kill_and_release(site: &Site, mut child: Child) {
    child.kill().unwrap();
    let _ = child.wait();
    release(site);
}

#[test]
fn a_second_deploy_waits_and_says_who_holds_the_lock() {
    let site = Site::new();
    let v2 = site.push("v2\n");
    let v3 = site.push("v3\n");
    let (mut a, log_a) = start_held(&site, &v2, "a");
    let log_b = site.fx.tmp.path().join("b.log");
    let mut b = spawn(&site, &["--sha", &v3], &log_b);
    wait_until("the second deploy to wait", BOUND, || {
        read(&log_b).contains("held by")
    });
    let said = read(&log_b);
    assert!(said.contains(&format!("pid {}", a.id())), "{said}");
    assert!(said.contains(&format!("deploy-sha {}", &v2[..7])), "{said}");
    release(&site);
    assert!(a.wait().unwrap().success(), "{}", read(&log_a));
    assert!(b.wait().unwrap().success(), "{}", read(&log_b));
    assert_eq!(site.head(), v3);
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), v2);
    let journal = site.journal();
    let shas: Vec<&str> = journal.iter().map(|e| e["sha"].as_str().unwrap()).collect();
    assert_eq!(shas, vec![v2.as_str(), v3.as_str()], "one after the other");
    assert_eq!(
        site.app.restarts(),
        vec![
            format!("start {v2}"),
            format!("done {v2}"),
            format!("start {v3}"),
            format!("done {v3}")
        ],
        "restarts never interleave"
    );
}

#[test]
fn a_second_deploy_gives_up_after_lock_timeout() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let v3 = site.push("v3\n");
    let (mut a, log_a) = start_held(&site, &v2, "a");
    let Ran { code, stderr, .. } = site.run(&["--sha", &v3, "--lock-timeout", "200ms"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(&format!("pid {}", a.id())), "{stderr}");
    assert!(stderr.contains("lock-timeout"), "{stderr}");
    release(&site);
    assert!(a.wait().unwrap().success(), "{}", read(&log_a));
    assert_eq!(site.head(), v2);
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), initial);
    assert_eq!(site.journal().len(), 1);
}

#[test]
fn a_deploy_killed_during_the_restart_is_finished_by_the_next_run() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let (a, _) = start_held(&site, &v2, "a");
    kill_and_release(&site, a);
    wait_until("the orphaned restart", BOUND, || {
        site.app.restarts().contains(&format!("done {v2}"))
    });

    // Every file is old or new, never torn; the marker tells what was going on.
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), initial);
    assert!(site.journal().is_empty());
    assert!(site.state.join("deploy-in-progress.json").exists());

    // The lock is free (the kernel released it): the next run does not wait.
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &v2, "--lock-timeout", "1s"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("held by"), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(json["outcome"], "deployed");
    assert_eq!(site.head(), v2);
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), initial);
    assert!(!site.state.join("deploy-in-progress.json").exists());
    let journal = site.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["outcome"], "deployed");
}

#[test]
fn an_interrupted_broken_deploy_rolls_back_to_the_real_previous() {
    let site = Site::new();
    let initial = site.head();
    let bad = site.push("broken\n");
    let (a, _) = start_held(&site, &bad, "a");
    kill_and_release(&site, a);
    assert_eq!(site.head(), bad, "killed after the reset");
    // The re-run finds the broken SHA checked out, fails its health gate and goes back to the
    // SHA in service before the interrupted deploy.
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(site.head(), initial);
}

#[test]
fn a_sha_left_by_an_interrupted_deploy_is_never_a_rollback_target() {
    let site = Site::new();
    let initial = site.head();
    let v2 = site.push("v2\n");
    let (a, _) = start_held(&site, &v2, "a");
    kill_and_release(&site, a);
    assert_eq!(site.head(), v2);
    // v2 never passed its health gate: a failing deploy of v3 goes back to the initial SHA.
    let bad = site.push("broken\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(json["previous-sha"], initial.as_str());
    assert_eq!(site.head(), initial);
    assert_eq!(site.state_file("previous-sha.txt").unwrap(), initial);
}

#[test]
fn a_sha_rolled_away_from_by_an_interrupted_ci_rollback_is_never_a_rollback_target() {
    let site = Site::new();
    let initial = site.head();
    let failed_ci = site.push("v2\n");
    assert_eq!(site.run(&["--sha", &failed_ci]).code, 0);
    // ci-watcher was rolling back failed_ci (its CI failed) to initial, the last validated SHA,
    // and was killed after its reset.
    site.fx.git_app(&["reset", "-q", "--hard", &initial]);
    std::fs::write(
        site.state.join("deploy-in-progress.json"),
        serde_json::json!({
            "sha": initial, "previous_sha": failed_ci, "pid": 999_999,
            "since": "2026-11-26T15:00:00Z", "event": "rollback"
        })
        .to_string(),
    )
    .unwrap();
    let bad = site.push("broken\n");
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = site.run(&["--sha", &bad]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["outcome"], "rolled-back");
    assert_eq!(
        site.head(),
        initial,
        "the SHA whose CI failed is not put back in service"
    );
    assert_ne!(site.state_file("previous-sha.txt").unwrap(), failed_ci);
}
