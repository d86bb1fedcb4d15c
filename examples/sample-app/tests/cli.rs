//! The sample app as a program. Having an integration test also makes `cargo test --workspace`
//! build the `sample-app` executable, which xtask's demo test runs (without one, cargo builds
//! only the unit-test harness, and the demo test, finding no `sample-app`, skipped).
#![allow(
    clippy::unwrap_used,
    reason = "a test: a failure ends it with the value that failed"
)]

use std::process::Command;

#[test]
fn a_bad_port_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sample-app"))
        .env("APP_DIR", dir.path())
        .env("PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sample-app: PORT must be a port number, got \"not-a-port\""),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
