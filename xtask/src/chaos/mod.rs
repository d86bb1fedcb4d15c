//! `cargo xtask chaos --rounds N --seed S`: the randomized pipeline test of issue 8, seeded and
//! replayable. Each round plays random pushes (good, broken at start, broken at health, failing
//! CI) to a real git origin and app checkout, deploys each first with the real binaries
//! (save-rollback-point, deploy-sha, ci-watcher detached, `conclusion`, `resume`), with
//! SIGKILL and SIGTERM at random moments, GitHub rate limits and outages (the testkit's
//! stand-in), and a full state disk now and then (a small tmpfs, when this process may mount
//! one); then checks the invariants I1–I6 (`check.rs`). A failing round prints its seed, its
//! trace and the command that replays it alone; the task exits non-zero.
//!
//! Modules: `rng` (SplitMix64, one stream per round), `world` (the round's repositories, state,
//! stand-in and app), `model` (what was played and seen), `round` (playing it), `check` (the
//! invariants).

mod check;
mod model;
mod rng;
mod round;
mod world;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::util::{self, cargo, target_dir};
use crate::{Failure, Result};

const USAGE: &str = "\
Usage: cargo xtask chaos [--rounds N] [--seed S] [--round R | --first R] [--release] [--keep]
                         [--no-build] [--verbose]

  --rounds N   rounds to play (default 20)
  --seed S     the run's seed (default: from the clock, printed)
  --round R    play only round R of seed S (to replay a failing round)
  --first R    start at round R (to run a long seed in pieces)
  --release    run the release builds (default: debug)
  --keep       keep a failing round's directories under target/chaos/failed-*
  --no-build   run the binaries already built in target/<profile> (`cargo xtask ci` passes it
               after a plain test run, which built them; not after an instrumented one)
  --verbose    print every round's trace, not only a failing one's
";

/// The binaries a round runs (xtask itself is the app's restart helper).
const BINARIES: [&str; 4] = [
    "save-rollback-point",
    "deploy-sha",
    "ci-watcher",
    "sample-app",
];

