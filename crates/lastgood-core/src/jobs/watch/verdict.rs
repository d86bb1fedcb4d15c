//! Acting on a verdict under the environment lock: validate forward only, or roll back if the
//! SHA is still in service.

use super::poll::{CompletedRun, Found, describe_run, explain_failure, poll};
use super::report::Action;
use super::report::{Concluded, Ending, finish_message, stopped, unfinished};
use super::settings::Settings;
use super::settings::{Policy, now_ms};
use crate::base::error::EXIT_ENVIRONMENT;
use crate::base::error::{Error, Result};
use crate::base::sha::{Sha, short_sha};
use crate::base::time::format_duration;
use crate::contract::cli::error_chain;
use crate::contract::runner::Runner;
use crate::jobs::deploy::{self, DeployConfig, Outcome};
use crate::platform::git::Git;
use crate::platform::state::EnvLock;
use crate::platform::state::journal::{JournalEvent, JournalOutcome};
use crate::platform::state::watches::{self, WatchRecord, read_record, write_record};
use crate::platform::state::{JournalEntry, LockHolder, StateDir, marker};
use crate::services::github::{FailedJob, GitHub};

/// Every conclusion GitHub gives a run.
pub(super) const CONCLUSIONS: &[&str] = &[
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
    "startup_failure",
];

/// What a run's conclusion means for the deployed SHA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// CI passed: validate the SHA.
    Success,
    /// CI failed: roll back if the SHA is still deployed.
    Failure,
    /// Neither (cancelled, skipped, …): handled like a missing run.
    Inconclusive,
}

/// The verdict of a run's conclusion.
pub(super) fn verdict_of(conclusion: &str) -> Verdict {
    match conclusion {
        "success" => Verdict::Success,
        "failure" | "timed_out" | "startup_failure" => Verdict::Failure,
        _ => Verdict::Inconclusive,
    }
}

/// Acts on what was found: validate, roll back, record superseded, or keep by policy.
pub(super) fn conclude(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    found: Found,
    gh: Option<&mut GitHub>,
    runner: &mut Runner,
) -> Result<Concluded> {
    let short = s.sha.short();
    let undecided = match found {
        Found::Unreachable(why) => return Ok(unreachable(s, state, record, &why, runner)),
        Found::Cancelled(sig) => return Ok(cancelled(s, state, record, sig, runner)),
        Found::Completed(run) => match verdict_of(&run.conclusion) {
            Verdict::Success => return Ok(ci_passed(s, cfg, state, record, run, runner)),
            Verdict::Failure => return ci_failed(s, cfg, state, record, run, gh, runner),
            Verdict::Inconclusive => Undecided {
                kind: Action::Inconclusive,
                why: format!(
                    "the CI run ended `{}`, neither success nor failure",
                    run.conclusion
                ),
                policy: s.on_missing,
                conclusion: Some(run.conclusion),
                run_url: run.html_url,
            },
        },
        Found::Missing => Undecided {
            kind: Action::Missing,
            why: format!(
                "no run of workflow `{}` appeared for {short} within {} (paths filters, [skip ci], or another workflow name?)",
                s.workflow.as_deref().unwrap_or_default(),
                format_duration(s.discovery_timeout.min(s.timeout))
            ),
            policy: s.on_missing,
            conclusion: None,
            run_url: None,
        },
        Found::TimedOut(last, note) => Undecided {
            kind: Action::TimedOut,
            why: format!(
                "CI did not finish within {}{}{}",
                format_duration(s.timeout),
                last.as_ref()
                    .map(|r| format!(" ({})", describe_run(r)))
                    .unwrap_or_default(),
                note.map(|n| format!("; {n}")).unwrap_or_default()
            ),
            policy: s.on_timeout,
            conclusion: None,
            run_url: last
                .as_ref()
                .map(|r| r.html_url.clone())
                .filter(|u| !u.is_empty()),
        },
    };
    by_policy(s, cfg, state, record, undecided, runner)
}

