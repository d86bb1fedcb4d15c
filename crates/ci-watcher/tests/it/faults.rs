//! The watcher under faults: what is in service after an interrupted deploy, cancellation,
//! GitHub rate limited or down, GitHub's nullable fields, a rollback finished by `resume`, and
//! a SHA whose health gate failed here.
//!
//! Phases of the watch's conclusion: poll → (verdict) → lock → validate | roll back (the deploy
//! transaction with event `rollback`: mark, reset, restart, gate, record) → record removed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use lastgood_testkit::github::{Fault, Run, When};
use lastgood_testkit::outputs::{alive, pid_in, signal, wait_exit};

use lastgood_testkit::run::{Bin, Ran};
use lastgood_testkit::wait_until as wait_for;

use crate::common::Scenario;

/// A restart script that writes its pid, then waits while `hold` exists.
struct HeldRestart {
    dir: PathBuf,
}

impl HeldRestart {
    fn new(sc: &Scenario) -> HeldRestart {
        let dir = sc.runner_files.path().join("restart");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("restart.sh"),
            format!(
                r#"d='{d}'
echo $$ > "$d/restart.pid"
echo "start $LASTGOOD_SHA" >> "$d/restarts.log"
while [ -f "$d/hold" ]; do sleep 0.05; done
echo "done $LASTGOOD_SHA" >> "$d/restarts.log"
"#,
                d = dir.display()
            ),
        )
        .unwrap();
        HeldRestart { dir }
    }

    fn command(&self) -> String {
        format!("sh '{}'", self.dir.join("restart.sh").display())
    }

    fn hold(&self) {
        let _ = std::fs::remove_file(self.dir.join("restart.pid"));
        std::fs::write(self.dir.join("hold"), "").unwrap();
    }

    fn release(&self) {
        let _ = std::fs::remove_file(self.dir.join("hold"));
    }

    fn pid(&self) -> Option<u32> {
        pid_in(&self.dir.join("restart.pid"))
    }

    fn wait_started(&self) -> u32 {
        wait_for("the held restart", Duration::from_secs(60), || {
            self.pid().is_some()
        });
        self.pid().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("restarts.log")).unwrap_or_default()
    }
}

fn outputs(sc: &Scenario) -> std::collections::BTreeMap<String, String> {
    lastgood_testkit::outputs::read(&sc.runner_files.path().join("output"))
}

/// The real deploy-sha, with the scenario's app and state.
fn deploy_sha(sc: &Scenario, sha: &str, restart: &str) -> Bin {
    Bin::new(lastgood_testkit::workspace_bin("deploy-sha"))
        .args(["--sha", sha])
        .json()
        .arg("--app-dir")
        .arg(&sc.fx.app)
        .arg("--state-dir")
        .arg(sc.state_dir())
        .args(["--restart-command", restart])
        .args(["--health-url", &sc.health.url()])
        .args(["--health-expect-body", "good"])
        .args(["--health-attempts", "2", "--health-interval", "100ms"])
}

/// The app runs `validated`; a deploy of `deployed` is SIGKILLed after its reset, while its
/// restart runs; the restart then finishes as an orphan: `deployed` is checked out and serving.
fn interrupted_deploy(sc: &Scenario) {
    sc.fx.git_app(&["reset", "-q", "--hard", &sc.validated]);
    let restart = HeldRestart::new(sc);
    restart.hold();
    let mut child = deploy_sha(sc, &sc.deployed, &restart.command())
        .into_command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = restart.wait_started();
    signal(child.id(), "KILL");
    let _ = wait_exit(&mut child);
    restart.release();
    wait_for("the orphaned restart", Duration::from_secs(60), || {
        !alive(pid)
    });
    assert_eq!(sc.fx.head(), sc.deployed);
    assert!(restart.log().contains(&format!("done {}", sc.deployed)));
}

// ---------------------------------------------------------------------------------------------
// Requirement 1: what is in service is decided by the facts.

