//! The watcher on a 5-minute CI run that fails, against the testkit's GitHub stand-in: requests
//! made, rate-limit units spent (a 304 is free), and the delay from CI's end to the rollback's
//! restart, for lastgood polling, lastgood on `workflow_run` (`ci-watcher` with `conclusion`, as
//! `ci-verdict.yml` calls it) and naive polling every 10s without conditional requests.
//!
//! Every contender has its own stand-in, repository and state directory, and they all run at
//! once: 5 repetitions × 3 contenders, for real time (or compressed by `LASTGOOD_BENCH_COMPRESS`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lastgood_testkit::github::{FakeGitHub, REPOSITORY, Run, TOKEN, WORKFLOW, When};

use super::stats::{Samples, ms, ratio, sooner};
use super::testbed::Repo;
use super::{Section, net};
use crate::util::scrubbed;

const REPETITIONS: u32 = 5;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Polling,
    WorkflowRun,
    Naive,
}

const KINDS: [Kind; 3] = [Kind::Polling, Kind::WorkflowRun, Kind::Naive];

#[derive(Clone, Copy)]
struct Times {
    compress: u32,
    ci: Duration,
    interval: Duration,
    initial_delay: Duration,
    timeout: Duration,
    discovery: Duration,
}

impl Times {
    fn new(compress: u32, repetition: u32) -> Times {
        let c = |d: Duration| d / compress;
        let interval = c(Duration::from_secs(10));
        // Repetitions end 1.2 intervals apart: each meets the polls at another phase, and their
        // rollbacks do not run at the same instant.
        let offset = interval * repetition + interval * (2 * repetition + 1) / (2 * REPETITIONS);
        Times {
            compress,
            ci: c(Duration::from_secs(300)) + offset,
            interval,
            initial_delay: c(Duration::from_secs(30)),
            timeout: c(Duration::from_secs(480)) + offset,
            discovery: c(Duration::from_secs(120)),
        }
    }
}

