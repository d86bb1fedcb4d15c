//! Test support for lastgood: real HTTP servers on loopback standing in for the app, Discord and
//! GitHub, and [`run::Bin`], the one builder every black-box test runs a binary with (in a clean
//! environment), and [`snap`], the redactions of its snapshot tests.
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
pub mod fs;
pub mod git;
pub mod github;
pub mod outputs;
pub mod run;
pub mod server;
pub mod snap;
pub mod state;
pub mod streamlit;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Removes from `cmd`'s environment every variable that would make a binary behave differently
/// on a runner than on a laptop: `GITHUB_*`, `RUNNER_*`, `ACTIONS_*`, `GH_*` and `INPUT_*`.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if run::SCRUBBED_PREFIXES.iter().any(|p| key.starts_with(p)) {
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

/// Waits until `cond` holds, checking every 50ms; panics naming `what` after `bound` (keep it
/// generous: tests run on a slow, busy machine, and a bound is never a timing assertion).
pub fn wait_until(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < bound, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
