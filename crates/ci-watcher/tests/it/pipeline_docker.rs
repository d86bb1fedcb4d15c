//! THE end-to-end test of the whole seed pipeline on the real docker engine, step by step as a
//! user's workflows run it: the sample app (`examples/sample-app`) in two compose projects
//! (preprod and prod) reading two clones of a bare `origin`, the GitHub stand-in for CI, the
//! Discord stand-in for messages, and every binary of the workspace.
//!
//! 1. A (the first commit) runs in preprod and prod.
//! 2. `cd-preprod` for B (CI passes): rollback point, Discord post, deploy with a version health
//!    gate, Discord edit, detached watcher → B validated.
//! 3. `cd-preprod` for C (healthy, CI fails): deployed, then the detached watcher rolls preprod
//!    back to B, and Discord hears which job and step failed, with the log's tail.
//! 4. `cd-prod`: rollback point compared with preprod plus a backup, confirmed deploy of the SHA
//!    validated on preprod (B); C is refused.
//! 5. `health-check`: both environments probed; preprod stopped → `down` (and a Discord alert);
//!    started again → `recovered`.
//!
//! The other binaries are found with [`lastgood_testkit::workspace_bin`]: `cargo test
//! --workspace` builds them all first. Without docker the test prints why and passes, unless
//! `LASTGOOD_REQUIRE_DOCKER=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lastgood_testkit::discord::{DiscordStandIn, WEBHOOK_TOKEN};
use lastgood_testkit::docker::{self, SampleApp};
use lastgood_testkit::git::{GitFixture, git_in};
use lastgood_testkit::github::{FakeGitHub, Job, REPOSITORY, Run, TOKEN, WORKFLOW};
use lastgood_testkit::outputs::alive;
use lastgood_testkit::run::Bin;
use lastgood_testkit::wait_until;
use serde_json::Value;

/// One environment: its checkout, its compose project (torn down on drop) and its state dir.
struct Env {
    name: &'static str,
    checkout: PathBuf,
    state: PathBuf,
    app: SampleApp,
}

impl Env {
    fn new(name: &'static str, checkout: &Path, root: &Path) -> Env {
        let state = root.join("state").join(name);
        Env {
            name,
            checkout: checkout.to_path_buf(),
            state,
            app: SampleApp::new(name, checkout),
        }
    }

    /// A binary of the workspace, scrubbed, driving this environment's compose project, with
    /// runner files (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`) in `runner`.
    fn bin(&self, name: &str, runner: &Path) -> Bin {
        let path = if name == "ci-watcher" {
            assert_cmd::cargo::cargo_bin!("ci-watcher").to_path_buf()
        } else {
            lastgood_testkit::workspace_bin(name)
        };
        Bin::new(path)
            .envs(self.app.project.vars())
            .runner_files(runner)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", REPOSITORY)
            .json_last_line()
    }

    /// The deploy inputs shared by deploy-sha and ci-watcher: compose, a version health gate.
    fn deploy_args(&self, bin: Bin) -> Bin {
        bin.arg("--app-dir")
            .arg(&self.checkout)
            .arg("--state-dir")
            .arg(&self.state)
            .args(["--environment", self.name])
            .arg("--compose-file")
            .arg(docker::sample_compose_file(self.name))
            .args(["--health-url", &self.app.health_url()])
            .args(["--health-expect-version", "sha"])
            .args(["--health-attempts", "60"])
            .args(["--health-interval", "500ms"])
            .args(["--health-timeout", "3s"])
            .args(["--lock-timeout", "60s"])
    }

    /// The SHA the running container says it serves (its revision record, 200 required).
    fn answering(&self) -> String {
        let (status, body) = self.app.get(docker::REVISION_PATH).unwrap_or_else(|| {
            panic!(
                "{} does not answer:\n{}",
                self.name,
                self.app.project.logs()
            )
        });
        assert_eq!(status, 200, "{body}");
        docker::record_revision(&body).expect("a revision line")
    }

