//! Building this workspace's binaries from a test: another package's binary (which
//! `CARGO_BIN_EXE_*` only gives for the test's own package) or the static sample app.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (this crate is `<root>/crates/lastgood-testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// `$CARGO` (the cargo running the tests) in the workspace root, without the variables cargo sets
/// for the test process (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `OUT_DIR`…): build scripts that
/// watch them (ring's does) would otherwise rebuild half the dependency tree, and the next
/// `cargo test` would rebuild it back.
pub fn command() -> Command {
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_by_cargo_for_tests = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || key == "OUT_DIR";
        if set_by_cargo_for_tests {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Builds the binary `name` of the workspace package `name` in the profile and target dir of the
/// running test's own binary `beside` (e.g. `cargo_bin!("deploy-sha")`), and returns its path.
/// Quick when up to date; panics with cargo's output when the build fails.
pub fn sibling_binary(beside: &Path, name: &str) -> PathBuf {
    let dir = beside.parent().expect("the binary's directory");
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let target_dir = dir.parent().expect("the target dir");
    let out = command()
        .args([
            "build",
            "--quiet",
            "-p",
            name,
            "--bin",
            name,
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build -p {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}
