//! Detached watchers outlive the job, and `resume` finishes a watcher that died.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lastgood_testkit::github::{Run, TOKEN, When};

use lastgood_testkit::wait_until;

use crate::common::{Scenario, watcher};

/// Pids of every process whose initial environment holds `marker` (what the runner kills).
fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(environ) = std::fs::read(entry.path().join("environ"))
            && String::from_utf8_lossy(&environ)
                .split('\0')
                .any(|kv| kv == format!("RUNNER_TRACKING_ID={marker}"))
        {
            pids.push(pid);
        }
    }
    pids
}

fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie (state Z) is dead: its files and locks are released.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// The session id of `pid` (field 6 of /proc/<pid>/stat).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(3)?.parse().ok()
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

fn has_event(state: &Path, event: &str) -> bool {
    std::fs::read_to_string(state.join("journal.jsonl"))
        .unwrap_or_default()
        .contains(event)
}

#[test]
fn a_detached_watcher_outlives_the_job_and_concludes() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(70, &sc.deployed, "success", 10));
    let marker = format!("github_{}", std::process::id());
    let ran = sc
        .cmd_with(&sc.deployed, &[("detach", "true")])
        .env("RUNNER_TRACKING_ID", &marker)
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let pid: u32 = ran.out("pid").parse().unwrap();
    let log = ran.out("log-file").to_owned();
    assert!(
        log.ends_with(&format!("logs/ci-watcher-{}.log", sc.deployed)),
        "{log}"
    );
    assert_eq!(sc.watch_files().len(), 1, "recorded while it runs");
    // The job ends: the runner kills every process started with its tracking id.
    for p in processes_with(&marker) {
        assert_ne!(p, pid, "the watcher must not carry the tracking id");
        kill(p);
    }
    // A session of its own (setsid), so the job's process group is not its group.
    wait_until("the watcher's own session", Duration::from_secs(10), || {
        session_of(pid).is_none_or(|sid| sid == pid)
    });
    // The token is not on its command line.
    if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        assert!(!String::from_utf8_lossy(&cmdline).contains(TOKEN));
    }
    wait_until("the detached verdict", Duration::from_secs(60), || {
        has_event(sc.state_dir(), "\"validate\"")
    });
    wait_until("the watch record to go", Duration::from_secs(10), || {
        sc.watch_files().is_empty()
    });
    assert_eq!(sc.last_validated(), sc.deployed);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("validated"), "{text}");
    assert!(!sc.all_files().contains(TOKEN));
}

#[test]
fn a_killed_watcher_is_finished_by_resume() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::new(80, &sc.deployed).at(When::Poll(0), "in_progress", None));
    let ran = sc.cmd_with(&sc.deployed, &[("detach", "true")]).run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let pid: u32 = ran.out("pid").parse().unwrap();
    wait_until("the watcher to poll", Duration::from_secs(60), || {
        sc.gh.polls(&sc.deployed) >= 2
    });
    kill(pid);
    wait_until("the watcher to die", Duration::from_secs(10), || {
        is_gone(pid)
    });
    assert_eq!(sc.watch_files().len(), 1, "the watch is still pending");
    // CI ends while nobody watches: a re-run failed.
    sc.gh
        .add_run(Run::completes(81, &sc.deployed, "failure", 0).number(81));

    let resume = || {
        watcher()
            .input("token", TOKEN)
            .json_last_line()
            .args(["--resume", "true", "--state-dir"])
            .arg(sc.state_dir())
    };
    let ran = resume().run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(sc.watch_files().is_empty());
    // A second resume finds nothing to do.
    let again = resume().run();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("no pending watch"),
        "{}",
        again.stderr
    );
    let rollbacks = sc
        .events()
        .iter()
        .filter(|e| e.starts_with("rollback:"))
        .count();
    assert_eq!(rollbacks, 1, "acted on once");
}

