//! Rate limits, server errors, deleted webhooks, refusals and network failures.

use std::time::Duration;

use lastgood_testkit::discord::{DiscordStandIn, rate_limited, server_error, unknown_webhook};
use lastgood_testkit::server::{Reply, free_port};

use crate::common::{cmd, cmd_with_url};

#[test]
fn a_429_is_waited_out_then_retried() {
    let discord = DiscordStandIn::start();
    discord.force(rate_limited(0.2));
    let run = cmd(&discord).input("event", "ci-succeeded").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("true"));
    assert_eq!(run.output("http-status"), Some("200"));
    let reqs = discord.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(200),
        "retry_after was not honoured"
    );
    assert_eq!(discord.accepted().len(), 1);
}

#[test]
fn a_429_without_a_body_uses_the_retry_after_header() {
    let discord = DiscordStandIn::start();
    discord.force(Reply::status(429).header("Retry-After", "0.3"));
    let run = cmd(&discord).input("event", "ci-succeeded").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reqs = discord.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(300));
}

#[test]
fn repeated_429s_give_up_after_bounded_tries() {
    let discord = DiscordStandIn::start();
    for _ in 0..10 {
        discord.force(rate_limited(0.1));
    }
    let run = cmd(&discord)
        .input("event", "ci-succeeded")
        .input("fail-on-error", "true")
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(discord.requests().len(), 4);
    assert!(run.stderr.contains("rate-limited"), "{}", run.stderr);
}

#[test]
fn a_429_asking_for_too_long_is_reported_not_waited() {
    let discord = DiscordStandIn::start();
    discord.force(rate_limited(120.0));
    let run = cmd(&discord).input("event", "ci-succeeded").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("false"));
    assert_eq!(run.output("http-status"), Some("429"));
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("429"),
        "{}",
        run.stderr
    );
    assert_eq!(discord.requests().len(), 1);
}

#[test]
fn server_errors_are_retried() {
    let discord = DiscordStandIn::start();
    discord.force(server_error(502));
    let run = cmd(&discord).input("event", "deploy-started").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("true"));
    assert_eq!(discord.requests().len(), 2);
}

#[test]
fn persistent_server_errors_give_up_after_bounded_tries() {
    let discord = DiscordStandIn::start();
    for _ in 0..10 {
        discord.force(server_error(503));
    }
    let run = cmd(&discord)
        .input("event", "deploy-started")
        .input("fail-on-error", "true")
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("false"));
    assert_eq!(run.output("http-status"), Some("503"));
    assert_eq!(discord.requests().len(), 4);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
}

#[test]
fn a_deleted_webhook_is_tried_once_and_warned_about() {
    let discord = DiscordStandIn::start();
    // A token the stand-in does not know: Discord's answer for a deleted webhook.
    let url = format!(
        "{}/api/webhooks/1187654321098765432/deletedTokenXYZ123",
        discord.url()
    );
    let run = cmd_with_url(&url)
        .input("event", "ci-failed")
        .env("GITHUB_ACTIONS", "true")
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(discord.requests().len(), 1);
    assert_eq!(run.output("sent"), Some("false"));
    assert_eq!(run.output("http-status"), Some("404"));
    assert_eq!(run.output("message-id"), Some(""));
    let warning = run
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning::"))
        .unwrap_or_else(|| panic!("no ::warning:: in {}", run.stdout));
    assert!(warning.contains("webhook was deleted"), "{warning}");
    assert!(warning.contains("update the secret"), "{warning}");
    assert!(run.summary.contains("not sent"), "{}", run.summary);

    let run = cmd_with_url(&url)
        .input("event", "ci-failed")
        .input("fail-on-error", "true")
        .env("GITHUB_ACTIONS", "true")
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("::error::"), "{}", run.stdout);
    assert_eq!(discord.requests().len(), 2);
}

