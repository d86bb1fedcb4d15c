//! The deploy/rollback transaction: put exactly this SHA in service, or leave the service as it
//! was.
//!
//! Behaviour, for the docs:
//! - Order: validate every input → take the environment lock → `git fetch <remote>
//!   +refs/heads/<branch>` → the commit must exist (else, one `git fetch <remote> <sha>` for
//!   servers that allow it; still unknown → exit 2) and be reachable from `<remote>/<branch>`
//!   (else exit 2, unless `allow-unreachable`) → the restart tools must exist (exit 3 otherwise)
//!   → local changes to tracked files are saved in `backups/` → `previous-sha.txt` ← HEAD (when
//!   HEAD is not the SHA) → `git reset --hard SHA` → restart → health gate → journal.
//! - On failure (reset, restart or health gate) with `rollback-on-failure`, the SHA that was in
//!   service before is put back the same way and health-checked too (`health-expect-version: sha`
//!   then means that SHA). `previous-sha.txt` is restored to what it was before, so `previous`
//!   never names a SHA that just failed. When the SHA was already in service (a re-deploy),
//!   there is nothing to go back to (outcome `failed`, the service stays on that SHA).
//! - A SHA checked out by an interrupted deploy (killed after its reset) never counts as "in
//!   service": the next deploy, of whatever SHA, rolls back to the SHA in service before it.
//!   An interrupted ci-watcher rollback counts as done: its target (the last validated SHA) is
//!   what the next deploy goes back to, never the SHA whose CI failed.
//! - With the journal event `rollback` (ci-watcher rolling back a SHA whose CI failed),
//!   `previous-sha.txt` is left as it is: it never names the SHA rolled away from.
//! - Re-deploying the SHA already in service still restarts and health-checks it.
//! - Before the reset, `deploy-in-progress.json` records what is being deployed; it is removed
//!   after the journal entry. A run that finds it says that a deploy was interrupted and redoes
//!   the job (a re-run redoes fetch, reset, restart and the health gate).
//! - A git `index.lock` older than a minute in the checkout (left by a git command killed with
//!   its job) is removed with a warning; a fresher one means git is busy there: exit 3.
//! - Without `health-url`, there is no health gate: the deploy counts as healthy when the restart
//!   succeeded (a warning says so).
//! - The journal gets a `deploy` event (sha, previous sha, outcome, duration, actor, run URL,
//!   failure reason) and, when a rollback ran, a `rollback` event.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::backup::{self, SavedChanges};
use crate::error::{Error, Result};
use crate::git::{DEFAULT_FETCH_TIMEOUT, Git};
use crate::health::{self, ProbeConfig};
use crate::http::Client;
use crate::inputs::{Inputs, format_duration};
use crate::restart::{Restart, RestartMode, Restarter, split_command};
use crate::runner::{Runner, is_full_sha, short_sha};
use crate::state::{
    EnvLock, JournalEntry, LOGS_DIR, LockHolder, PREVIOUS_FILE, StateDir, now_rfc3339,
};

/// The last restart's output, in the state directory's `logs/`.
pub const RESTART_LOG: &str = "restart.log";

/// The marker of a deploy in progress, in the state directory.
pub const IN_PROGRESS_FILE: &str = "deploy-in-progress.json";

/// `restart-timeout` when not given.
pub const DEFAULT_RESTART_TIMEOUT: Duration = Duration::from_secs(300);

/// How old git's `index.lock` must be to count as left by a killed git command.
pub const STALE_INDEX_LOCK: Duration = Duration::from_secs(60);

/// Everything the transaction needs, validated.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// The deployed git checkout.
    pub app_dir: PathBuf,
    /// This environment's state directory.
    pub state_dir: PathBuf,
    /// The environment's name.
    pub environment: String,
    /// The git remote to fetch.
    pub remote: String,
    /// The branch deployed SHAs must be reachable from.
    pub branch: String,
    /// Deploy SHAs not reachable from `remote/branch`.
    pub allow_unreachable: bool,
    /// A fetch still running after this is killed: the deploy fails, nothing changed
    /// (`fetch-timeout`).
    pub fetch_timeout: Duration,
    /// How the app restarts.
    pub restart: Restart,
    /// A restart still running after this is killed and counts as failed (`restart-timeout`).
    pub restart_timeout: Duration,
    /// The health gate (`None`: no gate).
    pub health: Option<ProbeConfig>,
    /// Put the previous SHA back on failure.
    pub rollback_on_failure: bool,
    /// How long to wait for the environment lock.
    pub lock_timeout: Duration,
    /// Who deploys (journal).
    pub actor: Option<String>,
    /// The workflow run (journal).
    pub run_url: Option<String>,
}

