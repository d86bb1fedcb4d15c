//! What the probe sees and how it retries.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use lastgood_testkit::run::Ran;
use lastgood_testkit::server::{Reply, TestServer, free_port};
use serde_json::json;

use crate::run_json;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Probes `app` with at most `attempts` tries and `extra` arguments; (exit code, outputs, stderr).
fn probe(app: &TestServer, attempts: u32, extra: &[&str]) -> Ran {
    let url = app.url();
    let attempts = attempts.to_string();
    let args = [
        &["--url", url.as_str(), "--attempts", attempts.as_str()][..],
        extra,
    ]
    .concat();
    run_json(&args)
}

#[test]
fn healthy_on_the_first_try() {
    let app = TestServer::sequence(vec![Reply::text(200, "<title>Mangetamain</title>")]);
    let url = app.url();
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &url, "--expect-body", "Mangetamain"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["healthy"], "true");
    assert_eq!(out["status"], "200");
    assert_eq!(out["attempts"], "1");
    assert_eq!(out["failure-reason"], "");
    assert_eq!(app.requests().len(), 1);
    assert!(
        stderr.contains("try 1/3") && stderr.contains("ok, status 200"),
        "{stderr}"
    );
}

#[test]
fn an_app_that_comes_up_late_on_the_same_port_is_seen() {
    // The server starts only once the probe has been refused, whatever the machine's speed.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/health");
    let mut child = crate::health_probe()
        .json()
        .into_command()
        .args(["--url", &url, "--attempts", "50", "--interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("connection refused") {
        assert_ne!(
            stderr.read_line(&mut log).unwrap(),
            0,
            "no refusal seen: {log}"
        );
    }
    let app = TestServer::start_on(port, |_| Reply::text(200, "up"));
    stderr.read_to_string(&mut log).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{log}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["healthy"], "true");
    assert!(log.contains("ok, status 200"), "{log}");
    assert_eq!(app.requests()[0].path(), "/health");
}

#[test]
fn unavailable_twice_then_up() {
    let app = TestServer::sequence(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::text(200, "ok"),
    ]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &app.url(), "--attempts", "5"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["status"], "200");
    assert_eq!(
        app.requests().len(),
        3,
        "stopped at the first 200: {stderr}"
    );
    // A quick 503 is retried while waiting for try 2, without spending attempts.
    assert!(stderr.contains("waiting 100ms before try 2"), "{stderr}");
    let attempts: u32 = out["attempts"].as_str().unwrap().parse().unwrap();
    assert!(attempts <= 3, "{attempts}");
}

