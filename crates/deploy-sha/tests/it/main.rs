//! Black-box tests of `deploy-sha` against real git repositories (a bare origin and a clone as
//! the app checkout), a restart script and a health server that reads the checkout: no docker.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod concurrency;
mod deploy;
mod deployments;
mod e2e_docker;
mod faults;
mod guards;
mod snapshots;

use std::path::{Path, PathBuf};

use lastgood_testkit::git::{AppStandIn, GitFixture};
use lastgood_testkit::run::{Bin, Ran};
use serde_json::Value;

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

    /// The binary with the standard inputs (as `INPUT_*` variables, so flags override them:
    /// app, state, restart command, health gate with short timings), a clean environment and
    /// `--json`.
    pub(crate) fn bin(&self) -> Bin {
        Bin::new(assert_cmd::cargo::cargo_bin!("deploy-sha"))
            .current_dir(self.fx.tmp.path())
            .input("app-dir", &self.fx.app)
            .input("state-dir", &self.state)
            .input("restart-command", self.app.restart_command())
            .input("health-url", self.app.server.url())
            .input("health-attempts", "2")
            .input("health-interval", "100ms")
            .input("health-timeout", "2s")
            .input("lock-timeout", "30s")
            .json()
    }

    /// Runs with extra arguments.
    pub(crate) fn run(&self, extra: &[&str]) -> Ran {
        self.bin().args(extra).run()
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

/// Reads a file, empty when missing.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
