//! The seed's own stack, for real: `examples/mangetamain`, a Streamlit app from PyPI (pinned by
//! its `requirements.txt`), deployed by `deploy-sha` with the example's settings, rolled back by
//! `ci-watcher` against the GitHub stand-in, probed every "hour" by `health-probe`.
//!
//! The app runs as a plain process (`restart-command: python serve.py restart …`, the example's
//! documented setting without docker); the gate is the example's: `health-url` on the revision
//! record (`/app/static/revision.txt`), `health-expect-version: sha`, and the reusable
//! workflows' default of 10 attempts. Streamlit's own `/_stcore/health` says `ok` in every case
//! below, broken commits included: the tests check it, to show why it cannot be the gate.
//!
//! Without Python or PyPI the tests print why and return; with `LASTGOOD_REQUIRE_STREAMLIT=1`
//! (set by `cargo xtask ci`) they fail instead.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lastgood_testkit::docker::REVISION_PATH;
use lastgood_testkit::github::{FakeGitHub, Job, REPOSITORY, Run, TOKEN, WORKFLOW};
use lastgood_testkit::outputs::alive;
use lastgood_testkit::streamlit::{Mangetamain, MangetamainCompose};
use serde_json::Value;

/// Exit code, `--json` outputs and stderr of a run (stdout must be one JSON object).
fn run(mut cmd: Command) -> (i32, Value, String) {
    let out = cmd.output().expect("run a binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn bin(name: &str) -> Command {
    let path = if name == "ci-watcher" {
        assert_cmd::cargo::cargo_bin!("ci-watcher").to_path_buf()
    } else {
        lastgood_testkit::workspace_bin(name)
    };
    let mut cmd = Command::new(path);
    lastgood_testkit::scrub_env(&mut cmd);
    cmd.arg("--json");
    cmd
}

/// The deploy inputs of the example's preprod, for a plain process: what
/// `examples/mangetamain/.github/workflows/cd-preprod.yml` gives the reusable workflow, with
/// `restart-command` instead of compose, and the workflow's default of 10 health attempts.
fn deploy_inputs(app: &Mangetamain, state: &Path, cmd: &mut Command) {
    deploy_inputs_restarting(app, state, &app.restart_command(), cmd);
}

/// [`deploy_inputs`] with another `restart-command`.
fn deploy_inputs_restarting(app: &Mangetamain, state: &Path, restart: &str, cmd: &mut Command) {
    cmd.arg("--app-dir")
        .arg(&app.fx.app)
        .arg("--state-dir")
        .arg(state)
        .args(["--environment", "preprod"])
        .args(["--restart-command", restart])
        .args(["--health-url", &app.health_url()])
        .args(["--health-expect-version", "sha"])
        .args(["--health-attempts", "10"])
        .args(["--lock-timeout", "60s"]);
}

fn deploy(app: &Mangetamain, state: &Path, sha: &str) -> (i32, Value, String) {
    let mut cmd = bin("deploy-sha");
    deploy_inputs(app, state, &mut cmd);
    cmd.args(["--sha", sha]);
    run(cmd)
}

/// Starts the fixture's first commit and records it as the rollback point.
fn started(app: &Mangetamain, state: &Path) {
    app.start();
    assert_eq!(app.serving().as_deref(), Some(app.fx.initial.as_str()));
    let mut save = bin("save-rollback-point");
    save.arg("--app-dir")
        .arg(&app.fx.app)
        .arg("--state-dir")
        .arg(state);
    let (code, out, stderr) = run(save);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["rollback-sha"], app.fx.initial.as_str());
}

/// Commits `path` with `content` in place of the example's and pushes it.
fn push_change(app: &Mangetamain, path: &str, content: &str, message: &str) -> String {
    let sha = app.fx.commit(&[(path, content)], message);
    app.fx.push();
    sha
}

