//! Bad inputs: exit 2, nothing sent, the input named, the webhook never echoed.

use lastgood_testkit::discord::DiscordStandIn;

use crate::common::{cmd, cmd_with_url};

#[test]
fn bad_inputs_exit_2_and_send_nothing() {
    let discord = DiscordStandIn::start();
    let cases: &[(&str, &str, &str)] = &[
        ("event", "deploy_started", "event"),
        ("locale", "de", "locale"),
        ("mention-role", "@everyone", "mention-role"),
        ("message-id", "abc", "message-id"),
        ("fail-on-error", "maybe", "fail-on-error"),
        ("sha", "not-a-sha", "sha"),
    ];
    for (name, value, named) in cases {
        let run = cmd(&discord)
            .input("event", "ci-failed")
            .input(name, value)
            .run();
        assert_eq!(run.code, 2, "{name}={value}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{name}: {}", run.stderr);
        assert_eq!(run.github_output, "", "no outputs on bad input");
    }
    let run = cmd(&discord).input("event", "custom").run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("title"), "{}", run.stderr);
    assert!(discord.requests().is_empty());
}

#[test]
fn a_malformed_or_missing_webhook_is_refused_without_echo() {
    let discord = DiscordStandIn::start();
    for url in [
        "ftp://127.0.0.1/api/webhooks/1/malformedSecretTok".to_owned(),
        format!("{}/api/webhooks/notanid/malformedSecretTok", discord.url()),
        format!("{}/api/hooks/1/malformedSecretTok", discord.url()),
        "malformedSecretTok".to_owned(),
    ] {
        let run = cmd_with_url(&url)
            .input("event", "ci-failed")
            .env("GITHUB_ACTIONS", "true")
            .run();
        assert_eq!(run.code, 2, "{}", run.stderr);
        let visible: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        assert!(
            !visible.concat().contains("malformedSecretTok"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("webhook-url"), "{}", run.stdout);
        for text in [&run.stderr, &run.github_output, &run.summary] {
            assert!(!text.contains("malformedSecretTok"), "{text}");
        }
    }
    let run = cmd_with_url("").input("event", "ci-failed").run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("webhook-url"), "{}", run.stderr);
    assert!(discord.requests().is_empty());
}

#[test]
fn usage_errors_never_echo_a_misplaced_webhook() {
    // A webhook given without its flag, as the value of a flag that takes none, or swallowed by
    // `--fail-on-error`: exit 2, the mistake explained, the URL never repeated.
    let discord = DiscordStandIn::start();
    let url = discord.webhook_url();
    let cases: Vec<Vec<String>> = vec![
        vec![url.clone()],
        vec!["--event".into(), "ci-failed".into(), url.clone()],
        vec![format!("--json={url}")],
        vec!["--".into(), url.clone()],
        vec!["--fail-on-error".into(), url.clone()],
    ];
    for args in cases {
        let run = cmd(&discord).input("event", "ci-failed").args(&args).run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("unexpected") || run.stderr.contains("fail-on-error"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // A flag typo is still named.
    let run = cmd(&discord)
        .arg("--webhook-ur=https://example.invalid/x")
        .run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("'--webhook-ur'"), "{}", run.stderr);
    assert!(discord.requests().is_empty());
}
