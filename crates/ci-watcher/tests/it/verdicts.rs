//! Verdicts: validated, rolled back, superseded, missing, newest run and latest attempt decide.

use std::time::{Duration, Instant};

use lastgood_testkit::github::{Fault, Job, Run, TOKEN, When};

use crate::common::Scenario;

#[test]
fn success_validates_the_sha() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(41, &sc.deployed, "success", 2));
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    assert_eq!(ran.out("conclusion"), "success");
    assert!(ran.out("run-url").ends_with("/actions/runs/41"));
    assert_eq!(sc.last_validated(), sc.deployed);
    assert_eq!(sc.fx.head(), sc.deployed, "nothing redeployed");
    assert!(
        sc.events().contains(&"validate:validated".to_owned()),
        "{:?}",
        sc.events()
    );
    assert!(sc.watch_files().is_empty(), "the watch is concluded");
    assert!(sc.summary().contains("CI passed"), "{}", sc.summary());
}

#[test]
fn failure_rolls_back_to_the_last_validated_sha_and_names_the_failed_step() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(42, &sc.deployed, "failure", 1));
    sc.gh.set_jobs(
        42,
        vec![
            Job::new(420, "lint", "success").step("Run clippy", "success"),
            Job::new(421, "test", "failure")
                .step("Set up job", "success")
                .step("Run tests", "failure")
                .step("Post checkout", "success"),
        ],
    );
    sc.gh.set_log(
        421,
        "2026-11-26T15:00:00.0000000Z ##[group]Run cargo test\n\
         2026-11-26T15:00:01.0000000Z test checkout::pays ... FAILED\n\
         2026-11-26T15:00:02.0000000Z assertion failed: total == 42\n\
         2026-11-26T15:00:03.0000000Z ##[error]Process completed with exit code 101.\n\
         2026-11-26T15:00:04.0000000Z Post job cleanup.\n",
    );
    let ran = sc.watch();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(ran.out("conclusion"), "failure");
    assert_eq!(ran.out("failed-jobs"), "test / Run tests");
    assert_eq!(sc.fx.head(), sc.validated, "back on the last validated SHA");
    assert_eq!(sc.fx.read_app("version.txt"), "good\n");
    assert_eq!(sc.last_validated(), sc.validated);
    let events = sc.events();
    assert!(
        events.contains(&"ci-failed:failed".to_owned()),
        "{events:?}"
    );
    assert!(
        events.contains(&"rollback:deployed".to_owned()),
        "{events:?}"
    );
    let summary = sc.summary();
    assert!(summary.contains("test / Run tests"), "{summary}");
    assert!(
        summary.contains("assertion failed: total == 42"),
        "{summary}"
    );
    assert!(
        !summary.contains("2026-11-26T15:00:02"),
        "timestamps stripped: {summary}"
    );
    assert!(
        !sc.health.requests().is_empty(),
        "the rollback was health-checked"
    );
    // The token never left for the log host, and is nowhere to be read.
    let logs = sc.gh.log_requests();
    assert_eq!(logs.len(), 1);
    assert!(logs.iter().all(|r| r.header("authorization").is_none()));
    for text in [&ran.stdout, &ran.stderr, &sc.all_files()] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}

#[test]
fn failure_of_a_sha_already_replaced_is_superseded_and_touches_nothing() {
    let sc = Scenario::new();
    let newer = sc.fx.commit(&[("version.txt", "newer\n")], "newer");
    sc.fx.push();
    sc.fx.git_app(&["fetch", "-q", "origin"]);
    sc.fx.git_app(&["reset", "-q", "--hard", &newer]);
    sc.gh
        .add_run(Run::completes(43, &sc.deployed, "failure", 0));
    let ran = sc.watch();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "superseded");
    assert_eq!(sc.fx.head(), newer, "the newer deploy is untouched");
    assert_eq!(sc.last_validated(), sc.validated);
    assert!(
        sc.events().contains(&"superseded:superseded".to_owned()),
        "{:?}",
        sc.events()
    );
    assert!(sc.health.requests().is_empty(), "no restart, no probe");
}