#[test]
fn a_ci_failure_of_a_sha_left_serving_by_an_interrupted_deploy_rolls_back_conclusion() {
    let sc = Scenario::new();
    interrupted_deploy(&sc);
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "failure")])
        .run();
    assert_eq!(r.out("action"), "rolled-back", "{}", r.stderr);
    assert_eq!(r.code, 1);
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(
        !sc.events().iter().any(|e| e.starts_with("superseded")),
        "{:?}",
        sc.events()
    );
}

#[test]
fn a_ci_failure_of_a_sha_left_serving_by_an_interrupted_deploy_rolls_back_live() {
    let sc = Scenario::new();
    interrupted_deploy(&sc);
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 1));
    let r = sc.watch();
    assert_eq!(r.out("action"), "rolled-back", "{}", r.stderr);
    assert_eq!(sc.fx.head(), sc.validated);
}

#[test]
fn a_ci_failure_of_a_sha_left_serving_by_an_interrupted_deploy_rolls_back_on_resume() {
    let sc = Scenario::new();
    interrupted_deploy(&sc);
    // A watcher started, then was killed before any verdict: its watch stays recorded.
    let mut watcher = sc
        .cmd_with(&sc.deployed, &[("timeout", "10m")])
        .into_command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first poll", Duration::from_secs(60), || {
        sc.gh.polls(&sc.deployed) >= 1
    });
    signal(watcher.id(), "KILL");
    let _ = wait_exit(&mut watcher);
    assert_eq!(sc.watch_files().len(), 1);
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 0));
    let r = sc.cmd_with(&sc.deployed, &[("resume", "true")]).run();
    assert_eq!(sc.fx.head(), sc.validated, "{}", r.stderr);
    assert!(
        sc.events().iter().any(|e| e == "rollback:deployed"),
        "{:?}\n{}",
        sc.events(),
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Requirement 2: a cancelled watcher.

#[test]
fn sigterm_while_polling_keeps_the_watch_pending_and_reports_it() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::new(7, &sc.deployed).at(When::Poll(0), "in_progress", None));
    let mut watcher = sc
        .cmd_with(&sc.deployed, &[("timeout", "10m")])
        .into_command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sc.runner_files.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for("the first poll", Duration::from_secs(60), || {
        sc.gh.polls(&sc.deployed) >= 1
    });
    signal(watcher.id(), "TERM");
    let status = wait_exit(&mut watcher);
    let stderr = std::fs::read_to_string(sc.runner_files.path().join("stderr")).unwrap_or_default();
    assert!(status.code().is_some(), "died of SIGTERM: {stderr}");
    assert_ne!(status.code(), Some(0));
    assert!(
        outputs(&sc).contains_key("action"),
        "{:?}\n{stderr}",
        outputs(&sc)
    );
    assert!(
        sc.summary().to_lowercase().contains("cancel"),
        "{}",
        sc.summary()
    );
    assert_eq!(sc.watch_files().len(), 1, "the watch stays for `resume`");
    assert_eq!(sc.fx.head(), sc.deployed);
}

#[test]
fn sigterm_while_waiting_out_a_rate_limit_cuts_the_wait_short() {
    let sc = Scenario::new();
    // GitHub asks for five minutes: longer than `wait_exit` waits for the watcher to stop.
    sc.gh.outage(Fault::RetryAfter(300));
    sc.gh.add_run(Run::completes(7, &sc.deployed, "success", 0));
    let mut watcher = sc
        .cmd_with(&sc.deployed, &[("timeout", "10m")])
        .into_command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sc.runner_files.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for("the rate-limited request", Duration::from_secs(60), || {
        sc.gh.answers().iter().any(|a| a.status == 429)
    });
    signal(watcher.id(), "TERM");
    let status = wait_exit(&mut watcher);
    let stderr = std::fs::read_to_string(sc.runner_files.path().join("stderr")).unwrap_or_default();
    assert!(status.code().is_some(), "died of SIGTERM: {stderr}");
    assert_ne!(status.code(), Some(0));
    assert!(
        stderr.contains("cancelled by SIGTERM while waiting for GitHub"),
        "{stderr}"
    );
    assert!(
        sc.summary().to_lowercase().contains("cancel"),
        "{}",
        sc.summary()
    );
    assert_eq!(sc.gh.answers().len(), 1, "no request after the signal");
    assert_eq!(sc.watch_files().len(), 1, "the watch stays for `resume`");
    assert_eq!(sc.fx.head(), sc.deployed);
}

