//! What a deploy did: its outcome and its Markdown summary.

use crate::platform::state::journal::JournalOutcome;
use std::path::PathBuf;
use std::time::Duration;

use crate::base::sha::Sha;
use crate::base::time::format_duration;
use crate::contract::runner::Runner;

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The SHA is in service and healthy.
    Deployed,
    /// The SHA failed; the previous SHA is back in service and healthy.
    RolledBack,
    /// The SHA failed and nothing healthy could be put back (or no rollback was asked).
    Failed,
}

impl Outcome {
    /// The journal's outcome for it.
    pub(crate) fn journal(self) -> JournalOutcome {
        match self {
            Outcome::Deployed => JournalOutcome::Deployed,
            Outcome::RolledBack => JournalOutcome::RolledBack,
            Outcome::Failed => JournalOutcome::Failed,
        }
    }

    /// `deployed`, `rolled-back` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::RolledBack => "rolled-back",
            Outcome::Failed => "failed",
        }
    }
}

/// What a deploy did.
#[derive(Debug, Clone)]
pub struct DeployReport {
    /// The SHA asked for.
    pub requested_sha: Sha,
    /// The SHA in service at the end.
    pub deployed_sha: Sha,
    /// The SHA in service before: HEAD when the deploy started, unless HEAD was left by an
    /// interrupted deploy (then the SHA in service before that one).
    pub previous_sha: Sha,
    /// Whether the SHA in service at the end passed its health gate (or restarted, without one).
    pub healthy: bool,
    /// Whether the previous SHA was put back.
    pub rolled_back: bool,
    /// deployed, rolled-back or failed.
    pub outcome: Outcome,
    /// Time from the lock to the end.
    pub duration: Duration,
    /// Why the deploy failed (and the rollback, if it failed too).
    pub failure: Option<String>,
    /// Where local changes to tracked files were saved.
    pub saved_changes: Option<PathBuf>,
    /// Phases and their durations, in order (`fetch`, `restart`, `health`, …).
    pub phases: Vec<(String, Duration)>,
    /// How long the lock was waited for.
    pub lock_waited: Option<Duration>,
    /// Why the job was cancelled (SIGINT/SIGTERM) before it finished: the restart or gate that
    /// ran was stopped, nothing new was started, the marker stays for the next run.
    pub cancelled: Option<String>,
    /// The first state write that failed after the checkout moved (the outputs are still
    /// right; the error says what failed and what to do).
    pub state_error: Option<String>,
    /// The GitHub deployment that mirrors this deploy (`github-deployment`), if one was created.
    pub deployment_id: Option<u64>,
}

impl DeployReport {
    /// The Markdown job summary of this deploy.
    pub fn summary(&self, environment: &str, runner: &Runner) -> String {
        let icon = match self.outcome {
            Outcome::Deployed => "✅",
            Outcome::RolledBack => "↩️",
            Outcome::Failed => "❌",
        };
        let mut md = format!(
            "### {icon} deploy-sha to {environment}: {}\n\n| | |\n|---|---|\n",
            self.outcome.as_str()
        );
        md.push_str(&format!(
            "| requested | {} |\n",
            runner.commit_link(&self.requested_sha)
        ));
        md.push_str(&format!(
            "| in service now | {} |\n",
            runner.commit_link(&self.deployed_sha)
        ));
        md.push_str(&format!(
            "| in service before | {} |\n",
            runner.commit_link(&self.previous_sha)
        ));
        md.push_str(&format!(
            "| healthy | {} |\n| duration | {} |\n",
            self.healthy,
            format_duration(self.duration)
        ));
        if let Some(w) = self.lock_waited {
            md.push_str(&format!(
                "| waited for the lock | {} |\n",
                format_duration(w)
            ));
        }
        for (name, d) in &self.phases {
            md.push_str(&format!("| {name} | {} |\n", format_duration(*d)));
        }
        if let Some(c) = &self.cancelled {
            md.push_str(&format!(
                "| cancelled | {}; nothing new was started, the next run finishes the job |\n",
                c.replace('|', "\\|").replace('\n', " ")
            ));
        }
        if let Some(e) = &self.state_error {
            md.push_str(&format!(
                "| state not saved | {} |\n",
                e.replace('|', "\\|").replace('\n', " ")
            ));
        }
        if let Some(f) = &self.failure {
            md.push_str(&format!(
                "| failure | {} |\n",
                f.replace('|', "\\|").replace('\n', " ")
            ));
        }
        if let Some(id) = self.deployment_id {
            md.push_str(&format!("| GitHub deployment | {id} |\n"));
        }
        if let Some(p) = &self.saved_changes {
            md.push_str(&format!("| local changes saved | `{}` |\n", p.display()));
        }
        md
    }
}
