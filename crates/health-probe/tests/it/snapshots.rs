//! Snapshots of what is the contract: `--help`, the job summary and the journal's lines (see
//! `lastgood_testkit::snap` for the redactions and how to accept a change).

use lastgood_testkit::server::{Reply, TestServer};
use lastgood_testkit::snap::Redactions;

use crate::health_probe;

#[test]
fn help() {
    let ran = health_probe()
        .env("COLUMNS", "100")
        .arg("--help")
        .expects(0)
        .run();
    Redactions::new().bind(|| insta::assert_snapshot!("help", ran.stdout));
}

#[test]
fn summaries_of_an_unhealthy_and_a_healthy_probe() {
    let bad = TestServer::sequence(vec![Reply::status(502)]);
    let unhealthy = health_probe()
        .summary()
        .args([
            "--url",
            &bad.url(),
            "--attempts",
            "2",
            "--interval",
            "100ms",
        ])
        .expects(1)
        .run();
    let good = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let healthy = health_probe()
        .summary()
        .args(["--url", &good.url()])
        .expects(0)
        .run();
    Redactions::new().bind(|| {
        insta::assert_snapshot!("summary-unhealthy", unhealthy.summary);
        insta::assert_snapshot!("summary-healthy", healthy.summary);
    });
}

#[test]
fn journal_lines_of_a_transition_down_and_back() {
    let app = TestServer::sequence(vec![
        Reply::text(200, "ok"),
        Reply::status(503),
        Reply::text(200, "ok"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("preprod");
    for code in [0, 1, 0] {
        health_probe()
            .args(["--url", &app.url(), "--attempts", "1", "--state-dir"])
            .arg(&state)
            .expects(code)
            .run();
    }
    let journal = std::fs::read_to_string(state.join("journal.jsonl")).unwrap();
    Redactions::new()
        .path(dir.path(), "[dir]")
        .bind(|| insta::assert_snapshot!("journal", journal));
}