#[test]
fn the_newest_run_decides() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(50, &sc.deployed, "failure", 0).number(7))
        .add_run(Run::completes(51, &sc.deployed, "success", 2).number(8))
        .add_run(
            Run::completes(52, &sc.deployed, "failure", 0)
                .number(9)
                .event("pull_request"),
        );
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    assert!(ran.out("run-url").ends_with("/runs/51"));
}

#[test]
fn the_latest_attempt_decides() {
    let sc = Scenario::new();
    // Attempt 1 failed; a re-run (attempt 2) is queued before the first look, then passes.
    sc.gh.add_run(
        Run::new(60, &sc.deployed)
            .at(When::Poll(0), "completed", Some("failure"))
            .rerun(When::Poll(0), 2, "queued", None)
            .rerun(When::Poll(2), 2, "completed", Some("success")),
    );
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    assert!(ran.stderr.contains("attempt 2"), "{}", ran.stderr);
}

#[test]
fn a_run_that_never_appears_ends_at_the_discovery_timeout() {
    let sc = Scenario::new();
    let start = Instant::now();
    let ran = sc
        .cmd_with(
            &sc.deployed,
            &[("discovery-timeout", "500ms"), ("timeout", "10m")],
        )
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "missing");
    assert!(ran.stderr.contains("warning:"), "{}", ran.stderr);
    // Far below the 10m timeout (a generous upper bound).
    assert!(start.elapsed() < Duration::from_secs(120));
    assert_eq!(sc.fx.head(), sc.deployed);
    assert_eq!(sc.last_validated(), sc.validated);
    assert!(
        sc.events().contains(&"ci-watch:missing".to_owned()),
        "{:?}",
        sc.events()
    );
    assert!(sc.watch_files().is_empty());
}

#[test]
fn missing_run_with_on_missing_rollback_rolls_back() {
    let sc = Scenario::new();
    let ran = sc
        .cmd_with(
            &sc.deployed,
            &[("discovery-timeout", "300ms"), ("on-missing", "rollback")],
        )
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(sc.fx.head(), sc.validated);
}

#[test]
fn a_cancelled_run_is_inconclusive_and_kept() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(44, &sc.deployed, "cancelled", 1));
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "inconclusive");
    assert_eq!(ran.out("conclusion"), "cancelled");
    assert_eq!(sc.fx.head(), sc.deployed);
}

#[test]
fn a_run_still_going_at_the_timeout_is_timed_out() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::new(45, &sc.deployed).at(When::Poll(0), "in_progress", None));
    let ran = sc.cmd_with(&sc.deployed, &[("timeout", "600ms")]).run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "timed-out");
    assert_eq!(sc.fx.head(), sc.deployed);
}

#[test]
fn rate_limits_are_waited_out_then_polling_goes_on() {
    for (fault, status) in [(Fault::RetryAfter(1), 429), (Fault::RateLimitReset(1), 403)] {
        let sc = Scenario::new();
        sc.gh
            .add_run(Run::completes(46, &sc.deployed, "success", 1));
        sc.gh.fault(fault);
        let ran = sc.watch();
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let answers = sc.gh.answers();
        assert_eq!(answers[0].status, status);
        let gap = answers[1].request.at.duration_since(answers[0].request.at);
        assert!(gap >= Duration::from_secs(1), "waited {gap:?}");
        if status == 429 {
            assert!(ran.stderr.contains("rate limited"), "{}", ran.stderr);
        }
    }
}

#[test]
fn an_unchanged_run_is_mostly_answered_304() {
    let sc = Scenario::new();
    sc.gh.add_run(
        Run::new(48, &sc.deployed)
            .at(When::Poll(0), "in_progress", None)
            .at(When::Poll(12), "completed", Some("success")),
    );
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let listings = sc.gh.run_listings();
    let not_modified = listings.iter().filter(|a| a.status == 304).count();
    let full = listings.iter().filter(|a| a.status == 200).count();
    assert_eq!(full, 2, "first look and the change only");
    assert_eq!(not_modified, 11);
    assert!(
        listings[1..]
            .iter()
            .all(|a| a.request.header("if-none-match").is_some())
    );
}