/// A failed CI run: explain it, roll back, report.
fn ci_failed(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    run: CompletedRun,
    gh: Option<&mut GitHub>,
    runner: &mut Runner,
) -> Result<Concluded> {
    runner.error(&format!(
        "CI failed for {}: {}",
        s.sha.short(),
        run.conclusion
    ));
    let (failed, tail) = match (gh, run.run_id) {
        (Some(gh), Some(id)) => explain_failure(gh, id, runner),
        _ => (Vec::new(), None),
    };
    let lines: Vec<String> = failed.iter().flat_map(FailedJob::lines).collect();
    if !lines.is_empty() {
        runner.info(&format!("failed: {}", lines.join("; ")));
    }
    let why = format!("CI {}", run.conclusion);
    let rolled = roll_back(s, cfg, state, record, &why, run.html_url.as_deref(), runner);
    let mut ending = Ending {
        action: Some(Action::RollbackFailed),
        earlier: false,
        conclusion: Some(run.conclusion),
        run_url: run.html_url,
        failed_jobs: lines,
        details: tail,
    };
    Ok(match rolled {
        Ok(acted) => {
            ending.action = acted.map(|a| a.action);
            ending.earlier = acted.is_some_and(|a| a.earlier);
            finish_message(s, cfg, ending, runner)
        }
        Err(e) => unfinished(state, record, ending, e, runner),
    })
}

/// A passed CI run: validate, report.
fn ci_passed(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    run: CompletedRun,
    runner: &mut Runner,
) -> Concluded {
    runner.info(&format!("CI passed for {}", s.sha.short()));
    let validated = validate(s, cfg, state, record, run.html_url.as_deref(), runner);
    let mut ending = Ending {
        action: None,
        earlier: false,
        conclusion: Some(run.conclusion),
        run_url: run.html_url,
        failed_jobs: Vec::new(),
        details: None,
    };
    match validated {
        Ok(act) => {
            ending.action = act;
            finish_message(s, cfg, ending, runner)
        }
        Err(e) => unfinished(state, record, ending, e, runner),
    }
}

/// GitHub could not be asked before the deadline: no verdict, the watch stays pending.
fn unreachable(
    s: &Settings,
    state: &StateDir,
    record: Option<&WatchRecord>,
    why: &str,
    runner: &mut Runner,
) -> Concluded {
    let message = format!(
        "GitHub was unreachable while watching CI of {} ({why}); no verdict: the watch stays pending, and `resume: true` finishes it once GitHub answers",
        s.sha.short()
    );
    let error = Error::Environment(message);
    stopped(state, record, Some(Action::Unreachable), error, runner)
}

/// The job was cancelled while polling: no verdict, the watch stays pending.
fn cancelled(
    s: &Settings,
    state: &StateDir,
    record: Option<&WatchRecord>,
    sig: &str,
    runner: &mut Runner,
) -> Concluded {
    let message = format!(
        "the watch of {} was cancelled by {sig} before a verdict; it stays pending, and `resume: true` finishes it",
        s.sha.short()
    );
    stopped(state, record, None, Error::Cancelled(message), runner)
}

/// No verdict (no run, no end in time, or an inconclusive end), for `on-missing` or
/// `on-timeout` to decide.
struct Undecided {
    kind: Action,
    why: String,
    policy: Policy,
    conclusion: Option<String>,
    run_url: Option<String>,
}

