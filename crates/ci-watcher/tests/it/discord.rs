//! Discord messages: the failure message names the failed jobs and steps and quotes the log;
//! a Discord failure never changes the verdict.

use lastgood_testkit::discord::{DiscordStandIn, WEBHOOK_TOKEN, unknown_webhook};
use lastgood_testkit::github::{Job, Run};

use crate::common::Scenario;

#[test]
fn the_failure_message_names_jobs_steps_and_quotes_the_log() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    let hook = discord.webhook_url();
    sc.gh
        .add_run(Run::completes(42, &sc.deployed, "failure", 0));
    sc.gh.set_jobs(
        42,
        vec![Job::new(421, "test", "failure").step("Run tests", "failure")],
    );
    sc.gh.set_log(
        421,
        "2026-11-26T15:00:01.0000000Z thread 'pays' panicked: total == 42\n\
         2026-11-26T15:00:02.0000000Z ##[error]Process completed with exit code 101.\n",
    );
    let ran = sc
        .cmd_with(&sc.deployed, &[("webhook-url", &hook), ("locale", "fr")])
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let sent = discord.accepted();
    assert_eq!(sent.len(), 1, "one message per verdict");
    let text = sent[0].to_string();
    assert!(text.contains("test / Run tests"), "{text}");
    assert!(text.contains("panicked: total == 42"), "{text}");
    assert!(text.contains("/actions/runs/42"), "{text}");
    assert!(text.contains("PREPROD"), "{text}");
    for out in [&ran.stdout, &ran.stderr, &sc.all_files()] {
        assert!(!out.contains(WEBHOOK_TOKEN), "webhook leaked: {out}");
    }
}

#[test]
fn a_discord_failure_is_only_a_warning() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    discord.force(unknown_webhook());
    let hook = discord.webhook_url();
    sc.gh
        .add_run(Run::completes(43, &sc.deployed, "success", 0));
    let ran = sc.cmd_with(&sc.deployed, &[("webhook-url", &hook)]).run();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "validated");
    assert!(
        ran.stderr
            .contains("warning: the Discord message was not sent"),
        "{}",
        ran.stderr
    );
    assert_eq!(sc.last_validated(), sc.deployed);
}

#[test]
fn the_restart_of_a_rollback_never_sees_the_token_or_the_webhook() {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    sc.gh
        .add_run(Run::completes(44, &sc.deployed, "failure", 0));
    // As a composite action passes inputs: through the environment. The restart dumps its own.
    let ran = sc
        .cmd_with(&sc.deployed, &[("restart-command", "env")])
        .env("INPUT_WEBHOOK_URL", discord.webhook_url())
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    let restart_log =
        std::fs::read_to_string(sc.state_dir().join("logs/restart.log")).unwrap_or_default();
    assert!(restart_log.contains("LASTGOOD_SHA="), "{restart_log}");
    for out in [&ran.stdout, &ran.stderr, &sc.all_files()] {
        assert!(!out.contains(WEBHOOK_TOKEN), "webhook leaked: {out}");
        assert!(
            !out.contains(lastgood_testkit::github::TOKEN),
            "token leaked: {out}"
        );
    }
}

#[test]
fn the_restart_of_a_rollback_never_sees_the_default_token() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(45, &sc.deployed, "failure", 0));
    // The action also passes the job's token as GITHUB_TOKEN, the watcher's default token.
    let ran = sc
        .cmd_with(&sc.deployed, &[("restart-command", "env")])
        .env_remove("INPUT_TOKEN")
        .env("GITHUB_TOKEN", lastgood_testkit::github::TOKEN)
        .run();
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.out("action"), "rolled-back");
    let restart_log =
        std::fs::read_to_string(sc.state_dir().join("logs/restart.log")).unwrap_or_default();
    assert!(restart_log.contains("LASTGOOD_SHA="), "{restart_log}");
    assert!(
        !restart_log.contains(lastgood_testkit::github::TOKEN),
        "token leaked to the restart: {restart_log}"
    );
}
