//! Polling GitHub for the deciding CI run of the watched SHA, within the watch's deadlines.

use std::time::{Duration, Instant};

use super::settings::Settings;
use super::settings::instant_of;
use crate::base::error::{Error, Result};
use crate::base::time::format_duration;
use crate::contract::runner::Runner;
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
fn wait_initial_delay(first: Instant, deadline: Instant, runner: &Runner) {
    let now = Instant::now();
    if first > now {
        runner.info(&format!(
            "waiting {} before the first look at CI",
            format_duration(first - now)
        ));
        std::thread::sleep(first.min(deadline) - now);
    }
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
    wait_initial_delay(start + s.initial_delay, deadline, runner);
    let mut last: Option<WorkflowRun> = None;
    let mut last_seen = String::new();
    let mut failures = 0u32;
    loop {
        let result = {
            let log_runner: &Runner = runner;
            gh.runs(workflow, &s.sha, &mut |m| log_runner.info(m))
        };
        match result {
            Ok(runs) => {
                failures = 0;
                match github::deciding_run(&runs, &s.sha) {
                    Some(run) => {
                        let seen = describe_run(run);
                        if seen != last_seen {
                            runner.info(&format!("{seen} — {}", run.html_url));
                            last_seen = seen;
                        }
                        if run.is_completed() {
                            return Ok(Found::Completed(CompletedRun {
                                conclusion: run.conclusion.clone().unwrap_or_default(),
                                html_url: Some(run.html_url.clone()).filter(|u| !u.is_empty()),
                                run_id: Some(run.id),
                            }));
                        }
                        last = Some(run.clone());
                    }
                    None if Instant::now() >= discovery => return Ok(Found::Missing),
                    None => {}
                }
            }
            Err(ApiError::Fatal(e)) => return Err(e),
            Err(ApiError::PastDeadline(m)) => {
                return Ok(match last {
                    None if Instant::now() >= discovery => Found::Missing,
                    last => Found::TimedOut(last, Some(m)),
                });
            }
            Err(ApiError::Unavailable(m)) => {
                failures += 1;
                runner.warning(&m);
                if failures >= 3 || Instant::now() >= deadline {
                    return Err(Error::Environment(m));
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(match last {
                None => Found::Missing,
                last => Found::TimedOut(last, None),
            });
        }
        let mut next = (now + s.interval).min(deadline);
        if last.is_none() && now < discovery {
            next = next.min(discovery);
        }
        std::thread::sleep(next.saturating_duration_since(now));
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