#[test]
fn sigterm_during_the_rollback_stops_the_restart_and_resume_finishes_it() {
    let sc = Scenario::new();
    let restart = HeldRestart::new(&sc);
    restart.hold();
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 0));
    let mut watcher = sc
        .cmd_with(&sc.deployed, &[("restart-command", &restart.command())])
        .into_command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sc.runner_files.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let pid = restart.wait_started();
    signal(watcher.id(), "TERM");
    let status = wait_exit(&mut watcher);
    let stderr = std::fs::read_to_string(sc.runner_files.path().join("stderr")).unwrap_or_default();
    let orphan = alive(pid);
    restart.release();
    assert!(status.code().is_some(), "died of SIGTERM: {stderr}");
    assert!(
        !orphan,
        "the rollback's restart outlived the watcher: {stderr}"
    );
    assert!(outputs(&sc).contains_key("action"), "{:?}", outputs(&sc));
    assert!(
        sc.summary().to_lowercase().contains("cancel"),
        "{}",
        sc.summary()
    );
    assert!(
        !restart.log().contains("done"),
        "the stopped restart finished: {}",
        restart.log()
    );
    // The rollback is not done: resume finishes it.
    assert_eq!(
        sc.watch_files().len(),
        1,
        "the failed SHA may still serve: {stderr}"
    );
    let r = sc
        .cmd_with(
            &sc.deployed,
            &[("resume", "true"), ("restart-command", &restart.command())],
        )
        .run();
    assert_eq!(sc.fx.head(), sc.validated, "{}", r.stderr);
    assert!(restart.log().contains(&format!("done {}", sc.validated)));
    assert!(sc.watch_files().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Requirement 9: the journal says what a rollback finished by `resume` rolled away from.

#[test]
fn a_rollback_finished_by_resume_journals_the_sha_it_rolled_away_from() {
    let sc = Scenario::new();
    let restart = HeldRestart::new(&sc);
    restart.hold();
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 0));
    let mut watcher = sc
        .cmd_with(&sc.deployed, &[("restart-command", &restart.command())])
        .into_command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = restart.wait_started();
    signal(watcher.id(), "KILL");
    let _ = wait_exit(&mut watcher);
    restart.release();
    wait_for("the orphaned restart", Duration::from_secs(60), || {
        !alive(pid)
    });
    assert_eq!(sc.fx.head(), sc.validated, "killed after the reset");
    let r = sc.cmd_with(&sc.deployed, &[("resume", "true")]).run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    let journal = sc.journal();
    let rollback = journal
        .iter()
        .rev()
        .find(|e| e["event"] == "rollback")
        .unwrap_or_else(|| panic!("no rollback journaled: {journal:?}"));
    assert_eq!(rollback["sha"], sc.validated.as_str());
    assert_eq!(
        rollback["previous_sha"],
        sc.deployed.as_str(),
        "the rollback finished by resume names the SHA it rolled away from: {journal:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Requirement 5: a rollback target has been healthy here.

#[test]
fn a_sha_whose_health_gate_failed_here_is_never_validated_nor_a_rollback_target() {
    let sc = Scenario::new();
    sc.fx.git_app(&["reset", "-q", "--hard", &sc.validated]);
    // `deployed` fails its health gate here (its body lacks "good"): rolled back at once.
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = deploy_sha(&sc, &sc.deployed, "true").run();
    assert_eq!(
        (code, json["outcome"].as_str()),
        (1, Some("rolled-back")),
        "{stderr}"
    );
    assert_eq!(sc.fx.head(), sc.validated);
    // Its CI passes later: it is not validated here.
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "success")])
        .run();
    assert_eq!(sc.last_validated(), sc.validated, "{}", r.stderr);
    let journal = sc.journal();
    let last = journal.last().unwrap();
    assert_eq!(last["sha"], sc.deployed.as_str());
    assert!(
        last.to_string().contains("unhealthy"),
        "journaled as CI-green but unhealthy here: {last}"
    );
    // A good SHA after it; its CI fails: the rollback goes to the SHA that was healthy here.
    let next = sc.fx.commit(&[("version.txt", "good again\n")], "next");
    sc.fx.push();
    let Ran { code, stderr, .. } = deploy_sha(&sc, &next, "true").run();
    assert_eq!(code, 0, "{stderr}");
    let r = sc.cmd_with(&next, &[("conclusion", "failure")]).run();
    assert_eq!(r.out("action"), "rolled-back", "{}", r.stderr);
    assert_eq!(
        sc.fx.head(),
        sc.validated,
        "never back to a SHA that failed here"
    );
}

