//! `state-dir`: transitions and uptime across runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lastgood_testkit::server::{Reply, TestServer};

use lastgood_testkit::run::Ran;

use crate::run_json;

#[test]
fn healthy_then_down_then_recovered() {
    let up = Arc::new(AtomicBool::new(true));
    let app = {
        let up = Arc::clone(&up);
        TestServer::start(move |_| {
            if up.load(Ordering::SeqCst) {
                Reply::text(200, "ok")
            } else {
                Reply::status(503)
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("preprod");
    let state = state.to_str().unwrap();
    let args = ["--url", &app.url(), "--attempts", "1", "--state-dir", state];

    let Ran {
        code, outputs: out, ..
    } = run_json(&args);
    assert_eq!(code, 0);
    assert_eq!(
        (out["transition"].as_str(), out["uptime"].as_str()),
        (Some("none"), Some("100.00"))
    );

    up.store(false, Ordering::SeqCst);
    let Ran {
        code, outputs: out, ..
    } = run_json(&args);
    assert_eq!(code, 1);
    assert_eq!(
        (out["transition"].as_str(), out["uptime"].as_str()),
        (Some("down"), Some("50.00"))
    );

    let Ran {
        code, outputs: out, ..
    } = run_json(&args);
    assert_eq!(code, 1);
    assert_eq!(
        (out["transition"].as_str(), out["uptime"].as_str()),
        (Some("none"), Some("33.33"))
    );

    up.store(true, Ordering::SeqCst);
    let Ran {
        code, outputs: out, ..
    } = run_json(&args);
    assert_eq!(code, 0);
    assert_eq!(
        (out["transition"].as_str(), out["uptime"].as_str()),
        (Some("recovered"), Some("50.00"))
    );

    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("preprod/health.json")).unwrap())
            .unwrap();
    assert_eq!(history["results"].as_array().unwrap().len(), 4);
    let journal = std::fs::read_to_string(dir.path().join("preprod/journal.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let transitions: Vec<&str> = events
        .iter()
        .map(|e| e["transition"].as_str().unwrap())
        .collect();
    assert_eq!(transitions, ["down", "recovered"]);
    assert!(events.iter().all(|e| e["event"] == "probe"));
}

#[test]
fn a_first_probe_that_fails_is_down() {
    let app = TestServer::sequence(vec![Reply::status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let Ran {
        code, outputs: out, ..
    } = run_json(&["--url", &app.url(), "--attempts", "1", "--state-dir", state]);
    assert_eq!(code, 1);
    assert_eq!(out["transition"], "down");
    assert_eq!(out["uptime"], "0.00");
}

#[test]
fn an_unwritable_state_dir_is_an_environment_failure() {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let Ran {
        code,
        outputs: out,
        stderr,
        ..
    } = run_json(&["--url", &app.url(), "--state-dir", file.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(
        out["healthy"], "true",
        "the probe's outputs are still reported"
    );
}

#[test]
fn concurrent_probes_of_one_state_dir_are_all_recorded() {
    let app =
        TestServer::start(|_| Reply::text(200, "ok").delay(std::time::Duration::from_millis(100)));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("prod");
    let state = state.to_str().unwrap().to_owned();
    let probes: Vec<_> = (0..4)
        .map(|_| {
            let (url, state) = (app.url(), state.clone());
            std::thread::spawn(move || {
                run_json(&["--url", &url, "--attempts", "1", "--state-dir", &state])
            })
        })
        .collect();
    for p in probes {
        let Ran { code, stderr, .. } = p.join().unwrap();
        assert_eq!(code, 0, "{stderr}");
    }
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("prod/health.json")).unwrap())
            .unwrap();
    assert_eq!(history["results"].as_array().unwrap().len(), 4);
    assert!(
        dir.path().join("prod/health.lock").exists(),
        "the history's own lock, not the environment lock"
    );
    assert!(!dir.path().join("prod/lock").exists());
}
