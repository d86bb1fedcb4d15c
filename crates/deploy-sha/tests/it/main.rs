//! Black-box tests of `deploy-sha` against real git repositories (a bare origin and a clone as
//! the app checkout), a restart script and a health server that reads the checkout: no docker.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod concurrency;
mod deploy;
mod e2e_docker;
mod faults;
mod guards;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use lastgood_testkit::git::{AppStandIn, GitFixture};
use serde_json::Value;

/// The path of the binary.
pub(crate) fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin!("deploy-sha").to_path_buf()
}

/// An app checkout, its origin, its state directory and its stand-in service.
pub(crate) struct Site {
    pub(crate) fx: GitFixture,
    pub(crate) app: AppStandIn,
    pub(crate) state: PathBuf,
}

impl Site {
    /// A fresh site: origin, app checkout at its first commit, stand-in service.
    pub(crate) fn new() -> Site {
        let fx = GitFixture::new();
        let app = AppStandIn::new(&fx.app, fx.tmp.path());
        let state = fx.tmp.path().join("state/preprod");
        Site { fx, app, state }
    }

    /// Commits `version.txt` = `content` (plus `extra` files) and pushes it to main.
    pub(crate) fn push(&self, content: &str) -> String {
        let sha = self.fx.commit(&[("version.txt", content)], content);
        self.fx.push();
        sha
    }

    /// The standard inputs (as `INPUT_*` variables, so flags override them): app, state,
    /// restart command, health gate with short timings.
    pub(crate) fn inputs(&self) -> Vec<(String, String)> {
        [
            ("APP_DIR", self.fx.app.to_str().unwrap().to_owned()),
            ("STATE_DIR", self.state.to_str().unwrap().to_owned()),
            ("RESTART_COMMAND", self.app.restart_command()),
            ("HEALTH_URL", self.app.server.url()),
            ("HEALTH_ATTEMPTS", "2".to_owned()),
            ("HEALTH_INTERVAL", "100ms".to_owned()),
            ("HEALTH_TIMEOUT", "2s".to_owned()),
            ("LOCK_TIMEOUT", "30s".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("INPUT_{k}"), v))
        .collect()
    }

    /// The binary with the standard inputs, a clean environment and `--json`.
    pub(crate) fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(bin());
        lastgood_testkit::scrub_env(&mut cmd);
        cmd.current_dir(self.fx.tmp.path())
            .envs(self.inputs())
            .arg("--json");
        cmd
    }

    /// [`Site::std_cmd`] as an assert_cmd command.
    pub(crate) fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// Runs with extra arguments; (exit code, outputs, stderr).
    pub(crate) fn run(&self, extra: &[&str]) -> (i32, Value, String) {
        let out = self.cmd().args(extra).output().unwrap();
        parse(out)
    }

    pub(crate) fn head(&self) -> String {
        self.fx.head()
    }

    pub(crate) fn state_file(&self, name: &str) -> Option<String> {
        lastgood_testkit::state::file(&self.state, name)
    }

    pub(crate) fn journal(&self) -> Vec<Value> {
        lastgood_testkit::state::journal(&self.state)
    }

    /// Backups whose name starts with `prefix`.
    pub(crate) fn backups(&self, prefix: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.state.join("backups"))
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Asserts the environment is exactly as left by `head` with nothing run.
    pub(crate) fn assert_untouched(&self, head: &str) {
        assert_eq!(self.head(), head, "HEAD moved");
        assert!(self.app.restarts().is_empty(), "a restart ran");
        assert_eq!(self.state_file("previous-sha.txt"), None);
        assert!(self.journal().is_empty(), "journal written");
    }
}

pub(crate) use lastgood_testkit::parse_json_run as parse;

/// Waits (up to a generous bound) until `cond` holds.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a file, empty when missing.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