fn example_file(path: &str) -> String {
    std::fs::read_to_string(lastgood_testkit::streamlit::example_dir().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A good commit: the new version number of the package.
fn good_change(app: &Mangetamain) -> String {
    let init = example_file("src/mangetamain/__init__.py").replace("0.1.0", "0.2.0");
    push_change(app, "src/mangetamain/__init__.py", &init, "feat: 0.2.0")
}

#[test]
fn streamlit_a_good_commit_is_deployed_and_proven_to_be_the_one_serving() {
    let Some(app) = Mangetamain::new() else {
        return;
    };
    let state = app.fx.tmp.path().join("state");
    started(&app, &state);
    let old_pid = app.serving_pid().expect("the first server's pid");

    let v2 = good_change(&app);
    let (code, out, stderr) = deploy(&app, &state, &v2);
    assert_eq!(code, 0, "{stderr}\n{}", app.log());
    assert_eq!(out["outcome"], "deployed");
    assert_eq!(out["deployed-sha"], v2.as_str());

    // What serves is a new Streamlit process, started from v2: its record says so, the old
    // server is gone.
    assert_eq!(app.serving().as_deref(), Some(v2.as_str()));
    let new_pid = app.serving_pid().expect("the new server's pid");
    assert_ne!(new_pid, old_pid);
    assert!(!alive(old_pid), "the old server {old_pid} still runs");
    let (_, record) = app.get("/app/static/revision.txt").expect("the record");
    assert!(record.starts_with("Mangetamain\n"), "{record}");
    // Streamlit as it is: `ok`, a page drawn by JavaScript, the script check passing.
    assert_eq!(app.get("/_stcore/health"), Some((200, "ok".to_owned())));
    let (status, page) = app.get("/").expect("the page");
    assert_eq!(status, 200);
    assert!(page.contains("<title>Streamlit</title>") && !page.contains("Mangetamain"));
    assert_eq!(
        app.get("/_stcore/script-health-check"),
        Some((200, "ok".to_owned()))
    );
}

#[test]
fn streamlit_commits_failing_at_import_or_at_first_run_are_rolled_back() {
    let Some(app) = Mangetamain::new() else {
        return;
    };
    let state = app.fx.tmp.path().join("state");
    started(&app, &state);

    let script = format!(
        "import nonexistent_module  # noqa: F401\n{}",
        example_file("app.py")
    );
    let at_import = push_change(&app, "app.py", &script, "feat: a missing module");
    let (code, out, stderr) = deploy(&app, &state, &at_import);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["outcome"], "rolled-back", "{stderr}");
    assert!(
        stderr.contains("No module named 'nonexistent_module'"),
        "the restart's reason names the error: {stderr}"
    );
    assert_eq!(app.fx.head(), app.fx.initial);
    assert_eq!(app.serving().as_deref(), Some(app.fx.initial.as_str()));

    // The script imports, then raises when it runs (a data file the page reads is broken).
    let data = example_file("src/mangetamain/data/recipes.csv").replace(",8,75,", ",13,75,");
    let at_run = app.fx.commit(
        &[
            ("app.py", &example_file("app.py")),
            ("src/mangetamain/data/recipes.csv", &data),
        ],
        "data: oops",
    );
    app.fx.push();
    let (code, out, stderr) = deploy(&app, &state, &at_run);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["outcome"], "rolled-back", "{stderr}");
    assert!(stderr.contains("month 13"), "{stderr}");
    assert_eq!(app.serving().as_deref(), Some(app.fx.initial.as_str()));
}

#[test]
fn streamlit_a_restart_that_restarts_nothing_is_caught() {
    let Some(app) = Mangetamain::new() else {
        return;
    };
    let state = app.fx.tmp.path().join("state");
    started(&app, &state);
    let v2 = good_change(&app);
    // The old server keeps answering `ok` and serving its record: only the SHA in it tells.
    let mut cmd = bin("deploy-sha");
    deploy_inputs_restarting(&app, &state, "true", &mut cmd);
    cmd.args(["--sha", &v2]);
    let (code, out, stderr) = run(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["outcome"], "rolled-back");
    assert!(
        stderr.contains(&format!("version {} not found", &v2[..7])),
        "{stderr}"
    );
    assert_eq!(app.get("/_stcore/health"), Some((200, "ok".to_owned())));
    assert_eq!(app.serving().as_deref(), Some(app.fx.initial.as_str()));
}

#[test]
fn streamlit_a_commit_that_serves_but_fails_ci_is_rolled_back_by_the_watcher() {
    let Some(app) = Mangetamain::new() else {
        return;
    };
    let state = app.fx.tmp.path().join("state");
    started(&app, &state);
    let v2 = good_change(&app);
    let (code, _, stderr) = deploy(&app, &state, &v2);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(app.serving().as_deref(), Some(v2.as_str()));

    let gh = FakeGitHub::start();
    gh.add_run(Run::completes(7, &v2, "failure", 1));
    gh.set_jobs(
        7,
        vec![
            Job::new(70, "Tests Preprod", "failure")
                .step("Tests with coverage (≥ 90 %)", "failure"),
        ],
    );
    let mut watch = bin("ci-watcher");
    deploy_inputs(&app, &state, &mut watch);
    watch
        .env("INPUT_TOKEN", TOKEN)
        .args([
            "--sha",
            &v2,
            "--repository",
            REPOSITORY,
            "--workflow",
            WORKFLOW,
        ])
        .args(["--api-url", &gh.url()])
        .args([
            "--initial-delay",
            "0s",
            "--interval",
            "200ms",
            "--timeout",
            "60s",
        ]);
    let (code, out, stderr) = run(watch);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(out["action"], "rolled-back", "{stderr}");
    assert_eq!(app.fx.head(), app.fx.initial);
    assert_eq!(
        app.serving().as_deref(),
        Some(app.fx.initial.as_str()),
        "the previous commit serves again:\n{}",
        app.log()
    );
    let last_validated = std::fs::read_to_string(state.join("last-validated-sha.txt")).unwrap();
    assert_eq!(last_validated.trim(), app.fx.initial);
}

