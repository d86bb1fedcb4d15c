//! `cargo xtask bench`: the performance goals, measured (never asserted in tests: a busy CI
//! machine would make such tests flaky).
//!
//! Builds the binaries as `dist` ships them (release, static on linux-gnu), then times many runs of: each binary's start-up (`--help`), one
//! healthy `health-probe` against a local server, and a `deploy-sha` round trip on a local git
//! fixture with `restart-command: true` (so the time is lastgood's and git's, not a restart's).
//! Prints median and p95 beside each goal. A binary that does not exist yet is reported as such.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lastgood_core::spec;

use crate::Result;
use crate::util::{self, Scratch, binary_crates, host_target, scrubbed};

struct Row {
    what: String,
    goal: Duration,
    result: std::result::Result<Vec<Duration>, String>,
}

/// Runs the benchmarks.
pub fn run() -> Result {
    let bins = binary_crates();
    let release = if bins.is_empty() {
        PathBuf::new()
    } else {
        crate::dist::build_release(&bins, &host_target()?)?
    };
    let binary = |name: &str| -> std::result::Result<PathBuf, String> {
        let path = release.join(name);
        if bins.iter().any(|b| b == name) && path.is_file() {
            Ok(path)
        } else {
            Err(format!("not built: crates/{name} does not exist yet"))
        }
    };

    let mut rows = Vec::new();
    for s in spec::ALL {
        rows.push(Row {
            what: format!("{} --help (start-up)", s.name),
            goal: Duration::from_millis(20),
            result: binary(s.name)
                .and_then(|b| times(30, || quiet(Command::new(&b).arg("--help")))),
        });
    }
    rows.push(Row {
        what: "health-probe, one healthy probe".into(),
        goal: Duration::from_millis(50),
        result: binary("health-probe").and_then(|b| health_probe(&b)),
    });
    rows.push(Row {
        what: "deploy-sha round trip (restart: true)".into(),
        goal: Duration::from_secs(1),
        result: binary("deploy-sha").and_then(|b| deploy_round_trip(&b)),
    });

    println!(
        "\n{:<42} {:>5} {:>10} {:>10} {:>8}  verdict",
        "measure", "runs", "median", "p95", "goal"
    );
    for row in rows {
        match row.result {
            Ok(mut samples) => {
                samples.sort();
                let median = samples[samples.len() / 2];
                let p95 = samples[(samples.len() * 95).div_ceil(100).saturating_sub(1)];
                println!(
                    "{:<42} {:>5} {:>10} {:>10} {:>8}  {}",
                    row.what,
                    samples.len(),
                    ms(median),
                    ms(p95),
                    format!("<{}", ms(row.goal)),
                    if p95 < row.goal {
                        "met"
                    } else if median < row.goal {
                        "met at median, not at p95"
                    } else {
                        "MISSED"
                    }
                );
            }
            Err(why) => println!("{:<42} {why}", row.what),
        }
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

fn quiet(cmd: &mut Command) -> std::result::Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn times(
    n: usize,
    mut f: impl FnMut() -> std::result::Result<(), String>,
) -> std::result::Result<Vec<Duration>, String> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            f().map(|()| start.elapsed())
        })
        .collect()
}

fn health_probe(binary: &Path) -> std::result::Result<Vec<Duration>, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/app/static/revision.txt",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let body = "Mangetamain\nrevision: 0123456789abcdef0123456789abcdef01234567\n";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    times(30, || quiet(scrubbed(binary).env("INPUT_URL", &url)))
}

fn git(dir: &Path, args: &[&str]) -> std::result::Result<String, String> {
    util::git(dir, args).map_err(|f| f.to_string())
}

fn deploy_round_trip(binary: &Path) -> std::result::Result<Vec<Duration>, String> {
    let scratch = Scratch::new("bench").map_err(|f| f.to_string())?;
    let root = scratch.path();
    let (work, app, state) = (root.join("work"), root.join("app"), root.join("state"));
    for dir in [&work, &state] {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    git(root, &["init", "-q", "--bare", "-b", "main", "origin.git"])?;
    git(&work, &["init", "-q", "-b", "main"])?;
    let identity = [
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@lastgood.invalid",
    ];
    let mut shas = Vec::new();
    for n in 0..2 {
        std::fs::write(work.join("VERSION"), format!("{n}\n")).map_err(|e| e.to_string())?;
        git(&work, &["add", "VERSION"])?;
        let mut args = identity.to_vec();
        args.extend(["commit", "-q", "-m", "bench"]);
        git(&work, &args)?;
        shas.push(git(&work, &["rev-parse", "HEAD"])?);
    }
    git(&work, &["push", "-q", "../origin.git", "main"])?;
    git(root, &["clone", "-q", "origin.git", "app"])?;
    let mut i = 0;
    times(10, || {
        i += 1;
        quiet(
            scrubbed(binary)
                .env("INPUT_SHA", &shas[i % 2])
                .env("INPUT_APP_DIR", &app)
                .env("INPUT_STATE_DIR", &state)
                .env("INPUT_ENVIRONMENT", "bench")
                .env("INPUT_RESTART_COMMAND", "true"),
        )
    })
}
