//! The whole preprod story, from `git push` to "the new SHA serves", as `cd-preprod.yml` runs
//! it: save-rollback-point → notify-discord → deploy-sha → notify-discord (edit) → ci-watcher
//! detached; against the seed's "~40 s".

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lastgood_testkit::discord::DiscordStandIn;
use lastgood_testkit::github::{FakeGitHub, REPOSITORY, Run, TOKEN, WORKFLOW};

use super::stats::{Samples, ms, ratio, sooner};
use super::testbed::{AppKind, Repo, Service};
use super::{Binaries, Section};
use crate::util::scrubbed;

const RUNS: usize = 5;
/// The seed's figure for its preprod deploy.
const SEED: f64 = 40_000.0;

/// Runs the story.
pub(crate) fn run(bins: &Binaries, kind: AppKind) -> Section {
    let title = "The preprod story: push to \"the new SHA serves\"";
    match measure(bins, kind) {
        Ok(s) => s,
        Err(why) => Section::failed(title, &why),
    }
}

fn step(
    bin: &Path,
    env: &[(String, String)],
    extra: &[(&str, &str)],
) -> std::result::Result<serde_json::Value, String> {
    let out = scrubbed(bin)
        .arg("--json")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{}: no JSON outputs: {e}", bin.display()))
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

fn measure(bins: &Binaries, kind: AppKind) -> std::result::Result<Section, String> {
    let save = bins.get("save-rollback-point")?;
    let notify = bins.get("notify-discord")?;
    let deploy = bins.get("deploy-sha")?;
    let watcher = bins.get("ci-watcher")?;
    let repo = Repo::new("story", &[("VERSION", "0\n")])?;
    let first = repo.commit(&[("VERSION", "1\n")], "one")?;
    repo.checkout(&first)?;
    let app = Service::new(kind, &repo, "story")?;
    app.up()?;
    let discord = DiscordStandIn::start();
    let gh = FakeGitHub::start();

    let mut env: Vec<(String, String)> = vec![
        ("INPUT_APP_DIR".into(), repo.app.display().to_string()),
        ("INPUT_STATE_DIR".into(), repo.state.display().to_string()),
        ("INPUT_ENVIRONMENT".into(), "preprod".into()),
        ("INPUT_HEALTH_URL".into(), app.health_url()),
        ("INPUT_HEALTH_EXPECT_VERSION".into(), "sha".into()),
        ("INPUT_HEALTH_ATTEMPTS".into(), "3".into()),
        ("INPUT_WEBHOOK_URL".into(), discord.webhook_url()),
        ("INPUT_REPOSITORY".into(), REPOSITORY.into()),
        ("INPUT_TOKEN".into(), TOKEN.into()),
        ("INPUT_API_URL".into(), gh.url()),
    ];
    env.extend(app.lastgood_env(true));

    let (mut serves, mut free) = (Samples::new(), Samples::new());
    for n in 0..RUNS {
        let sha = repo.commit_only(&[("VERSION", &format!("story {n}\n"))], "story")?;
        gh.add_run(Run::completes(100 + n as u64, &sha, "success", 0));
        let (tx, rx) = mpsc::channel();
        let port = app.port;
        let want = sha.clone();
        let start = Instant::now();
        let poller = std::thread::spawn(move || {
            let seen = super::net::poll_until(
                port,
                super::net::REVISION_PATH,
                Duration::from_secs(120),
                |a| a.status == 200 && super::net::revision(&a.body) == Some(want.as_str()),
            );
            let _ = tx.send(seen);
        });
        repo.push()?;
        step(&save, &env, &[])?;
        let started = step(
            &notify,
            &env,
            &[("INPUT_EVENT", "deploy-started"), ("INPUT_SHA", &sha)],
        )?;
        let message = started["message-id"].as_str().unwrap_or("").to_owned();
        step(&deploy, &env, &[("INPUT_SHA", &sha)])?;
        step(
            &notify,
            &env,
            &[
                ("INPUT_EVENT", "deploy-succeeded"),
                ("INPUT_SHA", &sha),
                ("INPUT_MESSAGE_ID", &message),
            ],
        )?;
        let detached = step(
            &watcher,
            &env,
            &[
                ("INPUT_SHA", &sha),
                ("INPUT_WORKFLOW", WORKFLOW),
                ("INPUT_DETACH", "true"),
                ("INPUT_INITIAL_DELAY", "0s"),
            ],
        )?;
        free.push(start.elapsed());
        let seen = rx
            .recv()
            .ok()
            .flatten()
            .ok_or("the new SHA was never seen serving")?;
        let _ = poller.join();
        serves.push(seen - start);
        // The detached watcher validates the SHA; let it finish before the next push.
        if let Some(pid) = detached["pid"].as_str().map(str::to_owned) {
            let end = Instant::now() + Duration::from_secs(60);
            while alive(&pid) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(&pid) {
                let _ = Command::new("kill").arg(&pid).status();
            }
        }
    }

    let mut s = Section::new("The preprod story: push to \"the new SHA serves\"");
    s.line(&format!(
        "The app: {}. {RUNS} pushes, each followed by `cd-preprod.yml`'s steps run as the \
         runner runs them (one process each, outputs through `--json`): save-rollback-point, \
         notify-discord `deploy-started` (the testkit's Discord stand-in), deploy-sha (restart \
         mode `recreate`, the default; health gate expecting the SHA, `health-attempts: 3` as the \
         workflow sets it), notify-discord editing the same message, ci-watcher `detach: true` \
         (the testkit's GitHub stand-in). A 10 ms poller started with `git push` says when \
         the revision record names the new SHA. Not counted: GitHub's delay before the runner picks the \
         job up, and the action's install step (a tool-cache hit).",
        kind.describe()
    ));
    s.table(
        &[
            "from `git push` to",
            "median",
            "p95",
            "the seed's ~40 s ÷ this",
        ],
        &[
            vec![
                "the new SHA serves".into(),
                ms(serves.median()),
                ms(serves.p95()),
                ratio(SEED, serves.median()),
            ],
            vec![
                "the runner is free (watcher detached)".into(),
                ms(free.median()),
                ms(free.p95()),
                ratio(SEED, free.median()),
            ],
        ],
    );
    s.headline(
        "push → the new SHA serves (preprod, median)",
        ms(serves.median()),
        "the seed's ~40 s",
        sooner(SEED, serves.median()),
    );
    Ok(s)
}
