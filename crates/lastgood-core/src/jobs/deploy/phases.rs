//! The deploy transaction in named phases: verify → mark → reset → restart → gate → (roll back)
//! → record. [`deploy_locked`](super::deploy_locked) runs them in this order.

use std::path::Path;
use std::time::{Duration, Instant};

use super::config::{DeployConfig, RESTART_LOG, STALE_INDEX_LOCK, parse_sha};
use super::report::Outcome;
use crate::base::error::{Error, Result};
use crate::base::sha::{Sha, short_sha};
use crate::base::time::format_duration;
use crate::contract::runner::Runner;
use crate::platform::backup::{self, SavedChanges};
use crate::platform::cancel;
use crate::platform::git::Git;
use crate::platform::http::Client;
use crate::platform::restart::Restarter;
use crate::platform::state::journal::{JournalEvent, JournalOutcome};
use crate::platform::state::marker::{self, InProgress};
use crate::platform::state::{JournalEntry, LOGS_DIR, PREVIOUS_FILE, StateDir, now_rfc3339};
use crate::services::health;

/// One deploy (or rollback) of one SHA, under the environment lock.
pub(super) struct Transaction<'a> {
    cfg: &'a DeployConfig,
    state: &'a StateDir,
    git: Git,
    restarter: Restarter,
    /// The SHA to put in service, validated.
    pub(super) sha: Sha,
    /// The journal event: `deploy`, or `rollback` for ci-watcher.
    event: JournalEvent,
    /// Phases and their durations, in order.
    pub(super) phases: Vec<(String, Duration)>,
    /// The first state write that failed after the checkout moved: the transaction goes on
    /// (the outputs must still be right) and reports it at the end.
    pub(super) state_error: Option<Error>,
}

/// Why putting a SHA in service failed.
#[derive(Debug)]
pub(super) enum Failed {
    /// The SHA itself: its restart failed or its health gate did.
    Broken(String),
    /// Not the SHA's fault: the reset or starting the restart failed.
    Environment(String),
    /// The job was cancelled while the restart or the gate ran (they were stopped).
    Cancelled(String),
}

impl Failed {
    fn into_reason(self) -> String {
        match self {
            Failed::Broken(r) | Failed::Environment(r) | Failed::Cancelled(r) => r,
        }
    }
}

/// What [`Transaction::mark`] found and left before the reset.
pub(super) struct Marked {
    /// The SHA in service before this deploy (not one an interrupted deploy left checked out).
    pub(super) before: Sha,
    /// What to go back to on failure: nothing for a re-deploy of the SHA in service.
    rollback_to: Option<Sha>,
    /// `previous-sha.txt` as it was, to restore after a rollback.
    old_previous: Option<String>,
    /// Where local changes were saved, if there were any.
    pub(super) saved: Option<SavedChanges>,
}

/// How the attempt ended, rollback included.
pub(super) struct Ended {
    /// deployed, rolled-back or failed.
    pub(super) outcome: Outcome,
    /// The SHA in service at the end.
    pub(super) deployed_sha: Sha,
    /// Whether the SHA in service at the end passed its health gate.
    pub(super) healthy: bool,
    /// Whether the previous SHA was put back.
    pub(super) rolled_back: bool,
    /// Why the deploy failed (and the rollback, if it failed too).
    pub(super) failure: Option<String>,
    /// The journal's `rollback` event, when a rollback ran.
    rollback_entry: Option<JournalEntry>,
    /// Whether the SHA asked for passed its gate (`None`: the gate did not run to its end).
    sha_healthy: Option<bool>,
    /// Why the job was cancelled, when it was: what ran was stopped, nothing new started.
    pub(super) cancelled: Option<String>,
}

impl<'a> Transaction<'a> {
    /// Validates the SHA and prepares git and the restart (their tools must exist).
    pub(super) fn open(
        cfg: &'a DeployConfig,
        state: &'a StateDir,
        sha: &str,
        event: JournalEvent,
    ) -> Result<Self> {
        Ok(Transaction {
            cfg,
            state,
            sha: parse_sha(sha, "sha")?,
            git: Git::open(&cfg.app_dir, "app-dir")?,
            restarter: cfg.restart.prepare(&cfg.app_dir)?,
            event,
            phases: Vec::new(),
            state_error: None,
        })
    }

