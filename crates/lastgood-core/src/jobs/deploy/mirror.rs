//! deploy-sha's GitHub deployment (`github-deployment`): created `in_progress` once the SHA is
//! verified (fetched, on the branch; a refused deploy creates none), then `success` (in
//! service: healthy, or restarted without a gate), `failure` (the deploy failed; after a
//! rollback the restored SHA's deployment is `success` again) or `error` (stopped before a
//! result: cancelled, the environment failing). Every API failure is a warning: the deploy's
//! outcome and exit code never depend on GitHub.

use super::report::{DeployReport, Outcome};
use crate::base::error::Result;
use crate::base::sha::short_sha;
use crate::contract::runner::Runner;
use crate::jobs::deploy::DeployConfig;
use crate::services::deployments::{Mirror, MirrorConfig, State};

/// A deploy being mirrored.
pub(super) struct Mirrored {
    mirror: Mirror,
    id: Option<u64>,
    environment: String,
    log_url: Option<String>,
}

impl Mirrored {
    /// Nothing created yet.
    pub(super) fn new(github: &MirrorConfig, cfg: &DeployConfig) -> Mirrored {
        Mirrored {
            mirror: Mirror::new(github),
            id: None,
            environment: cfg.environment.clone(),
            log_url: cfg.run_url.clone(),
        }
    }

    /// Creates the deployment of `sha` and sets it `in_progress` (warnings on failure).
    pub(super) fn start(&mut self, sha: &str, runner: &Runner) {
        let env = &self.environment;
        let description = format!("deploy-sha {} to {env}", short_sha(sha));
        match self.mirror.create(sha, &description) {
            Ok(id) => {
                runner.info(&format!(
                    "GitHub deployment {id} created for {} in {env}",
                    short_sha(sha)
                ));
                self.id = Some(id);
                self.post(id, State::InProgress, "Deploying", runner);
            }
            Err(why) => warn(runner, Err(why)),
        }
    }

    /// Gives the deployment its final status; `result` is returned as it was, with the
    /// deployment's id.
    pub(super) fn finish(
        self,
        result: Result<DeployReport>,
        runner: &Runner,
    ) -> Result<DeployReport> {
        let Some(id) = self.id else {
            return result;
        };
        match &result {
            Err(e) => {
                let why = runner.redact(&e.to_string());
                self.post(id, State::Error, &format!("Stopped: {why}"), runner);
            }
            Ok(r) if r.cancelled.is_some() => {
                self.post(id, State::Error, "Cancelled before a result", runner);
            }
            Ok(r) => self.ended(id, r, runner),
        }
        result.map(|mut r| {
            r.deployment_id = Some(id);
            r
        })
    }

    /// The status of a deploy that ran to its end.
    fn ended(&self, id: u64, r: &DeployReport, runner: &Runner) {
        match r.outcome {
            Outcome::Deployed => {
                let gate = if r.healthy { " and healthy" } else { "" };
                self.post(id, State::Success, &format!("In service{gate}"), runner);
                let replaced = Some(r.previous_sha.as_str()).filter(|p| r.deployed_sha != **p);
                warn(
                    runner,
                    self.mirror.replaced(id, replaced, self.log_url.as_deref()),
                );
            }
            Outcome::RolledBack => {
                let back = short_sha(&r.deployed_sha);
                let why = format!("Failed; {} rolled back to {back}", self.environment);
                self.post(id, State::Failure, &why, runner);
                let restored = format!("Back in service: {} failed", short_sha(&r.requested_sha));
                match self.mirror.find_or_create(&r.deployed_sha, &restored) {
                    Ok(back_id) => self.post(back_id, State::Success, &restored, runner),
                    Err(why) => warn(runner, Err(why)),
                }
            }
            Outcome::Failed => {
                let why = r.failure.as_deref().unwrap_or("the deploy failed");
                let why = runner.redact(why);
                self.post(id, State::Failure, &format!("Failed: {why}"), runner);
            }
        }
    }

    fn post(&self, id: u64, state: State, description: &str, runner: &Runner) {
        warn(
            runner,
            self.mirror
                .status(id, state, description, self.log_url.as_deref()),
        );
    }
}

/// An API failure: a warning, nothing more.
fn warn(runner: &Runner, result: std::result::Result<(), String>) {
    if let Err(why) = result {
        runner.warning(&format!(
            "GitHub deployment not updated (the deploy is not affected): {why}"
        ));
    }
}