// ---------------------------------------------------------------------------------------------
// Requirement 6: GitHub being unreachable is not a verdict.

#[test]
fn a_primary_rate_limit_beyond_the_timeout_is_unreachable_not_on_timeout() {
    let sc = Scenario::new();
    sc.gh.outage(Fault::RateLimitReset(600));
    sc.gh.add_run(Run::completes(7, &sc.deployed, "success", 0));
    let r = sc
        .cmd_with(
            &sc.deployed,
            &[
                ("timeout", "3s"),
                ("discovery-timeout", "2s"),
                ("on-timeout", "rollback"),
                ("on-missing", "rollback"),
            ],
        )
        .run();
    assert_eq!(r.out("action"), "unreachable", "{}", r.stderr);
    assert_eq!(r.code, 3);
    assert_eq!(sc.fx.head(), sc.deployed, "nothing rolled back");
    assert_eq!(sc.watch_files().len(), 1, "the watch stays pending");
    assert!(r.stderr.contains("rate limit"), "{}", r.stderr);
    assert!(r.stderr.contains("until"), "says until when: {}", r.stderr);
}

#[test]
fn a_github_outage_is_unreachable_and_resume_decides_once_it_is_back() {
    let sc = Scenario::new();
    sc.gh.outage(Fault::Status(502, "Server Error".to_owned()));
    let r = sc
        .cmd_with(
            &sc.deployed,
            &[
                ("timeout", "4s"),
                ("discovery-timeout", "1s"),
                ("on-missing", "validate"),
                ("on-timeout", "rollback"),
            ],
        )
        .run();
    assert_eq!(r.out("action"), "unreachable", "{}", r.stderr);
    assert_eq!(r.code, 3);
    assert_eq!(
        sc.last_validated(),
        sc.validated,
        "not validated by on-missing"
    );
    assert_eq!(sc.fx.head(), sc.deployed);
    assert_eq!(sc.watch_files().len(), 1);
    sc.gh.end_outage();
    sc.gh.add_run(Run::completes(7, &sc.deployed, "success", 0));
    let r = sc.cmd_with(&sc.deployed, &[("resume", "true")]).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sc.last_validated(), sc.deployed);
}

// ---------------------------------------------------------------------------------------------
// Requirement 8: GitHub's documented nulls.

#[test]
fn a_run_listed_with_a_null_status_is_read_and_followed() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::new(7, &sc.deployed).at_null_status(When::Poll(0)).at(
            When::Poll(2),
            "completed",
            Some("success"),
        ));
    let r = sc.watch();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out("action"), "validated");
}