#[derive(Debug)]
struct Options {
    rounds: u64,
    first: u64,
    seed: u64,
    release: bool,
    keep: bool,
    no_build: bool,
    verbose: bool,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Options> {
        let mut o = Options {
            rounds: 20,
            first: 0,
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs()),
            release: false,
            keep: false,
            no_build: false,
            verbose: false,
        };
        let mut it = args.iter();
        let number = |v: Option<&&str>, flag: &str| -> Result<u64> {
            v.and_then(|v| v.parse().ok())
                .ok_or_else(|| Failure::with_code(format!("{flag} needs a number\n\n{USAGE}"), 2))
        };
        while let Some(flag) = it.next() {
            match *flag {
                "--rounds" => o.rounds = number(it.next(), flag)?,
                "--seed" => o.seed = number(it.next(), flag)?,
                "--first" => o.first = number(it.next(), flag)?,
                "--round" => {
                    o.first = number(it.next(), flag)?;
                    o.rounds = 1;
                }
                "--release" => o.release = true,
                "--keep" => o.keep = true,
                "--no-build" => o.no_build = true,
                "--verbose" => o.verbose = true,
                "--help" | "-h" => return Err(Failure::with_code(USAGE, 0)),
                _ => {
                    return Err(Failure::with_code(
                        format!("unknown option {flag}\n\n{USAGE}"),
                        2,
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// `cargo xtask chaos …`.
pub fn main(args: &[&str]) -> Result {
    let opts = match Options::parse(args) {
        Err(f) if f.to_string() == USAGE => {
            print!("{USAGE}");
            return Ok(());
        }
        other => other?,
    };
    let bins = build(opts.release, opts.no_build)?;
    let parent = target_dir()
        .join("chaos")
        .join(format!("run-{}", std::process::id()));
    let disk = rustix::process::geteuid().is_root();
    if !disk {
        println!(
            "chaos: not root, so no tmpfs for the state directory: the full-disk fault is skipped"
        );
    }
    println!(
        "chaos: seed {}, rounds {}..{}",
        opts.seed,
        opts.first,
        opts.first + opts.rounds
    );
    let start = Instant::now();
    let mut failed = Vec::new();
    for round in opts.first..opts.first + opts.rounds {
        if let Some(line) = play_one(&opts, round, &bins, &parent, disk) {
            failed.push(line);
        }
    }
    let _ = std::fs::remove_dir_all(&parent);
    let _ = std::fs::remove_dir_all(&bins.dir);
    println!(
        "chaos: {} round(s) of seed {} in {:.1}s, {} failing",
        opts.rounds,
        opts.seed,
        start.elapsed().as_secs_f64(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "the invariants did not hold:\n{}",
            failed.join("\n")
        )))
    }
}

/// Plays round `round`; the line naming it when it failed.
fn play_one(
    opts: &Options,
    round: u64,
    bins: &world::Bins,
    parent: &Path,
    disk: bool,
) -> Option<String> {
    let started = Instant::now();
    let name = format!("round-{round}");
    let world = match world::World::new(parent, &name, bins, disk) {
        Ok(w) => w,
        Err(f) => return Some(report(opts, round, &[format!("setup: {f}")], &[])),
    };
    let mut r = round::Round::new(&world, rng::Rng::for_round(opts.seed, round));
    let played = r.play();
    let mut found = check::violations(&world, &r.model);
    if let Err(f) = played {
        found.insert(0, format!("a step failed: {f}"));
    }
    if found.is_empty() {
        if opts.verbose {
            for line in &r.model.trace {
                println!("    {line}");
            }
        }
        println!(
            "chaos: round {round} ok ({} pushes, {} steps seen, {:.1}s)",
            r.model.pushes.len() - 1,
            r.model.samples.len(),
            started.elapsed().as_secs_f64()
        );
        return None;
    }
    if opts.keep {
        keep(
            &world.dir,
            &parent.with_file_name(format!("failed-{}-{round}", opts.seed)),
        );
    }
    Some(report(opts, round, &found, &r.model.trace))
}

/// Prints a failing round; the one-line summary.
fn report(opts: &Options, round: u64, found: &[String], trace: &[String]) -> String {
    println!("chaos: round {round} of seed {} FAILED", opts.seed);
    for line in trace {
        println!("    {line}");
    }
    for v in found {
        println!("  ✗ {v}");
    }
    let replay = format!(
        "cargo xtask chaos --seed {} --round {round}{}",
        opts.seed,
        if opts.release { " --release" } else { "" }
    );
    println!("  replay: {replay}");
    format!("round {round}: {} (replay: {replay})", found.join("; "))
}

/// Copies a failing round's directories (the state directory's tmpfs is gone after the round).
fn keep(dir: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let _ = std::process::Command::new("cp")
        .arg("-a")
        .arg(dir)
        .arg(to)
        .status();
    println!("  kept in {}", to.display());
}

/// Builds the binaries and copies them (with this program) where a rebuild cannot touch them.
fn build(release: bool, no_build: bool) -> Result<world::Bins> {
    let dir = target_dir()
        .join("chaos")
        .join(format!("bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    // This program first: it is the app's restart helper, and a build may replace it.
    let me = std::env::current_exe()
        .map_err(|e| Failure::new(format!("cannot find this program: {e}")))?;
    let mut copies: Vec<(PathBuf, PathBuf)> = vec![(me, dir.join("xtask"))];
    if !no_build {
        let mut cmd = cargo();
        cmd.args(["build", "--locked"]);
        if release {
            cmd.arg("--release");
        }
        for b in BINARIES {
            cmd.args(["-p", b]);
        }
        util::run(&mut cmd)?;
    }
    let from = target_dir().join(if release { "release" } else { "debug" });
    copies.extend(BINARIES.iter().map(|b| (from.join(b), dir.join(b))));
    for (src, dst) in copies {
        std::fs::copy(&src, &dst).map_err(|e| {
            Failure::new(format!(
                "cannot copy {} to {}: {e}",
                src.display(),
                dst.display()
            ))
        })?;
    }
    Ok(world::Bins { dir })
}
