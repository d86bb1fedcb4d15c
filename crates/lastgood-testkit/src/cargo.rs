//! Running cargo from a test, to build the static sample app (see [`crate::docker`]).

use std::ffi::OsString;
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

/// The variables by which `cargo llvm-cov` (which sets `RUSTC_WRAPPER` to itself) instruments the
/// workspace's crates for coverage.
const LLVM_COV_WRAPPER: &str = "__CARGO_LLVM_COV_RUSTC_WRAPPER";
const LLVM_COV_PRE_EXISTING: &str = "__CARGO_LLVM_COV_RUSTC_WRAPPER_PRE_EXISTING";

/// Makes `cmd` (a cargo build started by a test) build without coverage instrumentation, when the
/// tests run under `cargo llvm-cov`: `RUSTC_WRAPPER` goes back to the one the user had (or none)
/// and cargo-llvm-cov's wrapper variables are removed, as cargo-llvm-cov does for its own nested
/// calls. For a binary copied into a docker image: there it could not write its profile (no
/// `LLVM_PROFILE_FILE` path inside the container, `/` not writable by its user) and would print
/// "LLVM Profile Error" into the container's log at every exit. `parent` is the environment the
/// tests run in (`std::env::vars_os()`).
pub fn without_coverage(
    cmd: &mut Command,
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> &mut Command {
    let parent: Vec<(OsString, OsString)> = parent.into_iter().collect();
    if !parent.iter().any(|(k, _)| k == LLVM_COV_WRAPPER) {
        return cmd;
    }
    match parent.iter().find(|(k, _)| k == LLVM_COV_PRE_EXISTING) {
        Some((_, wrapper)) => cmd.env("RUSTC_WRAPPER", wrapper),
        None => cmd.env_remove("RUSTC_WRAPPER"),
    };
    for (key, _) in &parent {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with(LLVM_COV_WRAPPER))
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(cmd: &Command) -> Vec<(String, Option<String>)> {
        let mut v: Vec<_> = cmd
            .get_envs()
            .map(|(k, v)| {
                let v = v.map(|v| v.to_string_lossy().into_owned());
                (k.to_string_lossy().into_owned(), v)
            })
            .collect();
        v.sort();
        v
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn a_build_under_llvm_cov_drops_its_wrapper() {
        let mut cmd = Command::new("cargo");
        let parent = vars(&[
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER", "1"),
            (
                "__CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS",
                "-Cinstrument-coverage",
            ),
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES", "sample_app"),
            ("RUSTC_WRAPPER", "/home/u/.cargo/bin/cargo-llvm-cov"),
            ("PATH", "/usr/bin"),
        ]);
        without_coverage(&mut cmd, parent);
        let removed = |k: &str| (k.to_owned(), None);
        assert_eq!(
            env_of(&cmd),
            vec![
                removed("RUSTC_WRAPPER"),
                removed("__CARGO_LLVM_COV_RUSTC_WRAPPER"),
                removed("__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES"),
                removed("__CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS"),
            ]
        );
    }

    #[test]
    fn the_users_own_wrapper_comes_back() {
        let mut cmd = Command::new("cargo");
        let parent = vars(&[
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER", "1"),
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER_PRE_EXISTING", "sccache"),
            ("RUSTC_WRAPPER", "/home/u/.cargo/bin/cargo-llvm-cov"),
        ]);
        without_coverage(&mut cmd, parent);
        let env = env_of(&cmd);
        assert!(
            env.contains(&("RUSTC_WRAPPER".into(), Some("sccache".into()))),
            "{env:?}"
        );
        assert!(env.contains(&("__CARGO_LLVM_COV_RUSTC_WRAPPER_PRE_EXISTING".into(), None)));
    }

    #[test]
    fn outside_llvm_cov_nothing_changes() {
        let mut cmd = Command::new("cargo");
        without_coverage(&mut cmd, vars(&[("RUSTC_WRAPPER", "sccache")]));
        assert_eq!(env_of(&cmd), vec![]);
    }
}
