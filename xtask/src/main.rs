//! lastgood's developer tasks, run as `cargo xtask <task>` (matklad's cargo-xtask pattern).
//!
//! Everything a contributor or CI does to this repository goes through here, in Rust, with no
//! shell script beyond `.ci/run`: regenerating the actions and the CLI reference from the specs,
//! the full check suite, release archives, benchmarks and the end-to-end demo.

// xtask is a developer tool: what it prints on stdout is its interface.
#![allow(clippy::print_stdout)]

mod bench;
mod ci;
mod codegen;
mod coverage;
mod demo;
mod dist;
mod util;

#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask <task>

Tasks:
  codegen [--check]   write actions/*/action.yml and docs/cli.md from lastgood_core::spec
  ci                  the test suite: fmt, clippy, tests with line coverage >= 90 % (and zizmor,
                      check-jsonschema, cargo-llvm-cov when installed)
  dist                release archives and SHA256SUMS for the host target in target/dist/
  release-manifest    update actions/manifest.json from target/dist/SHA256SUMS
  bench               measure start-up, health-probe and deploy-sha against the stated goals
  demo [--help]       the seed's whole pipeline, played by the real binaries (docker or processes)
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
        ["dist"] => dist::dist(),
        ["release-manifest"] => dist::release_manifest(),
        ["bench"] => bench::run(),
        ["demo", rest @ ..] => demo::main(rest),
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