impl DeployConfig {
    /// Reads and validates the deploy inputs shared by deploy-sha and ci-watcher (app-dir,
    /// state-dir, environment, remote, branch, fetch-timeout, compose-file, compose-service, restart-mode,
    /// restart-command, restart-timeout, health-*, lock-timeout, and where the spec has them allow-unreachable,
    /// rollback-on-failure, actor). No side effect; `app-dir` must be a git checkout.
    ///
    /// An input the binary's spec lacks takes its default, except `rollback-on-failure`, which is
    /// `false` then (a rollback that fails is not rolled back again).
    pub fn from_inputs(inputs: &Inputs, runner: &Runner) -> Result<DeployConfig> {
        let has = |name: &str| inputs.spec().input(name).is_some();
        let get = |name: &str| if has(name) { inputs.get(name) } else { None };

        let app_dir = PathBuf::from(get("app-dir").unwrap_or("."));
        let state_dir = PathBuf::from(get("state-dir").unwrap_or("/var/app-state"));
        let environment = get("environment").unwrap_or("preprod").to_owned();
        if environment.chars().any(char::is_control) {
            return Err(Error::input("environment", "must be one line"));
        }
        let remote = get("remote").unwrap_or("origin").to_owned();
        check_ref_part(&remote, "remote")?;
        let branch = get("branch").unwrap_or("main").to_owned();
        check_ref_part(&branch, "branch")?;
        let allow_unreachable = has("allow-unreachable") && inputs.bool("allow-unreachable")?;
        let fetch_timeout = if has("fetch-timeout") {
            inputs.duration_or("fetch-timeout", DEFAULT_FETCH_TIMEOUT)?
        } else {
            DEFAULT_FETCH_TIMEOUT
        };
        if fetch_timeout.is_zero() {
            return Err(Error::input("fetch-timeout", "must be more than 0s"));
        }
        let rollback_on_failure =
            has("rollback-on-failure") && inputs.bool("rollback-on-failure")?;

        let compose_files: Vec<PathBuf> = if has("compose-file") {
            inputs
                .lines("compose-file")
                .into_iter()
                .map(PathBuf::from)
                .collect()
        } else {
            Vec::new()
        };
        // `-f -` would read the compose file from stdin; a leading `-` is never a file we mean.
        if let Some(f) = compose_files.iter().find(|f| {
            let text = f.to_string_lossy();
            text.starts_with('-') || text.chars().any(char::is_control)
        }) {
            return Err(Error::input(
                "compose-file",
                format!(
                    "`{}` is not a compose file path (it starts with `-` or holds a control character); write `./{}` if the file is really named so",
                    f.display(),
                    f.display()
                ),
            ));
        }
        let service = get("compose-service").map(str::to_owned);
        if let Some(s) = service.as_deref().filter(|s| !is_service_name(s)) {
            return Err(Error::input(
                "compose-service",
                format!("`{s}` is not a compose service name (letters, digits, `.`, `_`, `-`)"),
            ));
        }
        let mode = match (has("restart-mode"))
            .then(|| inputs.choice("restart-mode", &["recreate", "restart"]))
            .transpose()?
            .flatten()
        {
            Some("restart") => RestartMode::Restart,
            _ => RestartMode::Recreate,
        };
        let restart = match get("restart-command") {
            Some(cmd) => {
                if !compose_files.is_empty() || service.is_some() {
                    return Err(Error::input(
                        "restart-command",
                        "give either `restart-command` or `compose-file`/`compose-service`, not both",
                    ));
                }
                Restart::Command(split_command(cmd, "restart-command")?)
            }
            None => Restart::Compose {
                files: compose_files,
                service,
                mode,
            },
        };
        let restart_timeout = if has("restart-timeout") {
            inputs.duration_or("restart-timeout", DEFAULT_RESTART_TIMEOUT)?
        } else {
            DEFAULT_RESTART_TIMEOUT
        };
        if restart_timeout.is_zero() {
            return Err(Error::input("restart-timeout", "must be more than 0s"));
        }
        let health = ProbeConfig::from_inputs(inputs, "health-")?;
        let lock_timeout = if has("lock-timeout") {
            inputs.duration_or("lock-timeout", Duration::from_secs(600))?
        } else {
            Duration::from_secs(600)
        };
        let actor = get("actor")
            .map(str::to_owned)
            .or_else(|| std::env::var("GITHUB_ACTOR").ok())
            .filter(|a| !a.trim().is_empty());
        // Last: the checkout is checked once every input is known to be well-formed.
        Git::open(&app_dir, "app-dir")?;
        Ok(DeployConfig {
            app_dir,
            state_dir,
            environment,
            remote,
            branch,
            allow_unreachable,
            fetch_timeout,
            restart,
            restart_timeout,
            health,
            rollback_on_failure,
            lock_timeout,
            actor,
            run_url: runner.run_url(),
        })
    }
}

fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A remote or branch name safe to put in a refspec.
fn check_ref_part(value: &str, input: &str) -> Result<()> {
    let ok = !value.is_empty()
        && !value.starts_with(['-', '/', '.'])
        && !value.ends_with(['/', '.'])
        && !value.contains("..")
        && !value.contains("//")
        && !value.ends_with(".lock")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            input,
            format!("`{value}` is not a valid name (letters, digits, `.`, `_`, `-`, `/`)"),
        ))
    }
}

/// A `sha` input: a full 40-hex SHA (upper case accepted, returned in lower case).
pub fn parse_sha(value: &str, input: &str) -> Result<String> {
    let sha = value.trim().to_ascii_lowercase();
    if is_full_sha(&sha) {
        Ok(sha)
    } else {
        let shown: String = value.chars().take(60).collect();
        Err(Error::input(
            input,
            format!(
                "`{shown}` is not a full 40-hex commit SHA (nor `last-validated` or `previous`); short SHAs and ref names are refused"
            ),
        ))
    }
}

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
    pub requested_sha: String,
    /// The SHA in service at the end.
    pub deployed_sha: String,
    /// The SHA in service before: HEAD when the deploy started, unless HEAD was left by an
    /// interrupted deploy (then the SHA in service before that one).
    pub previous_sha: String,
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
}

/// What `deploy-in-progress.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InProgress {
    /// The SHA being put in service.
    pub sha: String,
    /// The SHA to go back to on failure (the SHA in service before the deploy).
    pub previous_sha: String,
    /// The process deploying.
    pub pid: u32,
    /// Since when.
    pub since: String,
    /// `deploy` or `rollback`.
    pub event: String,
}

/// Full transaction for deploy-sha: lock → fetch → checks → save local changes → reset →
/// restart → health gate → rollback on failure → journal.
pub fn deploy(cfg: &DeployConfig, sha: &str, runner: &mut Runner) -> Result<DeployReport> {
    let state = StateDir::open(&cfg.state_dir)?;
    let holder = LockHolder::new(
        format!("deploy-sha {} to {}", short_sha(sha), cfg.environment),
        Some(sha),
    );
    let lock = state.lock(&holder, cfg.lock_timeout, &mut |m| runner.info(m))?;
    if let Some(waited) = lock.waited() {
        runner.info(&format!("got the lock after {}", format_duration(waited)));
    }
    deploy_locked(cfg, &state, &lock, sha, "deploy", runner)
}