#[test]
fn every_nullable_field_null_still_gives_the_verdict_and_the_failed_jobs() {
    let sc = Scenario::new();
    sc.gh.nulls(true);
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 1));
    sc.gh.set_jobs(
        7,
        vec![
            lastgood_testkit::github::Job::new(70, "test", "failure").step("cargo test", "failure"),
        ],
    );
    let r = sc.watch();
    assert_eq!(r.out("action"), "rolled-back", "{}", r.stderr);
    assert!(r.out("failed-jobs").contains("test"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// Requirement 3 for the watcher: a full disk while validating or rolling back.

/// The scenario's state directory on a 1 MiB file system (the last validated SHA written again).
fn small_state(sc: &Scenario) -> Option<lastgood_testkit::fs::SmallFs> {
    let fs = lastgood_testkit::fs::SmallFs::mount_at(sc.state_dir(), 1024)?;
    std::fs::write(
        sc.state_dir().join("last-validated-sha.txt"),
        format!("{}\n", sc.validated),
    )
    .unwrap();
    Some(fs)
}

#[test]
fn a_full_disk_while_validating_keeps_the_watch_and_resume_validates_once() {
    let sc = Scenario::new();
    let Some(fs) = small_state(&sc) else { return };
    sc.gh
        .add_run(Run::completes(7, &sc.deployed, "success", 20));
    let mut watcher = sc
        .cmd(&sc.deployed)
        .into_command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sc.runner_files.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for("the first poll", Duration::from_secs(60), || {
        sc.gh.polls(&sc.deployed) >= 1
    });
    fs.fill();
    let status = wait_exit(&mut watcher);
    let stderr = std::fs::read_to_string(sc.runner_files.path().join("stderr")).unwrap_or_default();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.to_lowercase().contains("space"), "{stderr}");
    let out = outputs(&sc);
    assert_eq!(
        out.get("conclusion").map(String::as_str),
        Some("success"),
        "{out:?}\n{stderr}"
    );
    assert!(
        [sc.validated.as_str(), sc.deployed.as_str()].contains(&sc.last_validated().as_str()),
        "last-validated-sha.txt is old or new, never torn"
    );
    assert_eq!(
        sc.watch_files().len(),
        1,
        "the verdict was not recorded: resume finishes it"
    );
    fs.free();
    let r = sc.cmd_with(&sc.deployed, &[("resume", "true")]).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sc.last_validated(), sc.deployed);
    assert_eq!(
        sc.events()
            .iter()
            .filter(|e| *e == "validate:validated")
            .count(),
        1,
        "{:?}",
        sc.events()
    );
    assert!(sc.watch_files().is_empty());
}

#[test]
fn a_full_disk_during_the_watchers_rollback_writes_outputs_and_resume_finishes_it() {
    let sc = Scenario::new();
    let Some(fs) = small_state(&sc) else { return };
    let script = sc.runner_files.path().join("fill.sh");
    std::fs::write(
        &script,
        format!(
            "dd if=/dev/zero of='{f}' bs=4k 2>/dev/null; head -c 4095 /dev/zero >> '{f}' 2>/dev/null; exit 0\n",
            f = fs.filler().display()
        ),
    )
    .unwrap();
    let fill = format!("sh '{}'", script.display());
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 0));
    let r = sc
        .cmd_with(&sc.deployed, &[("restart-command", &fill)])
        .run();
    assert_ne!(r.code, 0, "{}", r.stderr);
    let out = outputs(&sc);
    assert!(
        ["rolled-back", "rollback-failed"].contains(&out.get("action").map_or("", String::as_str)),
        "{out:?}\n{}",
        r.stderr
    );
    assert_eq!(sc.fx.head(), sc.validated);
    fs.free();
    let r = sc
        .cmd_with(
            &sc.deployed,
            &[("resume", "true"), ("restart-command", "true")],
        )
        .run();
    assert_eq!(sc.fx.head(), sc.validated, "{}", r.stderr);
    assert!(sc.watch_files().is_empty(), "{}", r.stderr);
    let journal = sc.journal();
    let rollback = journal.iter().rev().find(|e| e["event"] == "rollback");
    assert!(
        rollback.is_some_and(|e| e["previous_sha"] == sc.deployed.as_str()),
        "{journal:?}"
    );
    assert!(
        !sc.events().iter().any(|e| e.starts_with("superseded")),
        "{:?}",
        sc.events()
    );
}

