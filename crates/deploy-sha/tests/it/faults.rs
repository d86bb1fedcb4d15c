//! Faults at every phase boundary of the deploy transaction, then the next run.
//!
//! The phases of a deploy: **verify** (lock, fetch, reachability, tools) → **mark**
//! (`deploy-in-progress.json`, `previous-sha.txt`, backups of local changes) → **reset** →
//! **restart** → **gate** (health) → **roll back** (reset, restart and gate of the SHA in
//! service before) → **record** (journal, marker removed). The faults: SIGKILL (nothing of ours
//! runs after it), SIGTERM and SIGINT (the runner cancelling the job), and a write failure (the
//! state directory on a small real file system that the test fills up).
//!
//! Hooks: a restart script that writes its pid (and a background grandchild's) and waits while
//! `hold-<sha>` exists; a health server that waits while `hold-health` exists; both can fill the
//! state directory's file system at that instant.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lastgood_testkit::fs::SmallFs;
use lastgood_testkit::outputs::{alive, peak_rss_kib, pid_in, signal, wait_exit};
use lastgood_testkit::server::{Reply, TestServer};

use lastgood_testkit::run::{Bin, Ran};

use crate::{Site, read};

/// Waits (up to a generous bound) until `cond` holds.
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    lastgood_testkit::wait_until(what, Duration::from_secs(60), cond);
}

/// A site with hooks in its restart and health check.
struct Rig {
    site: Site,
    hooks: PathBuf,
    health: TestServer,
    runner: PathBuf,
    /// The state directory's file system, when the test fills it.
    fs: Option<SmallFs>,
}

impl Rig {
    fn new() -> Rig {
        Self::with_fs(None)
    }

