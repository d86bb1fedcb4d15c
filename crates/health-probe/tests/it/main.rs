//! Black-box tests of `health-probe` against real loopback servers.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod inputs;
mod outputs;
mod probe;
mod state;

use assert_cmd::Command;
use serde_json::Value;

/// The binary, with an environment free of runner variables.
pub fn health_probe() -> Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("health-probe"));
    lastgood_testkit::scrub_env(&mut cmd);
    Command::from_std(cmd)
}

/// Runs with `--json` and short timings (as `INPUT_*` variables, so flags override them);
/// returns (exit code, outputs, stderr).
pub fn run_json(args: &[&str]) -> (i32, Value, String) {
    let out = health_probe()
        .env("INPUT_TIMEOUT", "2s")
        .env("INPUT_INTERVAL", "100ms")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    lastgood_testkit::parse_json_run(out)
}
