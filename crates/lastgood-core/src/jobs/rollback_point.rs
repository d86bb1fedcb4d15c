//! save-rollback-point: record where we are before moving, and compare two environments.
//!
//! Behaviour, for the docs:
//! - Under the environment lock: `previous-sha.txt` ← the checkout's HEAD; when
//!   `last-validated-sha.txt` does not exist, it is created with HEAD (the running version is the
//!   first good one) and a line says so; `backup-paths` and local changes to tracked files go to
//!   `backups/backup-<time>-<short-sha>.tar.gz` (see [`crate::platform::backup`]), older archives pruned
//!   beyond `keep-backups`; a `backup` event is journaled (environment = the state directory's
//!   name, e.g. `prod`).
//! - No archive is written when no `backup-paths` exists and no tracked file changed (output
//!   `backup` empty).
//! - `compare-state-dir`: the other environment has no checkout here, so its deployed SHA is read
//!   from its journal: the SHA its last `deploy` or `rollback` event left in service (for a
//!   `deploy` that was rolled back, the SHA before it). The commits listed are those between this
//!   environment's HEAD and the other's last validated SHA (else its deployed SHA): what
//!   deploying it here would bring. A SHA this checkout does not know yet is fetched first
//!   (`git fetch` of the current branch's remote, which moves no file of the checkout: this
//!   step runs before the deploy that would fetch it); one still unknown after that (not
//!   pushed, or the fetch failed: a warning says why) is shown without the commit list.

use std::path::PathBuf;
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::base::sha::{Sha, short_sha};
use crate::contract::cli::error_chain;
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::platform::backup::{self, Archive};
use crate::platform::cancel;
use crate::platform::git::Git;
use crate::platform::state::journal::{JournalEvent, JournalOutcome};
use crate::platform::state::{JournalEntry, LockHolder, StateDir, env_name, marker};

/// The inputs of save-rollback-point, validated.
#[derive(Debug, Clone)]
pub struct RollbackPointConfig {
    /// The deployed checkout.
    pub app_dir: PathBuf,
    /// This environment's state directory.
    pub state_dir: PathBuf,
    /// Paths to archive, relative to `app_dir`.
    pub backup_paths: Vec<PathBuf>,
    /// How many `backup-*.tar.gz` to keep (≥ 1).
    pub keep_backups: usize,
    /// Another environment's state directory, for the summary.
    pub compare_state_dir: Option<PathBuf>,
    /// How long to wait for the lock.
    pub lock_timeout: Duration,
    /// How long the compare fetch may run (`fetch-timeout`).
    pub fetch_timeout: Duration,
}

