//! The CI watcher: follow the CI run of a deployed SHA on GitHub, then validate the SHA or roll
//! the environment back to the last validated SHA.
//!
//! Behaviour, for the docs:
//! - The deciding run is the newest run (highest `run_number`) of `workflow` for the SHA, at its
//!   latest attempt. No `event=` filter is used (a `workflow_dispatch` run on the SHA counts);
//!   `pull_request`/`pull_request_target` runs are ignored (they test a merge commit, not the SHA).
//! - Verdicts: `success` → validated (`last-validated-sha.txt` moves forward only: a file that
//!   already names a descendant of the SHA is left alone, and a SHA not on `remote/branch`,
//!   fetched first, is never written: action `validated`, journal outcome `unchanged`). `failure`, `timed_out`,
//!   `startup_failure` → under the environment lock, if the SHA is still checked out in `app-dir`
//!   the environment is rolled back to the last validated SHA (the deploy transaction, journal
//!   event `rollback`), else the failure is recorded as `superseded` and nothing is touched.
//!   Other conclusions are inconclusive and handled like a missing run (`on-missing`).
//! - No run within `discovery-timeout` → `on-missing` at once (the watcher never sits out the
//!   whole `timeout` for a run that `paths:` filters or `[skip ci]` never started). A run not
//!   completed within `timeout` → `on-timeout`. Deadlines count from the watch's start, also
//!   when it is resumed; a resumed watch past its deadline still looks once.
//! - Every watch is recorded in `watches/<sha>.json` (never the token or the webhook) and holds
//!   the kernel lock `watches/<sha>.lock` while it runs; the verdict is acted on under the
//!   environment lock, journaled, and the watch file removed, so no verdict is acted on twice.
//!   A watch that ends in an error (GitHub unreachable) stays recorded for `resume`, and so
//!   does a rollback that could not run (git fetch, docker or the state directory failing: exit
//!   3 errors), since the failed SHA is then still in service (action `rollback-failed`).
//! - `detach` starts the same binary in a new session, without `RUNNER_TRACKING_ID`, with its
//!   output in `logs/ci-watcher-<sha>.log`; the token reaches it through its environment only.
//! - `sha` defaults to `GITHUB_SHA`, except in a job triggered by `workflow_run`, where it
//!   defaults to the event's `workflow_run.head_sha` (`GITHUB_SHA` is the default branch's tip
//!   there, possibly a newer deploy that a failure of an older commit must not roll back).
//! - `resume` finishes every recorded watch that no live watcher holds; the token and webhook
//!   come from the resuming process's inputs (they are never stored).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Status;
use crate::deploy::{self, DeployConfig, Outcome};
use crate::discord::{self, Event, Locale, Message, Webhook};
use crate::error::{Error, Result};
use crate::git::Git;
use crate::github::{self, ApiError, FailedJob, GitHub, WorkflowRun};
use crate::http::Client;
use crate::inputs::{Inputs, format_duration};
use crate::runner::{Runner, short_sha};
use crate::spec::CI_WATCHER;
use crate::state::{JournalEntry, LockHolder, StateDir, now_rfc3339};

/// The directory of pending watches, in the state directory.
pub const WATCHES_DIR: &str = "watches";
/// The directory of detached watchers' logs, in the state directory.
pub const LOGS_DIR: &str = "logs";
/// Set (to the SHA) in a detached watcher's environment: it finishes that recorded watch.
pub const CHILD_MARKER: &str = "LASTGOOD_CI_WATCHER_DETACHED";

/// Inputs that steer one invocation and are not part of a watch.
const CONTROL_INPUTS: &[&str] = &["detach", "resume", "conclusion", "run-url"];

/// Every conclusion GitHub gives a run.
pub const CONCLUSIONS: &[&str] = &[
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
pub enum Verdict {
    /// CI passed: validate the SHA.
    Success,
    /// CI failed: roll back if the SHA is still deployed.
    Failure,
    /// Neither (cancelled, skipped, …): handled like a missing run.
    Inconclusive,
}

/// The verdict of a run's conclusion.
pub fn verdict_of(conclusion: &str) -> Verdict {
    match conclusion {
        "success" => Verdict::Success,
        "failure" | "timed_out" | "startup_failure" => Verdict::Failure,
        _ => Verdict::Inconclusive,
    }
}

/// What to do when no verdict came (`on-missing`, `on-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Leave everything as it is (a warning says so).
    Keep,
    /// Validate the SHA anyway.
    Validate,
    /// Roll back as for a failure.
    Rollback,
}

impl Policy {
    fn parse(inputs: &Inputs, name: &str, allowed: &[&'static str]) -> Result<Policy> {
        Ok(match inputs.choice(name, allowed)? {
            Some("validate") => Policy::Validate,
            Some("rollback") => Policy::Rollback,
            _ => Policy::Keep,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Policy::Keep => "keep",
            Policy::Validate => "validate",
            Policy::Rollback => "rollback",
        }
    }
}

/// What the watcher did, the `action` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The SHA was validated (or already was, or a newer one is).
    Validated,
    /// The environment was rolled back to the last validated SHA.
    RolledBack,
    /// The rollback could not be done or failed.
    RollbackFailed,
    /// A newer deploy replaced the SHA: nothing touched.
    Superseded,
    /// No completed run within `timeout`, kept.
    TimedOut,
    /// No run appeared within `discovery-timeout`, kept.
    Missing,
    /// The run ended neither in success nor failure, kept.
    Inconclusive,
}

impl Action {
    /// The output value.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Validated => "validated",
            Action::RolledBack => "rolled-back",
            Action::RollbackFailed => "rollback-failed",
            Action::Superseded => "superseded",
            Action::TimedOut => "timed-out",
            Action::Missing => "missing",
            Action::Inconclusive => "inconclusive",
        }
    }
}