    /// A rig whose state directory is on `fs`.
    fn with_fs(fs: Option<SmallFs>) -> Rig {
        let mut site = Site::new();
        if let Some(fs) = &fs {
            site.state = fs.path().join("preprod");
        }
        let hooks = site.fx.tmp.path().join("hooks");
        let runner = site.fx.tmp.path().join("runner");
        std::fs::create_dir_all(&hooks).unwrap();
        std::fs::create_dir_all(&runner).unwrap();
        std::fs::write(
            hooks.join("restart.sh"),
            format!(
                r#"d='{d}'
echo $$ > "$d/restart.pid"
echo "start $LASTGOOD_SHA" >> "$d/restarts.log"
if [ -f "$d/hold-$LASTGOOD_SHA" ]; then
  sleep 1000 &
  echo $! > "$d/grandchild.pid"
  while [ -f "$d/hold-$LASTGOOD_SHA" ]; do sleep 0.05; done
  kill $! 2>/dev/null
fi
if [ -f "$d/fill-at-restart-$LASTGOOD_SHA" ]; then
  f=$(cat "$d/fill-at-restart-$LASTGOOD_SHA")
  rm -f "$d/fill-at-restart-$LASTGOOD_SHA"
  dd if=/dev/zero of="$f" bs=4k 2>/dev/null
  head -c 4095 /dev/zero >> "$f" 2>/dev/null
fi
if [ -f fail-restart ]; then echo 'cannot start: fail-restart is present' >&2; exit 1; fi
echo "done $LASTGOOD_SHA" >> "$d/restarts.log"
"#,
                d = hooks.display()
            ),
        )
        .unwrap();
        let checkout = site.fx.app.clone();
        let h = hooks.clone();
        let health = TestServer::start(move |_| {
            let _ = std::fs::write(h.join("health-asked"), "");
            while h.join("hold-health").exists() {
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(target) = std::fs::read_to_string(h.join("fill-at-health")) {
                let _ = std::fs::remove_file(h.join("fill-at-health"));
                lastgood_testkit::fs::fill(Path::new(target.trim()));
            }
            let version = std::fs::read_to_string(checkout.join("version.txt")).unwrap_or_default();
            if version.contains("broken") {
                return Reply::text(500, "broken");
            }
            let head = lastgood_testkit::git::git_in(&checkout, &["rev-parse", "HEAD"]);
            Reply::text(200, format!("version={} sha={head}", version.trim()))
        });
        Rig {
            site,
            hooks,
            health,
            runner,
            fs,
        }
    }

    fn bin(&self) -> Bin {
        self.site
            .bin()
            .env("GITHUB_OUTPUT", self.runner.join("output"))
            .env("GITHUB_STEP_SUMMARY", self.runner.join("summary"))
            .args(["--restart-command", &self.restart_command()])
            .args(["--health-url", &self.health.url()])
            .args(["--health-timeout", "30s"])
    }

    fn restart_command(&self) -> String {
        format!("sh '{}'", self.hooks.join("restart.sh").display())
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.bin()
            .args(args)
            .into_command()
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.stderr_path()).unwrap())
            .spawn()
            .unwrap()
    }

    fn stderr_path(&self) -> PathBuf {
        self.runner.join("stderr")
    }

    /// Runs to the end; (exit code, outputs, stderr). The runner files are emptied first.
    fn run(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        self.clear_runner_files();
        let Ran {
            code,
            outputs,
            stderr,
            ..
        } = self.bin().args(args).run();
        (code, outputs, stderr)
    }

    fn clear_runner_files(&self) {
        let _ = std::fs::remove_file(self.runner.join("output"));
        let _ = std::fs::remove_file(self.runner.join("summary"));
    }

    fn outputs(&self) -> std::collections::BTreeMap<String, String> {
        lastgood_testkit::outputs::read(&self.runner.join("output"))
    }

    fn summary(&self) -> String {
        read(&self.runner.join("summary"))
    }

    fn hold(&self, sha: &str) {
        std::fs::write(self.hooks.join(format!("hold-{sha}")), "").unwrap();
    }

    fn release(&self, sha: &str) {
        let _ = std::fs::remove_file(self.hooks.join(format!("hold-{sha}")));
    }

    fn hold_health(&self) {
        std::fs::write(self.hooks.join("hold-health"), "").unwrap();
    }

    fn release_health(&self) {
        let _ = std::fs::remove_file(self.hooks.join("hold-health"));
    }

    /// The restart of `sha` makes the state directory's file system full before it ends.
    fn fill_at_restart(&self, sha: &str) {
        let fs = self.fs.as_ref().unwrap();
        std::fs::write(
            self.hooks.join(format!("fill-at-restart-{sha}")),
            fs.filler().to_string_lossy().as_bytes(),
        )
        .unwrap();
    }

    /// The next health request makes the state directory's file system full before answering.
    fn fill_at_health(&self) {
        let fs = self.fs.as_ref().unwrap();
        std::fs::write(
            self.hooks.join("fill-at-health"),
            fs.filler().to_string_lossy().as_bytes(),
        )
        .unwrap();
    }

    fn restarts(&self) -> Vec<String> {
        read(&self.hooks.join("restarts.log"))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the restart of `sha` runs and holds (its grandchild started).
    fn wait_held_restart(&self, sha: &str) -> (u32, u32) {
        let _ = std::fs::remove_file(self.hooks.join("grandchild.pid"));
        wait_until("the held restart", || {
            self.restarts().contains(&format!("start {sha}"))
                && pid_in(&self.hooks.join("grandchild.pid")).is_some()
        });
        (
            pid_in(&self.hooks.join("restart.pid")).unwrap(),
            pid_in(&self.hooks.join("grandchild.pid")).unwrap(),
        )
    }

    fn wait_health_asked(&self) {
        wait_until("the health check", || {
            self.hooks.join("health-asked").exists()
        });
    }

    /// The processes the restart script started and that still run.
    fn running_children(&self) -> Vec<u32> {
        ["restart.pid", "grandchild.pid"]
            .iter()
            .filter_map(|f| pid_in(&self.hooks.join(f)))
            .filter(|p| alive(*p))
            .collect()
    }

    /// After a SIGKILL (no cleanup of ours ran): lets what it left finish.
    fn let_orphans_finish(&self, sha: &str) {
        self.release(sha);
        self.release_health();
        wait_until("the orphaned restart to end", || {
            self.running_children().is_empty()
        });
    }
}