#[test]
fn late_success_of_an_older_sha_leaves_the_newer_validated_sha() {
    let sc = Scenario::new();
    let newer = sc.fx.commit(&[("version.txt", "newer\n")], "newer");
    sc.fx.push();
    sc.fx.git_app(&["fetch", "-q", "origin"]);
    std::fs::write(
        sc.state_dir().join("last-validated-sha.txt"),
        format!("{newer}\n"),
    )
    .unwrap();
    sc.gh
        .add_run(Run::completes(49, &sc.deployed, "success", 0));
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    assert_eq!(sc.last_validated(), newer, "never moves backwards");
    assert!(
        sc.events().contains(&"validate:unchanged".to_owned()),
        "{:?}",
        sc.events()
    );
}

#[test]
fn a_known_conclusion_is_applied_without_polling() {
    let sc = Scenario::new();
    let ran = sc
        .cmd_with(
            &sc.deployed,
            &[
                ("conclusion", "failure"),
                ("workflow", ""),
                (
                    "run-url",
                    "https://github.com/octo-org/octo-repo/actions/runs/9",
                ),
            ],
        )
        .env_remove("INPUT_TOKEN")
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(
        ran.out("run-url"),
        "https://github.com/octo-org/octo-repo/actions/runs/9"
    );
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(sc.gh.answers().is_empty(), "GitHub was not asked");
}

#[test]
fn no_last_validated_sha_means_no_rollback() {
    let sc = Scenario::new();
    std::fs::remove_file(sc.state_dir().join("last-validated-sha.txt")).unwrap();
    sc.gh
        .add_run(Run::completes(53, &sc.deployed, "failure", 0));
    let ran = sc.watch();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rollback-failed");
    assert!(
        ran.stderr.contains("no last validated SHA"),
        "{}",
        ran.stderr
    );
    assert_eq!(sc.fx.head(), sc.deployed);
}

#[test]
fn a_newer_deploy_that_was_interrupted_does_not_supersede() {
    let sc = Scenario::new();
    let newer = sc.fx.commit(&[("version.txt", "newer\n")], "newer");
    sc.fx.push();
    sc.fx.git_app(&["fetch", "-q", "origin"]);
    sc.fx.git_app(&["reset", "-q", "--hard", &newer]);
    // Killed after its reset: the SHA in service is still the watched one.
    std::fs::write(
        sc.state_dir().join("deploy-in-progress.json"),
        serde_json::json!({
            "sha": newer, "previous_sha": sc.deployed, "pid": 999_999,
            "since": "2026-11-26T15:00:00Z", "event": "deploy"
        })
        .to_string(),
    )
    .unwrap();
    sc.gh
        .add_run(Run::completes(54, &sc.deployed, "failure", 0));
    let ran = sc.watch();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(sc.fx.head(), sc.validated);
}

#[test]
fn a_known_conclusion_and_a_live_watcher_act_on_the_verdict_once() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(55, &sc.deployed, "failure", 0));
    // Hold the environment lock so both processes reach the verdict while the watch is recorded.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sc.state_dir().join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let spawn = |bin: lastgood_testkit::run::Bin, name: &str| {
        let err = std::fs::File::create(logs.path().join(name)).unwrap();
        bin.into_command()
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap()
    };
    let waiting = |name: &str| {
        std::fs::read_to_string(logs.path().join(name))
            .unwrap_or_default()
            .contains("waiting up to")
    };
    let mut watcher = spawn(sc.cmd(&sc.deployed), "watcher");
    lastgood_testkit::wait_until(
        "the watcher to wait for the lock",
        Duration::from_secs(60),
        || waiting("watcher"),
    );
    let mut known = spawn(
        sc.cmd_with(&sc.deployed, &[("conclusion", "failure"), ("workflow", "")])
            .env_remove("INPUT_TOKEN"),
        "known",
    );
    lastgood_testkit::wait_until(
        "the conclusion to wait for the lock",
        Duration::from_secs(60),
        || waiting("known"),
    );
    drop(lock);
    let codes = [watcher.wait().unwrap(), known.wait().unwrap()];
    let events = sc.events();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("ci-failed")).count(),
        1,
        "the verdict was acted on twice: {events:?}\n{codes:?}"
    );
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(sc.watch_files().is_empty());
}

