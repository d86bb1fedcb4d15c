//! The `main` of every binary: parse inputs, run, report the error once, map to an exit code.

use std::process::ExitCode;

use crate::error::{EXIT_NEGATIVE, EXIT_OK, EXIT_USAGE};
use crate::inputs::Inputs;
use crate::runner::Runner;
use crate::spec::ActionSpec;
use crate::{Result, Status};

/// Runs a binary: parses its inputs from the command line and `INPUT_*`, masks its secrets
/// before anything else, calls `run`, prints the `--json` object and maps the result to the
/// exit codes of the contract. An error is printed once, as `::error::` in a runner.
pub fn run_main(
    spec: &'static ActionSpec,
    run: impl FnOnce(&Inputs, &mut Runner) -> Result<Status>,
) -> ExitCode {
    let inputs = match Inputs::from_env(spec) {
        Ok(inputs) => inputs,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            // clap prints help/version on stdout and usage errors on stderr.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut runner = Runner::from_env(inputs.json());
    for input in spec.inputs.iter().filter(|i| i.secret) {
        if let Some(value) = inputs.get(input.name) {
            runner.mask(value);
        }
    }
    let code = match run(&inputs, &mut runner) {
        Ok(Status::Success) => EXIT_OK,
        Ok(Status::Negative) => EXIT_NEGATIVE,
        Err(e) => {
            runner.error_titled(Some(spec.name), &error_chain(&e));
            e.exit_code()
        }
    };
    runner.finish();
    ExitCode::from(code)
}

/// The error and its causes, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