/// Keep, validate or roll back, as the policy says; report.
fn by_policy(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    u: Undecided,
    runner: &mut Runner,
) -> Result<Concluded> {
    let short = s.sha.short();
    let (kind, why, policy, run_url) = (u.kind, u.why, u.policy, u.run_url);
    let policy_name = if kind == Action::TimedOut {
        "on-timeout"
    } else {
        "on-missing"
    };
    let mut earlier = false;
    let act = match policy {
        Policy::Keep => {
            runner.warning(&format!(
                "{why}; {short} is kept as it is ({policy_name}: keep)"
            ));
            if let Some(_guard) = acting_lock(s, cfg, state, record, "record", runner)? {
                state.journal(&entry(
                    cfg,
                    record,
                    JournalEvent::CiWatch,
                    kind.journal(),
                    &s.sha,
                    run_url.as_deref(),
                    Some(&why),
                ))?;
                if record.is_some() {
                    watches::remove_record(state, &s.sha)?;
                }
                Some(kind)
            } else {
                None
            }
        }
        Policy::Validate => {
            runner.warning(&format!(
                "{why}; validating {short} anyway ({policy_name}: validate)"
            ));
            validate(s, cfg, state, record, run_url.as_deref(), runner)?
        }
        Policy::Rollback => {
            runner.error(&format!("{why}; rolling back ({policy_name}: rollback)"));
            let acted = roll_back(s, cfg, state, record, &why, run_url.as_deref(), runner)?;
            earlier = acted.is_some_and(|a| a.earlier);
            acted.map(|a| a.action)
        }
    };
    let ending = Ending {
        action: act,
        earlier,
        conclusion: u.conclusion,
        run_url,
        failed_jobs: Vec::new(),
        details: Some(why).filter(|_| policy == Policy::Keep),
    };
    Ok(finish_message(s, cfg, ending, runner))
}

/// The environment lock, for acting on a verdict; `None` when the recorded watch is gone (another
/// process concluded it) or is now another watch of the same SHA.
pub(super) fn acting_lock(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    what: &str,
    runner: &Runner,
) -> Result<Option<EnvLock>> {
    let holder = LockHolder::new(
        format!("ci-watcher {what} {}", short_sha(&s.sha)),
        Some(&s.sha),
    );
    let lock = state.lock(&holder, cfg.lock_timeout, &mut |m| runner.info(m))?;
    if let Some(record) = record {
        match read_record(state, &s.sha)? {
            Some(r) if r.started_at_ms == record.started_at_ms => {}
            _ => {
                runner.info(&format!(
                    "the watch of {} was concluded by another process; nothing more to do",
                    short_sha(&s.sha)
                ));
                return Ok(None);
            }
        }
    }
    Ok(Some(lock))
}

/// A journal entry of the watcher; its duration is the watch's, from its start to now (unknown
/// for a verdict given by `conclusion`).
pub(super) fn entry(
    cfg: &DeployConfig,
    record: Option<&WatchRecord>,
    event: JournalEvent,
    outcome: JournalOutcome,
    sha: &str,
    run_url: Option<&str>,
    detail: Option<&str>,
) -> JournalEntry {
    let mut entry = JournalEntry::new(&cfg.environment, event, outcome);
    entry.sha = Sha::parse(sha);
    entry.duration_ms = record.map(|r| now_ms().saturating_sub(r.started_at_ms));
    entry.actor.clone_from(&cfg.actor);
    entry.run_url = run_url.map(str::to_owned).or_else(|| cfg.run_url.clone());
    entry.detail = detail.map(str::to_owned);
    entry
}

