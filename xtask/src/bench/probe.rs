//! Probe lag after readiness: an app on loopback answers 503 (a proxy in front of an app still
//! booting, as the seed's URL is) until a chosen moment, then 200; how late does each probe
//! notice, and how many requests did the app see while it was not ready?

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lastgood_testkit::server::{Reply, TestServer};

use super::stats::{Samples, ms, ratio, sooner};
use super::{Binaries, Section, net};
use crate::util::scrubbed;

/// The moments the app becomes ready, after the probe starts: spread so that no schedule is
/// flattered by one lucky moment.
fn ready_moments() -> Vec<Duration> {
    (0..8)
        .map(|i| Duration::from_millis(200 + 400 * i))
        .collect()
}

/// An app that becomes ready at `ready_at`, counting the requests it saw before.
struct App {
    server: TestServer,
    ready_at: Instant,
    early: Arc<AtomicUsize>,
}

impl App {
    fn start(after: Duration) -> App {
        let ready_at = Instant::now() + after;
        let early = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&early);
        let server = TestServer::start(move |_| {
            if Instant::now() >= ready_at {
                Reply::text(
                    200,
                    "Mangetamain\nrevision: 0123456789abcdef0123456789abcdef01234567\n",
                )
            } else {
                counter.fetch_add(1, Ordering::SeqCst);
                Reply::text(503, "starting")
            }
        });
        App {
            server,
            ready_at,
            early,
        }
    }

    fn url(&self) -> String {
        format!("{}{}", self.server.url(), net::REVISION_PATH)
    }

    /// Lag of a probe that ended (successfully) at `end`; `None` if it ended before readiness.
    fn lag(&self, end: Instant) -> Option<Duration> {
        end.checked_duration_since(self.ready_at)
    }
}

/// One probe run to success; its end.
fn run_to_success(cmd: &mut Command) -> std::result::Result<Instant, String> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run: {e}"))?;
    let end = Instant::now();
    if status.success() {
        Ok(end)
    } else {
        Err(format!("failed ({status})"))
    }
}

#[derive(Default)]
struct Row {
    lag: Samples,
    early_rate: Samples,
    error: Option<String>,
}

impl Row {
    fn record(&mut self, app: &App, end: std::result::Result<Instant, String>, after: Duration) {
        match end.map(|e| app.lag(e)) {
            Ok(Some(lag)) => {
                self.lag.push(lag);
                let early = app.early.load(Ordering::SeqCst) as f64;
                self.early_rate.push_ms(early / after.as_secs_f64());
            }
            Ok(None) => self.error = Some("ended before the app was ready".into()),
            Err(why) => self.error = Some(why),
        }
    }
}

/// Runs the three probes against apps that become ready at each moment.
pub(crate) fn run(bins: &Binaries) -> Section {
    let mut s = Section::new("Probe lag after readiness");
    let probe = match bins.get("health-probe") {
        Ok(p) => p,
        Err(why) => return Section::failed(&s.title, &why),
    };
    let moments = ready_moments();
    // curl waits 10s between tries: its runs go in parallel, each with its own app.
    let curl_runs: Vec<_> = moments
        .iter()
        .map(|&after| {
            std::thread::spawn(move || {
                let app = App::start(after);
                let end = run_to_success(
                    Command::new("curl")
                        .args([
                            "-fsS",
                            "-o",
                            "/dev/null",
                            "--retry",
                            "3",
                            "--retry-delay",
                            "10",
                        ])
                        .arg(app.url()),
                );
                (
                    app.lag(end.clone().unwrap_or_else(|_| Instant::now())),
                    end,
                    app.early.load(Ordering::SeqCst),
                    after,
                )
            })
        })
        .collect();
    let (mut lastgood, mut poller, mut curl) = (Row::default(), Row::default(), Row::default());
    for &after in &moments {
        let app = App::start(after);
        let end = run_to_success(
            scrubbed(&probe)
                .env("INPUT_URL", app.url())
                .env("INPUT_ATTEMPTS", "10"),
        );
        lastgood.record(&app, end, after);

        let app = App::start(after);
        let port = app.server.port();
        let end = net::poll_until(
            port,
            net::REVISION_PATH,
            after + Duration::from_secs(10),
            |a| a.status == 200,
        )
        .ok_or_else(|| "never saw the app ready".to_owned());
        poller.record(&app, end, after);
    }
    for run in curl_runs {
        match run.join() {
            Ok((Some(lag), Ok(_), early, after)) => {
                curl.lag.push(lag);
                curl.early_rate.push_ms(early as f64 / after.as_secs_f64());
            }
            Ok((_, Err(why), _, _)) => curl.error = Some(why),
            Ok((None, Ok(_), _, _)) => curl.error = Some("ended before the app was ready".into()),
            Err(_) => curl.error = Some("the curl run panicked".into()),
        }
    }

    s.line(&format!(
        "An app on loopback answers 503 until a chosen moment (a proxy in front of an app still \
         booting, as the seed's health URL is), then 200; the moments are {} after the probe \
         starts, one run each. The lag is the probe's successful exit (the poller's sighting) \
         minus that moment. health-probe runs with its defaults (`interval` 5s, `timeout` 10s) \
         and `attempts: 10` so that it never gives up before the app is ready; the seed's check \
         is `curl -fsS --retry 3 --retry-delay 10` (curl retries a 503 but not a refused \
         connection: without `--retry-connrefused` an app not yet listening fails it at once).",
        moments
            .iter()
            .map(|d| format!("{:.1}s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let seed_median = curl.lag.median();
    let mut rows = Vec::new();
    for (name, row) in [
        ("health-probe (defaults)", &lastgood),
        ("seed: curl --retry 3 --retry-delay 10", &curl),
        ("10 ms poller (the limit)", &poller),
    ] {
        let mut cells = vec![
            name.to_owned(),
            row.lag.len().to_string(),
            ms(row.lag.median()),
            ms(row.lag.p95()),
            ratio(seed_median, row.lag.median()),
            format!("{:.1}/s", row.early_rate.median()),
        ];
        if let Some(why) = &row.error {
            cells.push(format!("some runs failed: {why}"));
        }
        rows.push(cells);
    }
    s.table(
        &[
            "probe",
            "runs",
            "lag median",
            "lag p95",
            "seed's lag ÷ this lag",
            "requests/s before ready",
        ],
        &rows,
    );
    s.line(&format!(
        "health-probe's excess over the 10 ms poller: median {}, p95 {}.",
        ms(lastgood.lag.median() - poller.lag.median()),
        ms(lastgood.lag.p95() - poller.lag.p95())
    ));
    let p95 = lastgood.lag.p95();
    s.goal(
        "health-probe notices a ready app (loopback)",
        "lag p95 ≤ 100 ms",
        ms(p95),
        (lastgood.lag.len() > 0 && lastgood.error.is_none()).then_some(p95 <= 100.0),
    );
    s.headline(
        "an app that becomes ready is noticed (lag, median)",
        ms(lastgood.lag.median()),
        &format!("the seed's curl retries ({})", ms(seed_median)),
        sooner(seed_median, lastgood.lag.median()),
    );
    s
}
