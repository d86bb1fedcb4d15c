//! Snapshots of what is the contract: `--help`, and the messages as the Discord stand-in
//! receives them, for a few events in both languages (see `lastgood_testkit::snap` for the
//! redactions and how to accept a change).

use lastgood_testkit::discord::DiscordStandIn;
use lastgood_testkit::snap::Redactions;

use crate::common::{SHA, cmd};

#[test]
fn help() {
    let discord = DiscordStandIn::start();
    let ran = cmd(&discord)
        .no_input("webhook-url")
        .env("COLUMNS", "100")
        .arg("--help")
        .expects(0)
        .run();
    Redactions::new().bind(|| insta::assert_snapshot!("help", ran.stdout));
}

#[test]
fn messages_of_a_few_events_in_english_and_french() {
    let discord = DiscordStandIn::start();
    let events = [
        "deploy-started",
        "deploy-succeeded",
        "rolled-back",
        "ci-failed",
        "health-down",
    ];
    for locale in ["en", "fr"] {
        for event in events {
            cmd(&discord)
                .input("event", event)
                .input("locale", locale)
                .input("environment", "preprod")
                .input("sha", SHA)
                .input("author", "@user")
                .input("commit-message", "Fix bug analysis\n\nbody")
                .input("url", "https://mangetamain.example/")
                .input("run-url", "https://github.com/o/r/actions/runs/42")
                .input("details", "FAILED tests/test_x.py::test_y")
                .input("mention-role", "123456789012345678")
                .expects(0)
                .run();
        }
    }
    let accepted = discord.accepted();
    assert_eq!(accepted.len(), 2 * events.len());
    Redactions::new().bind(|| {
        for (i, body) in accepted.iter().enumerate() {
            let locale = if i < events.len() { "en" } else { "fr" };
            let name = format!("discord-{}-{locale}", events[i % events.len()]);
            insta::assert_snapshot!(name, serde_json::to_string_pretty(body).unwrap());
        }
    });
}