/// Validates `sha`, forward only.
pub(super) fn validate(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    run_url: Option<&str>,
    runner: &Runner,
) -> Result<Option<Action>> {
    let Some(_lock) = acting_lock(s, cfg, state, record, "validate", runner)? else {
        return Ok(None);
    };
    let sha = &s.sha;
    let current = state.last_validated()?;
    let git = Git::open(&cfg.app_dir, "app-dir")?;
    let newer = match off_branch(&git, cfg, sha, runner)? {
        Some(why) => Some(why),
        None => already_validated(&git, current.as_deref(), sha)?,
    };
    let unhealthy = match &newer {
        Some(_) => None,
        None => unhealthy_here(cfg, state, &git, sha)?,
    };
    if let Some(detail) = unhealthy {
        runner.warning(&detail);
        let mut e = entry(
            cfg,
            record,
            JournalEvent::Validate,
            JournalOutcome::Unhealthy,
            sha,
            run_url,
            Some(&detail),
        );
        e.previous_sha = current.as_deref().and_then(Sha::parse);
        state.journal(&e)?;
        if record.is_some() {
            watches::remove_record(state, sha)?;
        }
        return Ok(Some(Action::Unhealthy));
    }
    let outcome = match &newer {
        Some(why) => {
            runner.info(why);
            JournalOutcome::Unchanged
        }
        None => {
            state.set_last_validated(sha)?;
            runner.info(&format!(
                "{} is validated: last-validated-sha.txt updated{}",
                short_sha(sha),
                current
                    .as_deref()
                    .map(|c| format!(" (was {})", short_sha(c)))
                    .unwrap_or_default()
            ));
            JournalOutcome::Validated
        }
    };
    let mut e = entry(
        cfg,
        record,
        JournalEvent::Validate,
        outcome,
        sha,
        run_url,
        newer.as_deref(),
    );
    // The SHA validated before.
    e.previous_sha = current.as_deref().and_then(Sha::parse);
    state.journal(&e)?;
    if record.is_some() {
        watches::remove_record(state, sha)?;
    }
    Ok(Some(Action::Validated))
}

/// Why `sha` cannot be validated here although CI passed: only a SHA that ran here and passed
/// its gate moves `last-validated-sha.txt`. `None`: it may be validated.
fn unhealthy_here(
    cfg: &DeployConfig,
    state: &StateDir,
    git: &Git,
    sha: &str,
) -> Result<Option<String>> {
    Ok(match last_gate_here(state, sha)? {
        Some((false, when)) => Some(format!(
            "CI passed, but {} failed its health gate in {} ({when}): not validated here, never a rollback target here",
            short_sha(sha),
            cfg.environment
        )),
        // Never put in service here (its deploy was cancelled or superseded before the reset):
        // nothing says it runs here.
        None if git.head()? != *sha => Some(format!(
            "CI passed, but {} never passed a health gate in {} and is not checked out: not validated here",
            short_sha(sha),
            cfg.environment
        )),
        // Checked out by a deploy that was interrupted before its health gate said anything.
        None if deploy_interrupted(state, sha)? => Some(format!(
            "CI passed, but the deploy of {} in {} was interrupted before its health gate passed: not validated here (re-run the deploy; its watcher validates it)",
            short_sha(sha),
            cfg.environment
        )),
        _ => None,
    })
}

/// Whether a deploy of `sha` here was interrupted: its marker is still there, or the journal
/// has a deploy of it that ended without a health gate's result (cancelled, a state write
/// failing).
fn deploy_interrupted(state: &StateDir, sha: &str) -> Result<bool> {
    if marker::read(state).is_some_and(|i| i.sha == sha) {
        return Ok(true);
    }
    Ok(state
        .read_journal()?
        .iter()
        .any(|e| e.sha.as_deref() == Some(sha) && e.event == JournalEvent::Deploy))
}

/// Why `sha` cannot be validated because it is not on `remote/branch` (checked after a fetch;
/// when the fetch fails, against what the checkout has). `None`: it is on the branch. A branch
/// the checkout does not know is an error (exit 3), as for a rollback.
pub(super) fn off_branch(
    git: &Git,
    cfg: &DeployConfig,
    sha: &str,
    runner: &Runner,
) -> Result<Option<String>> {
    if let Err(e) = git.fetch(&cfg.remote, &cfg.branch, cfg.fetch_timeout) {
        runner.warning(&format!(
            "could not fetch {}/{} ({e}); checking {} against what the checkout has",
            cfg.remote,
            cfg.branch,
            short_sha(sha)
        ));
    }
    let on_branch = git.commit_exists(sha)? && git.is_reachable(sha, &cfg.remote, &cfg.branch)?;
    Ok((!on_branch).then(|| {
        format!(
            "{} is not on {}/{}: last-validated-sha.txt only moves forward along that branch and is left as it is",
            short_sha(sha),
            cfg.remote,
            cfg.branch
        )
    }))
}

