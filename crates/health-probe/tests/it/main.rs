//! Black-box tests of `health-probe` against real loopback servers.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod inputs;
mod outputs;
mod probe;
mod snapshots;
mod state;

use lastgood_testkit::run::{Bin, Ran};

/// The binary, with an environment free of runner variables.
pub fn health_probe() -> Bin {
    Bin::new(assert_cmd::cargo::cargo_bin!("health-probe"))
}

/// Runs with `--json` and short timings (as `INPUT_*` variables, so flags override them).
pub fn run_json(args: &[&str]) -> Ran {
    health_probe()
        .input("timeout", "2s")
        .input("interval", "100ms")
        .json()
        .args(args)
        .run()
}
