//! Every event, in both languages, is accepted; wording, links, mentions.

use lastgood_core::discord::Event;
use lastgood_testkit::discord::DiscordStandIn;
use serde_json::json;

use crate::common::{SHA, cmd, embed};

#[test]
fn every_event_in_english_and_french_is_accepted() {
    let discord = DiscordStandIn::start();
    let mut expected_ids = Vec::new();
    for locale in ["en", "fr"] {
        for event in Event::ALL {
            let run = cmd(&discord)
                .input("event", event.as_str())
                .input("locale", locale)
                .input("environment", "preprod")
                .input("sha", SHA)
                .input("author", "@user")
                .input("commit-message", "Fix bug analysis\n\nbody")
                .input("url", "https://mangetamain.example/")
                .input("run-url", "https://github.com/o/r/actions/runs/42")
                .input("details", "FAILED tests/test_x.py::test_y")
                .input("title", if event == Event::Custom { "Hello" } else { "" })
                .input("mention-role", "123456789012345678")
                .run();
            assert_eq!(run.code, 0, "{event} {locale}: {}", run.stderr);
            assert_eq!(run.output("sent"), Some("true"));
            assert_eq!(run.output("http-status"), Some("200"));
            let id = run.output("message-id").unwrap().to_owned();
            assert!(
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
                "{id}"
            );
            expected_ids.push(id);
            assert!(run.summary.contains(event.as_str()), "{}", run.summary);
        }
    }
    let accepted = discord.accepted();
    assert_eq!(accepted.len(), 20);
    assert_eq!(discord.requests().len(), 20, "no retries, no 400s");
    let messages = discord.messages();
    for id in &expected_ids {
        assert!(messages.contains_key(id), "{id}");
    }
    for (i, body) in accepted.iter().enumerate() {
        let event = Event::ALL[i % 10];
        // Role pinged on failure events only, and nothing else ever.
        if event.is_failure() {
            assert_eq!(body["content"], "<@&123456789012345678>");
            assert_eq!(
                body["allowed_mentions"],
                json!({"parse": [], "roles": ["123456789012345678"]})
            );
        } else {
            assert!(body.get("content").is_none(), "{body}");
            assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        }
        let e = embed(body);
        assert_eq!(e["footer"]["text"], "lastgood");
        assert!(e["color"].as_u64().is_some());
        if event != Event::Custom {
            assert!(e["title"].as_str().unwrap().contains("PREPROD"), "{e}");
        }
    }
    // The seed's French wording.
    let fr_started = embed(&accepted[10]);
    assert_eq!(fr_started["title"], "🚀 PREPROD - Déploiement démarré");
    assert!(
        fr_started["description"]
            .as_str()
            .unwrap()
            .starts_with("⏳ CI en cours de vérification...")
    );
    let fields = fr_started["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Auteur" && f["value"] == "@user")
    );
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "SHA" && f["value"] == "`acfdb42`")
    );
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Message" && f["value"] == "Fix bug analysis")
    );
    assert_eq!(embed(&accepted[0])["title"], "🚀 PREPROD — Deploy started");
    // Colours: green success, red failure, orange rollback.
    assert_eq!(embed(&accepted[1])["color"], 0x2E_CC_71);
    assert_eq!(embed(&accepted[2])["color"], 0xE7_4C_3C);
    assert_eq!(embed(&accepted[3])["color"], 0xE6_7E_22);
}

#[test]
fn links_come_from_the_runner_variables() {
    let discord = DiscordStandIn::start();
    let run = cmd(&discord)
        .input("event", "deploy-succeeded")
        .input("environment", "production")
        .input("sha", SHA)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_RUN_ID", "99")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = &discord.accepted()[0];
    let fields = embed(body)["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["value"] == format!("[`acfdb42`](https://github.com/o/r/commit/{SHA})"))
    );
    assert!(
        fields
            .iter()
            .any(|f| f["value"] == "[View the run](https://github.com/o/r/actions/runs/99)")
    );
    assert_eq!(embed(body)["description"], "PREPROD ✅ → PROD ✅");
}

#[test]
fn a_message_is_edited_with_patch() {
    let discord = DiscordStandIn::start();
    let id = discord.seed_message("deploy started");
    let run = cmd(&discord)
        .input("event", "deploy-succeeded")
        .input("environment", "preprod")
        .input("message-id", &id)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("message-id"), Some(id.as_str()));
    let reqs = discord.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "PATCH");
    assert!(reqs[0].path().ends_with(&format!("/messages/{id}")));
    assert_eq!(reqs[0].query("wait"), None);
    let msg = &discord.messages()[&id];
    assert!(
        msg["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Deploy succeeded")
    );
}

#[test]
fn a_thread_id_in_the_url_is_kept() {
    let discord = DiscordStandIn::start();
    let url = format!("{}?thread_id=555", discord.webhook_url());
    let run = crate::common::cmd_with_url(&url)
        .input("event", "ci-succeeded")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reqs = discord.requests();
    assert_eq!(reqs[0].query("thread_id"), Some("555"));
    assert_eq!(reqs[0].query("wait"), Some("true"));
    assert_eq!(
        discord.messages().values().next().unwrap()["channel_id"],
        "555"
    );
}

