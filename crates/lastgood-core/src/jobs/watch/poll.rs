//! Polling GitHub for the deciding CI run of the watched SHA, within the watch's deadlines.

use std::time::{Duration, Instant};

use super::settings::Settings;
use super::settings::instant_of;
use crate::base::error::Result;
use crate::base::time::format_duration;
use crate::contract::runner::Runner;
use crate::platform::cancel;
use crate::platform::state::watches::WatchRecord;
use crate::services::github::{self, ApiError, FailedJob, GitHub, WorkflowRun};

/// A completed run (or a verdict given by `conclusion`).
#[derive(Debug, Clone)]
pub(super) struct CompletedRun {
    pub(super) conclusion: String,
    pub(super) html_url: Option<String>,
    pub(super) run_id: Option<u64>,
}

/// What polling found.
#[derive(Debug)]
pub(super) enum Found {
    Completed(CompletedRun),
    Missing,
    TimedOut(Option<WorkflowRun>, Option<String>),
    /// GitHub could not be asked before the deadline (why).
    Unreachable(String),
    /// The job was cancelled while polling (by which signal).
    Cancelled(&'static str),
}

pub(super) fn describe_run(r: &WorkflowRun) -> String {
    let attempt = if r.attempt() > 1 {
        format!(", attempt {}", r.attempt())
    } else {
        String::new()
    };
    let state = match (&r.status[..], &r.conclusion) {
        ("completed", Some(c)) => format!("completed with {c}"),
        (s, _) => s.replace('_', " "),
    };
    format!("run #{}{attempt} ({}): {state}", r.run_number, r.event)
}

/// Sleeps until `first` (the watch's start plus `initial-delay`), never past `deadline`.
/// False when the job was cancelled meanwhile.
fn wait_initial_delay(first: Instant, deadline: Instant, runner: &Runner) -> bool {
    let now = Instant::now();
    if first > now {
        runner.info(&format!(
            "waiting {} before the first look at CI",
            format_duration(first - now)
        ));
        return cancel::sleep(first.min(deadline) - now);
    }
    true
}

/// Logs the deciding `run` when it changed since the last look; what was found when it
/// completed.
fn look_at(run: &WorkflowRun, last_seen: &mut String, runner: &Runner) -> Option<Found> {
    let seen = describe_run(run);
    if seen != *last_seen {
        runner.info(&format!("{seen} — {}", run.html_url));
        *last_seen = seen;
    }
    run.is_completed().then(|| {
        Found::Completed(CompletedRun {
            conclusion: run.conclusion.clone().unwrap_or_default(),
            html_url: Some(run.html_url.clone()).filter(|u| !u.is_empty()),
            run_id: Some(run.id),
        })
    })
}

/// Polls GitHub until the deciding run completes, no run appears in time, or the timeout.
pub(super) fn poll(
    s: &Settings,
    record: &WatchRecord,
    gh: &mut GitHub,
    runner: &mut Runner,
) -> Result<Found> {
    let workflow = s.workflow.as_deref().unwrap_or_default();
    let start = instant_of(record.started_at_ms);
    let deadline = start + s.timeout;
    let discovery = start + s.discovery_timeout.min(s.timeout);
    gh.set_deadline(Some(deadline));
    gh.set_backoff(s.interval.min(Duration::from_secs(2)));
    if !wait_initial_delay(start + s.initial_delay, deadline, runner) {
        return Ok(Found::Cancelled(cancel::requested().unwrap_or("a signal")));
    }
    let mut last: Option<WorkflowRun> = None;
    let mut last_seen = String::new();
    // Why the last try could not ask GitHub, and the time lost so: it never counts against
    // `discovery-timeout` (nor turns into `on-missing`/`on-timeout`).
    let mut unreachable: Option<String>;
    let mut lost = Duration::ZERO;
    loop {
        if let Some(sig) = cancel::requested() {
            return Ok(Found::Cancelled(sig));
        }
        let asked = Instant::now();
        let result = {
            let log_runner: &Runner = runner;
            gh.runs(workflow, &s.sha, &mut |m| log_runner.info(m))
        };
        match result {
            Ok(runs) => {
                unreachable = None;
                match github::deciding_run(&runs, &s.sha) {
                    Some(run) => {
                        if let Some(done) = look_at(run, &mut last_seen, runner) {
                            return Ok(done);
                        }
                        last = Some(run.clone());
                    }
                    None if Instant::now() >= discovery + lost => return Ok(Found::Missing),
                    None => {}
                }
            }
            Err(ApiError::Fatal(e)) => return Err(e),
            Err(ApiError::PastDeadline(m)) => return Ok(Found::Unreachable(m)),
            Err(ApiError::Unavailable(m)) => {
                runner.warning(&m);
                lost += asked.elapsed();
                unreachable = Some(m);
            }
        }
        if let Some(sig) = cancel::requested() {
            return Ok(Found::Cancelled(sig));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(match (unreachable, last) {
                (Some(m), _) => Found::Unreachable(m),
                (None, None) => Found::Missing,
                (None, last) => Found::TimedOut(last, None),
            });
        }
        let mut next = (now + s.interval).min(deadline);
        if last.is_none() && now < discovery + lost {
            next = next.min(discovery + lost);
        }
        if unreachable.is_some() {
            lost += next.saturating_duration_since(now);
        }
        if !cancel::sleep(next.saturating_duration_since(now)) {
            return Ok(Found::Cancelled(cancel::requested().unwrap_or("a signal")));
        }
    }
}

/// Failed jobs, their steps and the tail of the first failed job's log.
pub(super) fn explain_failure(
    gh: &mut GitHub,
    run_id: u64,
    runner: &Runner,
) -> (Vec<FailedJob>, Option<String>) {
    let jobs = match gh.jobs(run_id, &mut |m| runner.info(m)) {
        Ok(jobs) => jobs,
        Err(e) => {
            runner.warning(&format!("could not list the failed jobs: {e}"));
            return (Vec::new(), None);
        }
    };
    let failed = github::failed_jobs(&jobs);
    let tail = failed.first().and_then(|job| {
        match gh.job_log_tail(job.id, github::LOG_TAIL_LINES, &mut |m| runner.info(m)) {
            Ok(t) if !t.is_empty() => Some(t),
            Ok(_) => None,
            Err(e) => {
                runner.warning(&format!("could not read the log of job {}: {e}", job.name));
                None
            }
        }
    });
    (failed, tail)
}
