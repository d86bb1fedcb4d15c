//! Line coverage for `cargo xtask ci`: the test suite run once, instrumented, by cargo-llvm-cov,
//! then an HTML report and the gate (the seed's bar: at least 90 % of the lines).
//!
//! - What is measured: what lastgood ships, `lastgood-core` and the five binaries. Not measured
//!   ([`NOT_MEASURED`]): the testkit (test support: every test runs it, its figure says nothing),
//!   xtask (developer tooling, never shipped) and `examples/sample-app` (the app the tests
//!   deploy). cargo-llvm-cov also leaves out every `tests/` directory (the black-box tests
//!   themselves); the unit tests inline in `src/` (`#[cfg(test)] mod tests`) are counted, as
//!   stable Rust cannot mark them (`#[coverage(off)]` is nightly only).
//! - Tools: `cargo install --locked cargo-llvm-cov --version 0.9.1` and LLVM's `llvm-cov` and
//!   `llvm-profdata`: the toolchain's (`rustup component add llvm-tools`), or any LLVM recent
//!   enough to read rustc's profiles named by `LLVM_COV` and `LLVM_PROFDATA` (Debian bookworm's
//!   `llvm-19` does for rustc 1.95). `.ci/run` installs them.
//! - Every process a test starts inherits `LLVM_PROFILE_FILE` (`<target>/<name>-%p-%m.profraw`,
//!   set by cargo-llvm-cov), so the binaries run by assert_cmd and the detached watchers write
//!   their own profiles. The sample app built for the docker images is built without
//!   instrumentation (`lastgood_testkit::cargo::without_coverage`): inside a container it could not
//!   write its profile.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, cargo, target_dir};
use crate::{Failure, Result};
use lastgood_testkit::snap::regex_escape;

/// The least share of the measured lines the test suite must run, in percent.
pub const MIN_LINES: u8 = 90;

/// The workspace packages whose lines are not counted (see the module's documentation), with
/// their directories.
pub const NOT_MEASURED: &[(&str, &str)] = &[
    ("lastgood-testkit", "crates/lastgood-testkit"),
    ("xtask", "xtask"),
    ("sample-app", "examples/sample-app"),
];

/// Where cargo-llvm-cov writes the HTML report.
pub fn html_dir() -> PathBuf {
    target_dir().join("llvm-cov/html")
}

/// Why coverage cannot be measured here, with what to install; `None` when it can.
pub fn missing_tool() -> Option<String> {
    if util::read(cargo().args(["llvm-cov", "--version"])).is_err() {
        return Some(
            "cargo-llvm-cov is not installed: `cargo install --locked cargo-llvm-cov --version 0.9.1`"
                .into(),
        );
    }
    if llvm_tools_found() {
        None
    } else {
        Some(
            "llvm-cov and llvm-profdata are not found: `rustup component add llvm-tools`, or set LLVM_COV and LLVM_PROFDATA to an LLVM's (e.g. Debian's llvm-19: /usr/lib/llvm-19/bin/llvm-cov)"
                .into(),
        )
    }
}

/// Whether cargo-llvm-cov will find LLVM's tools: `LLVM_COV` and `LLVM_PROFDATA`, else the
/// toolchain's `llvm-tools` component (where cargo-llvm-cov looks).
fn llvm_tools_found() -> bool {
    let env_tool = |var: &str| std::env::var_os(var).is_some_and(|p| PathBuf::from(p).is_file());
    if env_tool("LLVM_COV") && env_tool("LLVM_PROFDATA") {
        return true;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let (Ok(sysroot), Ok(host)) = (
        util::read(Command::new(rustc).args(["--print", "sysroot"])),
        util::host_target(),
    ) else {
        return false;
    };
    let bin = PathBuf::from(sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin");
    bin.join("llvm-cov").is_file() && bin.join("llvm-profdata").is_file()
}

/// The instrumented run of every test of the workspace, profiles kept for [`report`].
pub fn test_command() -> Command {
    let mut cmd = cargo();
    cmd.args(["llvm-cov", "--no-report", "--workspace"]);
    cmd
}

/// The arguments that leave [`NOT_MEASURED`] out of a report (`cargo llvm-cov report` has no
/// `--exclude-from-report`: a regex of their absolute directories).
fn filter_args() -> Vec<String> {
    let root = util::project_root();
    let dirs: Vec<String> = NOT_MEASURED
        .iter()
        .map(|(_, d)| regex_escape(&root.join(d).to_string_lossy()))
        .collect();
    vec![
        "--ignore-filename-regex".to_owned(),
        format!("^({})/", dirs.join("|")),
    ]
}

/// `cargo llvm-cov report --html` into [`html_dir`], then the summary table and the gate.
pub fn report() -> Result {
    util::run(
        cargo()
            .args(["llvm-cov", "report", "--html"])
            .args(filter_args()),
    )?;
    let index = html_dir().join("index.html");
    println!("    HTML report: {}", index.display());
    let min = MIN_LINES.to_string();
    util::run(
        cargo()
            .args(["llvm-cov", "report", "--fail-under-lines", &min])
            .args(filter_args()),
    )
    .map_err(|e| {
        Failure::new(format!(
            "{e}: line coverage of the measured crates is under {MIN_LINES} %; {} shows the lines no test runs",
            index.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every workspace package (from each member's `Cargo.toml`), with its directory.
    fn packages() -> Vec<(String, PathBuf)> {
        let root = util::project_root();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.extend([root.join("examples/sample-app"), root.join("xtask")]);
        let mut out: Vec<(String, PathBuf)> = dirs
            .into_iter()
            .filter_map(|d| {
                let toml = std::fs::read_to_string(d.join("Cargo.toml")).ok()?;
                let name = toml
                    .lines()
                    .find_map(|l| l.strip_prefix("name = "))?
                    .trim_matches('"')
                    .to_owned();
                Some((name, d))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn what_is_not_measured_exists_and_everything_shipped_is_measured() {
        let root = std::fs::read_to_string(util::project_root().join("Cargo.toml")).unwrap();
        assert!(
            root.contains(r#"members = ["crates/*", "examples/sample-app", "xtask"]"#),
            "the workspace members changed: update packages() and NOT_MEASURED"
        );
        let all = packages();
        for (name, _) in NOT_MEASURED {
            assert!(
                all.iter().any(|(n, _)| n == name),
                "NOT_MEASURED names `{name}`, which is no workspace package"
            );
        }
        let measured: Vec<&str> = all
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !NOT_MEASURED.iter().any(|(m, _)| m == n))
            .collect();
        let mut shipped = util::binary_crates();
        shipped.push("lastgood-core".into());
        shipped.sort();
        assert_eq!(
            measured, shipped,
            "the measured crates are exactly the shipped ones"
        );
    }

    #[test]
    fn the_report_filter_names_each_unmeasured_directory() {
        assert_eq!(MIN_LINES, 90, "the seed's bar");
        let by_name = packages();
        for (name, dir) in NOT_MEASURED {
            let found = by_name.iter().find(|(n, _)| n == name).map(|(_, d)| d);
            assert_eq!(found, Some(&util::project_root().join(dir)), "{name}");
        }
        let args = filter_args();
        assert_eq!(args[0], "--ignore-filename-regex");
        let re = &args[1];
        assert!(re.starts_with('^'), "{re}");
        assert!(re.ends_with(r"/examples/sample\-app)/"), "{re}");
        assert_eq!(regex_escape("/a.b+c/x-y"), r"/a\.b\+c/x\-y");
        assert!(html_dir().ends_with("llvm-cov/html"));
    }
}