/// The same transaction for a caller that already holds the environment lock. `event` is the
/// journal event (`deploy`, or `rollback` for ci-watcher).
pub fn deploy_locked(
    cfg: &DeployConfig,
    state: &StateDir,
    lock: &EnvLock,
    sha: &str,
    event: &str,
    runner: &mut Runner,
) -> Result<DeployReport> {
    let start = Instant::now();
    let sha = parse_sha(sha, "sha")?;
    let mut phases = Vec::new();
    let git = Git::open(&cfg.app_dir, "app-dir")?;
    let restarter = cfg.restart.prepare(&cfg.app_dir)?;

    let t = Instant::now();
    runner.group(&format!("git fetch {} {}", cfg.remote, cfg.branch));
    let fetched = git.fetch(&cfg.remote, &cfg.branch, cfg.fetch_timeout);
    runner.end_group();
    fetched?;
    if !git.commit_exists(&sha)? {
        // Servers like GitHub serve any commit by SHA; others refuse, which is fine.
        let _ = git.fetch_sha(&cfg.remote, &sha, cfg.fetch_timeout);
        if !git.commit_exists(&sha)? {
            return Err(Error::Refused(format!(
                "commit {sha} not found after fetching {}; push it or check the SHA",
                cfg.remote
            )));
        }
    }
    if !cfg.allow_unreachable && !git.is_reachable(&sha, &cfg.remote, &cfg.branch)? {
        return Err(Error::Refused(format!(
            "commit {sha} is not reachable from {}/{}; only commits of that branch are deployed (set `allow-unreachable` to deploy it anyway)",
            cfg.remote, cfg.branch
        )));
    }
    phases.push(("fetch".to_owned(), t.elapsed()));

    if let Some(path) = git.clear_stale_index_lock(STALE_INDEX_LOCK)? {
        runner.warning(&format!(
            "removed {} left by an interrupted git command",
            path.display()
        ));
    }
    let head = git.head()?;
    let old_previous = state.previous()?;
    let interrupted = read_in_progress(state);
    if let Some(i) = &interrupted {
        runner.warning(&format!(
            "a previous {} of {} (pid {}, since {}) was interrupted{}",
            i.event,
            short_sha(&i.sha),
            i.pid,
            i.since,
            if i.sha == sha { "; redoing it" } else { "" }
        ));
    }
    let before = in_service_before(&head, interrupted);
    // What to go back to on failure; for a re-deploy of the SHA in service, nothing: the
    // service stays as it was.
    let rollback_to = (before != sha).then(|| before.clone());
    let marker = InProgress {
        sha: sha.clone(),
        previous_sha: before.clone(),
        pid: std::process::id(),
        since: now_rfc3339(),
        event: event.to_owned(),
    };
    let marker_json = serde_json::to_vec_pretty(&marker)
        .map_err(|e| Error::Environment(format!("cannot encode the deploy marker: {e}")))?;
    state.write_atomic(Path::new(IN_PROGRESS_FILE), &marker_json)?;

    let saved = backup::save_local_changes_before(&git, state, &head, Some(&sha))?;
    if let Some(s) = &saved {
        warn_saved(runner, s);
    }
    // A rollback (ci-watcher's) never records the SHA it rolls away from: it failed.
    if before != sha && event != "rollback" {
        state.set_previous(&before)?;
    }
    if head == sha {
        runner.info(&format!(
            "{} is already checked out; restarting and checking it again",
            short_sha(&sha)
        ));
    }
    runner.info(&format!(
        "deploying {} to {} (in service before: {})",
        short_sha(&sha),
        cfg.environment,
        short_sha(&before)
    ));
    let attempt = put_in_service(cfg, &git, &restarter, &sha, runner, &mut phases);

    let mut rollback_entry = None;
    let (outcome, deployed_sha, healthy, rolled_back, failure) = match attempt {
        Ok(()) => (Outcome::Deployed, sha.clone(), true, false, None),
        Err(reason) => {
            runner.error(&format!(
                "deploy of {} to {} failed: {reason}",
                short_sha(&sha),
                cfg.environment
            ));
            match (&rollback_to, cfg.rollback_on_failure) {
                (Some(back), true) => {
                    runner.info(&format!("rolling back to {}", short_sha(back)));
                    let t = Instant::now();
                    let mut rb_phases = Vec::new();
                    let back_result =
                        put_in_service(cfg, &git, &restarter, back, runner, &mut rb_phases);
                    phases.extend(
                        rb_phases
                            .into_iter()
                            .map(|(n, d)| (format!("rollback {n}"), d)),
                    );
                    // `previous` must never name the SHA that just failed.
                    match &old_previous {
                        Some(p) => state.set_previous(p)?,
                        None => state.remove(Path::new(PREVIOUS_FILE))?,
                    }
                    let mut entry = JournalEntry::new(&cfg.environment, "rollback", "");
                    entry.sha = Some(back.clone());
                    entry.previous_sha = Some(sha.clone());
                    entry.duration_ms = Some(millis(t.elapsed()));
                    entry.actor.clone_from(&cfg.actor);
                    entry.run_url.clone_from(&cfg.run_url);
                    let result = match back_result {
                        Ok(()) => {
                            runner.info(&format!(
                                "rolled back: {} is in service again",
                                short_sha(back)
                            ));
                            entry.outcome = Outcome::RolledBack.as_str().to_owned();
                            entry.detail = Some(format!("{} failed: {reason}", short_sha(&sha)));
                            (Outcome::RolledBack, back.clone(), true, true, Some(reason))
                        }
                        Err(again) => {
                            runner.error(&format!(
                                "rollback to {} failed too: {again}",
                                short_sha(back)
                            ));
                            entry.outcome = Outcome::Failed.as_str().to_owned();
                            entry.detail = Some(again.clone());
                            let both = format!(
                                "{reason}; the rollback to {} failed too: {again}",
                                short_sha(back)
                            );
                            (Outcome::Failed, back.clone(), false, true, Some(both))
                        }
                    };
                    rollback_entry = Some(entry);
                    result
                }
                (None, true) => {
                    runner.warning(&format!(
                        "no rollback: {} was already in service before this deploy",
                        short_sha(&sha)
                    ));
                    (Outcome::Failed, sha.clone(), false, false, Some(reason))
                }
                (_, false) => (Outcome::Failed, sha.clone(), false, false, Some(reason)),
            }
        }
    };

    let duration = start.elapsed();
    let mut entry = JournalEntry::new(&cfg.environment, event, outcome.as_str());
    entry.sha = Some(sha.clone());
    entry.previous_sha = Some(before.clone());
    entry.duration_ms = Some(millis(duration));
    entry.actor.clone_from(&cfg.actor);
    entry.run_url.clone_from(&cfg.run_url);
    entry.detail = failure.clone();
    state.journal(&entry)?;
    if let Some(rb) = rollback_entry {
        state.journal(&rb)?;
    }
    state.remove(Path::new(IN_PROGRESS_FILE))?;
    Ok(DeployReport {
        requested_sha: sha,
        deployed_sha,
        previous_sha: before,
        healthy,
        rolled_back,
        outcome,
        duration,
        failure,
        saved_changes: saved.map(|s| s.patch),
        phases,
        lock_waited: lock.waited(),
    })
}

