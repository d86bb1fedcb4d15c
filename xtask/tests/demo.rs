//! `cargo xtask demo` in local-process mode, end to end, in a fresh `CARGO_TARGET_DIR`: the
//! story's key lines are in the timeline, and nothing is left behind (no process, no file but
//! the log it names), whether it runs to the end or is interrupted by Ctrl-C.
//!
//! The binaries come from this test's own target directory (`cargo test --workspace`, which
//! `cargo xtask ci` runs, builds every one of them first).
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

const NEEDED: [&str; 6] = [
    "save-rollback-point",
    "deploy-sha",
    "ci-watcher",
    "notify-discord",
    "health-probe",
    "sample-app",
];

/// The directory of the workspace's binaries, or `None` (said) when they are not all built.
fn bin_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_BIN_EXE_xtask"))
        .parent()?
        .to_path_buf();
    let missing: Vec<&str> = NEEDED
        .into_iter()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    if missing.is_empty() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: {} not built in {} (run `cargo build --workspace --bins`; `cargo test --workspace` builds them)",
            missing.join(", "),
            dir.display()
        );
        None
    }
}

fn demo(target: &Path, bins: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["demo", "--restart", "processes", "--bin-dir"])
        .arg(bins)
        .env("CARGO_TARGET_DIR", target)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn alive(pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else {
        return false;
    };
    rustix::process::test_kill_process(p).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_none_or(|(_, r)| !r.trim_start().starts_with('Z'))
        })
}

/// Every pid the log names: the apps the restart started, the detached watchers.
fn pids_in(log: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for part in log
        .split("(pid ")
        .skip(1)
        .chain(log.split("\"pid\": \"").skip(1))
    {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(pid) = digits.parse() {
            pids.push(pid);
        }
    }
    pids
}

/// Nothing but the log under `target`, and none of the log's processes alive.
fn assert_nothing_left(target: &Path) {
    let log_path = target.join("xtask/demo.log");
    let log = std::fs::read_to_string(&log_path).expect("the demo's log");
    let mut files = Vec::new();
    let mut dirs = vec![target.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert_eq!(files, vec![log_path], "files left behind");
    let pids = pids_in(&log);
    assert!(
        !pids.is_empty(),
        "the log names the processes started:\n{log}"
    );
    // A process stopped at the end may take a moment to be reaped.
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<i32> = pids.into_iter().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn the_whole_story_runs_as_local_processes_and_leaves_nothing_behind() {
    let Some(bins) = bin_dir() else { return };
    let target = tempfile::tempdir().unwrap();
    let out = demo(target.path(), &bins).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for line in [
        "app        local processes restarted by `restart-command` (--restart processes)",
        "preprod  deploy-sha",
        "✔ deployed, health gate passed",
        "ci-watcher (detach)                ✔ detached (pid",
        "✔ validated: last-validated-sha.txt ←",
        "↩ health gate failed → rolled back to",
        "✘ queued → in progress → failure",
        "↩ rolled back to",
        "check the confirmation             ↩ refused: \"type DEPLOY",
        "is not the last validated SHA of",
        "Commits in",
        "save-rollback-point (backup)       ✔ previous",
        "prod     health-probe                       ✘ DOWN after 3 tries",
        "(transition recovered)",
        "┃ 🚀 PREPROD — Deploy started  [blue]",
        "┃ ⏪ PREPROD — Rolled back to the last good SHA  [orange]",
        "┃ 🎯 PROD — Deploy succeeded ✅  [green] (edited)",
        "┃   │ FAIL Required test coverage of 90% not reached",
        "The service's version over time",
        "preprod and prod serve",
        "cleaned up: ",
        "logs of every binary: ",
    ] {
        assert!(
            stdout.contains(line),
            "no `{line}` in the timeline:\n{stdout}"
        );
    }
    assert!(stdout.contains(&target.path().join("xtask/demo.log").display().to_string()));
    assert_nothing_left(target.path());
}

#[test]
fn ctrl_c_cleans_up_every_process_and_file() {
    let Some(bins) = bin_dir() else { return };
    let target = tempfile::tempdir().unwrap();
    use std::os::unix::process::CommandExt;
    // A process group of its own, signalled as a terminal's Ctrl-C signals its foreground group.
    let mut child = demo(target.path(), &bins)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    // Interrupt while the detached watcher follows CI and both apps run.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("ci-watcher (detach)") {
            break;
        }
    }
    assert!(seen.contains("ci-watcher (detach)"), "{seen}");
    rustix::process::kill_process_group(pgid, Signal::INT).unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(seen.contains("■ the story stopped: interrupted"), "{seen}");
    assert!(seen.contains("cleaned up: "), "{seen}");
    assert_nothing_left(target.path());
}