/// A watch as recorded in `watches/<sha>.json`. Never holds a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WatchRecord {
    /// The watched SHA.
    pub sha: String,
    /// owner/repo.
    pub repository: String,
    /// The CI workflow's file name.
    pub workflow: String,
    /// The API root.
    pub api_url: String,
    /// `initial-delay` in milliseconds.
    pub initial_delay_ms: u64,
    /// `interval` in milliseconds.
    pub interval_ms: u64,
    /// `timeout` in milliseconds.
    pub timeout_ms: u64,
    /// `discovery-timeout` in milliseconds.
    pub discovery_timeout_ms: u64,
    /// `on-timeout`.
    pub on_timeout: String,
    /// `on-missing`.
    pub on_missing: String,
    /// When the watch started (RFC 3339).
    pub started_at: String,
    /// When the watch started (milliseconds since the epoch; deadlines count from it).
    pub started_at_ms: u64,
    /// The watcher's process id (0 while a detached watcher is being started).
    pub pid: u32,
    /// `watching`, `starting`, or `error: …` when the last watcher gave up.
    pub status: String,
    /// The detached watcher's log, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// Every non-secret input of the watch, resolved (paths absolute), to resume it as it was.
    pub inputs: BTreeMap<String, String>,
}

/// The validated settings of one watch.
#[derive(Debug, Clone)]
struct Settings {
    sha: String,
    repository: String,
    api_url: String,
    workflow: Option<String>,
    initial_delay: Duration,
    interval: Duration,
    timeout: Duration,
    discovery_timeout: Duration,
    on_timeout: Policy,
    on_missing: Policy,
    locale: Locale,
    webhook: Option<Webhook>,
    token: Option<String>,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The token: the input, else `GITHUB_TOKEN` (masked here: `run_main` masks only the input).
fn token(inputs: &Inputs, runner: &mut Runner) -> Option<String> {
    let token = inputs
        .get("token")
        .map(str::to_owned)
        .or_else(|| env_var("GITHUB_TOKEN").map(|t| t.trim().to_owned()));
    if let Some(t) = &token {
        runner.mask(t);
    }
    token
}

/// In a job triggered by `workflow_run`, the commit the CI run tested (`GITHUB_SHA` is then the
/// default branch's tip, which may be a newer deploy): `workflow_run.head_sha` of the event
/// payload. `None` in other jobs; an input error when the payload cannot be read.
fn workflow_run_head_sha() -> Result<Option<String>> {
    if env_var("GITHUB_EVENT_NAME").as_deref() != Some("workflow_run") {
        return Ok(None);
    }
    let missing = || {
        Error::input(
            "sha",
            "is required in a `workflow_run` job whose event payload (GITHUB_EVENT_PATH) gives no `workflow_run.head_sha`: GITHUB_SHA is the default branch's tip there, not the commit CI tested; pass `sha: ${{ github.event.workflow_run.head_sha }}`",
        )
    };
    let path = env_var("GITHUB_EVENT_PATH").ok_or_else(missing)?;
    let event: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(missing)?;
    event
        .pointer("/workflow_run/head_sha")
        .and_then(serde_json::Value::as_str)
        .map(|s| Some(s.to_owned()))
        .ok_or_else(missing)
}

impl Settings {
    fn from_inputs(inputs: &Inputs, runner: &mut Runner, polling: bool) -> Result<Settings> {
        let sha_text = match inputs.get("sha") {
            Some(sha) => sha.to_owned(),
            None => match workflow_run_head_sha()? {
                Some(sha) => sha,
                None => env_var("GITHUB_SHA")
                    .ok_or_else(|| Error::input("sha", "is required (or GITHUB_SHA)"))?,
            },
        };
        let sha = deploy::parse_sha(&sha_text, "sha")?;
        let repository = inputs
            .get("repository")
            .map(str::to_owned)
            .or_else(|| env_var("GITHUB_REPOSITORY"));
        let api_url = inputs
            .get("api-url")
            .map(str::to_owned)
            .or_else(|| env_var("GITHUB_API_URL"))
            .unwrap_or_else(|| github::DEFAULT_API_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(Error::input(
                "api-url",
                format!("`{api_url}` is not an http(s) URL"),
            ));
        }
        let workflow = inputs.get("workflow").map(str::to_owned);
        if let Some(w) = &workflow
            && (w.contains('/') || w.chars().any(char::is_control))
        {
            return Err(Error::input(
                "workflow",
                format!("`{w}` is not a workflow file name (e.g. `ci.yml`) or id"),
            ));
        }
        let duration = |name: &str| inputs.duration_or(name, Duration::ZERO);
        let initial_delay = duration("initial-delay")?;
        let interval = duration("interval")?;
        if interval.is_zero() {
            return Err(Error::input("interval", "must be more than 0s"));
        }
        let timeout = duration("timeout")?;
        let discovery_timeout = duration("discovery-timeout")?;
        let on_timeout = Policy::parse(inputs, "on-timeout", &["keep", "rollback"])?;
        let on_missing = Policy::parse(inputs, "on-missing", &["keep", "validate", "rollback"])?;
        let locale: Locale = inputs.get("locale").unwrap_or("en").parse()?;
        let webhook = inputs
            .get("webhook-url")
            .map(|url| {
                runner.mask(url);
                let hook = Webhook::new(url)?;
                runner.mask(hook.token());
                Ok::<_, Error>(hook)
            })
            .transpose()?;
        let token = token(inputs, runner);
        let repository = match repository {
            Some(r) if github::is_repository(&r) => r,
            Some(r) => {
                return Err(Error::input(
                    "repository",
                    format!("`{r}` is not of the form owner/repo"),
                ));
            }
            None if polling => {
                return Err(Error::input(
                    "repository",
                    "is required (or GITHUB_REPOSITORY)",
                ));
            }
            None => String::new(),
        };
        if polling {
            if workflow.is_none() {
                return Err(Error::input(
                    "workflow",
                    "is required (the CI workflow's file name, e.g. `ci.yml`) unless `resume` or `conclusion` is given",
                ));
            }
            if token.is_none() {
                return Err(Error::input(
                    "token",
                    "is required (or GITHUB_TOKEN) to read CI runs; it needs `actions: read`",
                ));
            }
        }
        Ok(Settings {
            sha,
            repository,
            api_url,
            workflow,
            initial_delay,
            interval,
            timeout,
            discovery_timeout,
            on_timeout,
            on_missing,
            locale,
            webhook,
            token,
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// The `Instant` of an epoch time in the past (now when it is in the future).
fn instant_of(epoch_ms: u64) -> Instant {
    let ago = Duration::from_millis(now_ms().saturating_sub(epoch_ms));
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_owned())
    })
}

fn watch_path(sha: &str) -> PathBuf {
    Path::new(WATCHES_DIR).join(format!("{sha}.json"))
}

fn watch_lock_path(sha: &str) -> PathBuf {
    Path::new(WATCHES_DIR).join(format!("{sha}.lock"))
}

fn read_record(state: &StateDir, sha: &str) -> Result<Option<WatchRecord>> {
    let path = state.join(watch_path(sha));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Environment(format!(
                "{} is not a watch record ({e}); remove it if it is stale",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn write_record(state: &StateDir, record: &WatchRecord) -> Result<()> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::Environment(format!("cannot encode the watch record: {e}")))?;
    private_dir(&state.join(WATCHES_DIR))?;
    state.write_atomic(&watch_path(&record.sha), &json)
}

/// Creates `dir` if needed and makes it readable by its owner only (records hold the deploy
/// inputs, such as `health-header`, which may carry credentials).
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("restrict the permissions of", dir, e))
}

/// Takes `watches/<sha>.lock` without waiting; `None` when a live watcher holds it.
fn try_watch_lock(state: &StateDir, sha: &str) -> Result<Option<File>> {
    let path = state.join(watch_lock_path(sha));
    private_dir(&state.join(WATCHES_DIR))?;
    let file = crate::state::open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// The non-secret inputs of a watch, resolved, with absolute paths.
fn stored_inputs(inputs: &Inputs, s: &Settings, cfg: &DeployConfig) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for spec in CI_WATCHER.inputs {
        if spec.secret || CONTROL_INPUTS.contains(&spec.name) {
            continue;
        }
        if let Some(v) = inputs.get(spec.name) {
            map.insert(spec.name.to_owned(), v.to_owned());
        }
    }
    map.insert("sha".into(), s.sha.clone());
    map.insert("repository".into(), s.repository.clone());
    map.insert("api-url".into(), s.api_url.clone());
    map.insert(
        "app-dir".into(),
        absolute(&cfg.app_dir).to_string_lossy().into_owned(),
    );
    map.insert(
        "state-dir".into(),
        absolute(&cfg.state_dir).to_string_lossy().into_owned(),
    );
    map
}

/// Rebuilds the inputs of a recorded watch; secrets come from the current process.
fn rebuild_inputs(
    stored: &BTreeMap<String, String>,
    token: Option<&str>,
    webhook: Option<&str>,
) -> Result<Inputs> {
    let mut args: Vec<String> = vec![CI_WATCHER.name.to_owned()];
    for spec in CI_WATCHER.inputs {
        let value = if spec.secret {
            match spec.name {
                "token" => token,
                "webhook-url" => webhook,
                _ => None,
            }
        } else {
            // An explicit empty value keeps this process's INPUT_* out of the watch.
            Some(stored.get(spec.name).map_or("", String::as_str))
        };
        if let Some(v) = value {
            args.push(format!("--{}", spec.name));
            args.push(v.to_owned());
        }
    }
    Inputs::parse_from(&CI_WATCHER, args)
        .map_err(|e| Error::Environment(format!("the recorded watch has unusable inputs: {e}")))
}

fn record_of(s: &Settings, stored: BTreeMap<String, String>, status: &str) -> WatchRecord {
    let ms = now_ms();
    WatchRecord {
        sha: s.sha.clone(),
        repository: s.repository.clone(),
        workflow: s.workflow.clone().unwrap_or_default(),
        api_url: s.api_url.clone(),
        initial_delay_ms: millis(s.initial_delay),
        interval_ms: millis(s.interval),
        timeout_ms: millis(s.timeout),
        discovery_timeout_ms: millis(s.discovery_timeout),
        on_timeout: s.on_timeout.as_str().to_owned(),
        on_missing: s.on_missing.as_str().to_owned(),
        started_at: now_rfc3339(),
        started_at_ms: ms,
        pid: std::process::id(),
        status: status.to_owned(),
        log_file: None,
        inputs: stored,
    }
}

/// The ci-watcher binary: every mode (watch, `detach`, `resume`, `conclusion`).
pub fn run(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    if let Some(sha) = env_var(CHILD_MARKER) {
        // First thing: a new session, so the job's end does not take this process along.
        let _ = rustix::process::setsid();
        return run_detached_child(inputs, runner, &sha);
    }
    if inputs.bool("resume")? {
        return resume_all(inputs, runner);
    }
    let conclusion = inputs.get("conclusion").map(str::to_owned);
    if let Some(c) = &conclusion
        && !CONCLUSIONS.contains(&c.as_str())
    {
        return Err(Error::input(
            "conclusion",
            format!("`{c}` is not one of: {}", CONCLUSIONS.join(", ")),
        ));
    }
    let detach = inputs.bool("detach")?;
    let settings = Settings::from_inputs(inputs, runner, conclusion.is_none())?;
    let cfg = DeployConfig::from_inputs(inputs, runner)?;
    let state = StateDir::open(&cfg.state_dir)?;

    if let Some(conclusion) = conclusion {
        let run_url = inputs.get("run-url").map(str::to_owned);
        let found = Found::Completed(CompletedRun {
            conclusion,
            html_url: run_url,
            run_id: None,
        });
        // A watch of this SHA recorded now is concluded by this verdict, under the environment
        // lock: a live watcher getting the lock after us finds it concluded, and if that watcher
        // acted first, this verdict is not acted on a second time.
        let pending = read_record(&state, &settings.sha)?;
        let outcome = conclude(
            &settings,
            &cfg,
            &state,
            pending.as_ref(),
            found,
            None,
            runner,
        )?;
        if pending.is_some() && outcome.action.is_some() {
            runner.info("the pending watch of this SHA is concluded by this verdict");
        }
        return report(outcome, runner);
    }

    let stored = stored_inputs(inputs, &settings, &cfg);
    if detach {
        return spawn_detached(&settings, &state, stored, inputs, runner);
    }
    let Some(lock) = try_watch_lock(&state, &settings.sha)? else {
        runner.warning(&already_watched(&state, &settings.sha));
        return Ok(Status::Success);
    };
    let record = record_of(&settings, stored, "watching");
    write_record(&state, &record)?;
    let outcome = watch_owned(&settings, &cfg, &state, &record, runner);
    finish_owned(&state, &record, lock, outcome, runner)
}

fn already_watched(state: &StateDir, sha: &str) -> String {
    let who = read_record(state, sha)
        .ok()
        .flatten()
        .map(|r| format!(" (pid {}, since {})", r.pid, r.started_at))
        .unwrap_or_default();
    format!(
        "{} is already being watched by another ci-watcher{who}; leaving it to that one",
        short_sha(sha)
    )
}

/// After a watch that held `watches/<sha>.lock`: on error the record stays for `resume`.
fn finish_owned(
    state: &StateDir,
    record: &WatchRecord,
    lock: File,
    outcome: Result<Concluded>,
    runner: &mut Runner,
) -> Result<Status> {
    match outcome {
        Ok(o) => {
            // The record is gone (removed with the verdict); the lock file can go too.
            let _ = state.remove(&watch_lock_path(&record.sha));
            drop(lock);
            report(o, runner)
        }
        Err(e) if e.exit_code() == crate::error::EXIT_USAGE => {
            // A wrong workflow or repository: resuming would fail the same way.
            if let Ok(Some(r)) = read_record(state, &record.sha)
                && r.started_at_ms == record.started_at_ms
            {
                let _ = state.remove(&watch_path(&record.sha));
                let _ = state.remove(&watch_lock_path(&record.sha));
            }
            drop(lock);
            Err(e)
        }
        Err(e) => {
            if let Ok(Some(mut r)) = read_record(state, &record.sha)
                && r.started_at_ms == record.started_at_ms
            {
                r.status = format!("error: {}", runner.redact(&e.to_string()));
                let _ = write_record(state, &r);
                runner.info(&format!(
                    "the watch stays recorded in {}; `resume: true` finishes it later",
                    state.join(watch_path(&record.sha)).display()
                ));
            }
            drop(lock);
            Err(e)
        }
    }
}

/// What [`conclude`] decided and did.
#[derive(Debug)]
struct Concluded {
    action: Option<Action>,
    conclusion: Option<String>,
    run_url: Option<String>,
    failed_jobs: Vec<String>,
    status: Status,
}

fn report(o: Concluded, runner: &mut Runner) -> Result<Status> {
    runner.output("conclusion", o.conclusion.as_deref().unwrap_or(""))?;
    runner.output("run-url", o.run_url.as_deref().unwrap_or(""))?;
    runner.output("action", o.action.map_or("", Action::as_str))?;
    runner.output("failed-jobs", &o.failed_jobs.join("\n"))?;
    Ok(o.status)
}

/// A completed run (or a verdict given by `conclusion`).
#[derive(Debug, Clone)]
struct CompletedRun {
    conclusion: String,
    html_url: Option<String>,
    run_id: Option<u64>,
}

/// What polling found.
#[derive(Debug)]
enum Found {
    Completed(CompletedRun),
    Missing,
    TimedOut(Option<WorkflowRun>, Option<String>),
}

fn describe_run(r: &WorkflowRun) -> String {
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

/// Polls GitHub until the deciding run completes, no run appears in time, or the timeout.
fn poll(s: &Settings, record: &WatchRecord, gh: &mut GitHub, runner: &mut Runner) -> Result<Found> {
    let workflow = s.workflow.as_deref().unwrap_or_default();
    let start = instant_of(record.started_at_ms);
    let deadline = start + s.timeout;
    let discovery = start + s.discovery_timeout.min(s.timeout);
    gh.set_deadline(Some(deadline));
    gh.set_backoff(s.interval.min(Duration::from_secs(2)));
    let first = start + s.initial_delay;
    let now = Instant::now();
    if first > now {
        runner.info(&format!(
            "waiting {} before the first look at CI",
            format_duration(first - now)
        ));
        std::thread::sleep(first.min(deadline) - now);
    }
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

/// Polls, then acts on what was found, while holding `watches/<sha>.lock`.
fn watch_owned(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: &WatchRecord,
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
    conclude(s, cfg, state, Some(record), found, Some(&mut gh), runner)
}

/// Failed jobs, their steps and the tail of the first failed job's log.
fn explain_failure(
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

/// Acts on what was found: validate, roll back, record superseded, or keep by policy.
fn conclude(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    found: Found,
    gh: Option<&mut GitHub>,
    runner: &mut Runner,
) -> Result<Concluded> {
    let short = short_sha(&s.sha).to_owned();
    let (kind, why, policy, conclusion, run_url) = match found {
        Found::Completed(run) => match verdict_of(&run.conclusion) {
            Verdict::Success => {
                runner.info(&format!("CI passed for {short}"));
                let act = validate(s, cfg, state, record, run.html_url.as_deref(), runner)?;
                return Ok(finish_message(
                    s,
                    cfg,
                    act,
                    Some(run.conclusion),
                    run.html_url,
                    Vec::new(),
                    None,
                    runner,
                ));
            }
            Verdict::Failure => {
                runner.error(&format!("CI failed for {short}: {}", run.conclusion));
                let (failed, tail) = match (gh, run.run_id) {
                    (Some(gh), Some(id)) => explain_failure(gh, id, runner),
                    _ => (Vec::new(), None),
                };
                let lines: Vec<String> = failed.iter().flat_map(FailedJob::lines).collect();
                if !lines.is_empty() {
                    runner.info(&format!("failed: {}", lines.join("; ")));
                }
                let act = roll_back(
                    s,
                    cfg,
                    state,
                    record,
                    &format!("CI {}", run.conclusion),
                    run.html_url.as_deref(),
                    runner,
                )?;
                return Ok(finish_message(
                    s,
                    cfg,
                    act,
                    Some(run.conclusion),
                    run.html_url,
                    lines,
                    tail,
                    runner,
                ));
            }
            Verdict::Inconclusive => (
                Action::Inconclusive,
                format!(
                    "the CI run ended `{}`, neither success nor failure",
                    run.conclusion
                ),
                s.on_missing,
                Some(run.conclusion),
                run.html_url,
            ),
        },
        Found::Missing => (
            Action::Missing,
            format!(
                "no run of workflow `{}` appeared for {short} within {} (paths filters, [skip ci], or another workflow name?)",
                s.workflow.as_deref().unwrap_or_default(),
                format_duration(s.discovery_timeout.min(s.timeout))
            ),
            s.on_missing,
            None,
            None,
        ),
        Found::TimedOut(last, note) => (
            Action::TimedOut,
            format!(
                "CI did not finish within {}{}{}",
                format_duration(s.timeout),
                last.as_ref()
                    .map(|r| format!(" ({})", describe_run(r)))
                    .unwrap_or_default(),
                note.map(|n| format!("; {n}")).unwrap_or_default()
            ),
            s.on_timeout,
            None,
            last.as_ref()
                .map(|r| r.html_url.clone())
                .filter(|u| !u.is_empty()),
        ),
    };
    let policy_name = if kind == Action::TimedOut {
        "on-timeout"
    } else {
        "on-missing"
    };
    let act = match policy {
        Policy::Keep => {
            runner.warning(&format!(
                "{why}; {short} is kept as it is ({policy_name}: keep)"
            ));
            if let Some(_guard) = acting_lock(s, cfg, state, record, "record", runner)? {
                state.journal(&entry(
                    cfg,
                    record,
                    "ci-watch",
                    kind.as_str(),
                    &s.sha,
                    run_url.as_deref(),
                    Some(&why),
                ))?;
                if record.is_some() {
                    state.remove(&watch_path(&s.sha))?;
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
            roll_back(s, cfg, state, record, &why, run_url.as_deref(), runner)?
        }
    };
    Ok(finish_message(
        s,
        cfg,
        act,
        conclusion,
        run_url,
        Vec::new(),
        Some(why).filter(|_| policy == Policy::Keep),
        runner,
    ))
}

/// The environment lock, for acting on a verdict; `None` when the recorded watch is gone (another
/// process concluded it) or is now another watch of the same SHA.
fn acting_lock(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    what: &str,
    runner: &Runner,
) -> Result<Option<crate::state::EnvLock>> {
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
fn entry(
    cfg: &DeployConfig,
    record: Option<&WatchRecord>,
    event: &str,
    outcome: &str,
    sha: &str,
    run_url: Option<&str>,
    detail: Option<&str>,
) -> JournalEntry {
    let mut entry = JournalEntry::new(&cfg.environment, event, outcome);
    entry.sha = Some(sha.to_owned());
    entry.duration_ms = record.map(|r| now_ms().saturating_sub(r.started_at_ms));
    entry.actor.clone_from(&cfg.actor);
    entry.run_url = run_url.map(str::to_owned).or_else(|| cfg.run_url.clone());
    entry.detail = detail.map(str::to_owned);
    entry
}

/// Validates `sha`, forward only.
fn validate(
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
    let outcome = match &newer {
        Some(why) => {
            runner.info(why);
            "unchanged"
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
            "validated"
        }
    };
    let mut e = entry(
        cfg,
        record,
        "validate",
        outcome,
        sha,
        run_url,
        newer.as_deref(),
    );
    // The SHA validated before.
    e.previous_sha = current;
    state.journal(&e)?;
    if record.is_some() {
        state.remove(&watch_path(sha))?;
    }
    Ok(Some(Action::Validated))
}

/// Why `sha` cannot be validated because it is not on `remote/branch` (checked after a fetch;
/// when the fetch fails, against what the checkout has). `None`: it is on the branch. A branch
/// the checkout does not know is an error (exit 3), as for a rollback.
fn off_branch(git: &Git, cfg: &DeployConfig, sha: &str, runner: &Runner) -> Result<Option<String>> {
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
pub fn already_validated(git: &Git, current: Option<&str>, sha: &str) -> Result<Option<String>> {
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

/// The SHA in service: HEAD, unless HEAD was left by an interrupted deploy or rollback (its
/// marker names it), in which case the SHA that was running before it.
///
/// Unlike [`deploy::in_service_before`], an interrupted rollback does not count as done here:
/// its restart may not have run, so the failed SHA may still be serving and the rollback must
/// be finished.
fn in_service(state: &StateDir, head: &str) -> String {
    deploy::read_in_progress(state)
        .filter(|i| i.sha == head && crate::runner::is_full_sha(&i.previous_sha))
        .map_or_else(|| head.to_owned(), |i| i.previous_sha)
}

/// Rolls back to the last validated SHA if `sha` is still deployed; else records `superseded`.
fn roll_back(
    s: &Settings,
    cfg: &DeployConfig,
    state: &StateDir,
    record: Option<&WatchRecord>,
    why: &str,
    run_url: Option<&str>,
    runner: &mut Runner,
) -> Result<Option<Action>> {
    let Some(lock) = acting_lock(s, cfg, state, record, "rollback", runner)? else {
        return Ok(None);
    };
    let sha = &s.sha;
    let short = short_sha(sha).to_owned();
    state.journal(&entry(
        cfg,
        record,
        "ci-failed",
        "failed",
        sha,
        run_url,
        Some(why),
    ))?;
    let git = Git::open(&cfg.app_dir, "app-dir")?;
    let head = in_service(state, &git.head()?);
    let mut retry = None;
    let action = if head != *sha {
        let detail = format!(
            "{} is deployed now; {short} was replaced by a newer deploy, nothing is touched",
            short_sha(&head)
        );
        runner.warning(&format!("{why} for {short}, but {detail}"));
        state.journal(&entry(
            cfg,
            record,
            "superseded",
            "superseded",
            sha,
            run_url,
            Some(&detail),
        ))?;
        Action::Superseded
    } else {
        match state.last_validated()? {
            None => {
                runner.error(&format!(
                    "cannot roll back {short}: no last validated SHA in {} (run save-rollback-point before the first deploy)",
                    state.path().display()
                ));
                Action::RollbackFailed
            }
            Some(last) if last == *sha => {
                runner.error(&format!(
                    "cannot roll back {short}: it is itself the last validated SHA; nothing older is known to be good"
                ));
                Action::RollbackFailed
            }
            Some(last) => {
                runner.info(&format!(
                    "rolling {} back from {short} to the last validated SHA {}",
                    cfg.environment,
                    short_sha(&last)
                ));
                match deploy::deploy_locked(cfg, state, &lock, &last, "rollback", runner) {
                    Ok(r) if r.outcome == Outcome::Deployed && r.healthy => {
                        runner.info(&format!(
                            "rolled back: {} is in service again ({})",
                            short_sha(&last),
                            format_duration(r.duration)
                        ));
                        Action::RolledBack
                    }
                    Ok(r) => {
                        runner.error(&format!(
                            "the rollback to {} failed: {}",
                            short_sha(&last),
                            r.failure.as_deref().unwrap_or("unhealthy")
                        ));
                        Action::RollbackFailed
                    }
                    Err(e) => {
                        let chain = crate::cli::error_chain(&e);
                        runner.error(&format!(
                            "the rollback to {} failed: {chain}",
                            short_sha(&last)
                        ));
                        // It could not run (git, docker or the state dir failing): the failed
                        // SHA is still in service, so the watch stays for `resume` to retry.
                        if e.exit_code() == crate::error::EXIT_ENVIRONMENT {
                            retry = Some(format!("error: rollback failed: {chain}"));
                        }
                        Action::RollbackFailed
                    }
                }
            }
        }
    };
    match (record, retry) {
        (Some(r), Some(status)) => {
            let mut pending = r.clone();
            pending.status = runner.redact(&status);
            write_record(state, &pending)?;
            runner.info(&format!(
                "the watch stays recorded in {}; `resume: true` retries the rollback",
                state.join(watch_path(sha)).display()
            ));
        }
        (Some(_), None) => state.remove(&watch_path(sha))?,
        (None, _) => {}
    }
    drop(lock);
    Ok(Some(action))
}

/// Summary, Discord message and the outcome of an action.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per verdict, all named"
)]
fn finish_message(
    s: &Settings,
    cfg: &DeployConfig,
    action: Option<Action>,
    conclusion: Option<String>,
    run_url: Option<String>,
    failed_jobs: Vec<String>,
    details: Option<String>,
    runner: &mut Runner,
) -> Concluded {
    let status = match action {
        Some(Action::RolledBack | Action::RollbackFailed | Action::Superseded) => Status::Negative,
        _ => Status::Success,
    };
    let Some(act) = action else {
        return Concluded {
            action,
            conclusion,
            run_url,
            failed_jobs,
            status,
        };
    };
    let short = short_sha(&s.sha);
    let link = runner.commit_link(&s.sha);
    let run_link = run_url
        .as_deref()
        .map(|u| format!(" ([run]({u}))"))
        .unwrap_or_default();
    let headline = match act {
        Action::Validated => format!(
            "✅ CI passed for {link}{run_link}: validated on {}",
            cfg.environment
        ),
        Action::RolledBack => format!(
            "↩️ CI failed for {link}{run_link}: {} rolled back to the last validated SHA",
            cfg.environment
        ),
        Action::RollbackFailed => format!(
            "❌ CI failed for {link}{run_link} and the rollback of {} failed",
            cfg.environment
        ),
        Action::Superseded => format!(
            "⏭️ CI failed for {link}{run_link}, but a newer deploy replaced it: nothing touched"
        ),
        Action::TimedOut => format!("⚠️ No CI verdict for {link}{run_link} in time: kept as is"),
        Action::Missing => format!("⚠️ No CI run appeared for {link}: kept as is"),
        Action::Inconclusive => format!("⚠️ CI of {link}{run_link} was inconclusive: kept as is"),
    };
    let mut md = format!("### ci-watcher\n\n{headline}\n");
    if let Some(c) = &conclusion {
        md.push_str(&format!(
            "\n- conclusion: `{c}`\n- action: `{}`\n",
            act.as_str()
        ));
    }
    if !failed_jobs.is_empty() {
        md.push_str("\n**Failed jobs and steps**\n\n");
        for j in &failed_jobs {
            md.push_str(&format!("- {j}\n"));
        }
    }
    if let Some(d) = &details {
        md.push_str(&format!("\n```text\n{}\n```\n", d.replace("```", "ʼʼʼ")));
    }
    if let Err(e) = runner.summary(&md) {
        runner.warning(&format!("could not write the job summary: {e}"));
    }
    if let Some(hook) = &s.webhook {
        let event = match act {
            Action::Validated => Event::CiSucceeded,
            Action::RolledBack => Event::RolledBack,
            Action::RollbackFailed | Action::Superseded => Event::CiFailed,
            _ => Event::Custom,
        };
        let mut msg = Message::new(event);
        msg.environment = Some(cfg.environment.clone());
        msg.sha = Some(s.sha.clone());
        msg.run_url = run_url.clone();
        msg.locale = s.locale;
        msg.commit_url = env_var("GITHUB_SERVER_URL")
            .filter(|_| !s.repository.is_empty())
            .map(|server| crate::runner::commit_url(&server, &s.repository, &s.sha));
        if let Ok(git) = Git::open(&cfg.app_dir, "app-dir")
            && let Ok(subject) = git.subject(&s.sha)
        {
            msg.commit_message = Some(subject);
        }
        let fr = s.locale == Locale::Fr;
        msg.description = Some(match act {
            Action::Validated => {
                if fr {
                    format!("CI OK : {short} validé")
                } else {
                    format!("CI passed: {short} is validated")
                }
            }
            Action::RolledBack => {
                if fr {
                    format!("CI en échec sur {short} : retour au dernier SHA validé")
                } else {
                    format!("CI failed on {short}: rolled back to the last validated SHA")
                }
            }
            Action::RollbackFailed => {
                if fr {
                    format!("CI en échec sur {short} et le retour arrière a échoué")
                } else {
                    format!("CI failed on {short} and the rollback failed")
                }
            }
            Action::Superseded => {
                if fr {
                    format!(
                        "CI en échec sur {short}, déjà remplacé par un déploiement plus récent : rien n'est touché"
                    )
                } else {
                    format!(
                        "CI failed on {short}, already replaced by a newer deploy: nothing touched"
                    )
                }
            }
            Action::TimedOut | Action::Missing | Action::Inconclusive => {
                msg.title = Some(if fr {
                    format!(
                        "⚠️ {} - pas de verdict CI pour {short}",
                        cfg.environment.to_uppercase()
                    )
                } else {
                    format!(
                        "⚠️ {} — no CI verdict for {short}",
                        cfg.environment.to_uppercase()
                    )
                });
                if fr {
                    format!("{} : conservé tel quel", act.as_str())
                } else {
                    format!("{}: kept as is", act.as_str())
                }
            }
        });
        let mut text = String::new();
        if !failed_jobs.is_empty() {
            text.push_str(&failed_jobs.join("\n"));
            text.push('\n');
        }
        if let Some(d) = &details {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(d);
        }
        msg.details = Some(text).filter(|t| !t.trim().is_empty());
        let sent = discord::send(hook, &msg, None, &Client::new());
        if !sent.sent {
            runner.warning(&format!(
                "the Discord message was not sent: {}",
                sent.failure.as_deref().unwrap_or("unknown reason")
            ));
        }
    }
    Concluded {
        action,
        conclusion,
        run_url,
        failed_jobs,
        status,
    }
}

/// Starts the detached watcher and records it; returns at once.
fn spawn_detached(
    s: &Settings,
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
    let logs = state.join(LOGS_DIR);
    std::fs::create_dir_all(&logs).map_err(|e| Error::io("create directory", &logs, e))?;
    let log_path = logs.join(format!("ci-watcher-{}.log", s.sha));
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("open", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("open", &log_path, e))?;
    let mut record = record_of(s, stored.clone(), "starting");
    record.pid = 0;
    record.log_file = Some(log_path.to_string_lossy().into_owned());
    write_record(state, &record)?;

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
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
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

/// One look at GitHub before detaching, so that a refused token, a missing permission or a wrong
/// workflow fail the job where people see it rather than in a background log. A GitHub that is
/// merely slow or failing does not stop the detach.
fn preflight(s: &Settings, runner: &Runner) -> Result<()> {
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
fn run_detached_child(inputs: &Inputs, runner: &mut Runner, sha: &str) -> Result<Status> {
    let state_dir = inputs.get("state-dir").unwrap_or("/var/app-state");
    let state = StateDir::open(Path::new(state_dir))?;
    let token = token(inputs, runner);
    let webhook = inputs.get("webhook-url").map(str::to_owned);
    match resume_one(&state, sha, token.as_deref(), webhook.as_deref(), runner)? {
        Some(status) => Ok(status),
        None => Ok(Status::Success),
    }
}

/// Finishes every recorded watch no live watcher holds.
fn resume_all(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    let state_dir = inputs.get("state-dir").unwrap_or("/var/app-state");
    let state = StateDir::open(Path::new(state_dir))?;
    let token = token(inputs, runner);
    let webhook = inputs.get("webhook-url").map(str::to_owned);
    if let Some(w) = &webhook {
        let hook = Webhook::new(w)?;
        runner.mask(hook.token());
    }
    let dir = state.join(WATCHES_DIR);
    let mut shas: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")
                    .filter(|s| crate::runner::is_full_sha(s))
                    .map(str::to_owned)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    shas.sort();
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
                    crate::cli::error_chain(&e)
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
fn resume_one(
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
    let settings = Settings::from_inputs(&inputs, runner, true)?;
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
    write_record(state, &record)?;
    let outcome = watch_owned(&settings, &cfg, state, &record, runner);
    finish_owned(state, &record, lock, outcome, runner).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict_of("success"), Verdict::Success);
        for c in ["failure", "timed_out", "startup_failure"] {
            assert_eq!(verdict_of(c), Verdict::Failure, "{c}");
        }
        for c in [
            "cancelled",
            "skipped",
            "neutral",
            "stale",
            "action_required",
            "",
        ] {
            assert_eq!(verdict_of(c), Verdict::Inconclusive, "{c}");
        }
        assert!(CONCLUSIONS.iter().all(|c| !c.is_empty()));
    }

    #[test]
    fn records_round_trip_and_hold_no_secret() {
        let inputs = Inputs::parse_from(
            &CI_WATCHER,
            [
                "ci-watcher",
                "--sha",
                "0123456789abcdef0123456789abcdef01234567",
                "--token",
                "secret-token",
                "--workflow",
                "ci.yml",
            ],
        )
        .unwrap();
        let mut map = BTreeMap::new();
        for spec in CI_WATCHER.inputs {
            if !spec.secret
                && !CONTROL_INPUTS.contains(&spec.name)
                && let Some(v) = inputs.get(spec.name)
            {
                map.insert(spec.name.to_owned(), v.to_owned());
            }
        }
        assert!(!format!("{map:?}").contains("secret-token"));
        let rebuilt = rebuild_inputs(&map, Some("tok2"), None).unwrap();
        assert_eq!(rebuilt.get("workflow"), Some("ci.yml"));
        assert_eq!(rebuilt.get("token"), Some("tok2"));
        assert_eq!(rebuilt.get("interval"), Some("10s"));
        assert_eq!(rebuilt.get("detach"), Some("false"));
    }

    #[test]
    fn validation_only_moves_forward() {
        let fx = lastgood_testkit::git::GitFixture::new();
        let a = fx.commit(&[("v", "a")], "a");
        let b = fx.commit(&[("v", "b")], "b");
        fx.push();
        fx.git_app(&["fetch", "-q", "origin"]);
        let git = Git::open(&fx.app, "app-dir").unwrap();
        assert_eq!(already_validated(&git, None, &b).unwrap(), None);
        assert_eq!(
            already_validated(&git, Some(&a), &b).unwrap(),
            None,
            "forward"
        );
        assert!(
            already_validated(&git, Some(&b), &a).unwrap().is_some(),
            "backward refused"
        );
        assert!(
            already_validated(&git, Some(&b), &b).unwrap().is_some(),
            "same"
        );
        let unknown = "f".repeat(40);
        assert_eq!(already_validated(&git, Some(&unknown), &a).unwrap(), None);
    }

    #[test]
    fn instants_of_past_epochs() {
        let ten_s_ago = now_ms() - 10_000;
        let i = instant_of(ten_s_ago);
        assert!(i.elapsed() >= Duration::from_secs(9));
        assert!(instant_of(now_ms() + 60_000).elapsed() < Duration::from_secs(1));
    }
}
