//! Running cargo from a test, to build the static sample app (see [`crate::docker`]).

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
