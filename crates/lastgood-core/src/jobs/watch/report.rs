//! Reporting a watch: outputs, summary and the Discord message; what becomes of the record.

use std::fs::File;

use super::settings::{Settings, env_var};
use crate::base::error::EXIT_USAGE;
use crate::base::error::Result;
use crate::base::error::Status;
use crate::base::sha::commit_url;
use crate::base::sha::short_sha;
use crate::contract::runner::Runner;
use crate::jobs::deploy::DeployConfig;
use crate::platform::git::Git;
use crate::platform::http::Client;
use crate::platform::state::StateDir;
use crate::platform::state::watches::{self, WatchRecord, read_record, write_record};
use crate::services::discord::{self, Event, Locale, Message};

pub(super) fn already_watched(state: &StateDir, sha: &str) -> String {
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
pub(super) fn finish_owned(
    state: &StateDir,
    record: &WatchRecord,
    lock: File,
    outcome: Result<Concluded>,
    runner: &mut Runner,
) -> Result<Status> {
    match outcome {
        Ok(o) => {
            // The record is gone (removed with the verdict); the lock file can go too.
            let _ = watches::remove_lock(state, &record.sha);
            drop(lock);
            report(o, runner)
        }
        Err(e) if e.exit_code() == EXIT_USAGE => {
            // A wrong workflow or repository: resuming would fail the same way.
            if let Ok(Some(r)) = read_record(state, &record.sha)
                && r.started_at_ms == record.started_at_ms
            {
                let _ = watches::remove_record(state, &record.sha);
                let _ = watches::remove_lock(state, &record.sha);
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
                    watches::record_file(state, &record.sha).display()
                ));
            }
            drop(lock);
            Err(e)
        }
    }
}

/// What [`conclude`] decided and did.
#[derive(Debug)]
pub(super) struct Concluded {
    pub(super) action: Option<Action>,
    pub(super) conclusion: Option<String>,
    pub(super) run_url: Option<String>,
    pub(super) failed_jobs: Vec<String>,
    pub(super) status: Status,
}

pub(super) fn report(o: Concluded, runner: &mut Runner) -> Result<Status> {
    runner.output("conclusion", o.conclusion.as_deref().unwrap_or(""))?;
    runner.output("run-url", o.run_url.as_deref().unwrap_or(""))?;
    runner.output("action", o.action.map_or("", Action::as_str))?;
    runner.output("failed-jobs", &o.failed_jobs.join("\n"))?;
    Ok(o.status)
}

/// Summary, Discord message and the outcome of an action.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per verdict, all named"
)]
pub(super) fn finish_message(
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
            .map(|server| commit_url(&server, &s.repository, &s.sha));
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
