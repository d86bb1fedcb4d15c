//! The runner protocol: GITHUB_OUTPUT, the step summary, annotations, `--json`.

use lastgood_testkit::server::{Reply, TestServer};

use crate::{health_probe, run_json};

/// Parses a GITHUB_OUTPUT file written with heredocs.
fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delim) = line.split_once("<<").expect("heredoc entry");
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.push((name.to_owned(), value.join("\n")));
    }
    out
}

#[test]
fn json_has_exactly_the_outputs_of_the_spec() {
    let app = TestServer::sequence(vec![Reply::text(200, "ok")]);
    let (_, out, _) = run_json(&["--url", &app.url()]);
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
    let (_, out, _) = run_json(&["--url", &app.url(), "--state-dir", state]);
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
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let summary = dir.path().join("summary");
    let assert = health_probe()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "--url",
            &app.url(),
            "--attempts",
            "2",
            "--interval",
            "100ms",
        ])
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
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

    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.starts_with("healthy<<ghadelimiter_"), "{text}");
    let outputs = parse_outputs(&text);
    let get = |name: &str| {
        outputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no output {name}: {text}"))
    };
    assert_eq!(get("healthy"), "false");
    assert_eq!(get("status"), "502");
    assert_eq!(get("attempts"), "2");
    assert_eq!(get("failure-reason"), "status 502 (expected 200)");
    assert!(get("elapsed-ms").parse::<u64>().is_ok());
    assert!(outputs.iter().all(|(n, _)| n != "transition"));

    let summary = std::fs::read_to_string(&summary).unwrap();
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