#[test]
fn a_bad_gateway_that_lasts_is_unhealthy() {
    let app = TestServer::sequence(vec![Reply::status(502)]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = probe(&app, 2, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["healthy"], "false");
    assert_eq!(out["status"], "502");
    assert_eq!(out["attempts"], "2");
    assert_eq!(out["failure-reason"], "status 502 (expected 200)");
    // Two tries, and quick retries in the 100ms between them: never more than one per 25ms.
    let seen = app.requests().len();
    assert!((2..=2 + 4).contains(&seen), "{seen} requests");
    assert!(stderr.contains("is unhealthy after 2 tries"), "{stderr}");
}

#[test]
fn a_slow_app_times_out() {
    let app = TestServer::sequence(vec![Reply::text(200, "late").delay(Duration::from_secs(3))]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = probe(&app, 1, &["--timeout", "300ms"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["failure-reason"], "timed out after 300ms");
    assert_eq!(out["status"], "");
}

#[test]
fn the_wrong_body_is_named() {
    let app = TestServer::sequence(vec![Reply::text(200, "<h1>Welcome to nginx!</h1>")]);
    let Ran {
        code, outputs: out, ..
    } = probe(&app, 2, &["--expect-body", "Mangetamain"]);
    assert_eq!(code, 1);
    assert_eq!(out["failure-reason"], "body lacks \"Mangetamain\"");
    assert_eq!(out["status"], "200");
    let seen = app.requests().len();
    assert!(
        (2..=2 + 4).contains(&seen),
        "a body mismatch is retried: {seen}"
    );
}

#[test]
fn json_assertions_pass_and_fail() {
    let app = TestServer::sequence(vec![Reply::json(
        200,
        &json!({"status": "ok", "checks": {"db": true}, "workers": 3}),
    )]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&[
        "--url",
        &app.url(),
        "--expect-json",
        "/status == \"ok\"\n/checks/db == true\n/workers != 0\n/checks",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["healthy"], "true");

    let Ran {
        code, outputs: out, ..
    } = probe(&app, 1, &["--expect-json", "/status == \"starting\""]);
    assert_eq!(code, 1);
    assert_eq!(
        out["failure-reason"],
        "/status is \"ok\", expected \"starting\""
    );

    let Ran {
        code, outputs: out, ..
    } = probe(&app, 1, &["--expect-json", "/uptime"]);
    assert_eq!(code, 1);
    assert_eq!(out["failure-reason"], "/uptime is missing");
}

#[test]
fn a_json_health_that_is_not_json() {
    let app = TestServer::sequence(vec![Reply::text(200, "<html>ok</html>")]);
    let Ran {
        code, outputs: out, ..
    } = probe(&app, 1, &["--expect-json", "/status == \"ok\""]);
    assert_eq!(code, 1);
    assert_eq!(out["failure-reason"], "body is not JSON");
}

#[test]
fn the_version_is_found_in_full_or_short() {
    for body in [
        format!("{{\"version\":\"{SHA}\"}}"),
        "build 0123456 (main)".to_owned(),
    ] {
        let app = TestServer::sequence(vec![Reply::text(200, body.clone())]);
        let Ran {
            code,
            outputs: out,
            stderr,
            ..
        } = run_json(&["--url", &app.url(), "--expect-version", SHA]);
        assert_eq!(code, 0, "{body}: {stderr}");
        assert_eq!(out["healthy"], "true");
    }
}

#[test]
fn the_old_version_still_answering_is_unhealthy() {
    let app = TestServer::sequence(vec![Reply::text(200, "build fedcba9 (main)")]);
    let Ran {
        code, outputs: out, ..
    } = probe(&app, 2, &["--expect-version", SHA]);
    assert_eq!(code, 1);
    assert_eq!(
        out["failure-reason"],
        "version 0123456 not found in the body"
    );
}

#[test]
fn every_url_must_pass_and_the_failing_one_is_named() {
    let good = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let bad = TestServer::sequence(vec![Reply::status(500)]);
    let urls = format!("{}/a\n{}/b\n", good.url(), bad.url());
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &urls, "--attempts", "2"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        out["failure-reason"],
        format!("{}/b: status 500 (expected 200)", bad.url())
    );
    assert_eq!(out["status"], "500");
    assert_eq!(
        good.requests().len(),
        bad.requests().len(),
        "every URL is probed on every try"
    );
    assert!(bad.requests().len() >= 2);

    let other = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let urls = format!("{}\n{}", good.url(), other.url());
    let Ran {
        code, outputs: out, ..
    } = run_json(&["--url", &urls]);
    assert_eq!(code, 0);
    assert_eq!(out["healthy"], "true");
}

#[test]
fn redirects_are_statuses_not_followed() {
    let app = TestServer::start(|r| {
        if r.path() == "/" {
            Reply::status(302).header("Location", "/login")
        } else {
            Reply::text(200, "login page")
        }
    });
    let Ran {
        code, outputs: out, ..
    } = run_json(&["--url", &app.url(), "--attempts", "1"]);
    assert_eq!(code, 1);
    let reason = out["failure-reason"].as_str().unwrap();
    assert!(
        reason.starts_with("status 302 to /login (expected 200"),
        "{reason}"
    );
    assert_eq!(app.requests().len(), 1, "the redirect was not followed");

    let Ran { code, .. } = run_json(&["--url", &app.url(), "--expect-status", "200,301-302"]);
    assert_eq!(code, 0);
}

#[test]
fn a_status_range_is_accepted() {
    let app = TestServer::sequence(vec![Reply::status(204)]);
    let Ran {
        code, outputs: out, ..
    } = run_json(&["--url", &app.url(), "--expect-status", "200-299"]);
    assert_eq!(code, 0);
    assert_eq!(out["status"], "204");
}

#[test]
fn extra_headers_are_sent() {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let Ran { code, .. } = run_json(&[
        "--url",
        &app.url(),
        "--header",
        "Authorization: Bearer probe-token\nX-Probe:  hourly ",
    ]);
    assert_eq!(code, 0);
    let req = &app.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.header("authorization"), Some("Bearer probe-token"));
    assert_eq!(req.header("x-probe"), Some("hourly"));
    assert!(
        req.header("user-agent")
            .unwrap_or("")
            .starts_with("lastgood/")
    );
}

#[test]
fn the_deadline_bounds_the_tries() {
    let app = TestServer::sequence(vec![Reply::status(503)]);
    let began = Instant::now();
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = probe(&app, 1000, &["--deadline", "1500ms"]);
    assert_eq!(code, 1);
    let attempts: u32 = out["attempts"].as_str().unwrap().parse().unwrap();
    assert!(attempts > 1 && attempts < 1000, "{attempts}");
    assert!(stderr.contains("deadline of 1.5s reached"), "{stderr}");
    // Upper bound only, generous for a busy machine.
    assert!(began.elapsed() < Duration::from_secs(20));
}

#[test]
fn initial_delay_is_waited_once() {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &app.url(), "--initial-delay", "100ms"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("waiting 100ms before the first try"),
        "{stderr}"
    );
    let elapsed: u64 = out["elapsed-ms"].as_str().unwrap().parse().unwrap();
    assert!(
        elapsed >= 100,
        "elapsed-ms counts the initial delay: {elapsed}"
    );
}

#[test]
fn a_connection_closed_without_answer_is_retried() {
    let app = TestServer::sequence(vec![Reply::hang_up(), Reply::text(200, "ok")]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &app.url()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["healthy"], "true");
    assert_eq!(app.requests().len(), 2);
    assert!(stderr.contains("closed without a response"), "{stderr}");
}

#[test]
fn an_unknown_host_is_a_dns_failure() {
    let Ran {
        code, outputs: out, ..
    } = run_json(&["--url", "http://lastgood-probe.invalid/", "--attempts", "1"]);
    assert_eq!(code, 1);
    assert_eq!(out["failure-reason"], "host name not found (DNS)");
}

#[test]
fn a_password_in_the_url_is_never_shown() {
    let app = TestServer::sequence(vec![Reply::status(500)]);
    let url = app.url().replace("://", "://probe:s3cret@");
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &format!("{url}\n{url}/b"), "--attempts", "1"]);
    assert_eq!(code, 1);
    let text = format!("{out}{stderr}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("probe:***@127.0.0.1"), "{text}");
    let auth = app.requests()[0].header("authorization").map(str::to_owned);
    assert!(
        auth.as_deref().is_some_and(|a| a.starts_with("Basic ")),
        "credentials in the URL are sent as basic auth: {auth:?}"
    );
}