// ---------------------------------------------------------------------------------------------
// Requirement 7 for the watcher: `logs/` stays bounded.

#[test]
fn old_watcher_logs_are_pruned_when_a_watcher_detaches() {
    let sc = Scenario::new();
    let logs = sc.state_dir().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for i in 0..60 {
        std::fs::write(
            logs.join(format!("ci-watcher-{:040x}.log", i + 1)),
            "an old watch\n",
        )
        .unwrap();
    }
    sc.gh.add_run(Run::completes(7, &sc.deployed, "success", 0));
    let r = sc.cmd_with(&sc.deployed, &[("detach", "true")]).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let own = logs.join(format!("ci-watcher-{}.log", sc.deployed));
    wait_for("the detached verdict", Duration::from_secs(60), || {
        sc.watch_files().is_empty()
    });
    let count = std::fs::read_dir(&logs)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("ci-watcher-")
        })
        .count();
    assert!(count <= 21, "{count} watcher logs kept");
    assert!(own.exists(), "the log of the new watch is kept");
}

#[test]
fn a_sha_never_put_in_service_here_is_not_validated_by_a_green_ci() {
    let sc = Scenario::new();
    // Pushed, but its deploy was cancelled before the reset: it never ran here.
    let never = sc
        .fx
        .commit(&[("version.txt", "good but never deployed\n")], "never");
    sc.fx.push();
    let r = sc.cmd_with(&never, &[("conclusion", "success")]).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out("action"), "unhealthy");
    assert_eq!(sc.last_validated(), sc.validated, "{}", r.stderr);
    // The SHA in service validates as before.
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "success")])
        .run();
    assert_eq!(r.out("action"), "validated", "{}", r.stderr);
    assert_eq!(sc.last_validated(), sc.deployed);
}

// ---------------------------------------------------------------------------------------------
// F5 (found by `cargo xtask chaos`): a full disk when the watch is recorded must not lose the
// verdict. The state directory refuses `watches/<sha>.json`: nothing would be pending, so a
// later CI failure would never roll back. The watcher refuses to detach and watches here.

