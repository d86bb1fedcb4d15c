//! Inputs: every input is a flag `--name`, falling back to `INPUT_NAME`, then to its default.
//!
//! An empty value counts as absent (a composite action passes `""` for an input the user left
//! out). Typed getters return [`Error::Input`] naming the input, so a binary can validate all of
//! its inputs before it changes anything.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::base::error::{Error, Result};
use crate::base::spec::ActionSpec;
use crate::base::time::parse_duration;

/// The parsed inputs of one binary.
#[derive(Debug)]
pub struct Inputs {
    matches: ArgMatches,
    spec: &'static ActionSpec,
}

/// The clap command of an action: one flag per input, plus `--json`.
pub(crate) fn command(spec: &'static ActionSpec) -> Command {
    let mut cmd = Command::new(spec.name)
        .about(spec.about)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(
            "Every input falls back to its INPUT_* environment variable; empty values count as absent.\n\
             Exit codes: 0 success, 1 negative verdict, 2 invalid input (nothing changed), 3 environment failure.",
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Also print the outputs on stdout as one JSON object"),
        );
    for input in spec.inputs {
        // `--help` names each variable but never shows its value: besides the declared secrets,
        // probe headers and URLs may carry credentials.
        let mut arg = Arg::new(input.name)
            .long(input.name)
            .env(input.env_var())
            .hide_env_values(true)
            .help(input.help)
            .action(ArgAction::Set);
        if input.flag {
            arg = arg
                .num_args(0..=1)
                .default_missing_value("true")
                .value_name("BOOL");
        } else {
            arg = arg.value_name(value_name(input.name));
        }
        if let Some(default) = input.default {
            arg = arg.default_value(default);
        }
        if input.required {
            arg = arg.help(format!("{} [required]", input.help));
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

fn value_name(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

impl Inputs {
    /// Parses the process's arguments and environment; exits with clap's message on bad usage.
    pub fn from_env(spec: &'static ActionSpec) -> std::result::Result<Self, clap::Error> {
        Self::parse_from(spec, std::env::args_os())
    }

    /// Parses the given arguments (the first is the program name) and the process environment.
    pub fn parse_from<I, T>(
        spec: &'static ActionSpec,
        args: I,
    ) -> std::result::Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command(spec).try_get_matches_from(args)?;
        Ok(Inputs { matches, spec })
    }

    /// The action this parses inputs for.
    pub fn spec(&self) -> &'static ActionSpec {
        self.spec
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.matches.get_flag("json")
    }

    /// The value of `name` (flag, else variable, else default), trimmed; `None` when empty.
    ///
    /// An empty flag or variable falls back to the default, as a missing one does.
    ///
    /// # Panics
    /// In debug builds, when `name` is not an input of the spec (a programming error).
    pub fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(
            self.spec.input(name).is_some(),
            "{} has no input {name}",
            self.spec.name
        );
        self.matches
            .try_get_one::<String>(name)
            .ok()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .or_else(|| self.spec.input(name).and_then(|i| i.default))
    }

    /// Whether the user gave `name` (flag or variable), as opposed to its default.
    pub fn is_explicit(&self, name: &str) -> bool {
        matches!(
            self.matches.value_source(name),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        ) && self
            .matches
            .try_get_one::<String>(name)
            .ok()
            .flatten()
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// The value of a required input.
    pub fn required(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::input(name, "is required and was not given"))
    }

    /// Non-empty, trimmed lines of a multi-line input (empty when absent).
    pub fn lines(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .map(|v| v.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
            .unwrap_or_default()
    }

    /// A duration input (`500ms`, `10s`, `5m`, `1h`).
    pub fn duration(&self, name: &str) -> Result<Option<Duration>> {
        self.get(name)
            .map(|v| parse_duration(v).map_err(|reason| Error::input(name, reason)))
            .transpose()
    }

    /// The value of an input whose spec gives a default: the value given, else that default
    /// (so a caller never restates it). Not given and no default is an input error.
    pub fn defaulted(&self, name: &str) -> Result<&str> {
        self.required(name)
    }

    /// A duration input whose spec gives a default: the value given, else that default.
    pub fn defaulted_duration(&self, name: &str) -> Result<Duration> {
        self.duration(name)?
            .ok_or_else(|| Error::input(name, "is required and was not given"))
    }

    /// A whole-number input whose spec gives a default: the value given, else that default.
    pub fn defaulted_number(&self, name: &str) -> Result<u64> {
        self.number(name)?
            .ok_or_else(|| Error::input(name, "is required and was not given"))
    }

    /// A whole-number input.
    pub fn number(&self, name: &str) -> Result<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| Error::input(name, format!("`{v}` is not a whole number")))
            })
            .transpose()
    }

    /// A boolean input: `true`/`false` (also `yes`/`no`, `1`/`0`); absent means `false`.
    pub fn bool(&self, name: &str) -> Result<bool> {
        match self.get(name) {
            None => Ok(false),
            // A bare `--flag` takes the next word as its value: a long one is likely a value
            // meant for another input (a secret, maybe), so it is not repeated.
            Some(v) if v.chars().count() > 12 || v.contains('/') => Err(Error::input(
                name,
                "the value is not a boolean (use `true` or `false`); it is not shown, in case it was meant for another input",
            )),
            Some(v) => parse_bool(v).ok_or_else(|| {
                Error::input(
                    name,
                    format!("`{v}` is not a boolean (use `true` or `false`)"),
                )
            }),
        }
    }

    /// One of a fixed set of words.
    pub fn choice(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => allowed
                .iter()
                .find(|a| **a == v)
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    Error::input(name, format!("`{v}` is not one of: {}", allowed.join(", ")))
                }),
        }
    }
}