#[test]
fn streamlit_the_hourly_probe_sees_up_down_and_recovered() {
    let Some(app) = Mangetamain::new() else {
        return;
    };
    let state = app.fx.tmp.path().join("state");
    app.start();
    // The seed's check: status 200, "Mangetamain" in the body, 10s.
    let probe = |attempts: &str| {
        let mut cmd = bin("health-probe");
        cmd.args(["--url", &app.health_url(), "--expect-body", "Mangetamain"])
            .args([
                "--timeout",
                "10s",
                "--attempts",
                attempts,
                "--interval",
                "500ms",
            ])
            .arg("--state-dir")
            .arg(&state);
        run(cmd)
    };
    let (code, out, stderr) = probe("3");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["transition"], "none");
    app.stop();
    assert_eq!(app.get("/_stcore/health"), None, "stopped");
    let (code, out, _) = probe("2");
    assert_eq!(code, 1);
    assert_eq!(out["transition"], "down");
    app.start();
    let (code, out, stderr) = probe("3");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out["transition"], "recovered");
}

/// The seed's layout for real: the example's `docker-compose-preprod.yml` in the checkout, the
/// checkout mounted into the container, lastgood's default `recreate`, the example's gate.
#[test]
fn streamlit_in_docker_compose_a_good_commit_serves_from_a_new_container_a_broken_one_is_rolled_back()
 {
    let Some(c) = MangetamainCompose::new("preprod") else {
        return;
    };
    let app = &c.app;
    c.project.up();
    let initial = app.fx.initial.clone();
    lastgood_testkit::docker::wait_for(
        app.port,
        REVISION_PATH,
        Duration::from_secs(180),
        |s, b| s == 200 && b.contains(&initial),
    )
    .unwrap_or_else(|| panic!("the app never served:\n{}", c.project.logs()));
    let state = app.fx.tmp.path().join("state");
    let deploy = |sha: &str| {
        let mut cmd = bin("deploy-sha");
        c.project.apply(&mut cmd);
        cmd.arg("--app-dir")
            .arg(&app.fx.app)
            .arg("--state-dir")
            .arg(&state)
            .args(["--environment", "preprod", "--sha", sha])
            .args(["--compose-file", &c.compose_file])
            .args(["--health-url", &app.health_url()])
            .args(["--health-expect-version", "sha"])
            .args(["--health-attempts", "10"])
            .args(["--lock-timeout", "60s"]);
        run(cmd)
    };
    let before = c.project.containers();

    let v2 = good_change(app);
    let (code, out, stderr) = deploy(&v2);
    assert_eq!(code, 0, "{stderr}\n{}", c.project.logs());
    assert_eq!(out["outcome"], "deployed");
    let after = c.project.containers();
    assert_ne!(after, before, "the container was recreated");
    // The record was written by the new container: its host name is the container's id.
    let (_, record) = app.get(REVISION_PATH).expect("the record");
    assert_eq!(
        lastgood_testkit::docker::record_revision(&record).as_deref(),
        Some(v2.as_str())
    );
    let host = record
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("a host line");
    assert!(after[0].starts_with(host), "{host} is not {after:?}");

    // A commit whose script raises at import: Streamlit alone would answer `ok`; the container's
    // self-check exits, the gate sees nothing serve, the deploy rolls back to v2.
    let script = format!(
        "import nonexistent_module  # noqa: F401\n{}",
        example_file("app.py")
    );
    let broken = push_change(app, "app.py", &script, "feat: a missing module");
    let (code, out, stderr) = deploy(&broken);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        out["outcome"],
        "rolled-back",
        "{stderr}\n{}",
        c.project.logs()
    );
    assert_eq!(app.fx.head(), v2);
    assert_eq!(app.serving().as_deref(), Some(v2.as_str()));
}