#[test]
fn a_forced_404_is_never_retried() {
    let discord = DiscordStandIn::start();
    discord.force(unknown_webhook());
    let run = cmd(&discord).input("event", "health-down").run();
    assert_eq!(run.code, 0);
    assert_eq!(discord.requests().len(), 1);
    assert!(run.stderr.contains("webhook was deleted"), "{}", run.stderr);
}

#[test]
fn an_unknown_message_to_edit_is_reported() {
    let discord = DiscordStandIn::start();
    let run = cmd(&discord)
        .input("event", "deploy-succeeded")
        .input("message-id", "1234")
        .run();
    assert_eq!(run.code, 0);
    assert_eq!(discord.requests().len(), 1);
    assert_eq!(discord.requests()[0].method, "PATCH");
    assert!(run.stderr.contains("Unknown Message"), "{}", run.stderr);
}

#[test]
fn a_400_reports_discords_message_and_is_not_retried() {
    let discord = DiscordStandIn::start();
    let fixture = serde_json::json!({
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}
    });
    discord.force(Reply::json(400, &fixture));
    let run = cmd(&discord)
        .input("event", "docs-failed")
        .input("fail-on-error", "true")
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(discord.requests().len(), 1);
    assert_eq!(run.output("http-status"), Some("400"));
    assert!(
        run.stderr.contains("Invalid Form Body") && run.stderr.contains("50035"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unreachable_webhook_is_a_warning_without_the_url() {
    let url = format!(
        "http://127.0.0.1:{}/api/webhooks/42/unreachableSecretTok",
        free_port()
    );
    let run = cmd_with_url(&url).input("event", "ci-failed").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("false"));
    assert_eq!(run.output("http-status"), Some(""));
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);

    let run = cmd_with_url(&url)
        .input("event", "ci-failed")
        .input("fail-on-error", "true")
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn an_error_echoing_the_token_is_scrubbed() {
    let discord = DiscordStandIn::start();
    let echo = serde_json::json!({
        "code": 50035,
        "message": format!("Invalid Form Body for /api/webhooks/1187654321098765432/{}", lastgood_testkit::discord::WEBHOOK_TOKEN),
    });
    discord.force(Reply::json(400, &echo));
    let run = cmd(&discord).input("event", "ci-failed").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Invalid Form Body"), "{}", run.stderr);
}

#[test]
fn the_webhook_quoted_in_the_details_is_not_published() {
    let discord = DiscordStandIn::start();
    let details = format!("curl -X POST {}\nerror", discord.webhook_url());
    let run = cmd(&discord)
        .input("event", "ci-failed")
        .input("details", &details)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let body = discord.accepted()[0].to_string();
    assert!(
        !body.contains(lastgood_testkit::discord::WEBHOOK_TOKEN),
        "{body}"
    );
    assert!(body.contains("curl -X POST"), "{body}");
}

#[test]
fn an_absurd_retry_after_is_reported_not_a_crash() {
    // A finite but enormous wait (from Discord's body or the header) must neither panic nor be
    // waited: the message is reported as not sent, and fail-on-error decides the exit code.
    let discord = DiscordStandIn::start();
    discord.force(Reply::json(
        429,
        &serde_json::json!({"message": "You are being rate limited.", "retry_after": 1e300, "global": true}),
    ));
    let run = cmd(&discord).input("event", "ci-succeeded").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("false"));
    assert_eq!(run.output("http-status"), Some("429"));
    assert!(run.stderr.contains("rate-limited"), "{}", run.stderr);
    assert_eq!(discord.requests().len(), 1);

    let discord = DiscordStandIn::start();
    discord.force(Reply::status(429).header("Retry-After", "1e300"));
    let run = cmd(&discord).input("event", "ci-succeeded").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("false"));
    assert_eq!(discord.requests().len(), 1);

    let discord = DiscordStandIn::start();
    discord.force(server_error(503).header("Retry-After", "1e300"));
    let run = cmd(&discord).input("event", "ci-succeeded").run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.output("sent"), Some("true"), "{}", run.stderr);
}
