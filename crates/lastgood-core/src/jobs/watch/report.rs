//! Reporting a watch: outputs, summary and the Discord message; what becomes of the record.

use std::fs::File;

use super::mirror::{Mirrored, mirror_verdict};
use super::settings::Settings;
use crate::base::error::EXIT_USAGE;
use crate::base::error::Status;
use crate::base::error::{Error, Result};
use crate::base::sha::commit_url;
use crate::base::sha::short_sha;
use crate::contract::runner::Runner;
use crate::jobs::deploy::DeployConfig;
use crate::platform::git::Git;
use crate::platform::http::Client;
use crate::platform::state::StateDir;
use crate::platform::state::journal::JournalOutcome;
use crate::platform::state::watches::{self, WatchRecord, read_record, write_record};
use crate::services::discord::{self, Event, Message, Webhook};
pub(super) use crate::services::wording::Action;
use crate::services::wording::{discord_texts, headline};

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
    /// What stopped the watch short of a verdict, reported after the outputs.
    pub(super) error: Option<Error>,
}

pub(super) fn report(o: Concluded, runner: &mut Runner) -> Result<Status> {
    runner.output("conclusion", o.conclusion.as_deref().unwrap_or(""))?;
    runner.output("run-url", o.run_url.as_deref().unwrap_or(""))?;
    runner.output("action", o.action.map_or("", Action::as_str))?;
    runner.output("failed-jobs", &o.failed_jobs.join("\n"))?;
    match o.error {
        Some(e) => Err(e),
        None => Ok(o.status),
    }
}

/// A verdict that could not be acted on completely (a state write failed, the lock was not
/// obtained, the job was cancelled during the rollback): the outputs say what is known, the
/// record stays for `resume`, and `error` is reported after them.
pub(super) fn unfinished(
    state: &StateDir,
    record: Option<&WatchRecord>,
    ending: Ending,
    error: Error,
    runner: &mut Runner,
) -> Concluded {
    let mut o = stopped(state, record, ending.action, error, runner);
    o.conclusion = ending.conclusion;
    o.run_url = ending.run_url;
    o.failed_jobs = ending.failed_jobs;
    o.status = Status::Negative;
    o
}

/// A watch that ends without a verdict (GitHub unreachable, the job cancelled): the record stays
/// for `resume`, saying why; the summary says so; `error` is reported after the outputs.
pub(super) fn stopped(
    state: &StateDir,
    record: Option<&WatchRecord>,
    action: Option<Action>,
    error: Error,
    runner: &mut Runner,
) -> Concluded {
    if let Some(r) = record
        && let Ok(Some(mut current)) = read_record(state, &r.sha)
        && current.started_at_ms == r.started_at_ms
    {
        current.status = format!("pending: {}", runner.redact(&error.to_string()));
        let _ = write_record(state, &current);
    }
    let icon = if matches!(error, Error::Cancelled(_)) {
        "⏹️ cancelled"
    } else {
        "⚠️ no verdict"
    };
    let _ = runner.summary(&format!(
        "### ci-watcher: {icon}\n\n{}\n",
        error.to_string().replace('\n', " ")
    ));
    Concluded {
        action,
        conclusion: None,
        run_url: None,
        failed_jobs: Vec::new(),
        status: Status::Success,
        error: Some(error),
    }
}

/// What a watch concluded, for its report.
pub(super) struct Ending {
    /// What the watcher did (`None`: nothing to report).
    pub(super) action: Option<Action>,
    /// `action` is an earlier actor's (the SHA was already rolled back): nothing was done now,
    /// so no GitHub deployment is touched (the rollback that happened already moved them).
    pub(super) earlier: bool,
    /// The deciding run's conclusion.
    pub(super) conclusion: Option<String>,
    /// The deciding run's page.
    pub(super) run_url: Option<String>,
    /// The failed jobs and steps, one line each.
    pub(super) failed_jobs: Vec<String>,
    /// More text: the failed job's log tail, or why the watch was inconclusive.
    pub(super) details: Option<String>,
}

/// Summary, Discord message and the outcome of an action.
pub(super) fn finish_message(
    s: &Settings,
    cfg: &DeployConfig,
    ending: Ending,
    runner: &mut Runner,
) -> Concluded {
    let status = match ending.action {
        Some(Action::RolledBack | Action::RollbackFailed | Action::Superseded) => Status::Negative,
        _ => Status::Success,
    };
    if let Some(act) = ending.action {
        let md = summary(s, cfg, act, &ending, runner);
        if let Err(e) = runner.summary(&md) {
            runner.warning(&format!("could not write the job summary: {e}"));
        }
        if let Some(hook) = &s.webhook {
            let msg = discord_message(s, cfg, act, &ending, runner);
            send_verdict(s, hook, &msg, runner);
        }
        if let Some(github) = &cfg.github {
            let mirrored = match act {
                Action::Validated => Mirrored::Validated,
                Action::RolledBack if ending.earlier => Mirrored::Nothing,
                Action::RolledBack => Mirrored::RolledBack,
                Action::RollbackFailed => Mirrored::RollbackFailed,
                _ => Mirrored::Nothing,
            };
            mirror_verdict(github, s, cfg, mirrored, ending.run_url.as_deref(), runner);
        }
    }
    Concluded {
        action: ending.action,
        conclusion: ending.conclusion,
        run_url: ending.run_url,
        failed_jobs: ending.failed_jobs,
        status,
        error: None,
    }
}

