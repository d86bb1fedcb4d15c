//! One deploy, side by side on the same app and commits: lastgood's `deploy-sha`, the seed's
//! bash sequence, and the bare sequence with a 10ms poller (the physical limit).

use std::process::Command;
use std::time::{Duration, Instant};

use super::stats::{Samples, ms, ratio, sooner};
use super::testbed::{AppKind, Repo, Service, quiet};
use super::{Binaries, Section, net};
use crate::util::scrubbed;

const ROUNDS: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Bare,
    Seed,
    Lastgood,
    LastgoodRecreate,
}

const ORDER: [Contender; 4] = [
    Contender::Bare,
    Contender::Seed,
    Contender::Lastgood,
    Contender::LastgoodRecreate,
];

/// Runs the rounds.
pub(crate) fn run(bins: &Binaries, kind: AppKind) -> Section {
    let title = "Deploy: lastgood, the seed's sequence, the bare sequence";
    match measure(bins, kind) {
        Ok(s) => s,
        Err(why) => Section::failed(title, &why),
    }
}

struct Bed {
    repo: Repo,
    app: Service,
    shas: [String; 2],
}

impl Bed {
    fn git(&self, args: &[&str]) -> std::result::Result<(), String> {
        quiet(Command::new("git").current_dir(&self.repo.app).args(args)).map(drop)
    }

    /// Waits (outside any measure) until the app serves `sha`.
    fn settle(&self, sha: &str) -> std::result::Result<(), String> {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if self.app.serves().as_deref() == Some(sha) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("the app did not come to serve {sha} within 60s"))
    }
}