/// Why `last-validated-sha.txt` must not move to `sha`: it already names `sha` or a descendant
/// of it (validation only moves forward). `None`: move it. A `current` SHA unknown to the
/// checkout cannot be compared and is replaced.
pub(super) fn already_validated(
    git: &Git,
    current: Option<&str>,
    sha: &str,
) -> Result<Option<String>> {
    Ok(match current {
        Some(c) if c == sha => Some(format!(
            "{} was already the last validated SHA",
            short_sha(sha)
        )),
        Some(c)
            if git.commit_exists(c)? && git.commit_exists(sha)? && git.is_ancestor(sha, c)? =>
        {
            Some(format!(
                "{} is newer and already validated: last-validated-sha.txt is left on it",
                short_sha(c)
            ))
        }
        _ => None,
    })
}

/// The result of `sha`'s last health gate in this environment, and when (the journal's last
/// `deploy` or `rollback` of it that ran its gate); `None` when none ran here.
fn last_gate_here(state: &StateDir, sha: &str) -> Result<Option<(bool, String)>> {
    Ok(state
        .read_journal()?
        .into_iter()
        .rev()
        .filter(|e| {
            e.sha.as_deref() == Some(sha)
                && matches!(e.event, JournalEvent::Deploy | JournalEvent::Rollback)
        })
        .find_map(|e| {
            // Entries written before `healthy` existed: a deploy that was rolled back did not
            // pass its gate.
            let healthy = e.healthy.or(match (&e.event, &e.outcome) {
                (_, JournalOutcome::Deployed)
                | (JournalEvent::Rollback, JournalOutcome::RolledBack) => Some(true),
                (JournalEvent::Deploy, JournalOutcome::RolledBack) => Some(false),
                _ => None,
            })?;
            Some((healthy, e.time))
        }))
}

/// When `sha`'s last health gate in this environment failed, if it did: such a SHA is never
/// validated nor a rollback target here, whatever CI says.
pub(super) fn failed_gate_here(state: &StateDir, sha: &str) -> Result<Option<String>> {
    Ok(last_gate_here(state, sha)?.and_then(|(healthy, time)| (!healthy).then_some(time)))
}

/// Whether `sha` may be in service, from the facts: it is checked out (HEAD), or an
/// interrupted deploy or rollback (its marker) was moving away from it, or towards it — the
/// reset may be done and the restart not, or the restart done and the marker not removed.
/// Only when none of these holds did a newer deploy really replace `sha` (`superseded`).
pub(super) fn may_be_in_service(state: &StateDir, head: &str, sha: &str) -> bool {
    head == sha || marker::read(state).is_some_and(|i| i.sha == sha || i.previous_sha == sha)
}

/// What [`roll_back`] did.
#[derive(Debug, Clone, Copy)]
pub(super) struct Acted {
    /// The action reported.
    pub(super) action: Action,
    /// `action` is an earlier actor's: the SHA was already rolled back (by its health gate or
    /// an earlier verdict) and nothing was done now.
    pub(super) earlier: bool,
}