    /// Verify: fetch, then the commit must exist and be reachable from `remote/branch`.
    pub(super) fn verify(&mut self, runner: &mut Runner) -> Result<()> {
        let (cfg, git, sha) = (self.cfg, &self.git, &self.sha);
        let t = Instant::now();
        runner.group(&format!("git fetch {} {}", cfg.remote, cfg.branch));
        let fetched = git.fetch(&cfg.remote, &cfg.branch, cfg.fetch_timeout);
        runner.end_group();
        fetched?;
        if !git.commit_exists(sha)? {
            // Servers like GitHub serve any commit by SHA; others refuse, which is fine.
            let _ = git.fetch_sha(&cfg.remote, sha, cfg.fetch_timeout);
            if !git.commit_exists(sha)? {
                return Err(Error::Refused(format!(
                    "commit {sha} not found after fetching {}; push it or check the SHA",
                    cfg.remote
                )));
            }
        }
        if !cfg.allow_unreachable && !git.is_reachable(sha, &cfg.remote, &cfg.branch)? {
            return Err(Error::Refused(format!(
                "commit {sha} is not reachable from {}/{}; only commits of that branch are deployed (set `allow-unreachable` to deploy it anyway)",
                cfg.remote, cfg.branch
            )));
        }
        self.phases.push(("fetch".to_owned(), t.elapsed()));
        Ok(())
    }

    /// Mark: what is in service, the deploy marker written, local changes saved,
    /// `previous-sha.txt` moved; nothing of the service changed yet.
    pub(super) fn mark(&mut self, runner: &mut Runner) -> Result<Marked> {
        let (state, git, sha) = (self.state, &self.git, &self.sha);
        if let Some(path) = git.clear_stale_index_lock(STALE_INDEX_LOCK)? {
            runner.warning(&format!(
                "removed {} left by an interrupted git command",
                path.display()
            ));
        }
        let head = git.head()?;
        let old_previous = state.previous()?;
        let interrupted = marker::read(state);
        if let Some(i) = &interrupted {
            runner.warning(&format!(
                "a previous {} of {} (pid {}, since {}) was interrupted{}",
                i.event,
                short_sha(&i.sha),
                i.pid,
                i.since,
                if i.sha == *sha { "; redoing it" } else { "" }
            ));
        }
        let before_text = match &interrupted {
            // Redoing an interrupted rollback to this very SHA: it rolls away from the SHA the
            // interrupted one rolled away from (that one may still be serving).
            Some(i)
                if self.event == JournalEvent::Rollback
                    && i.event == JournalEvent::Rollback
                    && i.sha == *sha =>
            {
                i.previous_sha.to_string()
            }
            _ => marker::in_service_before(&head, interrupted),
        };
        let before = Sha::parse(&before_text).ok_or_else(|| {
            Error::Environment(format!(
                "the SHA in service, `{before_text}`, is not a commit SHA: check the checkout in app-dir"
            ))
        })?;
        let rollback_to = (before != *sha).then(|| before.clone());
        let in_progress = InProgress {
            sha: sha.clone(),
            previous_sha: before.clone(),
            pid: std::process::id(),
            since: now_rfc3339(),
            event: self.event.clone(),
        };
        marker::write(state, &in_progress)?;

        let saved = backup::save_local_changes_before(git, state, &head, Some(sha))?;
        if let Some(s) = &saved {
            warn_saved(runner, s);
        }
        // A rollback (ci-watcher's) never records the SHA it rolls away from: it failed.
        if before != *sha && self.event != JournalEvent::Rollback {
            state.set_previous(&before)?;
        }
        if head == *sha {
            runner.info(&format!(
                "{} is already checked out; restarting and checking it again",
                short_sha(sha)
            ));
        }
        runner.info(&format!(
            "deploying {} to {} (in service before: {})",
            short_sha(sha),
            self.cfg.environment,
            short_sha(&before)
        ));
        Ok(Marked {
            before,
            rollback_to,
            old_previous,
            saved,
        })
    }

    /// Reset → restart → gate for `sha`; why it failed otherwise. Phases are named with
    /// `prefix` (`""`, or `"rollback "`).
    pub(super) fn put_in_service(
        &mut self,
        sha: &str,
        prefix: &str,
        runner: &mut Runner,
    ) -> std::result::Result<(), Failed> {
        self.reset(sha, prefix, runner)?;
        self.restart(sha, prefix, runner)?;
        self.gate(sha, prefix, runner)
    }

    /// Reset: `git reset --hard sha`.
    fn reset(&mut self, sha: &str, prefix: &str, runner: &mut Runner) -> Result<(), Failed> {
        if let Some(sig) = cancel::requested() {
            return Err(Failed::Cancelled(format!(
                "cancelled by {sig} before the reset to {}",
                short_sha(sha)
            )));
        }
        let t = Instant::now();
        runner.info(&format!("git reset --hard {sha}"));
        self.git.reset_hard(sha).map_err(|e| {
            Failed::Environment(format!("git reset --hard {} failed: {e}", short_sha(sha)))
        })?;
        self.phases.push((format!("{prefix}reset"), t.elapsed()));
        Ok(())
    }