fn measure(bins: &Binaries, kind: AppKind) -> std::result::Result<Section, String> {
    let deploy = bins.get("deploy-sha")?;
    let repo = Repo::new("deploy", &[("VERSION", "1\n")])?;
    let a = repo.commit_only(&[("VERSION", "1\n")], "one")?;
    let b = repo.commit(&[("VERSION", "2\n")], "two")?;
    repo.checkout(&a)?;
    let app = Service::new(kind, &repo, "deploy")?;
    app.up()?;
    let bed = Bed {
        repo,
        app,
        shas: [a, b],
    };
    bed.settle(&bed.shas[0])?;

    let mut times: [Samples; 4] = Default::default();
    // One small git command here, now: what each extra git command of a deploy costs.
    let mut spawn = Samples::new();
    let mut seed_unconfirmed = 0usize;
    let mut seed_failed = 0usize;
    let mut next = 1usize;
    for round in 0..ROUNDS {
        eprintln!("    deploy round {}/{ROUNDS}", round + 1);
        for i in 0..ORDER.len() {
            let contender = ORDER[(i + round) % ORDER.len()];
            let sha = bed.shas[next].clone();
            next = 1 - next;
            let start = Instant::now();
            match contender {
                Contender::Bare => {
                    bed.git(&["fetch", "-q", "origin"])?;
                    bed.git(&["reset", "-q", "--hard", &sha])?;
                    quiet(&mut bed.app.restart())?;
                    net::poll_until(
                        bed.app.port,
                        net::REVISION_PATH,
                        Duration::from_secs(60),
                        |a| a.status == 200 && net::revision(&a.body) == Some(sha.as_str()),
                    )
                    .ok_or("the bare sequence never saw the new SHA")?;
                }
                Contender::Seed => {
                    bed.git(&["fetch", "-q", "origin", "main"])?;
                    bed.git(&["reset", "-q", "--hard", &sha])?;
                    quiet(&mut bed.app.restart())?;
                    let out = Command::new("curl")
                        .args(["-fsS", "--retry", "3", "--retry-delay", "10"])
                        .arg(bed.app.health_url())
                        .output()
                        .map_err(|e| format!("cannot run curl: {e}"))?;
                    if !out.status.success() {
                        seed_failed += 1;
                    } else if !String::from_utf8_lossy(&out.stdout).contains(&sha) {
                        seed_unconfirmed += 1;
                    }
                }
                Contender::Lastgood | Contender::LastgoodRecreate => {
                    let recreate = contender == Contender::LastgoodRecreate;
                    quiet(
                        scrubbed(&deploy)
                            .env("INPUT_SHA", &sha)
                            .env("INPUT_APP_DIR", &bed.repo.app)
                            .env("INPUT_STATE_DIR", &bed.repo.state)
                            .env("INPUT_ENVIRONMENT", "bench")
                            .env("INPUT_HEALTH_URL", bed.app.health_url())
                            .env("INPUT_HEALTH_EXPECT_VERSION", "sha")
                            .envs(bed.app.lastgood_env(recreate)),
                    )?;
                }
            }
            let took = start.elapsed();
            times[ORDER.iter().position(|c| *c == contender).unwrap_or(0)].push(took);
            bed.settle(&sha)?;
            let began = Instant::now();
            quiet(
                Command::new("git")
                    .current_dir(&bed.repo.app)
                    .args(["rev-parse", "HEAD"]),
            )?;
            spawn.push(began.elapsed());
        }
    }
    let [bare, seed, lastgood, recreate] = times;
    let overhead = lastgood.minus(&bare);

    let mut s = Section::new("Deploy: lastgood, the seed's sequence, the bare sequence");
    s.line(&format!(
        "The app: {}. Two commits, deployed in turn; {ROUNDS} rounds, each running every \
         contender once in a rotating order, so that noise falls on all of them alike. A deploy \
         is timed from its first command to the moment its end is known: the bare sequence \
         (`git fetch`, `git reset --hard`, the restart, then a 10 ms poller until the health \
         answer names the new SHA: the physical limit), the seed's sequence (`git fetch origin \
         main`, `git reset --hard`, the restart, `curl -fsS --retry 3 --retry-delay 10`), and \
         `deploy-sha` (lock, fetch, reachability, local changes kept, reset, the same restart \
         with `restart-mode: restart`, health gate expecting the SHA, journal), plus `deploy-sha` \
         with its default `restart-mode: recreate` (`up -d --force-recreate`, which applies \
         compose and `.env` changes that a restart ignores).",
        kind.describe()
    ));
    let rows: Vec<Vec<String>> = [
        ("bare sequence + 10 ms poller (the limit)", &bare),
        ("seed: bash sequence + curl retries", &seed),
        ("lastgood `deploy-sha` (restart)", &lastgood),
        ("lastgood `deploy-sha` (recreate, the default)", &recreate),
    ]
    .into_iter()
    .map(|(name, t)| {
        vec![
            name.to_owned(),
            ms(t.median()),
            ms(t.p95()),
            ratio(t.median(), bare.median()),
            ratio(seed.median(), t.median()),
        ]
    })
    .collect();
    s.table(
        &["deploy", "median", "p95", "× the limit", "seed ÷ this"],
        &rows,
    );
    s.line(&format!(
        "`deploy-sha`'s overhead over the bare sequence, paired by round: median {}, p95 {}; \
         that is {:.1} git commands at the median (`git rev-parse HEAD` took {} at the median \
         during these rounds): `deploy-sha` runs 12 git commands where the bare sequence runs 2 \
         (the work tree check, twice; fetch; the commit and the remote branch exist; \
         reachability; a stale `index.lock`; HEAD; refresh and list local changes; untracked \
         files in the way; reset), besides its own start, the lock and the journal. \
         The seed's curl failed {seed_failed} of {ROUNDS} times (curl does not retry a refused \
         or reset connection) and answered without naming the new SHA {seed_unconfirmed} times \
         (it checks that something answers, not which version).",
        ms(overhead.median()),
        ms(overhead.p95()),
        overhead.median() / spawn.median().max(f64::EPSILON),
        ms(spawn.median())
    ));
    s.goal(
        "deploy-sha's overhead over the bare sequence",
        "median ≤ 50 ms",
        ms(overhead.median()),
        Some(overhead.median() <= 50.0),
    );
    s.goal(
        "deploy-sha's overhead over the bare sequence",
        "p95 ≤ 100 ms",
        ms(overhead.p95()),
        Some(overhead.p95() <= 100.0),
    );
    s.headline(
        "one deploy, fetch to the new SHA healthy (same restart)",
        ms(lastgood.median()),
        &format!("the bare sequence, the limit ({})", ms(bare.median())),
        ratio(lastgood.median(), bare.median()),
    );
    s.headline(
        "one deploy, against the seed's sequence",
        ms(lastgood.median()),
        &format!("the seed's bash + curl ({})", ms(seed.median())),
        sooner(seed.median(), lastgood.median()),
    );
    Ok(s)
}