#[test]
fn a_full_disk_when_detaching_does_not_lose_a_later_ci_failure() {
    let sc = Scenario::new();
    let Some(fs) = small_state(&sc) else { return };
    sc.gh.add_run(
        Run::new(7, &sc.deployed)
            .at(When::Poll(0), "in_progress", None)
            .at(When::Poll(4), "completed", Some("failure")),
    );
    fs.fill();
    let mut watcher = sc
        .cmd_with(&sc.deployed, &[("detach", "true")])
        .into_command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(sc.runner_files.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    // The disk is freed once the watcher started (it was full only while it recorded the watch).
    wait_for(
        "the watcher's first look at GitHub",
        Duration::from_secs(60),
        || sc.gh.polls(&sc.deployed) >= 1,
    );
    fs.free();
    let status = wait_exit(&mut watcher);
    let stderr = std::fs::read_to_string(sc.runner_files.path().join("stderr")).unwrap_or_default();
    // Whatever ran in the background finishes, then `resume` (the boot unit) does its part.
    wait_for("no watcher left", Duration::from_secs(60), || {
        sc.watch_files().is_empty() || sc.fx.head() == sc.validated
    });
    let r = sc.cmd_with(&sc.deployed, &[("resume", "true")]).run();
    assert_eq!(
        sc.fx.head(),
        sc.validated,
        "the CI failure of the deployed SHA was lost\nwatcher ({status}): {stderr}\nresume: {}",
        r.stderr
    );
    assert!(sc.watch_files().is_empty(), "{}", r.stderr);
    assert!(
        stderr.contains("cannot record the watch"),
        "says that the watch could not be recorded: {stderr}"
    );
    assert_eq!(status.code(), Some(3), "the step fails visibly: {stderr}");
    let out = outputs(&sc);
    assert_eq!(
        out.get("action").map(String::as_str),
        Some("rolled-back"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Requirement 1 (seen in a `cargo xtask chaos` trace): `superseded` means a newer deploy
// replaced the SHA, never that it was already rolled back.

#[test]
fn a_failure_verdict_after_the_rollback_is_not_journaled_as_superseded() {
    let sc = Scenario::new();
    sc.gh.add_run(Run::completes(7, &sc.deployed, "failure", 0));
    let r = sc.watch();
    assert_eq!(r.out("action"), "rolled-back", "{}", r.stderr);
    // The ci-verdict workflow delivers the same failure afterwards.
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "failure")])
        .run();
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(
        !sc.events().iter().any(|e| e.starts_with("superseded")),
        "no newer deploy replaced it: {:?}\n{}",
        sc.events(),
        r.stderr
    );
    assert_eq!(r.out("action"), "rolled-back", "{}", r.stderr);
    assert_eq!(
        sc.events()
            .iter()
            .filter(|e| e.starts_with("rollback"))
            .count(),
        1,
        "rolled back once: {:?}",
        sc.events()
    );
}

#[test]
fn a_failure_verdict_of_a_sha_its_own_health_gate_rolled_back_is_not_superseded() {
    let sc = Scenario::new();
    sc.fx.git_app(&["reset", "-q", "--hard", &sc.validated]);
    let Ran { code, stderr, .. } = deploy_sha(&sc, &sc.deployed, "true").run();
    assert_eq!(code, 1, "its gate fails: {stderr}");
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "failure")])
        .run();
    assert!(
        !sc.events().iter().any(|e| e.starts_with("superseded")),
        "{:?}\n{}",
        sc.events(),
        r.stderr
    );
    assert_eq!(sc.fx.head(), sc.validated);
}

// ---------------------------------------------------------------------------------------------
// Requirement 5 (found by `cargo xtask chaos`, seed 20261201 rounds 123, 488, 554): a SHA left
// checked out by an interrupted deploy never passed its health gate here; a green CI must not
// validate it (it became the rollback target while the app at that commit could not start).

#[test]
fn a_green_ci_does_not_validate_a_sha_whose_deploy_was_killed_before_its_gate() {
    let sc = Scenario::new();
    interrupted_deploy(&sc);
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "success")])
        .run();
    assert_eq!(
        sc.last_validated(),
        sc.validated,
        "validated without a health gate: {}",
        r.stderr
    );
    assert_eq!(r.out("action"), "unhealthy", "{}", r.stderr);
    assert!(r.stderr.contains("interrupted"), "says why: {}", r.stderr);
}

#[test]
fn a_green_ci_does_not_validate_a_sha_whose_deploy_was_cancelled_during_its_restart() {
    let sc = Scenario::new();
    sc.fx.git_app(&["reset", "-q", "--hard", &sc.validated]);
    let restart = HeldRestart::new(&sc);
    restart.hold();
    let mut child = deploy_sha(&sc, &sc.deployed, &restart.command())
        .into_command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    restart.wait_started();
    signal(child.id(), "TERM");
    let _ = wait_exit(&mut child);
    restart.release();
    assert_eq!(sc.fx.head(), sc.deployed, "cancelled after the reset");
    let r = sc
        .cmd_with(&sc.deployed, &[("conclusion", "success")])
        .run();
    assert_eq!(sc.last_validated(), sc.validated, "{}", r.stderr);
    assert_eq!(r.out("action"), "unhealthy", "{}", r.stderr);
}
