//! Test support for lastgood: real HTTP servers on loopback standing in for the app, Discord and
//! GitHub, and helpers to run the binaries in a clean environment.
//!
//! This crate is used by tests only; it may panic on setup failures (a test cannot go on).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a setup failure ends the test"
)]

pub mod cargo;
pub mod discord;
pub mod docker;
pub mod git;
pub mod github;
pub mod server;
pub mod state;
pub mod streamlit;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Removes from `cmd`'s environment every variable that would make a binary behave differently
/// on a runner than on a laptop: `GITHUB_*`, `RUNNER_*`, `ACTIONS_*`, `GH_*` and `INPUT_*`.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if ["GITHUB_", "RUNNER_", "ACTIONS_", "GH_", "INPUT_"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The path of the workspace binary `name` (`target/<profile>/<name>`), found from the running
/// test binary (`target/<profile>/deps/<test>-<hash>`), for binaries of other packages than the
/// one under test, which `cargo_bin_cmd!` cannot reach.
///
/// `cargo test --workspace` (what CI runs) builds every binary before running any test; a test
/// run of one package (`cargo test -p x`) does not, hence the panic asking to build them first.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let mut dir = exe
        .parent()
        .expect("the test binary's directory")
        .to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the workspace binary `{name}` is not built ({} is missing): run `cargo build --workspace --bins` first (`cargo test --workspace` builds every binary)",
        bin.display()
    );
    bin
}

/// (exit code, outputs, stderr) of a `--json` run; panics unless stdout is one JSON object.
pub fn parse_json_run(out: Output) -> (i32, Value, String) {
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The environment of a run that writes its job summary to `path`, with commit links to
/// `https://github.com/o/r`: pass it to `.envs(..)`.
pub fn summary_env(path: &Path) -> [(&'static str, OsString); 3] {
    [
        ("GITHUB_STEP_SUMMARY", path.as_os_str().to_owned()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_REPOSITORY", "o/r".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_bin_finds_a_built_binary_or_says_what_to_run() {
        // This crate has no binary; whether `health-probe` is built depends on the command run.
        let dir = std::env::current_exe().unwrap();
        let profile_dir = dir.parent().unwrap().parent().unwrap();
        let expected = profile_dir.join(format!("health-probe{}", std::env::consts::EXE_SUFFIX));
        match std::panic::catch_unwind(|| workspace_bin("health-probe")) {
            Ok(path) => assert_eq!(path, expected),
            Err(panic) => {
                let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(!expected.is_file());
                assert!(text.contains("cargo build --workspace --bins"), "{text}");
            }
        }
        let missing = std::panic::catch_unwind(|| workspace_bin("no-such-binary-xyz"))
            .expect_err("a missing binary panics");
        let text = missing
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            text.contains("no-such-binary-xyz") && text.contains("cargo build --workspace --bins"),
            "{text}"
        );
    }
}