/// Every state file reads back: SHA files hold a SHA, the journal is JSON lines, the marker (if
/// any) is JSON naming two SHAs.
fn assert_state_readable(state: &Path) {
    for name in ["last-validated-sha.txt", "previous-sha.txt"] {
        if let Some(text) = lastgood_testkit::state::file(state, name) {
            assert!(
                text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()),
                "{name} holds `{text}`"
            );
        }
    }
    let journal = read(&state.join("journal.jsonl"));
    for line in journal.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "a journal line is not JSON: {line}"
        );
    }
    if let Ok(bytes) = std::fs::read(state.join("deploy-in-progress.json")) {
        let marker: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("the marker is not JSON ({e})"));
        assert!(marker["sha"].is_string() && marker["previous_sha"].is_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Requirement 2: a cancelled job is a normal event.

fn cancelled_during_the_restart(sig: &str) {
    let rig = Rig::new();
    let initial = rig.site.head();
    let v2 = rig.site.push("v2\n");
    rig.hold(&v2);
    let mut child = rig.spawn(&["--sha", &v2]);
    let (restart, grandchild) = rig.wait_held_restart(&v2);
    signal(child.id(), sig);
    let status = wait_exit(&mut child);
    let stderr = read(&rig.stderr_path());

    assert!(
        status.code().is_some(),
        "deploy-sha died of SIG{sig} without cleaning up ({status}): {stderr}"
    );
    assert_ne!(status.code(), Some(0), "{stderr}");
    // No child of ours runs once deploy-sha has exited (the whole process group was stopped).
    assert!(
        !alive(restart) && !alive(grandchild),
        "the restart (pid {restart}) or its child (pid {grandchild}) outlived deploy-sha: {stderr}"
    );
    // Outputs and summary say what happened.
    let out = rig.outputs();
    assert_eq!(
        out.get("healthy").map(String::as_str),
        Some("false"),
        "{out:?}\n{stderr}"
    );
    assert!(out.contains_key("outcome"), "{out:?}");
    assert!(
        rig.summary().to_lowercase().contains("cancel"),
        "{}",
        rig.summary()
    );
    assert!(stderr.to_lowercase().contains("cancel"), "{stderr}");
    // The state tells the truth: v2 was never put in service completely.
    assert_state_readable(&rig.site.state);
    if rig.site.head() == v2 {
        let marker = lastgood_testkit::state::file(&rig.site.state, "deploy-in-progress.json")
            .expect("v2 is checked out but not in service: the marker must say so");
        assert!(
            marker.contains(&v2) && marker.contains(&initial),
            "{marker}"
        );
    } else {
        assert_eq!(rig.site.head(), initial);
    }
    // The next deploy gets the lock at once and runs alone: the cancelled restart never
    // finishes beside it.
    rig.release(&v2);
    let (code, json, stderr) = rig.run(&["--sha", &v2, "--lock-timeout", "2s"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("held by"), "{stderr}");
    assert_eq!(json["outcome"], "deployed");
    let restarts = rig.restarts();
    assert_eq!(
        restarts.iter().filter(|l| l.starts_with("done")).count(),
        1,
        "the cancelled restart finished after all: {restarts:?}"
    );
    assert_eq!(restarts.last().unwrap(), &format!("done {v2}"));
}

#[test]
fn sigterm_during_the_restart_stops_it_reports_and_frees_the_lock_after() {
    cancelled_during_the_restart("TERM");
}

#[test]
fn sigint_during_the_restart_stops_it_reports_and_frees_the_lock_after() {
    cancelled_during_the_restart("INT");
}

/// The `run:` script of the generated action's binary step, as the runner would run it.
fn action_run_script(action: &str) -> String {
    let path =
        lastgood_testkit::cargo::workspace_root().join(format!("actions/{action}/action.yml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("run:"))
        .unwrap_or_else(|| panic!("no run: step in {}", path.display()));
    let value = line.trim_start().trim_start_matches("run:").trim();
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => value.to_owned(),
    }
}

#[test]
fn the_action_step_execs_the_binary_so_the_runners_signal_reaches_it() {
    let rig = Rig::new();
    let v2 = rig.site.push("v2\n");
    rig.hold(&v2);
    let script = rig.runner.join("step.sh");
    std::fs::write(&script, action_run_script("deploy-sha")).unwrap();
    // As actions/runner runs a `shell: bash` step: the script file, and SIGTERM to that process
    // only (not to its group).
    let site = rig.site.bin().into_command();
    let inputs = site
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())));
    let mut cmd = Command::new("bash");
    lastgood_testkit::scrub_env(&mut cmd);
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(rig.site.fx.tmp.path())
        .envs(inputs)
        .env("LASTGOOD_BIN", site.get_program())
        .env("INPUT_SHA", &v2)
        .env("INPUT_RESTART_COMMAND", rig.restart_command())
        .env("INPUT_HEALTH_URL", rig.health.url())
        .env("GITHUB_OUTPUT", rig.runner.join("output"))
        .env("GITHUB_STEP_SUMMARY", rig.runner.join("summary"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(rig.stderr_path()).unwrap());
    let mut step = cmd.spawn().unwrap();
    let (restart, grandchild) = rig.wait_held_restart(&v2);
    signal(step.id(), "TERM");
    let _ = wait_exit(&mut step);
    let stderr = read(&rig.stderr_path());
    // Without `exec`, bash dies and deploy-sha never hears of the cancellation: the restart
    // goes on. Give it a generous while to be stopped by deploy-sha.
    let start = Instant::now();
    while (alive(restart) || alive(grandchild)) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let orphaned = alive(restart) || alive(grandchild);
    rig.release(&v2);
    assert!(
        !orphaned,
        "the signal to the step never reached deploy-sha; the restart went on: {stderr}"
    );
    assert!(rig.outputs().contains_key("outcome"), "{:?}", rig.outputs());
}

#[test]
fn sigterm_while_waiting_for_the_lock_changes_nothing_and_says_so() {
    let rig = Rig::new();
    let initial = rig.site.head();
    let v2 = rig.site.push("v2\n");
    let v3 = rig.site.push("v3\n");
    rig.hold(&v2);
    let mut first = rig
        .bin()
        .args(["--sha", &v2])
        .into_command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    rig.wait_held_restart(&v2);
    let second_runner = rig.runner.join("second");
    std::fs::create_dir_all(&second_runner).unwrap();
    let log = second_runner.join("stderr");
    let mut second = rig
        .bin()
        .env("GITHUB_OUTPUT", second_runner.join("output"))
        .env("GITHUB_STEP_SUMMARY", second_runner.join("summary"))
        .args(["--sha", &v3])
        .into_command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until("the second deploy to wait", || {
        read(&log).contains("held by")
    });
    signal(second.id(), "TERM");
    let status = wait_exit(&mut second);
    let said = read(&log);
    rig.release(&v2);
    assert!(first.wait().unwrap().success());
    assert!(status.code().is_some(), "died of SIGTERM: {said}");
    assert_ne!(status.code(), Some(0));
    assert!(said.to_lowercase().contains("cancel"), "{said}");
    assert!(
        read(&second_runner.join("summary"))
            .to_lowercase()
            .contains("cancel")
    );
    assert_eq!(rig.site.head(), v2, "only the first deploy moved HEAD");
    assert_eq!(rig.site.state_file("previous-sha.txt").unwrap(), initial);
    assert!(!rig.restarts().contains(&format!("start {v3}")));
}

// ---------------------------------------------------------------------------------------------
// Requirement 3: every write can fail.

/// The state directory on a 1 MiB file system, `last-validated-sha.txt` = the first commit.
fn rig_on_small_fs() -> Option<Rig> {
    let fs = SmallFs::mount(1024)?;
    let rig = Rig::with_fs(Some(fs));
    std::fs::create_dir_all(&rig.site.state).unwrap();
    std::fs::write(
        rig.site.state.join("last-validated-sha.txt"),
        format!("{}\n", rig.site.head()),
    )
    .unwrap();
    Some(rig)
}

#[test]
fn a_full_disk_after_a_healthy_deploy_still_writes_outputs_and_a_ci_failure_rolls_back() {
    let Some(rig) = rig_on_small_fs() else { return };
    let initial = rig.site.head();
    let v2 = rig.site.push("v2\n");
    rig.fill_at_health();
    let (code, _, stderr) = rig.run(&["--sha", &v2]);
    let out = rig.outputs();
    assert_eq!(code, 3, "a state write failed: {stderr}");
    assert_eq!(
        out.get("outcome").map(String::as_str),
        Some("deployed"),
        "{out:?}\n{stderr}"
    );
    assert_eq!(out.get("healthy").map(String::as_str), Some("true"));
    assert_eq!(out.get("deployed-sha"), Some(&v2));
    assert!(
        stderr.contains("journal.jsonl"),
        "the error names what failed: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("space"),
        "the error says what to do: {stderr}"
    );
    assert_eq!(rig.site.head(), v2);
    assert_state_readable(&rig.site.state);

    // Space again; CI of v2 fails: v2 is in service, so it is rolled back, not `superseded`.
    rig.fs.as_ref().unwrap().free();
    let Ran {
        code,
        outputs: json,
        stderr,
        ..
    } = Bin::new(lastgood_testkit::workspace_bin("ci-watcher"))
        .args(["--sha", &v2, "--conclusion", "failure"])
        .json()
        .arg("--app-dir")
        .arg(&rig.site.fx.app)
        .arg("--state-dir")
        .arg(&rig.site.state)
        .args(["--restart-command", &rig.restart_command()])
        .args(["--health-url", &rig.health.url(), "--health-attempts", "2"])
        .run();
    assert_eq!(json["action"], "rolled-back", "{stderr}");
    assert_eq!(code, 1);
    assert_eq!(rig.site.head(), initial);
}

#[test]
fn a_full_disk_before_anything_changed_changes_nothing() {
    let Some(rig) = rig_on_small_fs() else { return };
    let initial = rig.site.head();
    let v2 = rig.site.push("v2\n");
    rig.site
        .fx
        .write_app("version.txt", "hotfix on the server\n");
    rig.fs.as_ref().unwrap().fill();
    let (code, _, stderr) = rig.run(&["--sha", &v2]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&rig.site.state.display().to_string()),
        "{stderr}"
    );
    assert_eq!(rig.site.head(), initial);
    assert_eq!(
        rig.site.fx.read_app("version.txt"),
        "hotfix on the server\n"
    );
    assert!(rig.restarts().is_empty());
    assert_state_readable(&rig.site.state);
}