impl RollbackPointConfig {
    /// Reads and validates the inputs (no side effect; `app-dir` must be a git checkout).
    pub fn from_inputs(inputs: &Inputs) -> Result<RollbackPointConfig> {
        let backup_paths = inputs
            .lines("backup-paths")
            .into_iter()
            .map(|p| backup::check_backup_path(p, "backup-paths"))
            .collect::<Result<Vec<_>>>()?;
        let keep = inputs.defaulted_number("keep-backups")?;
        if keep == 0 {
            return Err(Error::input(
                "keep-backups",
                "must be at least 1 (the archive just written is always kept)",
            ));
        }
        let compare_state_dir = inputs.get("compare-state-dir").map(PathBuf::from);
        if let Some(dir) = compare_state_dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(Error::input(
                "compare-state-dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        let lock_timeout = inputs.defaulted_duration("lock-timeout")?;
        let fetch_timeout = inputs.defaulted_duration("fetch-timeout")?;
        if fetch_timeout.is_zero() {
            return Err(Error::input("fetch-timeout", "must be more than 0s"));
        }
        let app_dir = PathBuf::from(inputs.defaulted("app-dir")?);
        Git::open(&app_dir, "app-dir")?;
        Ok(RollbackPointConfig {
            app_dir,
            state_dir: PathBuf::from(inputs.defaulted("state-dir")?),
            backup_paths,
            keep_backups: usize::try_from(keep).unwrap_or(usize::MAX),
            compare_state_dir,
            lock_timeout,
            fetch_timeout,
        })
    }
}

/// What save-rollback-point recorded.
#[derive(Debug, Clone)]
pub struct RollbackPoint {
    /// HEAD, now in `previous-sha.txt`.
    pub previous_sha: String,
    /// The last validated SHA (HEAD when it was just created).
    pub rollback_sha: String,
    /// Whether `last-validated-sha.txt` was created by this run.
    pub created_last_validated: bool,
    /// The archive written, if any.
    pub archive: Option<Archive>,
}

/// Records the rollback point under the lock (see the module docs).
pub fn save(cfg: &RollbackPointConfig, runner: &mut Runner) -> Result<RollbackPoint> {
    cancel::install()?;
    let git = Git::open(&cfg.app_dir, "app-dir")?;
    let state = StateDir::open(&cfg.state_dir)?;
    let head = git.head()?;
    let holder = LockHolder::new(
        format!("save-rollback-point at {}", short_sha(&head)),
        Some(&head),
    );
    let lock = state.lock(&holder, cfg.lock_timeout, &mut |m| runner.info(m))?;
    // HEAD again, under the lock: a deploy may have moved it while we waited.
    let checked_out = git.head()?;
    // A SHA left checked out by an interrupted deploy is not the one in service.
    let head = marker::in_service_before(&checked_out, marker::read(&state));
    if head != checked_out {
        runner.warning(&format!(
            "{} was checked out by an interrupted deploy; recording {} (in service before it) as previous",
            short_sha(&checked_out),
            short_sha(&head)
        ));
    }
    state.set_previous(&head)?;
    runner.info(&format!("previous-sha.txt ← {head}"));
    let (rollback_sha, created) = match state.last_validated()? {
        Some(sha) => (sha, false),
        None => {
            state.set_last_validated(&head)?;
            runner.info(&format!(
                "no last-validated-sha.txt yet: recorded {} (the running version) as the first good SHA",
                short_sha(&head)
            ));
            (head.clone(), true)
        }
    };
    for missing in cfg
        .backup_paths
        .iter()
        .filter(|p| cfg.app_dir.join(p).symlink_metadata().is_err())
    {
        runner.warning(&format!(
            "`backup-paths`: {} does not exist in {}; not archived",
            missing.display(),
            cfg.app_dir.display()
        ));
    }
    let archive = backup::archive(&state, &git, &cfg.backup_paths, &head, cfg.keep_backups)?;
    match &archive {
        Some(a) => {
            runner.info(&format!("backup written: {}", a.path.display()));
            if !a.changed_files.is_empty() {
                runner.warning(&format!(
                    "tracked files with local changes were archived too: {}",
                    a.changed_files.join(", ")
                ));
            }
            for p in &a.pruned {
                runner.info(&format!("pruned old backup {}", p.display()));
            }
        }
        None => runner.info("nothing to archive (no backup-paths, no local changes)"),
    }
    let mut entry = JournalEntry::new(
        env_name(&cfg.state_dir),
        JournalEvent::Backup,
        JournalOutcome::Saved,
    );
    entry.sha = Sha::parse(&head);
    entry.actor.clone_from(&runner.context().actor);
    entry.run_url = runner.run_url();
    entry.detail = archive.as_ref().map(|a| a.path.display().to_string());
    state.journal(&entry)?;
    drop(lock);
    Ok(RollbackPoint {
        previous_sha: head,
        rollback_sha,
        created_last_validated: created,
        archive,
    })
}

/// The SHA an environment's journal says is in service: the one its last `deploy` or
/// `rollback` event left there.
fn deployed_from_journal(state: &StateDir) -> Result<Option<String>> {
    let mut current = None;
    for e in state.read_journal()? {
        match (&e.event, &e.outcome) {
            (JournalEvent::Deploy, JournalOutcome::RolledBack) => {
                current = e.previous_sha.or(current)
            }
            (JournalEvent::Deploy | JournalEvent::Rollback, _) => current = e.sha.or(current),
            _ => {}
        }
    }
    Ok(current.map(Sha::into_string))
}

/// The Markdown summary of a rollback point, with the other environment side by side.
pub fn summary(
    cfg: &RollbackPointConfig,
    point: &RollbackPoint,
    runner: &Runner,
) -> Result<String> {
    let git = Git::open(&cfg.app_dir, "app-dir")?;
    let link = |s: &Option<String>| {
        s.as_deref()
            .map_or("—".to_owned(), |s| runner.commit_link(s))
    };
    let here = env_name(&cfg.state_dir);
    let mut md = format!("### 💾 Rollback point for {here}\n\n");
    let backup = point
        .archive
        .as_ref()
        .map_or("none".to_owned(), |a| format!("`{}`", a.path.display()));
    let Some(other_dir) = &cfg.compare_state_dir else {
        md.push_str(&format!(
            "| | |\n|---|---|\n| deployed (previous) | {} |\n| last validated (rollback) | {}{} |\n| backup | {backup} |\n",
            runner.commit_link(&point.previous_sha),
            runner.commit_link(&point.rollback_sha),
            if point.created_last_validated { " (just recorded)" } else { "" }
        ));
        return Ok(md);
    };
    let other = StateDir::open_existing(other_dir)?;
    let there = env_name(other_dir);
    let other_deployed = deployed_from_journal(&other)?;
    let other_validated = other.last_validated()?;
    md.push_str(&format!(
        "| | {here} | {there} |\n|---|---|---|\n| deployed | {} | {} |\n| last validated | {} | {} |\n| backup | {backup} | |\n",
        runner.commit_link(&point.previous_sha),
        link(&other_deployed),
        runner.commit_link(&point.rollback_sha),
        link(&other_validated),
    ));
    let Some(target) = other_validated.or(other_deployed) else {
        md.push_str(&format!(
            "\n{there} has no deployed or validated SHA yet.\n"
        ));
        return Ok(md);
    };
    md.push_str(&commits_between(
        cfg,
        &git,
        runner,
        &here,
        &there,
        &point.previous_sha,
        &target,
    )?);
    Ok(md)
}

/// The commits between this environment (`here_sha`) and the other's `target`, both ways, at
/// most 20 each; `target` is fetched first when the checkout lacks it.
fn commits_between(
    cfg: &RollbackPointConfig,
    git: &Git,
    runner: &Runner,
    here: &str,
    there: &str,
    here_sha: &str,
    target: &str,
) -> Result<String> {
    if !git.commit_exists(target)? {
        // Usual in cd-prod: this step runs before the deploy that fetches. A plain fetch (the
        // branch's remote; the working tree is not touched) brings the other environment's SHA.
        if let Err(e) = git.fetch_default(cfg.fetch_timeout) {
            runner.warning(&format!(
                "could not fetch {} to list the commits between the environments: {}",
                short_sha(target),
                error_chain(&e)
            ));
        }
    }
    if !git.commit_exists(target)? {
        return Ok(format!(
            "\n{} is not in this checkout yet (fetch first): no commit list.\n",
            short_sha(target)
        ));
    }
    const MAX: usize = 20;
    let ahead = git.log_between(here_sha, target, MAX + 1)?;
    let behind = git.log_between(target, here_sha, MAX + 1)?;
    if ahead.is_empty() && behind.is_empty() {
        return Ok(format!(
            "\n{here} already runs {}.\n",
            runner.commit_link(target)
        ));
    }
    let mut md = String::new();
    let mut list = |title: String, commits: &[(String, String)]| {
        if commits.is_empty() {
            return;
        }
        md.push_str(&format!("\n{title}:\n\n"));
        for (sha, subject) in commits.iter().take(MAX) {
            md.push_str(&format!(
                "- {} {}\n",
                runner.commit_link(sha),
                subject.replace(['\r', '\n'], " ")
            ));
        }
        if commits.len() > MAX {
            md.push_str("- …\n");
        }
    };
    list(
        format!(
            "Commits in {} ({there}) not yet in {here}",
            short_sha(target)
        ),
        &ahead,
    );
    list(
        format!("Commits in {here} not in {} ({there})", short_sha(target)),
        &behind,
    );
    Ok(md)
}