/// The last SHA known to have been put in service completely: `head`, unless `head` is the SHA
/// of an interrupted deploy (reset done, restart or health gate never finished); then the SHA
/// in service before that deploy.
///
/// An interrupted `rollback` (ci-watcher rolling a SHA whose CI failed back to the last
/// validated SHA) counts as done: its target is in service, never the SHA rolled away from.
pub fn in_service_before(head: &str, interrupted: Option<InProgress>) -> String {
    match interrupted {
        Some(i) if i.event == "rollback" && is_full_sha(&i.sha) => i.sha,
        Some(i) if i.sha == head && i.previous_sha != head && is_full_sha(&i.previous_sha) => {
            i.previous_sha
        }
        _ => head.to_owned(),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The marker of an interrupted deploy, if one was left in the state directory.
pub fn read_in_progress(state: &StateDir) -> Option<InProgress> {
    std::fs::read(state.join(IN_PROGRESS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
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

/// reset → restart → health gate; `Err(reason)` when any of them failed.
fn put_in_service(
    cfg: &DeployConfig,
    git: &Git,
    restarter: &Restarter,
    sha: &str,
    runner: &mut Runner,
    phases: &mut Vec<(String, Duration)>,
) -> std::result::Result<(), String> {
    let t = Instant::now();
    runner.info(&format!("git reset --hard {sha}"));
    git.reset_hard(sha)
        .map_err(|e| format!("git reset --hard {} failed: {e}", short_sha(sha)))?;
    phases.push(("reset".to_owned(), t.elapsed()));

    let t = Instant::now();
    runner.group(&format!("restart ({})", short_sha(sha)));
    let env = [
        ("LASTGOOD_SHA", sha),
        ("LASTGOOD_ENVIRONMENT", cfg.environment.as_str()),
    ];
    let log_runner: &Runner = runner;
    let capture = cfg.state_dir.join(LOGS_DIR).join(RESTART_LOG);
    let ran = restarter.run_with_timeout(
        &cfg.app_dir,
        &env,
        &capture,
        &|line| log_runner.info(line),
        Some(cfg.restart_timeout),
    );
    runner.end_group();
    phases.push(("restart".to_owned(), t.elapsed()));
    match ran {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => return Err(reason),
        Err(e) => return Err(e.to_string()),
    }

    let Some(gate) = &cfg.health else {
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
    phases.push(("health".to_owned(), t.elapsed()));
    if report.healthy {
        runner.info(&format!(
            "{} is healthy ({} attempt(s), {})",
            short_sha(sha),
            report.attempts,
            format_duration(report.elapsed)
        ));
        Ok(())
    } else {
        Err(format!(
            "health check failed after {} attempt(s): {}",
            report.attempts,
            report.failure_reason.as_deref().unwrap_or("unhealthy")
        ))
    }
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
        if let Some(f) = &self.failure {
            md.push_str(&format!(
                "| failure | {} |\n",
                f.replace('|', "\\|").replace('\n', " ")
            ));
        }
        if let Some(p) = &self.saved_changes {
            md.push_str(&format!("| local changes saved | `{}` |\n", p.display()));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use lastgood_testkit::git::GitFixture;

    use super::*;

    #[test]
    fn sha_inputs() {
        let upper = "0123456789ABCDEF0123456789ABCDEF01234567";
        assert_eq!(parse_sha(upper, "sha").unwrap(), upper.to_lowercase());
        for bad in [
            "0123456",
            "main",
            "$(touch pwned)",
            "0123456789abcdef0123456789abcdef0123456g",
            "0123456789abcdef0123456789abcdef012345678",
            "",
        ] {
            let err = parse_sha(bad, "sha").unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("`sha`"));
        }
    }

    #[test]
    fn ref_names() {
        for good in ["origin", "main", "release/1.2", "up-stream_2"] {
            assert!(check_ref_part(good, "branch").is_ok(), "{good}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "$(x)", "/a", "a/", "a.lock", "refs//x",
        ] {
            assert!(check_ref_part(bad, "branch").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_rollback_event_keeps_previous_and_journals_rollback() {
        let fx = GitFixture::new();
        let shas = [
            fx.commit(&[("v.txt", "good")], "good"),
            fx.commit(&[("v.txt", "failed-ci")], "failed-ci"),
        ];
        fx.push();
        fx.git_app(&["pull", "-q", "--ff-only"]);
        let app = fx.app.clone();
        let state = StateDir::open(&fx.tmp.path().join("state")).unwrap();
        state.set_previous(&shas[0]).unwrap();
        let cfg = DeployConfig {
            app_dir: app.clone(),
            state_dir: state.path().to_path_buf(),
            environment: "preprod".to_owned(),
            remote: "origin".to_owned(),
            branch: "main".to_owned(),
            allow_unreachable: false,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            restart: Restart::Command(vec!["true".to_owned()]),
            restart_timeout: DEFAULT_RESTART_TIMEOUT,
            health: None,
            rollback_on_failure: false,
            lock_timeout: Duration::from_secs(5),
            actor: Some("ci-watcher".to_owned()),
            run_url: None,
        };
        let lock = state
            .lock(
                &LockHolder::new("test", None),
                Duration::from_secs(5),
                &mut |_| {},
            )
            .unwrap();
        let mut runner = Runner::default();
        let report = deploy_locked(&cfg, &state, &lock, &shas[0], "rollback", &mut runner).unwrap();
        assert_eq!(report.outcome, Outcome::Deployed);
        assert_eq!(report.previous_sha, shas[1]);
        assert_eq!(fx.head(), shas[0]);
        assert_eq!(state.previous().unwrap().as_deref(), Some(shas[0].as_str()));
        let journal = state.read_journal().unwrap();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].event, "rollback");
        assert_eq!(journal[0].sha.as_deref(), Some(shas[0].as_str()));
        assert_eq!(journal[0].previous_sha.as_deref(), Some(shas[1].as_str()));
        assert_eq!(journal[0].actor.as_deref(), Some("ci-watcher"));
        assert!(!state.join(IN_PROGRESS_FILE).exists());
    }
}
