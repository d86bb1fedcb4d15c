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
pub mod server;

use std::process::Command;

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