/// Sends the verdict to Discord: an edit of the deploy's message (`message-id`), which pings
/// `mention-role` with a short follow-up on a failure, or a new message when there is none or
/// it was deleted (404).
fn send_verdict(s: &Settings, hook: &Webhook, msg: &Message, runner: &Runner) {
    let client = Client::new();
    let mut sent = discord::send(hook, msg, s.message_id.as_deref(), &client);
    if let Some(id) = s.message_id.as_deref()
        && !sent.sent
        && sent.http_status == Some(404)
    {
        runner.info(&format!(
            "the deploy's Discord message {id} is gone ({}); posting the verdict as a new message",
            sent.failure.as_deref().unwrap_or("404")
        ));
        sent = discord::send(hook, msg, None, &client);
    }
    if !sent.sent {
        runner.warning(&format!(
            "the Discord message was not sent: {}",
            sent.failure.as_deref().unwrap_or("unknown reason")
        ));
    } else if let Some(why) = &sent.failure {
        runner.warning(&format!("Discord: {why}"));
    }
}

/// The job summary of a watch that acted.
fn summary(s: &Settings, cfg: &DeployConfig, act: Action, e: &Ending, runner: &Runner) -> String {
    let link = runner.commit_link(&s.sha);
    let run_link = e
        .run_url
        .as_deref()
        .map(|u| format!(" ([run]({u}))"))
        .unwrap_or_default();
    let headline = headline(act, &link, &run_link, &cfg.environment);
    let mut md = format!("### ci-watcher\n\n{headline}\n");
    if let Some(c) = &e.conclusion {
        md.push_str(&format!(
            "\n- conclusion: `{c}`\n- action: `{}`\n",
            act.as_str()
        ));
    }
    if !e.failed_jobs.is_empty() {
        md.push_str("\n**Failed jobs and steps**\n\n");
        for j in &e.failed_jobs {
            md.push_str(&format!("- {j}\n"));
        }
    }
    if let Some(d) = &e.details {
        md.push_str(&format!("\n```text\n{}\n```\n", d.replace("```", "ʼʼʼ")));
    }
    md
}

/// The Discord message of a watch that acted.
fn discord_message(
    s: &Settings,
    cfg: &DeployConfig,
    act: Action,
    e: &Ending,
    runner: &Runner,
) -> Message {
    let event = match act {
        Action::Validated => Event::CiSucceeded,
        Action::RolledBack => Event::RolledBack,
        Action::RollbackFailed | Action::Superseded => Event::CiFailed,
        _ => Event::Custom,
    };
    let mut msg = Message::new(event);
    msg.environment = Some(cfg.environment.clone());
    msg.sha = Some(s.sha.to_string());
    msg.run_url.clone_from(&e.run_url);
    msg.locale = s.locale;
    msg.mention_role.clone_from(&s.mention_role);
    msg.commit_url = (runner.context().server_url.clone())
        .filter(|_| !s.repository.is_empty())
        .map(|server| commit_url(&server, &s.repository, &s.sha));
    if let Ok(git) = Git::open(&cfg.app_dir, "app-dir")
        && let Ok(subject) = git.subject(&s.sha)
    {
        msg.commit_message = Some(subject);
    }
    let (title, description) = discord_texts(act, s.locale, s.sha.short(), &cfg.environment);
    msg.title = title;
    msg.description = Some(description);
    let mut text = String::new();
    if !e.failed_jobs.is_empty() {
        text.push_str(&e.failed_jobs.join("\n"));
        text.push('\n');
    }
    if let Some(d) = &e.details {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(d);
    }
    msg.details = Some(text).filter(|t| !t.trim().is_empty());
    msg
}

/// The watcher's own use of an [`Action`] (its words are in `services::wording`).
impl Action {
    /// The journal's outcome for it.
    pub(super) fn journal(self) -> JournalOutcome {
        match self {
            Action::Validated => JournalOutcome::Validated,
            Action::RolledBack => JournalOutcome::RolledBack,
            Action::Superseded => JournalOutcome::Superseded,
            Action::TimedOut => JournalOutcome::TimedOut,
            Action::Missing => JournalOutcome::Missing,
            Action::Inconclusive => JournalOutcome::Inconclusive,
            Action::Unhealthy => JournalOutcome::Unhealthy,
            Action::RollbackFailed | Action::Unreachable => {
                JournalOutcome::Other(self.as_str().to_owned())
            }
        }
    }
}