#[test]
fn resume_skips_a_watch_a_live_watcher_holds() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::new(90, &sc.deployed).at(When::Poll(0), "in_progress", None));
    let ran = sc
        .cmd_with(&sc.deployed, &[("detach", "true"), ("timeout", "1m")])
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let pid: u32 = ran.out("pid").parse().unwrap();
    // The first request is the detaching step's own preflight: the second is the watcher's, made
    // once it holds the watch.
    wait_until("the watcher to poll", Duration::from_secs(60), || {
        sc.gh.polls(&sc.deployed) >= 2
    });
    let ran = watcher()
        .input("token", TOKEN)
        .args(["--resume", "true", "--state-dir"])
        .arg(sc.state_dir())
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("already being watched"),
        "{}",
        ran.stderr
    );
    assert_eq!(sc.watch_files().len(), 1);
    kill(pid);
    wait_until("the watcher to die", Duration::from_secs(10), || {
        is_gone(pid)
    });
}

/// `ci-verdict.yml`'s call in a `workflow_run` job: `sha` from `workflow_run.head_sha`,
/// `conclusion` and `run-url` from the event, no token, no workflow. It concludes the pending
/// watch of the detached watcher (the fallback), which then stands down: acted on once.
#[test]
fn the_ci_verdict_call_concludes_the_detached_watch_and_the_fallback_stands_down() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::new(95, &sc.deployed).at(When::Poll(0), "in_progress", None));
    let ran = sc
        .cmd_with(&sc.deployed, &[("detach", "true"), ("timeout", "2m")])
        .run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let pid: u32 = ran.out("pid").parse().unwrap();
    wait_until("the fallback to poll", Duration::from_secs(60), || {
        sc.gh.polls(&sc.deployed) >= 1
    });
    // By the time the `workflow_run` job runs, the default branch has moved on (GITHUB_SHA).
    let tip = sc.fx.commit(&[("notes.txt", "later\n")], "docs: later");
    sc.fx.push();
    let event = sc.runner_files.path().join("event.json");
    let run_url = "https://github.com/octo-org/octo-repo/actions/runs/95";
    std::fs::write(
        &event,
        serde_json::json!({"workflow_run": {
            "head_sha": sc.deployed, "conclusion": "failure", "event": "push", "html_url": run_url
        }})
        .to_string(),
    )
    .unwrap();
    let verdict = sc
        .cmd_with(
            &sc.deployed,
            &[
                ("conclusion", "failure"),
                ("run-url", run_url),
                ("workflow", ""),
                ("api-url", ""),
                ("repository", ""),
            ],
        )
        .env_remove("INPUT_TOKEN")
        // What the runner sets in every job (the API is the stand-in: any request would show).
        .env("GITHUB_REPOSITORY", lastgood_testkit::github::REPOSITORY)
        .env("GITHUB_API_URL", sc.gh.url())
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", &tip)
        .run();
    assert_eq!(verdict.code, 1, "{}", verdict.stderr);
    assert_eq!(verdict.out("action"), "rolled-back", "{}", verdict.stderr);
    assert_eq!(verdict.out("run-url"), run_url);
    assert_eq!(sc.fx.head(), sc.validated);
    assert!(
        verdict.stderr.contains("pending watch"),
        "the verdict names the watch it concluded: {}",
        verdict.stderr
    );
    // CI's end now shows on GitHub too: the fallback finds the watch concluded and exits.
    sc.gh
        .add_run(Run::completes(96, &sc.deployed, "failure", 0).number(96));
    wait_until(
        "the fallback to stand down",
        Duration::from_secs(60),
        || is_gone(pid),
    );
    let events = sc.events();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("rollback:")).count(),
        1,
        "rolled back once: {events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e.starts_with("ci-failed")).count(),
        1,
        "the verdict was acted on once: {events:?}"
    );
    assert!(sc.watch_files().is_empty());
    assert_eq!(sc.fx.head(), sc.validated);
}