#[test]
fn a_full_disk_during_the_rollback_still_writes_outputs() {
    let Some(rig) = rig_on_small_fs() else { return };
    let initial = rig.site.head();
    let v2 = rig.site.push("v2\n");
    assert_eq!(rig.run(&["--sha", &v2]).0, 0);
    let bad = rig.site.push("broken\n");
    rig.fill_at_restart(&v2);
    let (code, _, stderr) = rig.run(&["--sha", &bad]);
    let out = rig.outputs();
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(
        out.get("outcome").map(String::as_str),
        Some("rolled-back"),
        "{out:?}\n{stderr}"
    );
    assert_eq!(out.get("deployed-sha"), Some(&v2));
    assert_eq!(out.get("healthy").map(String::as_str), Some("true"));
    assert_eq!(rig.site.head(), v2);
    assert_state_readable(&rig.site.state);
    rig.fs.as_ref().unwrap().free();
    // `previous` never names the SHA that failed, and the next deploy goes from v2.
    assert_ne!(
        rig.site.state_file("previous-sha.txt").as_deref(),
        Some(bad.as_str())
    );
    let v3 = rig.site.push("v3\n");
    let (code, json, stderr) = rig.run(&["--sha", &v3]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["previous-sha"], v2.as_str());
    assert_eq!(rig.site.state_file("previous-sha.txt").unwrap(), v2);
    let _ = initial;
}

