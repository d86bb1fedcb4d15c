//! Snapshots of what is the contract: `--help`, the job summaries of a validation and of a
//! rollback, the Discord message as Discord receives it, and the journal's lines (see
//! `lastgood_testkit::snap` for the redactions and how to accept a change).

use lastgood_testkit::discord::DiscordStandIn;
use lastgood_testkit::github::{Job, Run};
use lastgood_testkit::snap::Redactions;

use crate::common::{Scenario, watcher};

#[test]
fn help() {
    let ran = watcher()
        .env("COLUMNS", "100")
        .arg("--help")
        .expects(0)
        .run();
    Redactions::new().bind(|| insta::assert_snapshot!("help", ran.stdout));
}

/// The redactions of a scenario: its SHAs, directories and servers.
fn redactions(sc: &Scenario) -> Redactions {
    Redactions::new()
        .sha(&sc.validated, "validated")
        .sha(&sc.deployed, "deployed")
        .path(sc.fx.tmp.path(), "[fixture]")
        .path(sc.state_dir(), "[state]")
        .literal(&sc.gh.url(), "[github]")
}

fn journal(sc: &Scenario) -> String {
    std::fs::read_to_string(sc.state_dir().join("journal.jsonl")).unwrap()
}

#[test]
fn summary_and_journal_of_a_validation() {
    let sc = Scenario::new();
    sc.gh
        .add_run(Run::completes(41, &sc.deployed, "success", 2));
    let ran = sc.watch();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    redactions(&sc).bind(|| {
        insta::assert_snapshot!("summary-validated", ran.summary);
        insta::assert_snapshot!("journal-validated", journal(&sc));
    });
}

/// A failed CI run of the deployed SHA, watched with Discord messages in `locale`: the watcher's
/// run, the scenario, and the message as Discord received it.
fn rolled_back(locale: &str) -> (lastgood_testkit::run::Ran, Scenario, String) {
    let sc = Scenario::new();
    let discord = DiscordStandIn::start();
    sc.gh
        .add_run(Run::completes(42, &sc.deployed, "failure", 1));
    sc.gh.set_jobs(
        42,
        vec![
            Job::new(420, "lint", "success").step("Run clippy", "success"),
            Job::new(421, "test", "failure")
                .step("Set up job", "success")
                .step("Run tests", "failure"),
        ],
    );
    sc.gh.set_log(
        421,
        "2026-11-26T15:00:01.0000000Z test checkout::pays ... FAILED\n\
         2026-11-26T15:00:02.0000000Z assertion failed: total == 42\n\
         2026-11-26T15:00:03.0000000Z ##[error]Process completed with exit code 101.\n",
    );
    let hook = discord.webhook_url();
    let ran = sc
        .cmd_with(&sc.deployed, &[("webhook-url", &hook), ("locale", locale)])
        .expects(1)
        .run();
    let sent = discord.accepted();
    assert_eq!(sent.len(), 1, "one message per verdict");
    let message = serde_json::to_string_pretty(&sent[0]).unwrap();
    (ran, sc, message)
}

#[test]
fn summary_journal_and_discord_message_of_a_rollback() {
    let (ran, sc, en) = rolled_back("en");
    redactions(&sc).bind(|| {
        insta::assert_snapshot!("summary-rolled-back", ran.summary);
        insta::assert_snapshot!("journal-rolled-back", journal(&sc));
        insta::assert_snapshot!("discord-rolled-back-en", en);
    });
    let (_, sc, fr) = rolled_back("fr");
    redactions(&sc).bind(|| insta::assert_snapshot!("discord-rolled-back-fr", fr));
}
