//! Detach and resume: the watcher in a new session, and finishing recorded watches later.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report::{already_watched, finish_owned, report};
use super::settings::now_ms;
use super::settings::{Settings, rebuild_inputs, record_of, token};
use super::verdict::watch_owned;
use crate::base::error::Status;
use crate::base::error::{Error, Result};
use crate::base::sha::short_sha;
use crate::base::time::format_duration;
use crate::contract::cli::error_chain;
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::jobs::deploy::DeployConfig;
use crate::platform::state::StateDir;
use crate::platform::state::watches::{
    self, WatchRecord, read_record, try_watch_lock, write_record,
};
use crate::services::discord::Webhook;
use crate::services::github::{ApiError, GitHub};

/// Set (to the SHA) in a detached watcher's environment: it finishes that recorded watch.
pub(super) const CHILD_MARKER: &str = "LASTGOOD_CI_WATCHER_DETACHED";

/// Starts the detached watcher and records it; returns at once.
pub(super) fn spawn_detached(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    stored: BTreeMap<String, String>,
    inputs: &Inputs,
    runner: &mut Runner,
) -> Result<Status> {
    if let Ok(Some(existing)) = read_record(state, &s.sha)
        && try_watch_lock(state, &s.sha)?.is_none()
    {
        runner.warning(&already_watched(state, &s.sha));
        runner.output("pid", &existing.pid.to_string())?;
        runner.output("log-file", existing.log_file.as_deref().unwrap_or(""))?;
        return Ok(Status::Success);
    }
    preflight(s, runner)?;
    let (log_path, log) = watches::open_log(state, &s.sha)?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("open", &log_path, e))?;
    let mut record = record_of(s, stored.clone(), "starting");
    record.pid = 0;
    record.log_file = Some(log_path.to_string_lossy().into_owned());
    if let Err(refused) = write_record(state, &record) {
        // Detached without a record, a lost watcher would lose the verdict: watch here.
        let Some(lock) = try_watch_lock(state, &s.sha)? else {
            runner.warning(&already_watched(state, &s.sha));
            return Ok(Status::Success);
        };
        return watch_unrecorded(s, cfg, state, &record, lock, refused, runner);
    }

    let mut cmd = child_command(s, state, &stored, inputs)?;
    cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log_err));
    let child = cmd
        .spawn()
        .map_err(|e| Error::Environment(format!("cannot start the detached watcher: {e}")))?;
    let pid = child.id();
    // Not waited for: it outlives this process (init reaps it).
    drop(child);
    if let Ok(Some(mut r)) = read_record(state, &s.sha)
        && r.started_at_ms == record.started_at_ms
        && r.pid == 0
    {
        r.pid = pid;
        write_record(state, &r)?;
    }
    runner.info(&format!(
        "watching CI of {} in the background (pid {pid}); log: {}",
        short_sha(&s.sha),
        log_path.display()
    ));
    let _ = runner.summary(&format!(
        "### ci-watcher\n\n👀 Watching CI of {} in the background (pid {pid}); log: `{}`\n",
        runner.commit_link(&s.sha),
        log_path.display()
    ));
    runner.output("pid", &pid.to_string())?;
    runner.output("log-file", &log_path.to_string_lossy())?;
    Ok(Status::Success)
}

/// The detached watcher's command: this program on the recorded watch, in a clean
/// environment (nothing tying it to the job), secrets by environment only.
fn child_command(
    s: &Settings,
    state: &StateDir,
    stored: &BTreeMap<String, String>,
    inputs: &Inputs,
) -> Result<Command> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Environment(format!("cannot find this program to detach it: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--state-dir")
        .arg(stored.get("state-dir").map_or("", String::as_str))
        .arg("--sha")
        .arg(&s.sha)
        .arg("--detach")
        .arg("false");
    // The child must outlive the job: no tracking id, nothing tied to this step.
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && (k.starts_with("INPUT_")
                || matches!(
                    k,
                    "RUNNER_TRACKING_ID"
                        | "GITHUB_OUTPUT"
                        | "GITHUB_STEP_SUMMARY"
                        | "GITHUB_STATE"
                        | "GITHUB_ENV"
                        | "GITHUB_PATH"
                        | "GITHUB_ACTIONS"
                ))
        {
            cmd.env_remove(key);
        }
    }
    // Secrets by environment only, never on the command line (visible in `ps`).
    if let Some(t) = &s.token {
        cmd.env("INPUT_TOKEN", t);
    }
    if let Some(w) = inputs.get("webhook-url") {
        cmd.env("INPUT_WEBHOOK_URL", w);
    }
    // All recorded paths are absolute: do not pin the job's workspace as the working directory.
    cmd.env(CHILD_MARKER, &s.sha)
        .current_dir(state.path())
        .stdin(Stdio::null());
    Ok(cmd)
}

/// One look at GitHub before detaching, so that a refused token, a missing permission or a wrong
/// workflow fail the job where people see it rather than in a background log. A GitHub that is
/// merely slow or failing does not stop the detach.
pub(super) fn preflight(s: &Settings, runner: &Runner) -> Result<()> {
    let mut gh = GitHub::new(
        &s.api_url,
        &s.repository,
        s.token.as_deref().unwrap_or_default(),
    );
    gh.set_deadline(Some(Instant::now() + Duration::from_secs(15)));
    gh.set_backoff(Duration::from_millis(500));
    let workflow = s.workflow.as_deref().unwrap_or_default();
    match gh.runs(workflow, &s.sha, &mut |m| runner.info(m)) {
        Ok(_) => Ok(()),
        Err(ApiError::Fatal(e)) => Err(e),
        Err(ApiError::Unavailable(m) | ApiError::PastDeadline(m)) => {
            runner.warning(&format!(
                "GitHub could not be checked before detaching ({m}); the watcher will keep trying"
            ));
            Ok(())
        }
    }
}