// ---------------------------------------------------------------------------------------------
// Phase boundaries: each fault at each phase, then the next run (the workflow re-run).

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The restart of the SHA being deployed runs.
    Restart,
    /// Its health gate runs.
    Gate,
    /// The SHA failed its gate; the restart of the SHA before runs (the rollback).
    RollbackRestart,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Term,
    Full,
}

fn fault_at(phase: Phase, fault: Fault) {
    let rig = if fault == Fault::Full {
        match rig_on_small_fs() {
            Some(r) => r,
            None => return,
        }
    } else {
        Rig::new()
    };
    let initial = rig.site.head();
    let broken = phase == Phase::RollbackRestart;
    let target = rig.site.push(if broken { "broken\n" } else { "v2\n" });
    // Where the deploy stops.
    let held = if broken {
        initial.clone()
    } else {
        target.clone()
    };
    if phase == Phase::Gate {
        rig.hold_health();
    } else {
        rig.hold(&held);
    }
    let mut child = rig.spawn(&["--sha", &target]);
    if phase == Phase::Gate {
        rig.wait_health_asked();
    } else {
        rig.wait_held_restart(&held);
    }
    match fault {
        Fault::Kill => {
            signal(child.id(), "KILL");
            let _ = wait_exit(&mut child);
            rig.let_orphans_finish(&held);
        }
        Fault::Term => {
            signal(child.id(), "TERM");
            let status = wait_exit(&mut child);
            let stderr = read(&rig.stderr_path());
            assert!(
                status.code().is_some(),
                "died of SIGTERM ({status}): {stderr}"
            );
            assert!(
                rig.running_children().is_empty(),
                "a child outlived deploy-sha: {stderr}"
            );
            let out = rig.outputs();
            assert!(
                out.contains_key("outcome") && out.contains_key("healthy"),
                "{out:?}"
            );
            rig.release(&held);
            rig.release_health();
        }
        Fault::Full => {
            rig.fs.as_ref().unwrap().fill();
            rig.release(&held);
            rig.release_health();
            let status = wait_exit(&mut child);
            let stderr = read(&rig.stderr_path());
            assert!(status.code().is_some(), "{stderr}");
            let out = rig.outputs();
            let expected = if broken { "rolled-back" } else { "deployed" };
            assert_eq!(
                out.get("outcome").map(String::as_str),
                Some(expected),
                "outputs after a write failure: {out:?}\n{stderr}"
            );
            rig.fs.as_ref().unwrap().free();
        }
    }
    assert_state_readable(&rig.site.state);
    assert!(rig.running_children().is_empty());

    // The next run: the workflow re-run deploys the same SHA.
    let (code, json, stderr) = rig.run(&["--sha", &target, "--lock-timeout", "5s"]);
    assert!(
        !stderr.contains("held by"),
        "the lock was left held: {stderr}"
    );
    assert_state_readable(&rig.site.state);
    assert!(
        !rig.site.state.join("deploy-in-progress.json").exists(),
        "the marker outlived a complete run"
    );
    let last_done = rig
        .restarts()
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("done ").map(str::to_owned));
    assert_eq!(
        last_done.as_deref(),
        Some(rig.site.head().as_str()),
        "the service runs what HEAD says: {:?}",
        rig.restarts()
    );
    if broken {
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(json["outcome"], "rolled-back");
        assert_eq!(rig.site.head(), initial);
        assert_ne!(
            rig.site.state_file("previous-sha.txt").as_deref(),
            Some(target.as_str()),
            "previous names the SHA that failed"
        );
    } else {
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(json["outcome"], "deployed");
        assert_eq!(rig.site.head(), target);
        assert_eq!(rig.site.state_file("previous-sha.txt").unwrap(), initial);
    }
    let journal = rig.site.journal();
    assert_eq!(
        journal.last().unwrap()["event"],
        if broken { "rollback" } else { "deploy" }
    );
}

