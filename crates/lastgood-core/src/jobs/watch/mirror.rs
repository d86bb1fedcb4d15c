//! CI's verdict on the GitHub deployment of the watched SHA (`github-deployment`): the newest
//! deployment of the SHA in the environment (`GET …/deployments?sha=&environment=`, the one
//! deploy-sha created) gets `success` when validated, `failure` when CI failed; a rolled-back
//! deployment then becomes `inactive` and the restored SHA's deployment `success` again.
//! `superseded`, a SHA already rolled back (by its health gate or an earlier verdict) and the
//! verdicts that keep things as they are post nothing: a newer deploy or that rollback already
//! retired the SHA's deployment, and whatever runs now is not this verdict's business. Best effort: an API failure is a warning.

use super::settings::Settings;
use crate::base::sha::short_sha;
use crate::contract::runner::Runner;
use crate::jobs::deploy::DeployConfig;
use crate::platform::git::Git;
use crate::services::deployments::{Mirror, MirrorConfig, State};

/// What a verdict means for the deployments (the watcher's actions that change them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mirrored {
    /// CI passed and the SHA is validated.
    Validated,
    /// CI failed and the environment was rolled back.
    RolledBack,
    /// CI failed and the rollback could not be done.
    RollbackFailed,
    /// Nothing to tell GitHub (superseded, already rolled back, kept as is).
    Nothing,
}

/// Posts what the verdict `act` means for the deployments of the environment.
pub(super) fn mirror_verdict(
    github: &MirrorConfig,
    s: &Settings,
    cfg: &DeployConfig,
    act: Mirrored,
    ci_run_url: Option<&str>,
    runner: &Runner,
) {
    if act == Mirrored::Nothing {
        return;
    }
    let mirror = Mirror::new(github);
    let log_url = ci_run_url.or(cfg.run_url.as_deref());
    let sha = s.sha.as_str();
    let head = || {
        Git::open(&cfg.app_dir, "app-dir")
            .and_then(|g| g.head())
            .ok()
    };
    let result = match act {
        // Only while the SHA is what runs: an older SHA validated late must not come back.
        Mirrored::Validated if head().as_deref() == Some(sha) => {
            on_own(&mirror, sha, runner, |id| {
                mirror.status(id, State::Success, "CI passed: validated", log_url)
            })
        }
        Mirrored::RollbackFailed => on_own(&mirror, sha, runner, |id| {
            mirror.status(
                id,
                State::Failure,
                "CI failed; the rollback failed",
                log_url,
            )
        }),
        Mirrored::RolledBack => rolled_back(&mirror, sha, head().as_deref(), log_url, runner),
        Mirrored::Validated | Mirrored::Nothing => Ok(()),
    };
    if let Err(why) = result {
        runner.warning(&format!(
            "GitHub deployment not updated (the verdict is not affected): {why}"
        ));
    }
}

/// Runs `then` on the newest deployment of `sha`; none is only a note.
fn on_own(
    mirror: &Mirror,
    sha: &str,
    runner: &Runner,
    then: impl FnOnce(u64) -> Result<(), String>,
) -> Result<(), String> {
    match mirror.find(sha)? {
        Some(id) => then(id),
        None => {
            runner.info(&format!(
                "no GitHub deployment of {} to update in this environment",
                short_sha(sha)
            ));
            Ok(())
        }
    }
}

/// The failed SHA's deployment `failure` then `inactive`; the restored SHA's `success`.
fn rolled_back(
    mirror: &Mirror,
    sha: &str,
    restored: Option<&str>,
    log_url: Option<&str>,
    runner: &Runner,
) -> Result<(), String> {
    let back = restored.map(short_sha).unwrap_or("the last validated SHA");
    on_own(mirror, sha, runner, |id| {
        let why = format!("CI failed: rolled back to {back}");
        mirror.status(id, State::Failure, &why, log_url)?;
        mirror.status(id, State::Inactive, &why, log_url)
    })?;
    let Some(restored) = restored.filter(|r| *r != sha) else {
        return Ok(());
    };
    let note = format!("Back in service: {} failed CI", short_sha(sha));
    let id = mirror.find_or_create(restored, &note)?;
    mirror.status(id, State::Success, &note, log_url)
}
