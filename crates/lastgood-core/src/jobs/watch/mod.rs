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
//!   event `rollback`); a SHA already rolled back (by its health gate or an earlier verdict) is
//!   reported `rolled-back`; else the failure is recorded as `superseded` (a newer deploy
//!   replaced it) and nothing is touched. A green CI never validates a SHA whose health gate
//!   failed here, or whose deploy here was interrupted before its gate (action `unhealthy`).
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
//! - A watch whose record the state directory refuses (a full disk) is never detached: it is
//!   watched in this process and its verdict acted on by the facts (as `conclusion` does); the
//!   refused write is reported after the outputs (exit 3).
//! - `detach` starts the same binary in a new session, without `RUNNER_TRACKING_ID`, with its
//!   output in `logs/ci-watcher-<sha>.log`; the token reaches it through its environment only.
//! - `sha` defaults to `GITHUB_SHA`, except in a job triggered by `workflow_run`, where it
//!   defaults to the event's `workflow_run.head_sha` (`GITHUB_SHA` is the default branch's tip
//!   there, possibly a newer deploy that a failure of an older commit must not roll back).
//! - `resume` finishes every recorded watch that no live watcher holds; the token and webhook
//!   come from the resuming process's inputs (they are never stored).

mod detach;
mod mirror;
mod poll;
mod report;
mod settings;
mod verdict;

use self::detach::{
    CHILD_MARKER, resume_all, run_detached_child, spawn_detached, watch_unrecorded,
};
use self::poll::{CompletedRun, Found};
use self::report::{already_watched, finish_owned, report};
use self::settings::{Settings, adopt_mirror_of, env_var, record_of, stored_inputs};
use self::verdict::watch_owned;
use self::verdict::{CONCLUSIONS, conclude};
use crate::base::error::Status;
use crate::base::error::{Error, Result};
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::jobs::deploy::DeployConfig;
use crate::platform::cancel;
use crate::platform::state::StateDir;
use crate::platform::state::watches::{read_record, try_watch_lock, write_record};

/// The ci-watcher binary: every mode (watch, `detach`, `resume`, `conclusion`).
pub fn run(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    cancel::install()?;
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
    let mut settings = match conclusion {
        None => Settings::to_poll(inputs, runner)?,
        Some(_) => Settings::to_conclude(inputs, runner)?,
    };
    let mut cfg = DeployConfig::from_inputs(inputs, runner)?;
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
        if let Some(p) = &pending {
            settings.adopt_message_of(p);
            adopt_mirror_of(&mut cfg, p);
        }
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
        return spawn_detached(&settings, &cfg, &state, stored, inputs, runner);
    }
    let Some(lock) = try_watch_lock(&state, &settings.sha)? else {
        runner.warning(&already_watched(&state, &settings.sha));
        return Ok(Status::Success);
    };
    let record = record_of(&settings, stored, "watching");
    if let Err(e) = write_record(&state, &record) {
        return watch_unrecorded(&settings, &cfg, &state, &record, lock, e, runner);
    }
    let outcome = watch_owned(&settings, &cfg, &state, &record, true, runner);
    finish_owned(&state, &record, lock, outcome, runner)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::settings::{CONTROL_INPUTS, instant_of, now_ms, rebuild_inputs};
    use super::verdict::{Verdict, already_validated, verdict_of};
    use super::*;
    use crate::base::spec::CI_WATCHER;
    use crate::platform::git::Git;

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