macro_rules! phase_fault {
    ($($name:ident: $phase:ident, $fault:ident;)*) => {$(
        #[test]
        fn $name() {
            fault_at(Phase::$phase, Fault::$fault);
        }
    )*};
}

phase_fault! {
    sigkill_at_the_restart: Restart, Kill;
    sigterm_at_the_restart: Restart, Term;
    full_disk_at_the_restart: Restart, Full;
    sigkill_at_the_gate: Gate, Kill;
    sigterm_at_the_gate: Gate, Term;
    full_disk_at_the_gate: Gate, Full;
    sigkill_at_the_rollback: RollbackRestart, Kill;
    sigterm_at_the_rollback: RollbackRestart, Term;
    full_disk_at_the_rollback: RollbackRestart, Full;
}

// ---------------------------------------------------------------------------------------------
// Requirement 4: nothing is lost by a reset.

/// Extracts every `local-changes-*.tar.gz` of the state directory into one directory.
fn extract_local_change_archives(site: &Site) -> PathBuf {
    let out = site.fx.tmp.path().join("extracted");
    std::fs::create_dir_all(&out).unwrap();
    for archive in site.backups("local-changes-") {
        if archive.to_string_lossy().ends_with(".tar.gz") {
            let ok = Command::new("tar")
                .arg("-xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&out)
                .status()
                .unwrap()
                .success();
            assert!(ok, "tar -xzf {}", archive.display());
        }
    }
    out
}

#[test]
fn every_untracked_path_the_reset_replaces_is_saved_whatever_its_shape() {
    let site = Site::new();
    let a = site
        .fx
        .commit(&[(".gitignore", ".env\n"), ("d/t.txt", "tracked\n")], "a");
    site.fx.push();
    assert_eq!(site.run(&["--sha", &a]).code, 0);
    // Data on the server that git does not track.
    let app = &site.fx.app;
    std::fs::create_dir_all(app.join("data")).unwrap();
    std::fs::write(
        app.join("data/keep.txt"),
        "untracked dir where B has a file\n",
    )
    .unwrap();
    std::fs::write(app.join("conf"), "untracked file where B has a dir\n").unwrap();
    std::fs::create_dir_all(app.join("x/y")).unwrap();
    std::fs::write(
        app.join("x/y/deep.txt"),
        "nested under a path B makes a file\n",
    )
    .unwrap();
    std::fs::write(
        app.join("d/u.txt"),
        "untracked in a dir B turns into a file\n",
    )
    .unwrap();
    std::fs::write(app.join(".env"), "SECRET=local\n").unwrap();
    // B: files where the server has directories and the other way round; `.env` tracked now.
    lastgood_testkit::git::git_in(&site.fx.work, &["rm", "-rq", "d"]);
    let b = site.fx.commit(
        &[
            (".gitignore", ""),
            (".env", "SECRET=from-the-repo\n"),
            ("data", "a file now\n"),
            ("conf/x.txt", "a dir now\n"),
            ("x/y", "a file now\n"),
            ("d", "a file now\n"),
        ],
        "b",
    );
    site.fx.push();
    let Ran { code, stderr, .. } = site.run(&["--sha", &b]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(site.head(), b);
    let saved = extract_local_change_archives(&site);
    for (path, content) in [
        ("data/keep.txt", "untracked dir where B has a file\n"),
        ("conf", "untracked file where B has a dir\n"),
        ("x/y/deep.txt", "nested under a path B makes a file\n"),
        ("d/u.txt", "untracked in a dir B turns into a file\n"),
        (".env", "SECRET=local\n"),
    ] {
        assert_eq!(
            read(&saved.join(path)),
            content,
            "{path} was lost by the reset without a backup: {stderr}"
        );
        assert!(stderr.contains(path), "no word about {path}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Requirement 7: bounded resources whatever the restart prints.

#[test]
fn a_restart_printing_hundreds_of_megabytes_without_a_newline_uses_bounded_memory_and_disk() {
    let rig = Rig::new();
    let v2 = rig.site.push("v2\n");
    rig.clear_runner_files();
    let mut child = rig
        .site
        .bin()
        .into_command()
        .env("GITHUB_OUTPUT", rig.runner.join("output"))
        .env(
            "INPUT_RESTART_COMMAND",
            "sh -c 'head -c 268435456 /dev/zero | tr \"\\000\" x; exit 1'",
        )
        .args(["--sha", &v2, "--rollback-on-failure", "false"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        rig.outputs().get("outcome").map(String::as_str),
        Some("failed"),
        "the restart ran and failed"
    );
    assert!(
        read(&rig.site.state.join("logs/restart.log")).contains("xxxx"),
        "the restart's output was kept"
    );
    assert!(
        peak < 64 * 1024,
        "deploy-sha peaked at {} MiB for 256 MiB of restart output",
        peak / 1024
    );
    let log = std::fs::metadata(rig.site.state.join("logs/restart.log")).map_or(0, |m| m.len());
    assert!(log <= 4 << 20, "logs/restart.log holds {log} bytes");
    for line in read(&rig.site.state.join("journal.jsonl")).lines() {
        assert!(
            line.len() < 64 << 10,
            "a journal line of {} bytes",
            line.len()
        );
    }
    for (name, value) in rig.outputs() {
        assert!(
            value.len() < 64 << 10,
            "output {name} of {} bytes",
            value.len()
        );
    }
}

#[test]
fn the_journal_stays_bounded_and_its_history_readable() {
    let site = Site::new();
    std::fs::create_dir_all(&site.state).unwrap();
    let line = serde_json::json!({
        "time": "2026-11-01T00:00:00Z", "environment": "preprod", "event": "probe",
        "outcome": "healthy", "detail": "x".repeat(900)
    })
    .to_string();
    let old: String = std::iter::repeat_n(format!("{line}\n"), 12_000).collect();
    std::fs::write(site.state.join("journal.jsonl"), &old).unwrap();
    let v2 = site.push("v2\n");
    let Ran { code, stderr, .. } = site.run(&["--sha", &v2]);
    assert_eq!(code, 0, "{stderr}");
    let total: u64 = std::fs::read_dir(&site.state)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let current = std::fs::metadata(site.state.join("journal.jsonl"))
        .unwrap()
        .len();
    assert!(current <= 4 << 20, "journal.jsonl holds {current} bytes");
    assert!(total <= 9 << 20, "the journal files hold {total} bytes");
    let journal = site.journal();
    assert_eq!(journal.last().unwrap()["sha"], v2.as_str());
}