#[test]
fn validation_moves_only_forward_along_the_branch() {
    let sc = Scenario::new();
    // CI passed for a commit of another branch (a `workflow_run` job without a branch filter).
    let side = sc
        .fx
        .commit_on_branch("feature", &[("version.txt", "side\n")], "side");
    sc.fx.git_app(&["fetch", "-q", "origin", "feature"]);
    let known = |sha: &str| {
        sc.cmd_with(sha, &[("conclusion", "success"), ("workflow", "")])
            .env_remove("INPUT_TOKEN")
            .run()
    };
    let out = known(&side);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        sc.last_validated(),
        sc.validated,
        "a SHA that is not on origin/main is never the last validated SHA"
    );
    assert!(out.stderr.contains("origin/main"), "{out:?}");
    // And so an older SHA of main cannot then move it backwards.
    let out = known(&sc.deployed);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sc.last_validated(), sc.deployed);
}

#[test]
fn watcher_journal_entries_carry_duration_previous_sha_and_run_url() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(56, &sc.deployed, "success", 1));
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let journal = sc.journal();
    let v = journal
        .iter()
        .find(|e| e["event"] == "validate")
        .unwrap_or_else(|| panic!("{journal:?}"));
    assert_eq!(v["environment"], "preprod");
    assert_eq!(v["sha"], sc.deployed.as_str());
    assert_eq!(v["previous_sha"], sc.validated.as_str(), "{v}");
    assert!(v["duration_ms"].is_u64(), "{v}");
    assert!(
        v["run_url"].as_str().unwrap().ends_with("/actions/runs/56"),
        "{v}"
    );
    assert!(v["time"].as_str().unwrap().ends_with('Z'), "{v}");
}

#[test]
fn a_rollback_that_could_not_start_stays_pending_for_resume() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(57, &sc.deployed, "failure", 0));
    // The remote is unreachable while the verdict is acted on: the rollback cannot fetch.
    let away = sc.fx.tmp.path().join("origin-away");
    std::fs::rename(&sc.fx.origin, &away).unwrap();
    let ran = sc.watch();
    std::fs::rename(&away, &sc.fx.origin).unwrap();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rollback-failed");
    assert_eq!(sc.fx.head(), sc.deployed);
    assert_eq!(
        sc.watch_files().len(),
        1,
        "the failed SHA is still in service: the watch stays for resume"
    );
    let ran = sc.cmd_with(&sc.deployed, &[("resume", "true")]).run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(sc.watch_files().is_empty());
}

#[test]
fn in_a_workflow_run_job_the_sha_defaults_to_the_ci_runs_commit_not_github_sha() {
    let sc = Scenario::new();
    // CI failed for an older commit; by the time the `workflow_run` job runs, GITHUB_SHA is the
    // default branch's tip: the newer deploy, which must not be rolled back.
    let event = sc.runner_files.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"workflow_run": {"head_sha": sc.validated, "conclusion": "failure"}})
            .to_string(),
    )
    .unwrap();
    let ran = sc
        .cmd_with(
            &sc.deployed,
            &[("sha", ""), ("conclusion", "failure"), ("workflow", "")],
        )
        .env_remove("INPUT_TOKEN")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", &sc.deployed)
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "superseded", "{}", ran.stderr);
    assert_eq!(sc.fx.head(), sc.deployed, "the newer deploy is untouched");
}