    fn head(&self) -> String {
        git_in(&self.checkout, &["rev-parse", "HEAD"])
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join(name)).unwrap_or_default()
    }

    fn last_validated(&self) -> String {
        self.file("last-validated-sha.txt").trim().to_owned()
    }

    /// `event:outcome` of every journal entry.
    fn events(&self) -> Vec<String> {
        self.file("journal.jsonl")
            .lines()
            .map(|l| {
                let e: Value = serde_json::from_str(l).expect("journal line");
                format!(
                    "{}:{}",
                    e["event"].as_str().unwrap_or(""),
                    e["outcome"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    fn pending_watches(&self) -> usize {
        std::fs::read_dir(self.state.join("watches")).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
    }
}

/// Kills the detached watchers still alive when the test ends early (a panic), before the
/// compose projects go down: one left polling could recreate a container after the teardown.
struct Watchers(Vec<u32>);

impl Drop for Watchers {
    fn drop(&mut self) {
        for pid in &self.0 {
            if alive(*pid) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// Whether `pid` runs (a zombie counts as gone).
/// The embed of a Discord body.
fn embed(body: &Value) -> &Value {
    &body["embeds"][0]
}

/// The seed's cd-preprod for `sha`: rollback point, Discord post, deploy, Discord edit, detached
/// watcher. Returns the watcher's pid once the deploy is done.
fn cd_preprod(
    env: &Env,
    sha: &str,
    previous: &str,
    discord: &DiscordStandIn,
    gh: &FakeGitHub,
    runner: &Path,
) -> u32 {
    let save = env
        .bin("save-rollback-point", runner)
        .arg("--app-dir")
        .arg(&env.checkout)
        .arg("--state-dir")
        .arg(&env.state)
        .args(["--lock-timeout", "60s"]);
    let saved = save.expects(0).run();
    assert_eq!(saved.out("previous-sha"), previous);

    let hook = discord.webhook_url();
    // Secrets by environment, as the actions pass them (never on a command line).
    let started = env
        .bin("notify-discord", runner)
        .env("INPUT_WEBHOOK_URL", &hook)
        .args([
            "--event",
            "deploy-started",
            "--environment",
            env.name,
            "--sha",
            sha,
            "--author",
            "Test Author",
            "--fail-on-error",
            "true",
        ]);
    let posted = started.expects(0).run();
    assert_eq!(posted.out("sent"), "true");
    let message_id = posted.out("message-id").to_owned();
    assert!(!message_id.is_empty(), "{:?}", posted.outputs);

    let deploy = env
        .deploy_args(env.bin("deploy-sha", runner))
        .args(["--sha", sha]);
    let deployed = deploy.expects(0).run();
    assert_eq!(deployed.out("deployed-sha"), sha);
    assert_eq!(deployed.out("previous-sha"), previous);
    assert_eq!(deployed.out("outcome"), "deployed");
    assert_eq!(env.answering(), sha, "the new container answers {sha}");

    let succeeded = env
        .bin("notify-discord", runner)
        .env("INPUT_WEBHOOK_URL", &hook)
        .args([
            "--event",
            "deploy-succeeded",
            "--environment",
            env.name,
            "--sha",
            sha,
            "--url",
            &env.app.url(),
            "--message-id",
            &message_id,
            "--fail-on-error",
            "true",
        ]);
    let edited = succeeded.expects(0).run();
    assert_eq!(edited.out("message-id"), message_id);
    let last = discord.requests().pop().expect("a request to Discord");
    assert_eq!(last.method, "PATCH");
    assert!(last.path().ends_with(&format!("/messages/{message_id}")));
    let msg = &discord.messages()[&message_id];
    let title = embed(msg)["title"].as_str().unwrap_or("").to_owned();
    assert!(title.contains("Deploy succeeded"), "edited in place: {msg}");

    let watch = env
        .deploy_args(env.bin("ci-watcher", runner))
        .env("INPUT_TOKEN", TOKEN)
        .env("INPUT_WEBHOOK_URL", &hook)
        .args([
            "--sha",
            sha,
            "--repository",
            REPOSITORY,
            "--workflow",
            WORKFLOW,
        ])
        .args(["--api-url", &gh.url()])
        .args(["--initial-delay", "0s", "--interval", "200ms"])
        .args(["--discovery-timeout", "5s", "--timeout", "2m"])
        .args(["--detach", "true"]);
    let detached = watch.expects(0).run();
    let pid: u32 = detached.out("pid").parse().expect("pid output");
    let log = detached.out("log-file").to_owned();
    assert!(
        log.ends_with(&format!("logs/ci-watcher-{sha}.log")),
        "{log}"
    );
    pid
}

#[test]
fn the_whole_pipeline_deploys_validates_rolls_back_promotes_and_probes() {
    if !docker::require_docker() {
        return;
    }
    // 1. A runs in preprod and in prod (prod is another clone of the same origin).
    let fx = GitFixture::with_files(&[("VERSION", "A\n")]);
    let a = fx.initial.clone();
    let prod_checkout = fx.tmp.path().join("prod");
    git_in(
        fx.tmp.path(),
        &[
            "clone",
            "-q",
            fx.origin.to_str().expect("UTF-8 path"),
            prod_checkout.to_str().expect("UTF-8 path"),
        ],
    );
    std::fs::write(prod_checkout.join(".env"), "SECRET_SAUCE=42\n").expect("write .env");
    let runner_dir = tempfile::tempdir().expect("tempdir");
    let runner = runner_dir.path();
    let preprod = Env::new("preprod", &fx.app, fx.tmp.path());
    let prod = Env::new("prod", &prod_checkout, fx.tmp.path());
    // Dropped first (declared last): no watcher outlives the compose projects.
    let mut watchers = Watchers(Vec::new());
    for env in [&preprod, &prod] {
        env.app.project.up();
        env.app
            .wait_health(|s, b| s == 200 && b.contains(&a))
            .unwrap_or_else(|| panic!("{} never came up:\n{}", env.name, env.app.project.logs()));
    }
    let gh = FakeGitHub::start();
    let discord = DiscordStandIn::start();

    // 2. Push B; CI passes after a few polls.
    let b = fx.commit(&[("VERSION", "B\n")], "feat: B is good");
    fx.push();
    gh.add_run(Run::completes(101, &b, "success", 3));
    let pid = cd_preprod(&preprod, &b, &a, &discord, &gh, runner);
    watchers.0.push(pid);
    wait_until("B's watch to conclude", Duration::from_secs(180), || {
        preprod.pending_watches() == 0
    });
    // The verdict is applied with the watch record; its message follows: wait for the exit.
    wait_until("B's watcher to exit", Duration::from_secs(60), || {
        !alive(pid)
    });
    assert_eq!(preprod.last_validated(), b);
    assert_eq!(preprod.answering(), b);
    assert!(gh.polls(&b) >= 3, "the watcher polled until the verdict");
    let bodies = discord.accepted();
    let ci_ok = bodies.last().expect("a Discord message");
    assert!(
        embed(ci_ok)["title"]
            .as_str()
            .is_some_and(|t| t.contains("CI passed")),
        "{ci_ok}"
    );
    assert!(ci_ok.to_string().contains(&b[..7]), "{ci_ok}");

    // 3. Push C: healthy, but CI fails → the watcher puts B back.
    let c = fx.commit(
        &[
            ("VERSION", "C\n"),
            ("app.conf", "message=C passes health\n"),
        ],
        "feat: C breaks the tests",
    );
    fx.push();
    gh.add_run(Run::completes(102, &c, "failure", 2));
    gh.set_jobs(
        102,
        vec![
            Job::new(1021, "lint", "success").step("Run clippy", "success"),
            Job::new(1022, "test", "failure")
                .step("Set up job", "success")
                .step("Run tests", "failure"),
        ],
    );
    gh.set_log(
        1022,
        "2026-11-26T15:00:01.0000000Z running 12 tests\n\
         2026-11-26T15:00:02.0000000Z thread 'checkout_total' panicked: expected 42, got 41\n\
         2026-11-26T15:00:03.0000000Z ##[error]Process completed with exit code 101.\n",
    );
    let sent_before = discord.accepted().len();
    let pid = cd_preprod(&preprod, &c, &b, &discord, &gh, runner);
    watchers.0.push(pid);
    wait_until("C's watch to conclude", Duration::from_secs(180), || {
        preprod.pending_watches() == 0
    });
    wait_until("C's watcher to exit", Duration::from_secs(60), || {
        !alive(pid)
    });
    assert_eq!(preprod.head(), b, "the checkout is back on B");
    assert_eq!(preprod.answering(), b, "the container answers B again");
    assert_eq!(preprod.last_validated(), b, "C never validated");
    let events = preprod.events();
    let tail: Vec<&str> = events
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["ci-failed:failed", "rollback:deployed"],
        "{events:?}"
    );
    let bodies = discord.accepted();
    assert_eq!(
        bodies.len(),
        sent_before + 3,
        "deploy started, deploy succeeded (edit), CI verdict: {bodies:?}"
    );
    let verdict = bodies.last().expect("the verdict message").to_string();
    for needle in [
        "Rolled back",
        &c[..7],
        "test / Run tests",
        "panicked: expected 42, got 41",
        "/actions/runs/102",
    ] {
        assert!(verdict.contains(needle), "{needle} in {verdict}");
    }
    assert!(!verdict.contains("lint /"), "only failed jobs: {verdict}");
    let log = std::fs::read_to_string(preprod.state.join(format!("logs/ci-watcher-{c}.log")))
        .unwrap_or_default();
    assert!(log.contains("rolled back"), "{log}");

    // 4. cd-prod: rollback point (compared with preprod, .env backed up), then the SHA validated
    // on preprod, confirmed; C is refused.
    let save = prod
        .bin("save-rollback-point", runner)
        .arg("--app-dir")
        .arg(&prod.checkout)
        .arg("--state-dir")
        .arg(&prod.state)
        .arg("--compare-state-dir")
        .arg(&preprod.state)
        .args(["--backup-paths", ".env", "--lock-timeout", "60s"]);
    let saved = save.expects(0).run();
    assert_eq!(saved.out("previous-sha"), a);
    assert_eq!(
        saved.out("rollback-sha"),
        a,
        "the running version is the first good one"
    );
    let backup = saved.out("backup");
    assert!(Path::new(backup).is_file(), "backup {backup:?}");
    let summary = std::fs::read_to_string(runner.join("summary")).unwrap_or_default();
    assert!(summary.contains("| prod | preprod |"), "{summary}");
    assert!(summary.contains("feat: B is good"), "{summary}");

    let deploy = prod
        .deploy_args(prod.bin("deploy-sha", runner))
        .args(["--require-confirm", "true", "--confirm", "DEPLOY"])
        .arg("--require-validated-from")
        .arg(&preprod.state);
    let promoted = deploy.expects(0).run();
    assert_eq!(
        promoted.out("deployed-sha"),
        b,
        "the SHA validated on preprod"
    );
    assert_eq!(promoted.out("previous-sha"), a);
    assert_eq!(prod.answering(), b);
    assert_eq!(prod.head(), b);
    assert_eq!(
        std::fs::read_to_string(prod_checkout.join(".env")).expect(".env kept"),
        "SECRET_SAUCE=42\n"
    );

    let prod_events = prod.events();
    let prod_container = prod.app.project.containers();
    let refused = prod
        .deploy_args(prod.bin("deploy-sha", runner))
        .args([
            "--require-confirm",
            "true",
            "--confirm",
            "DEPLOY",
            "--sha",
            &c,
        ])
        .arg("--require-validated-from")
        .arg(&preprod.state);
    let no = refused.expects(2).run();
    assert!(no.stderr.contains(&c[..7]), "{}", no.stderr);
    assert_eq!(prod.head(), b, "prod untouched");
    assert_eq!(prod.answering(), b);
    assert!(no.stderr.contains("validated"), "{}", no.stderr);
    assert_eq!(prod.events(), prod_events, "nothing journaled");
    assert_eq!(
        prod.app.project.containers(),
        prod_container,
        "not recreated"
    );

    // 5. health-check: both up; preprod stopped → down (alert); started → recovered.
    let probe = |env: &Env, attempts: &str, code: i32| {
        let cmd = env
            .bin("health-probe", runner)
            // The seed's hourly check (200, "Mangetamain", 10s) on what holds the name: the
            // revision record (Streamlit's page is drawn by JavaScript).
            .args([
                "--url",
                &env.app.health_url(),
                "--expect-body",
                "Mangetamain",
            ])
            .args([
                "--attempts",
                attempts,
                "--interval",
                "500ms",
                "--timeout",
                "3s",
            ])
            .arg("--state-dir")
            .arg(&env.state);
        cmd.expects(code).run()
    };
    for env in [&preprod, &prod] {
        let up = probe(env, "3", 0);
        assert_eq!(
            (up.out("healthy"), up.out("transition")),
            ("true", "none"),
            "{}",
            env.name
        );
    }
    preprod.app.project.run_ok(&["stop", "-t", "1"]);
    let down = probe(&preprod, "2", 1);
    assert_eq!(
        (down.out("healthy"), down.out("transition")),
        ("false", "down")
    );
    let reason = down.out("failure-reason").to_owned();
    assert!(!reason.is_empty());
    let alert = preprod
        .bin("notify-discord", runner)
        .env("INPUT_WEBHOOK_URL", discord.webhook_url())
        .args(["--event", "health-down"])
        .args(["--environment", "preprod", "--url", &preprod.app.url()])
        .args(["--details", &reason, "--fail-on-error", "true"]);
    alert.expects(0).run();
    let alert_body = discord.accepted().last().expect("the alert").clone();
    assert!(
        embed(&alert_body)["title"]
            .as_str()
            .is_some_and(|t| t.contains("DOWN")),
        "{alert_body}"
    );
    let still = probe(&prod, "3", 0);
    assert_eq!(still.out("transition"), "none", "prod stayed up");

    preprod.app.project.run_ok(&["start"]);
    let back = probe(&preprod, "60", 0);
    assert_eq!(
        (back.out("healthy"), back.out("transition")),
        ("true", "recovered")
    );
    let recovered = preprod
        .bin("notify-discord", runner)
        .env("INPUT_WEBHOOK_URL", discord.webhook_url())
        .args(["--event", "health-recovered", "--environment", "preprod"])
        .args(["--url", &preprod.app.url(), "--fail-on-error", "true"]);
    recovered.expects(0).run();
    assert_eq!(preprod.answering(), b);

    // No secret anywhere on disk.
    for dir in [&preprod.state, &prod.state, &runner.to_path_buf()] {
        let text = all_files(dir);
        assert!(!text.contains(TOKEN) && !text.contains(WEBHOOK_TOKEN));
    }

    // Teardown: the watchers are gone; nothing of either project is left.
    for pid in &watchers.0 {
        wait_until("a watcher to exit", Duration::from_secs(60), || {
            !alive(*pid)
        });
    }
    drop(watchers);
    let names = [
        preprod.app.project.name().to_owned(),
        prod.app.project.name().to_owned(),
    ];
    drop(preprod);
    drop(prod);
    for name in names {
        let containers = docker_lines(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={name}"),
        ]);
        assert!(
            containers.is_empty(),
            "containers of {name} left: {containers:?}"
        );
        let networks = docker_lines(&["network", "ls", "-q", "--filter", &format!("name={name}")]);
        assert!(networks.is_empty(), "networks of {name} left: {networks:?}");
    }
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker").args(args).output().expect("docker");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every file under `dir`, concatenated (for leak checks).
fn all_files(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                text.push_str(&all_files(&path));
            } else if let Ok(bytes) = std::fs::read(&path) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}
