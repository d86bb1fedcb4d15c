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

use std::time::Instant;

mod config;
mod mirror;
mod phases;
mod report;

pub use self::config::{DeployConfig, parse_sha};
pub use self::report::{DeployReport, Outcome};

use self::phases::Transaction;
use crate::base::error::Result;
use crate::base::sha::short_sha;
use crate::base::time::format_duration;
use crate::contract::runner::Runner;
use crate::platform::cancel;
use crate::platform::state::journal::JournalEvent;
use crate::platform::state::{EnvLock, LockHolder, StateDir};

/// Full transaction for deploy-sha: lock → fetch → checks → save local changes → reset →
/// restart → health gate → rollback on failure → journal.
///
/// With `github-deployment`, the deploy is mirrored as a GitHub deployment once the SHA is
/// verified (a refused deploy creates none), best effort: warnings only.
pub fn deploy(cfg: &DeployConfig, sha: &str, runner: &mut Runner) -> Result<DeployReport> {
    cancel::install()?;
    let state = StateDir::open(&cfg.state_dir)?;
    let holder = LockHolder::new(
        format!("deploy-sha {} to {}", short_sha(sha), cfg.environment),
        Some(sha),
    );
    let lock = state.lock(&holder, cfg.lock_timeout, &mut |m| runner.info(m))?;
    if let Some(waited) = lock.waited() {
        runner.info(&format!("got the lock after {}", format_duration(waited)));
    }
    let mut mirror = cfg
        .github
        .as_ref()
        .map(|github| mirror::Mirrored::new(github, cfg));
    let result = run_locked(
        cfg,
        &state,
        &lock,
        sha,
        JournalEvent::Deploy,
        runner,
        &mut |r, s| {
            if let Some(m) = mirror.as_mut() {
                m.start(s, r);
            }
        },
    );
    match mirror {
        Some(m) => m.finish(result, runner),
        None => result,
    }
}

/// The same transaction for a caller that already holds the environment lock. `event` is the
/// journal event (`deploy`, or `rollback` for ci-watcher).
pub(crate) fn deploy_locked(
    cfg: &DeployConfig,
    state: &StateDir,
    lock: &EnvLock,
    sha: &str,
    event: JournalEvent,
    runner: &mut Runner,
) -> Result<DeployReport> {
    run_locked(cfg, state, lock, sha, event, runner, &mut |_, _| {})
}

/// The transaction under the lock; `verified` is told the SHA once it is known to be
/// deployable, before anything changes.
fn run_locked(
    cfg: &DeployConfig,
    state: &StateDir,
    lock: &EnvLock,
    sha: &str,
    event: JournalEvent,
    runner: &mut Runner,
    verified: &mut dyn FnMut(&Runner, &str),
) -> Result<DeployReport> {
    let start = Instant::now();
    let mut tx = Transaction::open(cfg, state, sha, event)?;
    tx.verify(runner)?;
    verified(runner, &tx.sha);
    let marked = tx.mark(runner)?;
    let sha = tx.sha.clone();
    // From the reset on, the report is always returned (the outputs must be written): a state
    // write that fails is in `state_error`.
    let ended = match tx.put_in_service(&sha, "", runner) {
        Ok(()) => tx.deployed(),
        Err(failed) => tx.after_failure(&marked, failed, runner),
    };
    let duration = start.elapsed();
    tx.record(&marked, &ended, duration);
    Ok(DeployReport {
        requested_sha: sha,
        deployed_sha: ended.deployed_sha,
        previous_sha: marked.before,
        healthy: ended.healthy,
        rolled_back: ended.rolled_back,
        outcome: ended.outcome,
        duration,
        failure: ended.failure,
        saved_changes: marked.saved.map(|s| s.patch),
        phases: tx.phases,
        lock_waited: lock.waited(),
        cancelled: ended.cancelled,
        state_error: tx.state_error.map(|e| e.to_string()),
        deployment_id: None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lastgood_testkit::git::GitFixture;

    use super::config::check_ref_part;
    use super::*;
    use crate::platform::restart::Restart;
    use crate::platform::state::marker::IN_PROGRESS_FILE;

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
            fetch_timeout: Duration::from_secs(120),
            restart: Restart::Command(vec!["true".to_owned()]),
            restart_timeout: Duration::from_secs(300),
            health: None,
            rollback_on_failure: false,
            lock_timeout: Duration::from_secs(5),
            actor: Some("ci-watcher".to_owned()),
            run_url: None,
            github: None,
        };
        let lock = state
            .lock(
                &LockHolder::new("test", None),
                Duration::from_secs(5),
                &mut |_| {},
            )
            .unwrap();
        let mut runner = Runner::default();
        let report = deploy_locked(
            &cfg,
            &state,
            &lock,
            &shas[0],
            JournalEvent::Rollback,
            &mut runner,
        )
        .unwrap();
        assert_eq!(report.outcome, Outcome::Deployed);
        assert_eq!(report.previous_sha, shas[1]);
        assert_eq!(fx.head(), shas[0]);
        assert_eq!(state.previous().unwrap().as_deref(), Some(shas[0].as_str()));
        let journal = state.read_journal().unwrap();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].event, JournalEvent::Rollback);
        assert_eq!(journal[0].sha.as_deref(), Some(shas[0].as_str()));
        assert_eq!(journal[0].previous_sha.as_deref(), Some(shas[1].as_str()));
        assert_eq!(journal[0].actor.as_deref(), Some("ci-watcher"));
        assert!(!state.join(IN_PROGRESS_FILE).exists());
    }
}
