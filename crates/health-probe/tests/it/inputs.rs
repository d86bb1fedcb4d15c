//! Invalid inputs: exit 2, the input named, no request made.

use lastgood_testkit::server::{Reply, TestServer};
use predicates::prelude::*;

use crate::health_probe;

fn refused(args: &[&str], input: &str) {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    health_probe()
        .env("INPUT_URL", app.url())
        .args(args)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!("`{input}`")));
    assert!(app.requests().is_empty(), "no request before validation");
}

#[test]
fn bad_inputs_are_refused_before_any_request() {
    refused(&["--timeout", "soon"], "timeout");
    refused(&["--interval", "5 s"], "interval");
    refused(&["--deadline", "1.5s"], "deadline");
    refused(&["--expect-status", "200;204"], "expect-status");
    refused(&["--expect-status", "299-200"], "expect-status");
    refused(&["--attempts", "0"], "attempts");
    refused(&["--attempts", "three"], "attempts");
    refused(&["--expect-json", "/status = \"ok\""], "expect-json");
    refused(&["--expect-json", "/status == ok"], "expect-json");
    refused(&["--header", "Authorization Bearer x"], "header");
    refused(&["--url", "localhost:8080"], "url");
}

#[test]
fn a_missing_url_is_named() {
    health_probe()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`url`").and(predicate::str::contains("required")));
}

#[test]
fn inputs_come_from_the_environment_too() {
    let app = TestServer::sequence(vec![Reply::status(204)]);
    health_probe()
        .env("INPUT_URL", app.url())
        .env("INPUT_EXPECT_STATUS", "2xx")
        .env("INPUT_ATTEMPTS", "")
        .assert()
        .code(0);
    health_probe()
        .env("INPUT_URL", app.url())
        .env("INPUT_EXPECT_STATUS", "two hundred")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`expect-status`"));
    assert_eq!(app.requests().len(), 1);
}

#[test]
fn help_lists_every_input() {
    let assert = health_probe().arg("--help").assert().code(0);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for input in lastgood_core::spec::HEALTH_PROBE.inputs {
        assert!(out.contains(&format!("--{}", input.name)), "{}", input.name);
    }
}
