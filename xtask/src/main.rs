//! lastgood's developer tasks, run as `cargo xtask <task>` (matklad's cargo-xtask pattern).
//!
//! Everything a contributor or CI does to this repository goes through here, in Rust, with no
//! shell script beyond `.ci/run`: regenerating the actions and the CLI reference from the specs,
//! the full check suite, release archives, benchmarks and the end-to-end demo.

// xtask is a developer tool: what it prints on stdout is its interface.
#![allow(clippy::print_stdout)]

mod bench;
mod chaos;
mod ci;
mod codegen;
mod coverage;
mod demo;
mod dist;
mod docs;
mod release;
mod util;

#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask <task>

<target dir> is cargo's: CARGO_TARGET_DIR, build.target-dir, else ./target.

Tasks:
  codegen [--check]   write actions/*/action.yml, docs/cli.md and the book's action pages from lastgood_core::spec
  ci                  the test suite: fmt, clippy, tests with line coverage >= 90 % (and zizmor,
                      check-jsonschema, cargo-llvm-cov when installed), a short chaos run
  docs                the documentation site (mdBook, installed once) in <target dir>/book
  dist [--target T]…  static release archives and SHA256SUMS in <target dir>/dist/, for the
                      host and every linux target the toolchain can build here (or each T)
  release <version> [--target T]…
                      bump the version, dist, SHA256SUMS, actions/manifest.json, release notes,
                      then a commit and an annotated tag v<version>; refuses a dirty tree or a
                      bad version; never pushes
  release-manifest    update actions/manifest.json from <target dir>/dist/SHA256SUMS
  bench               measure start-up, health-probe and deploy-sha against the stated goals
  demo [--help]       the seed's whole pipeline, played by the real binaries (docker or processes)
  chaos [--help]      random pushes and faults against the real binaries, invariants checked
";

/// A task's failure: the message, and the exit code to leave with.
#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    fn with_code(message: impl Into<String>, code: u8) -> Self {
        Failure {
            message: message.into(),
            code,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a task.
pub type Result<T = ()> = std::result::Result<T, Failure>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["ci"] => ci::run(),
        ["docs"] => docs::run(),
        ["dist", rest @ ..] => dist::main(rest),
        ["release", rest @ ..] => release::main(rest),
        ["release-manifest"] => dist::release_manifest(),
        ["bench"] => bench::run(),
        ["demo", rest @ ..] => demo::main(rest),
        ["chaos", rest @ ..] => chaos::main(rest),
        [] | ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(Failure::with_code(
            format!("unknown task `{}`\n\n{USAGE}", args.join(" ")),
            2,
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("xtask: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