/// Rolls back to the last validated SHA if `sha` is still deployed; else records `superseded`
/// (or finds it already rolled back).
pub(super) fn roll_back(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    why: &str,
    run_url: Option<&str>,
    runner: &mut Runner,
) -> Result<Option<Acted>> {
    let Some(lock) = acting_lock(s, cfg, state, record, "rollback", runner)? else {
        return Ok(None);
    };
    let sha = &s.sha;
    let short = short_sha(sha).to_owned();
    state.journal(&entry(
        cfg,
        record,
        JournalEvent::CiFailed,
        JournalOutcome::Failed,
        sha,
        run_url,
        Some(why),
    ))?;
    let git = Git::open(&cfg.app_dir, "app-dir")?;
    let head = git.head()?;
    let (acted, retry) = if !may_be_in_service(state, &head, sha) {
        let acted = out_of_service(cfg, state, record, (why, run_url), &head, sha, runner)?;
        (acted, None)
    } else {
        let (action, retry) = match state.last_validated()? {
            None => {
                runner.error(&format!(
                    "cannot roll back {short}: no last validated SHA in {} (run save-rollback-point before the first deploy)",
                    state.path().display()
                ));
                (Action::RollbackFailed, None)
            }
            Some(last) if last == *sha => {
                runner.error(&format!(
                    "cannot roll back {short}: it is itself the last validated SHA; nothing older is known to be good"
                ));
                (Action::RollbackFailed, None)
            }
            Some(last) if failed_gate_here(state, &last)?.is_some() => {
                runner.error(&format!(
                    "cannot roll back {short}: the last validated SHA {} failed its health gate here since; no healthy validated SHA is left in {}, so nothing is touched (no bouncing between broken versions): deploy a fix, or a SHA known to be healthy, by hand",
                    short_sha(&last),
                    cfg.environment
                ));
                (Action::RollbackFailed, None)
            }
            Some(last) => roll_back_to(cfg, state, &lock, &short, &last, runner)?,
        };
        let earlier = false;
        (Acted { action, earlier }, retry)
    };
    after_rollback(state, record, retry, sha, runner)?;
    drop(lock);
    Ok(Some(acted))
}

/// A failed SHA no longer in service: already rolled back (its own health gate's rollback, or
/// an earlier verdict's), or `superseded` when a newer deploy really replaced it. Nothing is
/// touched either way.
fn out_of_service(
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    (why, run_url): (&str, Option<&str>),
    head: &str,
    sha: &str,
    runner: &Runner,
) -> Result<Acted> {
    let short = short_sha(sha);
    if let Some(when) = rolled_back_from(state, sha)? {
        runner.warning(&format!(
            "{why} for {short}, which was already rolled back ({when}); {} is deployed, nothing is touched",
            short_sha(head)
        ));
        return Ok(Acted {
            action: Action::RolledBack,
            earlier: true,
        });
    }
    let detail = format!(
        "{} is deployed now; {short} was replaced by a newer deploy, nothing is touched",
        short_sha(head)
    );
    runner.warning(&format!("{why} for {short}, but {detail}"));
    state.journal(&entry(
        cfg,
        record,
        JournalEvent::Superseded,
        JournalOutcome::Superseded,
        sha,
        run_url,
        Some(&detail),
    ))?;
    Ok(Acted {
        action: Action::Superseded,
        earlier: false,
    })
}

/// When `sha` left service by a rollback (a rollback away from it, or its own deploy rolled
/// back by the health gate), if that, and not a newer deploy, is the last thing that took it
/// out of service.
fn rolled_back_from(state: &StateDir, sha: &str) -> Result<Option<String>> {
    let last = state.read_journal()?.into_iter().rev().find_map(|e| {
        let rolled_back = match (&e.event, &e.outcome) {
            (JournalEvent::Rollback, JournalOutcome::Deployed | JournalOutcome::RolledBack)
                if e.previous_sha.as_deref() == Some(sha) =>
            {
                true
            }
            (JournalEvent::Deploy, JournalOutcome::RolledBack) if e.sha.as_deref() == Some(sha) => {
                true
            }
            (JournalEvent::Deploy, JournalOutcome::Deployed)
                if e.previous_sha.as_deref() == Some(sha) =>
            {
                false
            }
            _ => return None,
        };
        Some((rolled_back, e.time))
    });
    Ok(last.and_then(|(rolled_back, time)| rolled_back.then_some(time)))
}

/// The watch after a rollback: kept for `resume` to retry (`retry`: its status), or removed.
fn after_rollback(
    state: &StateDir,
    record: Option<&WatchRecord>,
    retry: Option<String>,
    sha: &str,
    runner: &Runner,
) -> Result<()> {
    match (record, retry) {
        (Some(r), Some(status)) => {
            let mut pending = r.clone();
            pending.status = runner.redact(&status);
            write_record(state, &pending)?;
            runner.info(&format!(
                "the watch stays recorded in {}; `resume: true` retries the rollback",
                watches::record_file(state, sha).display()
            ));
        }
        (Some(_), None) => watches::remove_record(state, sha)?,
        (None, _) => {}
    }
    Ok(())
}

