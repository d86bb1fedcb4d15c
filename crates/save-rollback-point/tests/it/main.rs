//! Black-box tests of `save-rollback-point` against a real git checkout.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod backups;
mod compare;
mod record;
mod snapshots;

use std::path::{Path, PathBuf};

use lastgood_testkit::git::GitFixture;
use lastgood_testkit::run::{Bin, Ran};
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
    pub(crate) fn bin(&self) -> Bin {
        Bin::new(assert_cmd::cargo::cargo_bin!("save-rollback-point"))
            .current_dir(self.fx.tmp.path())
            .input("app-dir", &self.fx.app)
            .input("state-dir", &self.state)
            .input("lock-timeout", "30s")
            .json()
    }

    /// Runs with extra arguments.
    pub(crate) fn run(&self, extra: &[&str]) -> Ran {
        self.bin().args(extra).run()
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