fn input(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[derive(Debug)]
struct Outcome {
    requests: usize,
    not_modified: usize,
    delay: Duration,
}

/// Runs every contender; the section.
pub(crate) fn run(bin: std::result::Result<PathBuf, String>, compress: u32) -> Section {
    let title = "Watching CI: requests, rate limit, delay to the rollback";
    let bin = match bin {
        Ok(b) => b,
        Err(why) => return Section::failed(title, &why),
    };
    let mut runs = Vec::new();
    for rep in 0..REPETITIONS {
        for kind in KINDS {
            let bin = bin.clone();
            runs.push((
                kind,
                std::thread::spawn(move || contender(&bin, kind, Times::new(compress, rep), rep)),
            ));
        }
    }
    let mut results: Vec<(Kind, std::result::Result<Outcome, String>)> = Vec::new();
    for (kind, handle) in runs {
        results.push((
            kind,
            handle
                .join()
                .unwrap_or_else(|_| Err("the contender's thread panicked".into())),
        ));
    }
    let mut s = Section::new(title);
    let t = Times::new(compress, 0);
    s.line(&format!(
        "A CI run (queued, in progress after 10 s, then failed after 5 min) on the testkit's \
         GitHub stand-in, which answers `If-None-Match` with 304 when nothing changed, like \
         GitHub. Each contender has its own stand-in, repository and preprod state (the failed \
         SHA deployed, a validated one to go back to) and the rollback's restart is `date +%s%N`, \
         so its log says when the rollback reached the restart (after its lock, fetch and reset: \
         the delay includes them). {REPETITIONS} repetitions of the three contenders ran at once; \
         their CI runs end at different phases of a 10 s poll. {}\n\n\
         - lastgood polling: `ci-watcher` as `cd-preprod.yml` runs it (initial delay 30 s, \
         interval 10 s, ETags, rate limits honoured);\n\
         - lastgood on `workflow_run`: `ci-watcher` with `conclusion: failure` and `sha`, as \
         `ci-verdict.yml` calls it, started when CI ends (GitHub's own delay before the \
         `workflow_run` job starts is not counted: the goal is from the job's start);\n\
         - naive polling: every 10 s from the start, no conditional request, as the peers do \
         (its \"rollback\" counts from the moment it sees the conclusion, in its favour).",
        if compress == 1 {
            "Time is real: the CI runs last 5 minutes.".to_owned()
        } else {
            format!(
                "Time is compressed {compress}×: the CI run lasts {}, the intervals are {} \
                 (initial delay {}). Delays of the polling contenders scale with the interval \
                 (multiply by {compress} for real time); the `workflow_run` delay does not.",
                ms(t.ci.as_secs_f64() * 1000.0),
                ms(t.interval.as_secs_f64() * 1000.0),
                ms(t.initial_delay.as_secs_f64() * 1000.0)
            )
        }
    ));
    let mut rows = Vec::new();
    let mut stats = Vec::new();
    for kind in KINDS {
        let (mut req, mut nm, mut units, mut delay) = (
            Samples::new(),
            Samples::new(),
            Samples::new(),
            Samples::new(),
        );
        let mut errors = Vec::new();
        for (k, r) in &results {
            if *k != kind {
                continue;
            }
            match r {
                Ok(o) => {
                    req.push_ms(o.requests as f64);
                    nm.push_ms(o.not_modified as f64);
                    units.push_ms((o.requests - o.not_modified) as f64);
                    delay.push(o.delay);
                }
                Err(why) => errors.push(why.clone()),
            }
        }
        stats.push((kind, req, nm, units, delay, errors));
    }
    let naive_units = stats
        .iter()
        .find(|s| s.0 == Kind::Naive)
        .map_or(0.0, |s| s.3.median());
    for (kind, req, nm, units, delay, errors) in &stats {
        let name = match kind {
            Kind::Polling => "lastgood polling (ETags)",
            Kind::WorkflowRun => "lastgood on `workflow_run`",
            Kind::Naive => "naive polling every 10 s, no ETag",
        };
        let mut row = vec![
            name.to_owned(),
            format!("{}", req.median()),
            format!("{}", nm.median()),
            format!("{}", units.median()),
            ratio(units.median(), naive_units),
            ms(delay.median()),
            ms(delay.p95()),
        ];
        if !errors.is_empty() {
            row.push(format!("{} run(s) failed: {}", errors.len(), errors[0]));
        }
        rows.push(row);
    }
    s.table(
        &[
            "watcher",
            "API requests",
            "of which 304",
            "rate-limit units",
            "units ÷ naive's",
            "delay median",
            "delay p95",
        ],
        &rows,
    );
    s.line(
        "Medians over the repetitions; with 5 runs the p95 is the worst run. The rate-limit \
         units are the answers that count against the primary limit (every answer but a 304), \
         including the failed jobs and the log lookup the polling watcher makes to explain the \
         failure. A `GITHUB_TOKEN` allows 1,000 units per hour per repository.",
    );
    if let Some((_, req, _, _, delay, errors)) = stats.iter().find(|s| s.0 == Kind::WorkflowRun) {
        let ok = errors.is_empty() && delay.len() > 0;
        s.goal(
            "rollback after the `workflow_run` job starts",
            "p95 ≤ 1 s",
            ms(delay.p95()),
            ok.then_some(delay.p95() <= 1000.0),
        );
        s.goal(
            "API polls on `workflow_run`",
            "0",
            format!("{}", req.p95()),
            ok.then_some(req.p95() == 0.0),
        );
        if let Some((_, _, _, units, pdelay, _)) = stats.iter().find(|s| s.0 == Kind::Polling) {
            s.headline(
                "CI failed → rollback starts (`workflow_run`, median)",
                ms(delay.median()),
                &if compress == 1 {
                    format!("lastgood polling every 10 s ({})", ms(pdelay.median()))
                } else {
                    format!(
                        "lastgood polling ({} with time compressed {compress}×: no real-time ratio)",
                        ms(pdelay.median())
                    )
                },
                if compress == 1 {
                    sooner(pdelay.median(), delay.median())
                } else {
                    "—".to_owned()
                },
            );
            s.headline(
                "rate-limit units for a 5-minute CI run (polling)",
                format!("{}", units.median()),
                &format!("naive polling without ETags ({naive_units})"),
                format!("{} fewer", ratio(naive_units, units.median())),
            );
        }
    }
    s
}

fn epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn contender(
    bin: &std::path::Path,
    kind: Kind,
    t: Times,
    rep: u32,
) -> std::result::Result<Outcome, String> {
    let repo = Repo::new(
        &format!("watch-{kind:?}-{rep}").to_lowercase(),
        &[("VERSION", "0\n")],
    )?;
    let good = repo.commit(&[("VERSION", "good\n")], "good")?;
    let bad = repo.commit(&[("VERSION", "bad\n")], "bad: breaks CI")?;
    repo.checkout(&bad)?;
    std::fs::write(
        repo.state.join("last-validated-sha.txt"),
        format!("{good}\n"),
    )
    .map_err(|e| e.to_string())?;

    let started = SystemTime::now();
    let gh = FakeGitHub::start();
    gh.add_run(
        Run::new(1, &bad)
            .at(When::After(Duration::ZERO), "queued", None)
            .at(
                When::After(Duration::from_secs(10) / t.compress),
                "in_progress",
                None,
            )
            .at(When::After(t.ci), "completed", Some("failure")),
    );
    gh.set_log(10, "tests/test_app.py::test_home FAILED\nError: 1 failed\n");
    let ci_end = epoch(started) + t.ci;
    let api = gh.url();
    let base = |cmd: &mut std::process::Command| {
        cmd.env("INPUT_SHA", &bad)
            .env("INPUT_REPOSITORY", REPOSITORY)
            .env("INPUT_TOKEN", TOKEN)
            .env("INPUT_API_URL", &api)
            .env("INPUT_APP_DIR", &repo.app)
            .env("INPUT_STATE_DIR", &repo.state)
            .env("INPUT_ENVIRONMENT", "preprod")
            .env("INPUT_RESTART_COMMAND", "date +%s%N")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let restarted = || -> std::result::Result<Duration, String> {
        let log = std::fs::read_to_string(repo.state.join("logs/restart.log"))
            .map_err(|e| format!("no rollback restart: {e}"))?;
        let ns: u64 = log
            .trim()
            .parse()
            .map_err(|_| format!("unexpected restart log {log:?}"))?;
        Ok(Duration::from_nanos(ns))
    };
    let delay = match kind {
        Kind::Polling => {
            let mut cmd = scrubbed(bin);
            base(&mut cmd);
            cmd.env("INPUT_WORKFLOW", WORKFLOW)
                .env("INPUT_INITIAL_DELAY", input(t.initial_delay))
                .env("INPUT_INTERVAL", input(t.interval))
                .env("INPUT_TIMEOUT", input(t.timeout))
                .env("INPUT_DISCOVERY_TIMEOUT", input(t.discovery));
            let status = cmd.status().map_err(|e| format!("cannot run: {e}"))?;
            if status.code() != Some(1) {
                return Err(format!("ci-watcher exited {status}, not 1 (rolled back)"));
            }
            restarted()?.saturating_sub(ci_end)
        }
        Kind::WorkflowRun => {
            let wait = (started + t.ci)
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            std::thread::sleep(wait);
            let mut cmd = scrubbed(bin);
            base(&mut cmd);
            cmd.env("INPUT_CONCLUSION", "failure").env(
                "INPUT_RUN_URL",
                format!("https://github.com/{REPOSITORY}/actions/runs/1"),
            );
            let status = cmd.status().map_err(|e| format!("cannot run: {e}"))?;
            if status.code() != Some(1) {
                return Err(format!("ci-watcher exited {status}, not 1 (rolled back)"));
            }
            restarted()?.saturating_sub(ci_end)
        }
        Kind::Naive => naive(&gh, &bad, t, ci_end)?,
    };
    let answers = gh.answers();
    Ok(Outcome {
        requests: answers.len(),
        not_modified: answers.iter().filter(|a| a.status == 304).count(),
        delay,
    })
}

/// Lists the runs every interval without `If-None-Match` until the run completed.
fn naive(
    gh: &FakeGitHub,
    sha: &str,
    t: Times,
    ci_end: Duration,
) -> std::result::Result<Duration, String> {
    let port: u16 = gh
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("the stand-in's URL has no port")?;
    let path = format!(
        "/repos/{REPOSITORY}/actions/workflows/{WORKFLOW}/runs?head_sha={sha}&per_page=100"
    );
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Accept", "application/vnd.github+json"),
        ("X-GitHub-Api-Version", "2022-11-28"),
        ("User-Agent", "naive-poller"),
    ];
    let start = std::time::Instant::now();
    let mut k = 0u32;
    while start.elapsed() < t.timeout {
        let next = start + t.interval * k;
        std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
        k += 1;
        let Ok(a) = net::get(port, &path, &headers, Duration::from_secs(10)) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
        if v.pointer("/workflow_runs/0/status")
            .and_then(|s| s.as_str())
            == Some("completed")
        {
            return Ok(epoch(SystemTime::now()).saturating_sub(ci_end));
        }
    }
    Err("the naive poller never saw the run complete".into())
}
