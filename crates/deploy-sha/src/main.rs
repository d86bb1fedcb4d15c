//! `deploy-sha`: put exactly this SHA in service, or leave the service as it was.
//!
//! Thin: validates the inputs (the prod guards included), then runs
//! [`lastgood_core::deploy::deploy`] and reports its outputs and summary.

use std::process::ExitCode;

use lastgood_core::deploy::{self, DeployConfig, Outcome};
use lastgood_core::inputs::Inputs;
use lastgood_core::runner::Runner;
use lastgood_core::sha::short_sha;
use lastgood_core::state::StateDir;
use lastgood_core::{Error, Result, Status, spec};

fn main() -> ExitCode {
    lastgood_core::cli::run_main(&spec::DEPLOY_SHA, run)
}

/// The typed confirmation `require-confirm` asks for.
const CONFIRM_WORD: &str = "DEPLOY";

fn run(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    // Every input is validated before anything is touched.
    if inputs.bool("require-confirm")? && inputs.get("confirm") != Some(CONFIRM_WORD) {
        return Err(Error::Refused(match inputs.get("confirm") {
            None => format!(
                "this environment requires a typed confirmation: set `confirm` to {CONFIRM_WORD} (nothing was changed)"
            ),
            Some(other) => format!(
                "`confirm` is `{}`, not {CONFIRM_WORD}: type {CONFIRM_WORD} exactly, in capitals (nothing was changed)",
                other.chars().take(40).collect::<String>()
            ),
        }));
    }
    let cfg = DeployConfig::from_inputs(inputs, runner)?;
    let sha = resolve_sha(inputs, &cfg)?;

    let report = deploy::deploy(&cfg, &sha, runner)?;

    runner.output("deployed-sha", &report.deployed_sha)?;
    runner.output("previous-sha", &report.previous_sha)?;
    runner.output("healthy", &report.healthy.to_string())?;
    runner.output("rolled-back", &report.rolled_back.to_string())?;
    runner.output("outcome", report.outcome.as_str())?;
    runner.output("duration-ms", &report.duration.as_millis().to_string())?;
    // Whenever the mirror is asked for, even when it could not be set up (no token).
    if inputs.bool("github-deployment")? {
        let id = report.deployment_id.map(|id| id.to_string());
        runner.output("deployment-id", id.as_deref().unwrap_or(""))?;
    }
    if let Err(e) = runner.summary(&report.summary(&cfg.environment, runner)) {
        runner.warning(&format!("could not write the job summary: {e}"));
    }
    // Outputs first, then what stopped the job: the workflow's next steps read the outputs.
    if let Some(c) = report.cancelled {
        return Err(Error::Cancelled(format!(
            "{c}; {} is checked out but not known to be in service: the next run (deploy-sha or ci-watcher) finishes the job",
            short_sha(&report.requested_sha)
        )));
    }
    if let Some(e) = report.state_error {
        return Err(Error::Environment(format!(
            "the deploy ended ({}, healthy: {}) but its state could not be saved: {e}",
            report.outcome.as_str(),
            report.healthy
        )));
    }
    match report.outcome {
        Outcome::Deployed => {
            runner.info(&format!(
                "{} is in service on {}{}",
                short_sha(&report.deployed_sha),
                cfg.environment,
                if cfg.health.is_some() {
                    " and healthy"
                } else {
                    " (no health gate)"
                }
            ));
            Ok(Status::Success)
        }
        Outcome::RolledBack | Outcome::Failed => Ok(Status::Negative),
    }
}

/// The SHA to deploy: `sha` (full SHA, `last-validated`, `previous`), defaulting to the last
/// validated SHA of `require-validated-from`, which it must then equal.
fn resolve_sha(inputs: &Inputs, cfg: &DeployConfig) -> Result<String> {
    let validated_from = match inputs.get("require-validated-from") {
        None => None,
        Some(dir) => {
            let other = StateDir::open_existing(std::path::Path::new(dir))?;
            let sha = other.last_validated()?.ok_or_else(|| {
                Error::Refused(format!(
                    "nothing is validated in {dir} (no last-validated-sha.txt): deploy and validate there first (`require-validated-from`)"
                ))
            })?;
            Some((dir, sha))
        }
    };
    let own = || StateDir::open_existing(&cfg.state_dir);
    let sha = match inputs.get("sha") {
        None => match &validated_from {
            Some((_, sha)) => sha.clone(),
            None => {
                return Err(Error::input(
                    "sha",
                    "is required: a full 40-hex SHA, `last-validated` or `previous` (or give `require-validated-from`)",
                ));
            }
        },
        Some("last-validated") => own()?.last_validated()?.ok_or_else(|| {
            Error::input(
                "sha",
                format!(
                    "is `last-validated` but {} has no last-validated-sha.txt yet",
                    cfg.state_dir.display()
                ),
            )
        })?,
        Some("previous") => own()?.previous()?.ok_or_else(|| {
            Error::input(
                "sha",
                format!(
                    "is `previous` but {} has no previous-sha.txt yet",
                    cfg.state_dir.display()
                ),
            )
        })?,
        Some(value) => deploy::parse_sha(value, "sha")?.into_string(),
    };
    if let Some((dir, validated)) = validated_from.filter(|(_, v)| *v != sha) {
        return Err(Error::Refused(format!(
            "{} is not the last validated SHA of {dir} ({}); deploy {} or validate this SHA there first (`require-validated-from`)",
            short_sha(&sha),
            short_sha(&validated),
            short_sha(&validated)
        )));
    }
    Ok(sha)
}
