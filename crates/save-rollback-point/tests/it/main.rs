//! Black-box tests of `save-rollback-point` against a real git checkout.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod backups;
mod compare;
mod faults;
mod record;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use lastgood_testkit::git::GitFixture;
use serde_json::Value;

/// A checkout and its state directory.
pub(crate) struct Site {
    pub(crate) fx: GitFixture,
    pub(crate) state: PathBuf,
}

impl Site {
    /// A fresh checkout at its first commit; the state directory does not exist yet.
    pub(crate) fn new() -> Site {
        let fx = GitFixture::new();
        let state = fx.tmp.path().join("state/prod");
        Site { fx, state }
    }

    /// The binary with app-dir and state-dir set (as `INPUT_*`), a clean environment, `--json`.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd =
            std::process::Command::new(assert_cmd::cargo::cargo_bin!("save-rollback-point"));
        lastgood_testkit::scrub_env(&mut cmd);
        cmd.current_dir(self.fx.tmp.path())
            .env("INPUT_APP_DIR", &self.fx.app)
            .env("INPUT_STATE_DIR", &self.state)
            .env("INPUT_LOCK_TIMEOUT", "30s")
            .arg("--json");
        Command::from_std(cmd)
    }

    /// Runs with extra arguments; (exit code, outputs, stderr).
    pub(crate) fn run(&self, extra: &[&str]) -> (i32, Value, String) {
        parse(self.cmd().args(extra).output().unwrap())
    }

    /// A state file's trimmed content.
    pub(crate) fn state_file(&self, name: &str) -> Option<String> {
        lastgood_testkit::state::file(&self.state, name)
    }

    /// `backup-*.tar.gz` archives, sorted.
    pub(crate) fn archives(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.state.join("backups"))
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("backup-")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The journal's entries.
    pub(crate) fn journal(&self) -> Vec<Value> {
        lastgood_testkit::state::journal(&self.state)
    }
}

pub(crate) use lastgood_testkit::parse_json_run as parse;

/// The member names of a `.tar.gz`, listed by the system's `tar`.
pub(crate) fn tar_list(archive: &Path) -> Vec<String> {
    let out = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect()
}