/// Parses `true`/`false`, `yes`/`no`, `1`/`0`, `on`/`off` (case-insensitive).
fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::spec::ALL;
    use crate::base::spec::HEALTH_PROBE;
    use crate::base::spec::NOTIFY_DISCORD;

    #[test]
    fn every_spec_builds_a_valid_command() {
        for spec in ALL {
            command(spec).debug_assert();
        }
    }

    #[test]
    fn flags_defaults_and_empty_values() {
        let spec = &HEALTH_PROBE;
        let inputs = Inputs::parse_from(
            spec,
            ["health-probe", "--url", "http://x", "--expect-body", "  "],
        )
        .unwrap();
        assert_eq!(inputs.get("url"), Some("http://x"));
        assert_eq!(inputs.get("expect-body"), None, "blank counts as absent");
        assert_eq!(inputs.get("attempts"), Some("3"), "default applies");
        let inputs = Inputs::parse_from(spec, ["health-probe", "--attempts", ""]).unwrap();
        assert_eq!(
            inputs.get("attempts"),
            Some("3"),
            "an empty value falls back to the default"
        );
        assert!(!inputs.is_explicit("attempts"));
        assert_eq!(
            inputs.duration("timeout").unwrap(),
            Some(Duration::from_secs(10))
        );
        let err = Inputs::parse_from(spec, ["health-probe", "--timeout", "soon"])
            .unwrap()
            .duration("timeout")
            .unwrap_err();
        assert!(err.to_string().contains("`timeout`"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn defaulted_values_come_from_the_spec() {
        let spec = &HEALTH_PROBE;
        let inputs = Inputs::parse_from(spec, ["health-probe", "--interval", "2s"]).unwrap();
        assert_eq!(inputs.defaulted("expect-status").unwrap(), "200");
        assert_eq!(
            inputs.defaulted_duration("timeout").unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(
            inputs.defaulted_duration("interval").unwrap(),
            Duration::from_secs(2),
            "a given value wins"
        );
        assert_eq!(inputs.defaulted_number("attempts").unwrap(), 3);
        // No default and not given: an input error, never a made-up value.
        let err = inputs.defaulted_duration("deadline").unwrap_err();
        assert!(err.to_string().contains("`deadline`"), "{err}");
        assert_eq!(err.exit_code(), 2);
        assert!(inputs.defaulted("expect-body").is_err());
    }

    #[test]
    fn boolean_flag_alone_means_true() {
        let spec = &NOTIFY_DISCORD;
        let inputs = Inputs::parse_from(spec, ["notify-discord", "--fail-on-error"]).unwrap();
        assert!(inputs.bool("fail-on-error").unwrap());
        let inputs = Inputs::parse_from(spec, ["notify-discord"]).unwrap();
        assert!(!inputs.bool("fail-on-error").unwrap());
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, tricky_text};
    use crate::base::spec::{HEALTH_PROBE, NOTIFY_DISCORD};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(2))]

        /// Any value of any typed input: its value or an input error (exit 2) that names the
        /// input; a blank one is absent.
        #[test]
        fn any_value_is_typed_or_an_error_naming_the_input(
            value in prop_oneof![tricky_text(16), "[0-9+ -]{0,22}", "[a-zA-Z0-9 ]{0,14}"]
        ) {
            let arg = |name: &str| format!("--{name}={value}");
            let named = |r: Result<_>, name: &str| match r {
                Ok(_) => Ok(()),
                Err(e) => {
                    prop_assert_eq!(e.exit_code(), 2);
                    prop_assert!(e.to_string().contains(&format!("`{name}`")), "{}", e);
                    Ok(())
                }
            };
            let Ok(probe) = Inputs::parse_from(&HEALTH_PROBE, ["health-probe".to_owned(), arg("attempts"), arg("timeout")]) else {
                return Ok(());
            };
            if value.trim().is_empty() {
                prop_assert_eq!(probe.get("attempts"), Some("3"));
            } else {
                prop_assert_eq!(probe.get("attempts"), Some(value.trim()));
            }
            named(probe.number("attempts").map(|_| ()), "attempts")?;
            named(probe.duration("timeout").map(|_| ()), "timeout")?;
            let Ok(notify) = Inputs::parse_from(&NOTIFY_DISCORD, ["notify-discord".to_owned(), arg("fail-on-error"), arg("locale")]) else {
                return Ok(());
            };
            named(notify.bool("fail-on-error").map(|_| ()), "fail-on-error")?;
            named(notify.choice("locale", &["en", "fr"]).map(|_| ()), "locale")?;
            let lines = notify.lines("locale");
            prop_assert!(lines.iter().all(|l| !l.is_empty() && l.trim() == *l));
        }
    }
}
