//! `cargo xtask bench`: lastgood side by side with what a user would otherwise run, in one run,
//! on this machine, written to `<target dir>/bench/report.md`.
//!
//! Every figure is a median and a p95 over repeated runs, and is shown against its anchor as a
//! ratio (the machine is shared and noisy; ratios of runs taken together travel better than
//! absolute times). Sections:
//!
//! - [`startup`]: start-up time and size of each shipped (release, static) binary, against
//!   spawning `true`;
//! - [`probe`]: how late a probe notices an app that becomes ready at a chosen moment:
//!   health-probe's defaults, the seed's `curl --retry 3 --retry-delay 10`, a 10ms poller;
//! - [`deploy`]: one deploy, lastgood against the seed's bash sequence and against the bare
//!   sequence with a 10ms poller (the physical limit), on the same app and commits;
//! - [`watcher`]: a 5-minute CI run against the testkit's GitHub stand-in: requests, rate-limit
//!   units, delay from CI's end to the rollback (lastgood polling, lastgood on `workflow_run`,
//!   naive polling); it runs in the background, for real time unless compressed;
//! - [`story`]: the whole preprod story, push to "the new SHA serves", against the seed's ~40s.
//!
//! Nothing is asserted: the report says which goals are met and by how much.
//! `LASTGOOD_BENCH_COMPRESS=N` divides the watcher's times (CI's duration, its intervals) by N;
//! `LASTGOOD_BENCH_ONLY=probe,deploy` runs only the named sections (`startup`, `probe`,
//! `deploy`, `story`, `watcher`).

mod net;
mod probe;
mod report;
mod startup;
mod stats;
mod story;
mod testbed;
mod watcher;

mod deploy;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::Result;
use crate::util::{binary_crates, host_target, target_dir, write_file};

pub(crate) use report::Section;

/// The shipped binaries, as `dist` builds them.
pub(crate) struct Binaries {
    dir: PathBuf,
    names: Vec<String>,
}

impl Binaries {
    /// The path of binary `name`, or why it is not there.
    pub(crate) fn get(&self, name: &str) -> std::result::Result<PathBuf, String> {
        let path = self.dir.join(name);
        if self.names.iter().any(|b| b == name) && path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "not built: crates/{name} does not exist in this tree"
            ))
        }
    }

    fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Runs the benchmarks and writes the report.
pub fn run() -> Result {
    let began = Instant::now();
    let names = binary_crates();
    let built = crate::dist::build_release(&names, &host_target()?)?;
    let dir = built
        .values()
        .next()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| crate::Failure::new("cargo built no binary to measure"))?;
    let bins = Binaries { dir, names };
    let machine = report::Machine::read();
    let compress = std::env::var("LASTGOOD_BENCH_COMPRESS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    let env = testbed::AppKind::detect();
    if let testbed::AppKind::Docker = env {
        testbed::build_sample_image()?;
    } else {
        testbed::build_sample_binary()?;
    }

    eprintln!(
        "==> bench: the watcher runs in the background ({}); the other sections meanwhile",
        if compress == 1 {
            "5 real minutes".to_owned()
        } else {
            format!("time compressed {compress}×")
        }
    );
    // `LASTGOOD_BENCH_ONLY=probe,deploy` runs only those sections (while working on one).
    let only = std::env::var("LASTGOOD_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    let watcher = wanted("watcher").then(|| {
        let bin = bins.get("ci-watcher");
        std::thread::spawn(move || watcher::run(bin, compress))
    });
    let mut sections = Vec::new();
    if wanted("startup") {
        eprintln!("==> bench: start-up and size");
        sections.push(startup::run(&bins));
    }
    if wanted("probe") {
        eprintln!("==> bench: probe lag");
        sections.push(probe::run(&bins));
    }
    if wanted("deploy") {
        eprintln!("==> bench: deploy");
        sections.push(deploy::run(&bins, env));
    }
    if wanted("story") {
        eprintln!("==> bench: the preprod story");
        sections.push(story::run(&bins, env));
    }
    if let Some(watcher) = watcher {
        eprintln!("==> bench: waiting for the watcher");
        sections.push(
            watcher
                .join()
                .unwrap_or_else(|_| Section::failed("Watching CI", "the watcher's bench panicked")),
        );
    }

    let text = report::render(&machine, &sections, began.elapsed(), bins.dir());
    let path = target_dir().join("bench").join("report.md");
    write_file(&path, &text)?;
    println!("{text}");
    eprintln!("==> bench: report written to {}", path.display());
    Ok(())
}