    /// Restart: compose or `restart-command`, output in `logs/restart.log`.
    fn restart(&mut self, sha: &str, prefix: &str, runner: &mut Runner) -> Result<(), Failed> {
        let cfg = self.cfg;
        let t = Instant::now();
        runner.group(&format!("restart ({})", short_sha(sha)));
        let env = [
            ("LASTGOOD_SHA", sha),
            ("LASTGOOD_ENVIRONMENT", cfg.environment.as_str()),
        ];
        let log_runner: &Runner = runner;
        let capture = cfg.state_dir.join(LOGS_DIR).join(RESTART_LOG);
        let ran = self.restarter.run_with_timeout(
            &cfg.app_dir,
            &env,
            &capture,
            &|line| log_runner.info(line),
            Some(cfg.restart_timeout),
        );
        runner.end_group();
        self.phases.push((format!("{prefix}restart"), t.elapsed()));
        match ran {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Failed::Broken(reason)),
            Err(Error::Cancelled(reason)) => Err(Failed::Cancelled(reason)),
            Err(e) => Err(Failed::Environment(e.to_string())),
        }
    }

    /// Gate: the health check, when there is a `health-url`.
    fn gate(&mut self, sha: &str, prefix: &str, runner: &mut Runner) -> Result<(), Failed> {
        let Some(gate) = &self.cfg.health else {
            runner.warning("no `health-url`: the deploy is not health-checked");
            return Ok(());
        };
        let version = match gate.expect_version.as_deref() {
            Some("sha") => Some(sha.to_owned()),
            other => other.map(str::to_owned),
        };
        let gate = gate.with_version(version);
        let t = Instant::now();
        runner.group(&format!("health check ({})", short_sha(sha)));
        let report = health::probe(&gate, &Client::new(), &mut |line| runner.info(line));
        runner.end_group();
        self.phases.push((format!("{prefix}health"), t.elapsed()));
        if report.cancelled {
            return Err(Failed::Cancelled(format!(
                "the health check of {} was stopped: {}",
                short_sha(sha),
                report.failure_reason.as_deref().unwrap_or("cancelled")
            )));
        }
        if report.healthy {
            runner.info(&format!(
                "{} is healthy ({} attempt(s), {})",
                short_sha(sha),
                report.attempts,
                format_duration(report.elapsed)
            ));
            Ok(())
        } else {
            Err(Failed::Broken(format!(
                "health check failed after {} attempt(s): {}",
                report.attempts,
                report.failure_reason.as_deref().unwrap_or("unhealthy")
            )))
        }
    }

    /// The SHA is in service and healthy.
    pub(super) fn deployed(&self) -> Ended {
        Ended {
            outcome: Outcome::Deployed,
            deployed_sha: self.sha.clone(),
            healthy: true,
            rolled_back: false,
            failure: None,
            rollback_entry: None,
            sha_healthy: Some(true),
            cancelled: None,
        }
    }

    /// After a failed attempt: roll back when asked and there is something to go back to; after
    /// a cancelled one, nothing more (the marker stays and tells the next run).
    pub(super) fn after_failure(
        &mut self,
        marked: &Marked,
        failed: Failed,
        runner: &mut Runner,
    ) -> Ended {
        let sha_healthy = matches!(failed, Failed::Broken(_)).then_some(false);
        let ended = |sha: &Sha, reason: String, cancelled: Option<String>| Ended {
            outcome: Outcome::Failed,
            deployed_sha: sha.clone(),
            healthy: false,
            rolled_back: false,
            failure: Some(reason),
            rollback_entry: None,
            sha_healthy,
            cancelled,
        };
        if let Failed::Cancelled(reason) = failed {
            runner.error(&format!(
                "deploy of {} to {} cancelled: {reason}",
                short_sha(&self.sha),
                self.cfg.environment
            ));
            return ended(&self.sha, reason.clone(), Some(reason));
        }
        let reason = failed.into_reason();
        runner.error(&format!(
            "deploy of {} to {} failed: {reason}",
            short_sha(&self.sha),
            self.cfg.environment
        ));
        match (&marked.rollback_to, self.cfg.rollback_on_failure) {
            (Some(back), true) => {
                let mut e = self.roll_back(back, marked, reason, runner);
                e.sha_healthy = sha_healthy;
                e
            }
            (None, true) => {
                runner.warning(&format!(
                    "no rollback: {} was already in service before this deploy",
                    short_sha(&self.sha)
                ));
                ended(&self.sha, reason, None)
            }
            (_, false) => ended(&self.sha, reason, None),
        }
    }

    /// Keeps the first state write that failed (see [`Transaction::state_error`]).
    fn keep(&mut self, written: Result<()>) {
        if let Err(e) = written {
            self.state_error.get_or_insert(e);
        }
    }

    /// Roll back: the SHA in service before, put back the same way; `previous-sha.txt` restored.
    fn roll_back(
        &mut self,
        back: &Sha,
        marked: &Marked,
        reason: String,
        runner: &mut Runner,
    ) -> Ended {
        runner.info(&format!("rolling back to {}", short_sha(back)));
        let t = Instant::now();
        let back_result = self.put_in_service(back, "rollback ", runner);
        // `previous` must never name the SHA that just failed.
        let restored = match &marked.old_previous {
            Some(p) => self.state.set_previous(p),
            None => self.state.remove(Path::new(PREVIOUS_FILE)),
        };
        self.keep(restored);
        let mut cancelled = None;
        let sha = &self.sha;
        let mut entry = self.rollback_entry(back, t.elapsed());
        let ended = match back_result {
            Ok(()) => {
                runner.info(&format!(
                    "rolled back: {} is in service again",
                    short_sha(back)
                ));
                entry.outcome = JournalOutcome::RolledBack;
                entry.detail = Some(format!("{} failed: {reason}", short_sha(sha)));
                entry.healthy = Some(true);
                (Outcome::RolledBack, true, Some(reason))
            }
            Err(Failed::Cancelled(again)) => {
                runner.error(&format!(
                    "rollback to {} cancelled: {again}",
                    short_sha(back)
                ));
                entry.outcome = JournalOutcome::Failed;
                entry.detail = Some(again.clone());
                let both = format!(
                    "{reason}; the rollback to {} was cancelled: {again}",
                    short_sha(back)
                );
                cancelled = Some(again);
                (Outcome::Failed, false, Some(both))
            }
            Err(failed) => {
                entry.healthy = matches!(failed, Failed::Broken(_)).then_some(false);
                let again = failed.into_reason();
                runner.error(&format!(
                    "rollback to {} failed too: {again}",
                    short_sha(back)
                ));
                entry.outcome = JournalOutcome::Failed;
                entry.detail = Some(again.clone());
                let both = format!(
                    "{reason}; the rollback to {} failed too: {again}",
                    short_sha(back)
                );
                (Outcome::Failed, false, Some(both))
            }
        };
        let (outcome, healthy, failure) = ended;
        Ended {
            outcome,
            deployed_sha: back.clone(),
            healthy,
            rolled_back: true,
            failure,
            rollback_entry: Some(entry),
            sha_healthy: None,
            cancelled,
        }
    }

    /// The journal entry of the rollback to `back` (its outcome is set by the caller).
    fn rollback_entry(&self, back: &Sha, took: Duration) -> JournalEntry {
        let mut entry = JournalEntry::new(
            &self.cfg.environment,
            JournalEvent::Rollback,
            JournalOutcome::None,
        );
        entry.sha = Some(back.clone());
        entry.previous_sha = Some(self.sha.clone());
        entry.duration_ms = Some(millis(took));
        entry.actor.clone_from(&self.cfg.actor);
        entry.run_url.clone_from(&self.cfg.run_url);
        entry
    }

    /// Record: the journal's `deploy` (or `rollback`) event, the rollback's, then the marker
    /// removed — except after a cancellation: the restart it stopped did not finish, so what is
    /// checked out is not known to be in service, and the marker tells the next run. A failed
    /// journal write does not keep the marker (removing needs no space): what is checked out is
    /// what is in service. Every write is attempted; the first failure is kept.
    pub(super) fn record(&mut self, marked: &Marked, ended: &Ended, duration: Duration) {
        let cfg = self.cfg;
        let mut entry = JournalEntry::new(
            &cfg.environment,
            self.event.clone(),
            ended.outcome.journal(),
        );
        entry.sha = Some(self.sha.clone());
        entry.previous_sha = Some(marked.before.clone());
        entry.duration_ms = Some(millis(duration));
        entry.actor.clone_from(&cfg.actor);
        entry.run_url.clone_from(&cfg.run_url);
        entry.detail = ended.failure.clone();
        entry.healthy = ended.sha_healthy;
        let written = self.state.journal(&entry);
        self.keep(written);
        if let Some(rb) = &ended.rollback_entry {
            let written = self.state.journal(rb);
            self.keep(written);
        }
        if ended.cancelled.is_none() {
            let removed = marker::remove(self.state);
            self.keep(removed);
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn warn_saved(runner: &Runner, s: &SavedChanges) {
    if !s.files.is_empty() {
        runner.warning(&format!(
            "local changes to {} tracked file(s) ({}) were saved before the reset: {} (apply with `git apply`) and {}; untracked files are left in place",
            s.files.len(),
            s.files.join(", "),
            s.patch.display(),
            s.archive.display()
        ));
    }
    if !s.untracked.is_empty() {
        runner.warning(&format!(
            "untracked file(s) that the new SHA tracks ({}) are overwritten by the reset; they were saved in {}",
            s.untracked.join(", "),
            s.archive.display()
        ));
    }
}
