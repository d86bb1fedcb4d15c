//! The runner protocol: GITHUB_OUTPUT, the step summary, annotations, `--json`.

use lastgood_testkit::server::{Reply, TestServer};

use lastgood_testkit::run::Ran;

use crate::{health_probe, run_json};

#[test]
fn json_has_exactly_the_outputs_of_the_spec() {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let Ran { outputs: out, .. } = run_json(&["--url", &app.url()]);
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attempts",
            "elapsed-ms",
            "failure-reason",
            "healthy",
            "status"
        ]
    );
    for v in out.as_object().unwrap().values() {
        assert!(v.is_string());
    }

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let Ran { outputs: out, .. } = run_json(&["--url", &app.url(), "--state-dir", state]);
    let mut keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut spec: Vec<&str> = lastgood_core::spec::HEALTH_PROBE
        .outputs
        .iter()
        .map(|o| o.name)
        .collect();
    spec.sort_unstable();
    assert_eq!(keys, spec, "with state-dir, every output of the spec");
}

#[test]
fn in_a_runner_outputs_summary_and_error_are_written() {
    let app = TestServer::sequence(vec![Reply::status(502)]);
    let ran = health_probe()
        .env("GITHUB_ACTIONS", "true")
        .github_output()
        .summary()
        .args([
            "--url",
            &app.url(),
            "--attempts",
            "2",
            "--interval",
            "100ms",
        ])
        .expects(1)
        .run();
    let stdout = &ran.stdout;
    assert!(
        stdout.contains("::group::Probing http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("::endgroup::"), "{stdout}");
    assert!(
        stdout.contains("::error title=health-probe::http://127.0.0.1:")
            && stdout.contains("is unhealthy after 2 tries: status 502 (expected 200)"),
        "{stdout}"
    );

    let text = &ran.github_output;
    assert!(text.starts_with("healthy<<ghadelimiter_"), "{text}");
    let get = |name: &str| {
        ran.output(name)
            .unwrap_or_else(|| panic!("no output {name}: {text}"))
    };
    assert_eq!(get("healthy"), "false");
    assert_eq!(get("status"), "502");
    assert_eq!(get("attempts"), "2");
    assert_eq!(get("failure-reason"), "status 502 (expected 200)");
    assert!(get("elapsed-ms").parse::<u64>().is_ok());
    assert_eq!(ran.output("transition"), None);

    let summary = &ran.summary;
    assert!(summary.contains("❌ unhealthy"), "{summary}");
    assert!(summary.contains(&app.url()), "{summary}");
    assert!(summary.contains("2 tries"), "{summary}");
    assert!(summary.contains("status 502 (expected 200)"), "{summary}");
}

#[test]
fn healthy_outside_a_runner_prints_no_workflow_commands() {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let assert = health_probe().args(["--url", &app.url()]).assert().code(0);
    let out = assert.get_output();
    assert!(
        out.stdout.is_empty(),
        "stdout is only for --json and the runner"
    );
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(stderr.contains("healthy: http://127.0.0.1:"), "{stderr}");
}
