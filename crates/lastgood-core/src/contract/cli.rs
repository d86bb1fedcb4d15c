//! The `main` of every binary: parse inputs, run, report the error once, map to an exit code.

use std::process::ExitCode;

use crate::base::error::{EXIT_NEGATIVE, EXIT_OK, EXIT_USAGE};
use crate::base::error::{Result, Status};
use crate::base::spec::ActionSpec;
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;

/// Runs a binary: parses its inputs from the command line and `INPUT_*`, masks its secrets
/// before anything else, calls `run`, prints the `--json` object and maps the result to the
/// exit codes of the contract. An error is printed once, as `::error::` in a runner.
#[expect(
    clippy::print_stderr,
    reason = "clap's usage error goes to stderr, where a shell shows it; stdout is for outputs only"
)]
pub fn run_main(
    spec: &'static ActionSpec,
    run: impl FnOnce(&Inputs, &mut Runner) -> Result<Status>,
) -> ExitCode {
    let inputs = match Inputs::from_env(spec) {
        Ok(inputs) => inputs,
        Err(e) if !e.use_stderr() => {
            // `--help` and `--version`, on stdout (secret inputs hide their env values).
            let _ = e.print();
            return ExitCode::from(EXIT_OK);
        }
        Err(e) => {
            // clap quotes what it did not understand: a webhook URL or token given without its
            // flag would be printed, before any `::add-mask::` could hide it.
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            eprint!("{}", redact_usage_error(&e.render().to_string(), &args));
            return ExitCode::from(EXIT_USAGE);
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

/// clap's usage error with every value the user typed (any argument that is not a `--flag`, and
/// the `=value` part of `--flag=value`) shown as `'***'`: it may be a misplaced secret. Flag
/// names stay, so a typo is still pointed out.
fn redact_usage_error(message: &str, args: &[String]) -> String {
    let mut values: Vec<&str> = args
        .iter()
        .filter_map(|a| match a.strip_prefix("--") {
            Some(flag) => flag.split_once('=').map(|(_, v)| v),
            None if a.starts_with('-') && a.len() > 1 => None,
            None => Some(a.as_str()),
        })
        .filter(|v| !v.is_empty())
        .collect();
    // Longest first, so a value containing another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = message.to_owned();
    for v in values {
        out = out.replace(&format!("'{v}'"), "'***'");
        out = out.replace(&format!("'-- {v}'"), "'-- ***'");
    }
    out
}

/// The error and its causes, `: `-separated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::spec::NOTIFY_DISCORD;
    use crate::contract::inputs::Inputs;

    fn usage_error(args: &[&str]) -> String {
        let mut argv = vec!["notify-discord"];
        argv.extend_from_slice(args);
        let Err(e) = Inputs::parse_from(&NOTIFY_DISCORD, argv) else {
            panic!("{args:?} should be a usage error");
        };
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        redact_usage_error(&e.render().to_string(), &args)
    }

    #[test]
    fn usage_errors_hide_values_but_name_flags() {
        let url = "https://discord.com/api/webhooks/1/tok";
        for args in [
            vec![url],
            vec!["--json", url],
            vec![&*format!("--json={url}")],
            vec!["--event", "x", url],
        ] {
            let text = usage_error(&args);
            assert!(!text.contains("tok"), "{args:?}: {text}");
            assert!(text.contains("'***'"), "{args:?}: {text}");
        }
        let text = usage_error(&["--bogus"]);
        assert!(text.contains("'--bogus'"), "{text}");
        let text = usage_error(&["--webhook-ur=https://x/secret"]);
        assert!(
            text.contains("'--webhook-ur'") && !text.contains("secret"),
            "{text}"
        );
    }
}
