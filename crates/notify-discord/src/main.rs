//! `notify-discord`: one embed per event, within every Discord limit, never pinging anyone by
//! accident. Exit 0 sent (or not sent with `fail-on-error: false`), 1 not sent with
//! `fail-on-error: true`, 2 bad input (nothing sent).

use std::process::ExitCode;

use lastgood_core::discord::{self, Event, Locale, Message, Webhook};
use lastgood_core::http::Client;
use lastgood_core::inputs::Inputs;
use lastgood_core::runner::Runner;
use lastgood_core::{Error, Result, Status, spec};

fn main() -> ExitCode {
    lastgood_core::cli::run_main(&spec::NOTIFY_DISCORD, run)
}

/// Everything validated before anything is sent.
struct Plan {
    webhook: Webhook,
    message: Message,
    edit: Option<String>,
    fail_on_error: bool,
}

fn plan(inputs: &Inputs, runner: &mut Runner) -> Result<Plan> {
    let webhook = Webhook::new(inputs.required("webhook-url")?)?;
    // The token alone is a secret too (Discord errors or proxies could echo it).
    runner.mask(webhook.token());
    let event: Event = inputs.defaulted("event")?.parse()?;
    let locale: Locale = inputs.defaulted("locale")?.parse()?;
    let mention_role = inputs.get("mention-role").map(str::to_owned);
    if let Some(role) = &mention_role {
        discord::validate_snowflake("mention-role", role)?;
    }
    let edit = inputs.get("message-id").map(str::to_owned);
    if let Some(id) = &edit {
        discord::validate_snowflake("message-id", id)?;
    }
    let fail_on_error = inputs.bool("fail-on-error")?;
    let sha = inputs.get("sha").map(str::to_owned);
    if let Some(sha) = &sha
        && !(4..=64).contains(&sha.len())
    {
        return Err(Error::input(
            "sha",
            format!("`{sha}` is not a commit SHA (4 to 64 hexadecimal digits)"),
        ));
    }
    if let Some(sha) = &sha
        && !sha.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Error::input(
            "sha",
            format!("`{sha}` is not a commit SHA (hexadecimal digits only)"),
        ));
    }
    let get = |name: &str| inputs.get(name).map(str::to_owned);
    if event == Event::Custom && get("title").is_none() && get("description").is_none() {
        return Err(Error::input(
            "title",
            "a `custom` message needs a `title` or a `description`",
        ));
    }
    let commit_url = sha
        .as_deref()
        .and_then(|s| runner.commit_url(&s.to_ascii_lowercase()));
    let message = Message {
        event,
        environment: get("environment"),
        sha,
        author: get("author"),
        commit_message: get("commit-message"),
        url: get("url"),
        run_url: get("run-url").or_else(|| runner.run_url()),
        details: get("details"),
        title: get("title"),
        description: get("description"),
        locale,
        mention_role,
        commit_url,
    };
    Ok(Plan {
        webhook,
        message,
        edit,
        fail_on_error,
    })
}

fn run(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    let plan = plan(inputs, runner)?;
    let event = plan.message.event;
    let what = match &plan.message.environment {
        Some(env) => format!("`{event}` ({env})"),
        None => format!("`{event}`"),
    };
    let verb = if plan.edit.is_some() { "edit" } else { "post" };
    runner.info(&format!("Discord: {verb} {what}"));
    let report = discord::send(
        &plan.webhook,
        &plan.message,
        plan.edit.as_deref(),
        &Client::new(),
    );
    runner.output("sent", if report.sent { "true" } else { "false" })?;
    runner.output("message-id", report.message_id.as_deref().unwrap_or(""))?;
    runner.output(
        "http-status",
        &report
            .http_status
            .map(|s| s.to_string())
            .unwrap_or_default(),
    )?;
    if report.sent {
        let id = report
            .message_id
            .as_deref()
            .map(|id| format!(", message {id}"))
            .unwrap_or_default();
        let done = if plan.edit.is_some() {
            "edited"
        } else {
            "sent"
        };
        runner.info(&format!("Discord: {what} {done}{id}"));
        if let Some(why) = &report.failure {
            runner.warning(&format!("Discord message {what}: {why}"));
        }
        runner.summary(&format!("📣 Discord: {what} {done}{id}"))?;
        return Ok(Status::Success);
    }
    let why = report
        .failure
        .unwrap_or_else(|| "no answer from Discord".to_owned());
    let line = format!("Discord message {what} not sent: {why}");
    runner.summary(&format!("📣 {line}"))?;
    if plan.fail_on_error {
        runner.error(&line);
        Ok(Status::Negative)
    } else {
        runner.warning(&line);
        Ok(Status::Success)
    }
}