/// The rollback itself, to `last` (the last validated SHA), under the held lock; with the
/// status to record when the watch must stay for `resume` to retry.
fn roll_back_to(
    cfg: &DeployConfig,
    state: &StateDir,
    lock: &EnvLock,
    short: &str,
    last: &str,
    runner: &mut Runner,
) -> Result<(Action, Option<String>)> {
    runner.info(&format!(
        "rolling {} back from {short} to the last validated SHA {}",
        cfg.environment,
        short_sha(last)
    ));
    Ok(
        match deploy::deploy_locked(cfg, state, lock, last, JournalEvent::Rollback, runner) {
            Ok(r) if r.cancelled.is_some() => {
                // The watch stays recorded (the failed SHA may still serve): resume finishes the
                // rollback.
                return Err(Error::Cancelled(format!(
                    "the rollback to {} was stopped: {}",
                    short_sha(last),
                    r.cancelled.unwrap_or_default()
                )));
            }
            Ok(r) if r.state_error.is_some() => {
                let e = r.state_error.unwrap_or_default();
                runner.error(&format!(
                    "the rollback to {} ran ({}) but its state could not be saved: {e}",
                    short_sha(last),
                    r.outcome.as_str()
                ));
                let retry = Some(format!("error: rollback state not saved: {e}"));
                if r.outcome == Outcome::Deployed && r.healthy {
                    (Action::RolledBack, retry)
                } else {
                    (Action::RollbackFailed, retry)
                }
            }
            Ok(r) if r.outcome == Outcome::Deployed && r.healthy => {
                runner.info(&format!(
                    "rolled back: {} is in service again ({})",
                    short_sha(last),
                    format_duration(r.duration)
                ));
                (Action::RolledBack, None)
            }
            Ok(r) => {
                runner.error(&format!(
                    "the rollback to {} failed: {}",
                    short_sha(last),
                    r.failure.as_deref().unwrap_or("unhealthy")
                ));
                (Action::RollbackFailed, None)
            }
            Err(e) => {
                let chain = error_chain(&e);
                runner.error(&format!(
                    "the rollback to {} failed: {chain}",
                    short_sha(last)
                ));
                // It could not run (git, docker or the state dir failing): the failed SHA is
                // still in service, so the watch stays for `resume` to retry.
                let retry = (e.exit_code() == EXIT_ENVIRONMENT)
                    .then(|| format!("error: rollback failed: {chain}"));
                (Action::RollbackFailed, retry)
            }
        },
    )
}

/// Polls, then acts on what was found, while holding `watches/<sha>.lock`; `recorded`: the watch
/// is in `watches/<sha>.json` (else it is acted on as a `conclusion` is, by the facts alone).
pub(super) fn watch_owned(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: &WatchRecord,
    recorded: bool,
    runner: &mut Runner,
) -> Result<Concluded> {
    let token = s.token.as_deref().unwrap_or_default();
    let mut gh = GitHub::new(&s.api_url, &s.repository, token);
    runner.info(&format!(
        "watching CI of {} in {} (workflow {}, timeout {}, discovery timeout {})",
        short_sha(&s.sha),
        s.repository,
        s.workflow.as_deref().unwrap_or_default(),
        format_duration(s.timeout),
        format_duration(s.discovery_timeout)
    ));
    let found = poll(s, record, &mut gh, runner)?;
    let stats = gh.stats();
    runner.info(&format!(
        "GitHub: {} request(s), {} unchanged (304), {} rate-limit wait(s)",
        stats.requests, stats.not_modified, stats.rate_limited
    ));
    let record = recorded.then_some(record);
    conclude(s, cfg, state, record, found, Some(&mut gh), runner)
}