/// The detached process: finishes the recorded watch of `sha`.
pub(super) fn run_detached_child(
    inputs: &Inputs,
    runner: &mut Runner,
    sha: &str,
) -> Result<Status> {
    let state_dir = inputs.defaulted("state-dir")?;
    let state = StateDir::open(Path::new(state_dir))?;
    let token = token(inputs, runner);
    let webhook = inputs.get("webhook-url").map(str::to_owned);
    match resume_one(&state, sha, token.as_deref(), webhook.as_deref(), runner)? {
        Some(status) => Ok(status),
        None => Ok(Status::Success),
    }
}

/// Finishes every recorded watch no live watcher holds.
pub(super) fn resume_all(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    let state_dir = inputs.defaulted("state-dir")?;
    let state = StateDir::open(Path::new(state_dir))?;
    let token = token(inputs, runner);
    let webhook = inputs.get("webhook-url").map(str::to_owned);
    if let Some(w) = &webhook {
        let hook = Webhook::new(w)?;
        runner.mask(hook.token());
    }
    let shas = watches::recorded_shas(&state)?;
    if shas.is_empty() {
        runner.info(&format!("no pending watch in {}", state.path().display()));
        return Ok(Status::Success);
    }
    let mut worst: Result<Status> = Ok(Status::Success);
    for sha in shas {
        runner.group(&format!("resume the watch of {}", short_sha(&sha)));
        let result = resume_one(&state, &sha, token.as_deref(), webhook.as_deref(), runner);
        runner.end_group();
        match result {
            Ok(Some(Status::Negative)) => {
                if matches!(worst, Ok(Status::Success)) {
                    worst = Ok(Status::Negative);
                }
            }
            Ok(_) => {}
            Err(e) => {
                runner.error(&format!(
                    "watch of {}: {}",
                    short_sha(&sha),
                    error_chain(&e)
                ));
                if worst.is_ok() {
                    worst = Err(e);
                }
            }
        }
    }
    worst
}

/// Finishes the recorded watch of `sha` unless a live watcher holds it (`None` then, or when
/// there is no such watch any more).
pub(super) fn resume_one(
    state: &StateDir,
    sha: &str,
    token: Option<&str>,
    webhook: Option<&str>,
    runner: &mut Runner,
) -> Result<Option<Status>> {
    let Some(lock) = try_watch_lock(state, sha)? else {
        runner.info(&already_watched(state, sha));
        return Ok(None);
    };
    let Some(mut record) = read_record(state, sha)? else {
        runner.info(&format!(
            "the watch of {} was already concluded",
            short_sha(sha)
        ));
        return Ok(None);
    };
    let inputs = rebuild_inputs(&record.inputs, token, webhook)?;
    let settings = Settings::to_poll(&inputs, runner)?;
    let cfg = DeployConfig::from_inputs(&inputs, runner)?;
    let elapsed = Duration::from_millis(now_ms().saturating_sub(record.started_at_ms));
    runner.info(&format!(
        "resuming the watch of {} started {} ago (was pid {}, {})",
        short_sha(sha),
        format_duration(elapsed),
        record.pid,
        record.status
    ));
    record.pid = std::process::id();
    record.status = "watching".to_owned();
    if let Err(e) = write_record(state, &record) {
        // The record as it was still says the watch is pending: watch all the same.
        runner.warning(&format!(
            "cannot update the watch record of {} ({}); watching all the same",
            short_sha(sha),
            error_chain(&e)
        ));
    }
    let outcome = watch_owned(&settings, &cfg, state, &record, true, runner);
    finish_owned(state, &record, lock, outcome, runner).map(Some)
}

/// The state directory refused the watch's record (a full disk): nothing would be pending for
/// `resume`, so the watch runs here, in this process (never detached), and acts on CI's verdict
/// itself, deciding what is in service by the facts as `conclusion` does. The outputs say what
/// it did; the refused write is reported after them (exit 3).
pub(super) fn watch_unrecorded(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: &WatchRecord,
    lock: std::fs::File,
    refused: Error,
    runner: &mut Runner,
) -> Result<Status> {
    runner.error(&format!(
        "cannot record the watch of {} ({}); not detaching: watching CI here until its verdict, \
         so that it is acted on (free space in the state directory)",
        s.sha.short(),
        error_chain(&refused)
    ));
    let outcome = watch_owned(s, cfg, state, record, false, runner);
    let _ = watches::remove_lock(state, &s.sha);
    drop(lock);
    let mut outcome = outcome?;
    match &outcome.error {
        None => outcome.error = Some(refused),
        // No verdict acted on (GitHub unreachable, cancelled, the rollback unfinished): record
        // the watch for `resume` if the state directory takes it now.
        Some(e) => {
            let mut pending = record.clone();
            pending.status = format!("pending: {}", runner.redact(&e.to_string()));
            if write_record(state, &pending).is_ok() {
                runner.info(&format!(
                    "the watch is recorded in {} now; `resume: true` finishes it",
                    watches::record_file(state, &s.sha).display()
                ));
            }
        }
    }
    report(outcome, runner)
}