#[test]
fn quick_failures_are_retried_without_spending_attempts() {
    // A proxy answers 503 five times while the app boots: more 503s than `attempts` allows
    // tries, yet the app is seen, between the scheduled tries (250ms, then 500ms apart).
    let mut replies = vec![Reply::status(503); 5];
    replies.push(Reply::text(200, "ok"));
    let app = TestServer::sequence(replies);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = probe_slowly(&app, &["--attempts", "3"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["healthy"], "true");
    assert_eq!(app.requests().len(), 6, "{stderr}");
    let attempts: u32 = out["attempts"].as_str().unwrap().parse().unwrap();
    assert!(attempts <= 3, "{attempts}");
    assert!(stderr.contains("quick retr"), "{stderr}");
}

#[test]
fn a_slow_failure_is_not_retried_quickly() {
    // 503 after 300ms: the app is busy, each try costs it; only the scheduled tries are made.
    let app = TestServer::sequence(vec![Reply::status(503).delay(Duration::from_millis(300))]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = probe_slowly(&app, &["--attempts", "3"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["attempts"], "3");
    assert_eq!(app.requests().len(), 3, "{stderr}");
    assert!(!stderr.contains("quick retr"), "{stderr}");
}

#[test]
fn a_timeout_is_never_retried_quickly() {
    // Even a short timeout: the app did not answer, so it is not hammered.
    let app = TestServer::sequence(vec![Reply::text(200, "late").delay(Duration::from_secs(2))]);
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = probe_slowly(&app, &["--attempts", "3", "--timeout", "50ms"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["failure-reason"], "timed out after 50ms");
    assert_eq!(app.requests().len(), 3, "{stderr}");
}

/// health-probe on `app` with the default schedule (`interval` 5s: waits of 250ms, 500ms, …).
fn probe_slowly(app: &TestServer, args: &[&str]) -> Ran {
    crate::health_probe()
        .json()
        .args(["--url", &app.url()])
        .args(args)
        .run()
}
