//! Black-box tests of `ci-watcher` against the GitHub stand-in, real git and a restart command.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed setup ends the test"
)]

mod common;
mod deployments;
mod detach;
mod discord;
mod faults;
mod inputs;
mod pipeline_docker;
mod snapshots;
mod streamlit;
mod verdicts;