#[test]
fn in_a_runner_the_webhook_is_masked_before_anything_else() {
    let discord = DiscordStandIn::start();
    let run = cmd(&discord)
        .input("event", "deploy-failed")
        .input("fail-on-error", "true")
        .env("GITHUB_ACTIONS", "true")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = run.stdout.lines().next().unwrap_or("");
    assert_eq!(first, format!("::add-mask::{}", discord.webhook_url()));
    let second = run.stdout.lines().nth(1).unwrap_or("");
    assert_eq!(
        second,
        format!("::add-mask::{}", lastgood_testkit::discord::WEBHOOK_TOKEN)
    );
}

#[test]
fn json_prints_the_outputs_and_help_lists_the_inputs() {
    let discord = DiscordStandIn::start();
    let run = cmd(&discord)
        .input("event", "health-recovered")
        .arg("--json")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["sent"], "true");
    assert_eq!(v["http-status"], "200");
    assert!(v["message-id"].as_str().is_some_and(|s| !s.is_empty()));

    let run = cmd(&discord).arg("--help").run();
    assert_eq!(run.code, 0);
    for input in [
        "--webhook-url",
        "--mention-role",
        "--message-id",
        "INPUT_FAIL_ON_ERROR",
    ] {
        assert!(run.stdout.contains(input), "{input}");
    }
    assert_eq!(discord.requests().len(), 1);
}

#[test]
fn an_edit_to_a_failure_pings_the_role_with_a_new_message() {
    // Discord never notifies mentions added by an edit: the role is pinged by a short new message.
    let discord = DiscordStandIn::start();
    let id = discord.seed_message("deploy started");
    let run = cmd(&discord)
        .input("event", "deploy-failed")
        .input("environment", "preprod")
        .input("message-id", &id)
        .input("mention-role", "123456789012345678")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("message-id"), Some(id.as_str()));
    let reqs = discord.requests();
    assert_eq!(
        reqs.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        ["PATCH", "POST"]
    );
    let ping = &discord.accepted()[1];
    assert!(
        ping["content"]
            .as_str()
            .unwrap()
            .starts_with("<@&123456789012345678>"),
        "{ping}"
    );
    assert_eq!(
        ping["allowed_mentions"],
        json!({"parse": [], "roles": ["123456789012345678"]})
    );

    // A success edit, or a failure edit without a role, pings nobody: one request.
    for (event, role) in [
        ("deploy-succeeded", "123456789012345678"),
        ("deploy-failed", ""),
    ] {
        let discord = DiscordStandIn::start();
        let id = discord.seed_message("deploy started");
        let run = cmd(&discord)
            .input("event", event)
            .input("message-id", &id)
            .input("mention-role", role)
            .run();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(discord.requests().len(), 1, "{event}");
    }
}

#[test]
fn a_failed_role_ping_after_an_edit_is_a_warning() {
    use lastgood_testkit::server::{Reply, TestServer};
    let app = TestServer::start(|r| {
        if r.method == "PATCH" {
            Reply::json(200, &json!({"id": "42"}))
        } else {
            Reply::json(404, &json!({"message": "Unknown Webhook", "code": 10015}))
        }
    });
    let url = format!("{}/api/webhooks/1/pingFailTokenXYZ", app.url());
    let run = crate::common::cmd_with_url(&url)
        .input("event", "ci-failed")
        .input("message-id", "42")
        .input("mention-role", "7")
        .input("fail-on-error", "true")
        .run();
    assert_eq!(run.code, 0, "the edit was sent: {}", run.stderr);
    assert_eq!(run.output("sent"), Some("true"));
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("could not be pinged"),
        "{}",
        run.stderr
    );
    assert_eq!(app.requests().len(), 2);
}

/// The seed's production message, word for word, from what cd-prod.yml passes (`environment:
/// prod`) and the login the workflows pass as author.
#[test]
fn the_seeds_production_message_in_french() {
    let discord = DiscordStandIn::start();
    let run = cmd(&discord)
        .input("event", "deploy-succeeded")
        .input("locale", "fr")
        .input("environment", "prod")
        .input("sha", SHA)
        .input("author", "user")
        .input("url", "https://backtothefuturekitchen.lafrance.io/")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let accepted = discord.accepted();
    let e = embed(&accepted[0]);
    assert_eq!(e["title"], "🎯 PRODUCTION - Déploiement réussi ✅");
    assert_eq!(e["description"], "PREPROD ✅ → PROD ✅");
    let field = |name: &str| {
        e["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(field("SHA").as_deref(), Some("`acfdb42`"));
    assert_eq!(field("Auteur").as_deref(), Some("@user"));
    assert_eq!(
        field("URL").as_deref(),
        Some("https://backtothefuturekitchen.lafrance.io/")
    );
}
