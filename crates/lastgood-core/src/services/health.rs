//! Health probes: is the app up, and is it the version we think?
//!
//! [`ProbeConfig::from_inputs`] reads and validates the probe inputs of any binary
//! (`url`, `expect-status`, … for health-probe; `health-url`, `health-expect-status`, … for
//! deploy-sha and ci-watcher). [`probe`] runs the tries; [`record`] keeps the result in the state
//! directory to report transitions and uptime.
//!
//! Behaviour, for the docs:
//! - After `initial-delay`, each try sends `GET` to every URL; a try passes when every URL passes.
//! - Every failure is retried: refused, DNS, timeout, unexpected status (5xx or any other),
//!   body, JSON and version mismatches, until `attempts` tries or the `deadline`.
//! - Waits between tries start at 250ms and double, capped at `interval`, so an app that comes
//!   up early is seen at once (no jitter: a probe is one client, and a plain schedule reads well).
//! - A quick failure (refused, a 502/503 from a proxy, any wrong answer within 100ms; not a
//!   timeout) is retried every 25ms (never more often than the failure took) while the probe
//!   waits for its next try: an app on loopback or a LAN is seen within ~25ms of answering.
//!   These quick retries do not count as `attempts`: the schedule of tries, and so how long a
//!   probe may take, stays what `attempts`, `interval` and `deadline` say. A slow failure gets
//!   no quick retry (a slow app is not hammered).
//! - `deadline` bounds the whole probe, `initial-delay` and waits included: a try is only started
//!   when its wait ends before the deadline, and its timeout is cut to the time left.
//! - Redirects are never followed: a 3xx is a status like any other (add it to `expect-status`
//!   if it is the expected answer); the failure reason names its `Location`.
//! - `expect-version`: the body must contain the string; for a 40-hex SHA, the body may name
//!   it in full or by its 7-character short form (case-insensitive).
//! - `expect-json`: one assertion per line, `/pointer == <JSON value>`, `/pointer != <JSON value>`
//!   or a bare `/pointer` (the field exists). Strings are quoted: `/status == "ok"`.
//! - The failure reason is the last try's, one line, prefixed with the URL when there are several.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::sha::Sha;
use crate::base::spec::HEALTH_PROBE;
use crate::base::text::truncate;
use crate::base::time::rfc3339;
use crate::base::time::{format_duration, parse_duration};
use crate::contract::context::Context;
use crate::contract::inputs::Inputs;
use crate::platform::cancel;
use crate::platform::http::host_of;
use crate::platform::http::{Client, ErrorKind, Request, Response};
use crate::platform::state::health_history::{self, HistoryEntry, Transition};
use crate::platform::state::journal::{JournalEvent, JournalOutcome};
use crate::platform::state::{JournalEntry, StateDir, env_name};

/// The first wait between two tries; each next one doubles, up to `interval`.
const FIRST_WAIT: Duration = Duration::from_millis(250);

/// Everything one probe needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// The URLs to probe; all must pass.
    pub urls: Vec<String>,
    /// Accepted statuses.
    pub expect_status: StatusSet,
    /// A substring the body must contain.
    pub expect_body: Option<String>,
    /// Assertions on the JSON body.
    pub expect_json: Vec<JsonAssertion>,
    /// A string (typically a SHA) the body must contain. For deploy-sha and ci-watcher, the literal
    /// `sha` is left as is: the caller substitutes the SHA with [`ProbeConfig::with_version`].
    pub expect_version: Option<String>,
    /// Time allowed for one try of one URL.
    pub timeout: Duration,
    /// Scheduled tries in all (≥ 1); the quick retries between them are not counted.
    pub attempts: u32,
    /// The longest wait between two tries.
    pub interval: Duration,
    /// Wait before the first try.
    pub initial_delay: Duration,
    /// Overall bound on the whole probe, waits included.
    pub deadline: Option<Duration>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

impl ProbeConfig {
    /// A configuration with health-probe's defaults for these URLs (not validated).
    pub fn new(urls: Vec<String>) -> Self {
        ProbeConfig {
            urls,
            expect_status: StatusSet::single(200),
            expect_body: None,
            expect_json: Vec::new(),
            expect_version: None,
            timeout: Duration::from_secs(10),
            attempts: 3,
            interval: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
            deadline: None,
            headers: Vec::new(),
        }
    }

    /// Reads the probe inputs; `prefix` is "" for health-probe and "health-" for deploy-sha and
    /// ci-watcher. Inputs absent from that binary's spec take health-probe's defaults.
    ///
    /// Validates everything (URLs, status list, JSON assertions, header lines, durations,
    /// attempts ≥ 1); an error names the input as the user wrote it (`health-expect-status`).
    /// Returns `None` when no URL is given and `prefix` is not empty (no health gate).
    pub fn from_inputs(inputs: &Inputs, prefix: &str) -> Result<Option<ProbeConfig>> {
        let name = |base: &str| format!("{prefix}{base}");
        // Only read inputs the binary has (with its defaults); what is still unset takes
        // health-probe's default, from its spec.
        let get = |base: &str| -> Option<String> {
            let n = name(base);
            inputs
                .spec()
                .input(&n)
                .and_then(|_| inputs.get(&n))
                .or_else(|| HEALTH_PROBE.input(base).and_then(|i| i.default))
                .map(str::to_owned)
        };
        let urls: Vec<String> = get("url")
            .map(|v| {
                v.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if urls.is_empty() {
            if prefix.is_empty() {
                return Err(Error::input(name("url"), "is required and was not given"));
            }
            return Ok(None);
        }
        for url in &urls {
            check_url(url).map_err(|reason| Error::input(name("url"), reason))?;
        }
        let mut config = ProbeConfig::new(urls);
        config.read_expectations(&get, &name)?;
        config.read_timing(&get, &name)?;
        if let Some(v) = get("header") {
            config.headers = v
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(parse_header)
                .collect::<std::result::Result<_, _>>()
                .map_err(|r| Error::input(name("header"), r))?;
        }
        config.check_deadline(&name)?;
        Ok(Some(config))
    }

    /// `expect-status`, `expect-body`, `expect-json`, `expect-version`.
    fn read_expectations(
        &mut self,
        get: &dyn Fn(&str) -> Option<String>,
        name: &dyn Fn(&str) -> String,
    ) -> Result<()> {
        if let Some(v) = get("expect-status") {
            self.expect_status =
                StatusSet::parse(&v).map_err(|r| Error::input(name("expect-status"), r))?;
        }
        self.expect_body = get("expect-body");
        if let Some(v) = get("expect-json") {
            self.expect_json = v
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(JsonAssertion::parse)
                .collect::<std::result::Result<_, _>>()
                .map_err(|r| Error::input(name("expect-json"), r))?;
        }
        self.expect_version = get("expect-version");
        Ok(())
    }

    /// `timeout`, `interval`, `initial-delay`, `deadline`, `attempts`.
    fn read_timing(
        &mut self,
        get: &dyn Fn(&str) -> Option<String>,
        name: &dyn Fn(&str) -> String,
    ) -> Result<()> {
        let duration = |base: &str| -> Result<Option<Duration>> {
            get(base)
                .map(|v| parse_duration(&v).map_err(|r| Error::input(name(base), r)))
                .transpose()
        };
        if let Some(d) = duration("timeout")? {
            if d.is_zero() {
                return Err(Error::input(name("timeout"), "must be longer than 0s"));
            }
            self.timeout = d;
        }
        if let Some(d) = duration("interval")? {
            self.interval = d;
        }
        if let Some(d) = duration("initial-delay")? {
            self.initial_delay = d;
        }
        self.deadline = duration("deadline")?;
        if let Some(v) = get("attempts") {
            self.attempts = match v.parse::<u32>() {
                Ok(0) => return Err(Error::input(name("attempts"), "must be at least 1")),
                Ok(n) => n,
                Err(_) => {
                    return Err(Error::input(
                        name("attempts"),
                        format!("`{v}` is not a whole number"),
                    ));
                }
            };
        }
        Ok(())
    }

    /// A `deadline` must leave room for a try after `initial-delay`.
    fn check_deadline(&self, name: &dyn Fn(&str) -> String) -> Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        if deadline.is_zero() {
            return Err(Error::input(name("deadline"), "must be longer than 0s"));
        }
        if self.initial_delay >= deadline {
            return Err(Error::input(
                name("deadline"),
                format!(
                    "must be longer than `{}` ({}), or no try could be made",
                    name("initial-delay"),
                    format_duration(self.initial_delay)
                ),
            ));
        }
        Ok(())
    }

    /// The same configuration expecting `version` instead (e.g. the SHA for `sha`).
    pub fn with_version(&self, version: Option<String>) -> ProbeConfig {
        ProbeConfig {
            expect_version: version,
            ..self.clone()
        }
    }
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| format!("`{}` is not a usable URL: {why}", display_url(url));
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("it must start with http:// or https://"));
    }
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("it cannot be parsed"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(())
}

/// The URL as logs and reasons show it: a password in it (`https://user:pw@host/`) becomes `***`.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Parses one `Name: value` header line.
fn parse_header(line: &str) -> std::result::Result<(String, String), String> {
    // A header line often holds a credential: errors never repeat it, only a plain name.
    let (name, value) = line.split_once(':').ok_or_else(|| {
        "a line has no `:` (use `Name: value`; the line is not shown, it may hold a credential)"
            .to_owned()
    })?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        let shown = if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 64 {
            "a header name".to_owned()
        } else {
            format!("`{name}`")
        };
        return Err(format!(
            "{shown} is not a valid header name (use `Name: value`)"
        ));
    }
    if ureq::http::HeaderValue::from_str(value).is_err() {
        return Err(format!(
            "the value of header `{name}` has invalid characters"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// A set of accepted HTTP statuses: `200`, `200,204`, `200-299`, `2xx`, or a mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl StatusSet {
    /// Exactly one status.
    pub fn single(status: u16) -> Self {
        StatusSet {
            ranges: vec![(status, status)],
        }
    }

    /// Parses a comma-separated list of codes, ranges (`200-299`) and classes (`2xx`).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let code = |s: &str| -> std::result::Result<u16, String> {
            let s = s.trim();
            match s.parse::<u16>() {
                Ok(n) if (100..=599).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{s}` is not an HTTP status (100-599); use e.g. `200`, `200,204` or `200-299`"
                )),
            }
        };
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!(
                    "`{text}` has an empty entry; use e.g. `200`, `200,204` or `200-299`"
                ));
            }
            let lower = part.to_ascii_lowercase();
            if lower.len() == 3 && lower.ends_with("xx") {
                let class = code(&format!("{}00", &lower[..1]))?;
                ranges.push((class, class + 99));
            } else if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (code(a)?, code(b)?);
                if a > b {
                    return Err(format!(
                        "`{part}` is an empty range (write the lower bound first)"
                    ));
                }
                ranges.push((a, b));
            } else {
                let c = code(part)?;
                ranges.push((c, c));
            }
        }
        Ok(StatusSet { ranges })
    }

    /// Whether `status` is accepted.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// How a JSON assertion compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOp {
    /// The value at the pointer equals the expected value.
    Eq,
    /// The value at the pointer differs from the expected value (or is missing).
    Ne,
    /// The pointer leads somewhere.
    Exists,
}

/// One assertion on a JSON body: `/status == "ok"`, `/db/up != false`, `/version`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAssertion {
    /// A JSON pointer (RFC 6901), `/a/b/0`.
    pub pointer: String,
    /// The comparison.
    pub op: JsonOp,
    /// The expected value (`Null` for [`JsonOp::Exists`]).
    pub value: Value,
}

impl JsonAssertion {
    /// Parses `/pointer == <JSON value>`, `/pointer != <JSON value>` or a bare `/pointer`.
    pub fn parse(line: &str) -> std::result::Result<Self, String> {
        let line = line.trim();
        if !line.starts_with('/') {
            return Err(format!(
                "`{line}` must start with a JSON pointer such as `/status` (e.g. `/status == \"ok\"`)"
            ));
        }
        let op_at = [("==", JsonOp::Eq), ("!=", JsonOp::Ne)]
            .into_iter()
            .filter_map(|(s, op)| line.find(s).map(|i| (i, op)))
            .min_by_key(|(i, _)| *i);
        let Some((at, op)) = op_at else {
            if line.contains(char::is_whitespace) {
                return Err(format!(
                    "`{line}` is not an assertion (use `/pointer == value`, `/pointer != value` or `/pointer`)"
                ));
            }
            return Ok(JsonAssertion {
                pointer: line.to_owned(),
                op: JsonOp::Exists,
                value: Value::Null,
            });
        };
        let pointer = line[..at].trim();
        let text = line[at + 2..].trim();
        if pointer.contains(char::is_whitespace) {
            return Err(format!("`{pointer}` is not a JSON pointer (in `{line}`)"));
        }
        if text.is_empty() {
            return Err(format!("`{line}` has no value after the operator"));
        }
        let value = serde_json::from_str::<Value>(text).map_err(|_| {
            format!(
                "`{text}` is not a JSON value (in `{line}`); quote strings: `{pointer} == \"{}\"`",
                text.trim_matches(['"', '\''])
            )
        })?;
        Ok(JsonAssertion {
            pointer: pointer.to_owned(),
            op,
            value,
        })
    }

    /// Checks the assertion against a document; the error is the one-line reason.
    pub fn check(&self, doc: &Value) -> std::result::Result<(), String> {
        let found = doc.pointer(&self.pointer);
        let p = &self.pointer;
        match (&self.op, found) {
            (JsonOp::Exists, Some(_)) => Ok(()),
            (JsonOp::Exists, None) => Err(format!("{p} is missing")),
            (JsonOp::Eq, Some(v)) if v == &self.value => Ok(()),
            (JsonOp::Eq, Some(v)) => Err(format!(
                "{p} is {}, expected {}",
                short_json(v),
                short_json(&self.value)
            )),
            (JsonOp::Eq, None) => Err(format!(
                "{p} is missing, expected {}",
                short_json(&self.value)
            )),
            (JsonOp::Ne, Some(v)) if v == &self.value => {
                Err(format!("{p} is {}, expected anything else", short_json(v)))
            }
            (JsonOp::Ne, _) => Ok(()),
        }
    }
}

impl fmt::Display for JsonAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            JsonOp::Exists => f.write_str(&self.pointer),
            JsonOp::Eq => write!(f, "{} == {}", self.pointer, self.value),
            JsonOp::Ne => write!(f, "{} != {}", self.pointer, self.value),
        }
    }
}

fn short_json(v: &Value) -> String {
    // 80 characters, then the mark of the cut.
    truncate(&v.to_string(), 81)
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Whether the last try passed for every URL.
    pub healthy: bool,
    /// The last HTTP status: of the first URL that failed the last try, else of the last URL
    /// (`None` when that URL gave no response).
    pub status: Option<u16>,
    /// Tries made (the scheduled ones, what `attempts` bounds).
    pub attempts: u32,
    /// Quick retries made between tries after quick failures (not counted in `attempts`).
    pub quick_retries: u32,
    /// Time spent, `initial-delay` included.
    pub elapsed: Duration,
    /// Why the last try failed, one line; `None` when healthy.
    pub failure_reason: Option<String>,
    /// The job was cancelled ([`crate::cancel`]) before the probe reached a verdict: `healthy`
    /// is then false and says nothing about the app.
    pub cancelled: bool,
}

/// The wait after try `attempt` (1-based): 250ms, 500ms, 1s, … capped at `interval`.
pub(crate) fn backoff(attempt: u32, interval: Duration) -> Duration {
    FIRST_WAIT
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(interval)
}

/// A failure answered within this time, and not a timeout, costs the app nothing (refused, a
/// 502/503 from a proxy, a quick wrong answer): it is retried every [`QUICK_PERIOD`] while the
/// probe waits for its next try.
pub(crate) const CHEAP_FAILURE: Duration = Duration::from_millis(100);

/// The period of quick retries; never shorter than the failure took, so an app spends at most
/// half its time answering them.
pub(crate) const QUICK_PERIOD: Duration = Duration::from_millis(25);

/// What one try of every URL found.
struct TryOutcome {
    status: Option<u16>,
    reason: Option<String>,
    /// Every failure was quick and not a timeout: worth a quick retry.
    cheap: bool,
    /// The longest time one URL took.
    took: Duration,
}

/// One try of every URL; `label` prefixes each log line ("try 2/5").
fn try_all(
    config: &ProbeConfig,
    client: &Client,
    deadline: Option<Instant>,
    label: &str,
    log: &mut dyn FnMut(&str),
) -> TryOutcome {
    let several = config.urls.len() > 1;
    let mut out = TryOutcome {
        status: None,
        reason: None,
        cheap: true,
        took: Duration::ZERO,
    };
    for full_url in &config.urls {
        let url = display_url(full_url);
        let began = Instant::now();
        let left = deadline.map(|d| d.saturating_duration_since(began));
        let timeout = left.map_or(config.timeout, |l| config.timeout.min(l));
        let outcome = if left.is_some_and(|l| l.is_zero()) {
            Err(Failed {
                status: None,
                why: "not tried: the deadline was reached".to_owned(),
                timed_out: true,
            })
        } else if cancel::installed() {
            // On a thread, so that a cancelled job does not wait for a silent server.
            let (config, client, url) = (config.clone(), client.clone(), full_url.clone());
            match cancel::run(move || check_one(&config, &client, &url, timeout)) {
                Some(outcome) => outcome,
                None => break,
            }
        } else {
            check_one(config, client, full_url, timeout)
        };
        let elapsed = began.elapsed();
        out.took = out.took.max(elapsed);
        let took = format_duration(elapsed);
        match outcome {
            Ok(s) => {
                log(&format!("{label}: {url}: ok, status {s} in {took}"));
                if out.reason.is_none() {
                    out.status = Some(s);
                }
            }
            Err(f) => {
                log(&format!("{label}: {url}: {} (in {took})", f.why));
                if out.reason.is_none() {
                    out.status = f.status;
                }
                out.cheap &= !f.timed_out && elapsed < CHEAP_FAILURE;
                let why = if several {
                    format!("{url}: {}", f.why)
                } else {
                    f.why
                };
                out.reason = Some(match out.reason.take() {
                    None => why,
                    Some(before) => format!("{before}; {why}"),
                });
            }
        }
    }
    out
}

/// Runs the probe: `initial-delay`, then tries until one passes, `attempts` are spent or the
/// `deadline` comes. While it waits for the next try after a quick failure (refused, a 502/503
/// from a proxy, a quick wrong answer), it retries every [`QUICK_PERIOD`]: an app that comes up
/// is seen within that period, and these quick retries do not count as `attempts` (the
/// schedule of tries, and so the time the probe may take, is unchanged). A slow failure (a
/// timeout, an answer slower than [`CHEAP_FAILURE`]) gets no quick retry: the probe waits.
/// `log` receives one line per URL per try, and each wait; quick retries are logged only when
/// one passes, or fails slowly.
pub fn probe(config: &ProbeConfig, client: &Client, log: &mut dyn FnMut(&str)) -> ProbeReport {
    let start = Instant::now();
    let deadline = config.deadline.map(|d| start + d);
    if !config.initial_delay.is_zero() {
        log(&format!(
            "waiting {} before the first try",
            format_duration(config.initial_delay)
        ));
        cancel::sleep(config.initial_delay);
    }
    let mut attempt = 0;
    let mut quick = 0u32;
    let (mut status, mut reason);
    loop {
        attempt += 1;
        let tried = try_all(
            config,
            client,
            deadline,
            &format!("try {attempt}/{}", config.attempts),
            log,
        );
        (status, reason) = (tried.status, tried.reason.clone());
        if cancel::requested().is_some() || reason.is_none() || attempt >= config.attempts {
            break;
        }
        let wait = backoff(attempt, config.interval);
        let now = Instant::now();
        if deadline.is_some_and(|d| now + wait >= d) {
            log(&format!(
                "deadline of {} reached after {attempt} {}",
                format_duration(config.deadline.unwrap_or_default()),
                if attempt == 1 { "try" } else { "tries" }
            ));
            break;
        }
        let wake = now + wait;
        if tried.cheap {
            log(&format!(
                "waiting {} before try {}, retrying every {} meanwhile (the failure was quick)",
                format_duration(wait),
                attempt + 1,
                format_duration(QUICK_PERIOD.max(tried.took))
            ));
            let quick_try =
                quick_retries(config, client, deadline, wake, tried.took, &mut quick, log);
            if let Some(q) = quick_try {
                (status, reason) = (q.status, q.reason);
                if reason.is_none() {
                    break;
                }
            }
        } else {
            log(&format!(
                "waiting {} before try {}",
                format_duration(wait),
                attempt + 1
            ));
        }
        if !cancel::sleep(wake.saturating_duration_since(Instant::now())) {
            break;
        }
    }
    if quick > 0 {
        log(&format!(
            "{quick} quick {} between tries (not counted as attempts)",
            if quick == 1 { "retry" } else { "retries" }
        ));
    }
    ProbeReport::ended(status, reason, attempt, quick, start.elapsed())
}

impl ProbeReport {
    /// The report of a probe that ended after `attempts` tries and `quick` quick retries: the
    /// last `status` and failure `reason`, unless the job was cancelled meanwhile.
    fn ended(
        status: Option<u16>,
        reason: Option<String>,
        attempts: u32,
        quick: u32,
        elapsed: Duration,
    ) -> ProbeReport {
        let cancelled = cancel::requested();
        ProbeReport {
            healthy: cancelled.is_none() && reason.is_none(),
            status,
            attempts,
            quick_retries: quick,
            elapsed,
            failure_reason: match cancelled {
                Some(sig) => Some(format!("not finished: the job was cancelled by {sig}")),
                None => reason,
            },
            cancelled: cancelled.is_some(),
        }
    }
}

/// Quick retries until `wake` (the next scheduled try): every [`QUICK_PERIOD`], never more
/// often than the last failure took, until one passes or fails slowly. The last quick try, if
/// any was made; `quick` counts them. Logged only when one passes or fails slowly.
fn quick_retries(
    config: &ProbeConfig,
    client: &Client,
    deadline: Option<Instant>,
    wake: Instant,
    mut took: Duration,
    quick: &mut u32,
    log: &mut dyn FnMut(&str),
) -> Option<TryOutcome> {
    let mut last = None;
    loop {
        let period = QUICK_PERIOD.max(took);
        if Instant::now() + period >= wake {
            return last;
        }
        if !cancel::sleep(period) {
            return last;
        }
        *quick += 1;
        let mut lines = Vec::new();
        let q = try_all(
            config,
            client,
            deadline,
            &format!("quick retry {quick}"),
            &mut |l| lines.push(l.to_owned()),
        );
        let done = q.reason.is_none() || !q.cheap;
        if done {
            for line in &lines {
                log(line);
            }
        }
        took = q.took;
        last = Some(q);
        if done {
            return last;
        }
    }
}

/// Why one URL failed once.
struct Failed {
    status: Option<u16>,
    why: String,
    timed_out: bool,
}

/// One URL, once: `Ok(status)` or why it failed.
fn check_one(
    config: &ProbeConfig,
    client: &Client,
    url: &str,
    timeout: Duration,
) -> std::result::Result<u16, Failed> {
    let mut req = Request::new("GET", url, display_url(url)).timeout(timeout);
    for (k, v) in &config.headers {
        req = req.header(k.clone(), v.clone());
    }
    let resp = client.send(&req).map_err(|e| {
        let text = e.to_string();
        let timed_out = matches!(e.kind, ErrorKind::Timeout);
        let why = if timed_out {
            format!("timed out after {}", format_duration(timeout))
        } else {
            text.strip_prefix(&format!("{}: ", e.label))
                .unwrap_or(&text)
                .to_owned()
        };
        Failed {
            status: None,
            why,
            timed_out,
        }
    })?;
    evaluate(config, &resp).map_err(|why| Failed {
        status: Some(resp.status),
        why,
        timed_out: false,
    })?;
    Ok(resp.status)
}

/// Checks a response against the expectations; the error is the one-line reason.
fn evaluate(config: &ProbeConfig, resp: &Response) -> std::result::Result<(), String> {
    if !config.expect_status.contains(resp.status) {
        let mut why = format!("status {} (expected {})", resp.status, config.expect_status);
        if let Some(location) = resp.location() {
            why = format!(
                "status {} to {} (expected {}; redirects are not followed)",
                resp.status,
                truncate(location, 120),
                config.expect_status
            );
        }
        return Err(why);
    }
    let body = resp.text();
    if let Some(expected) = &config.expect_body
        && !body.contains(expected.as_str())
    {
        return Err(format!("body lacks \"{}\"", truncate(expected, 80)));
    }
    if let Some(version) = &config.expect_version
        && !body_has_version(&body, version)
    {
        let shown = if Sha::parse(version).is_some() {
            version[..7].to_ascii_lowercase()
        } else {
            truncate(version, 80)
        };
        return Err(format!("version {shown} not found in the body"));
    }
    if !config.expect_json.is_empty() {
        let doc: Value = serde_json::from_str(&body).map_err(|_| "body is not JSON".to_owned())?;
        for assertion in &config.expect_json {
            assertion.check(&doc)?;
        }
    }
    Ok(())
}

/// Whether the body names `version`: as is, or for a 40-hex SHA, in full or by its 7-character
/// short form, in any case.
fn body_has_version(body: &str, version: &str) -> bool {
    if Sha::parse(version).is_some() {
        let body = body.to_ascii_lowercase();
        body.contains(&version[..7].to_ascii_lowercase())
    } else {
        body.contains(version)
    }
}

/// What [`record`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The change since the previous result.
    pub transition: Transition,
    /// Percentage of healthy results in the history, two decimals.
    pub uptime: String,
    /// How many results the history holds.
    pub results: usize,
}

/// Remembers `report` in `state_dir` (created if missing): the history file
/// ([`health_history::HISTORY_FILE`], rewritten atomically), and a `probe` event in [`JOURNAL_FILE`](crate::platform::state::JOURNAL_FILE) when the
/// state changed (`down` or `recovered`; environment = the state directory's last component).
///
/// The read-modify-write of the history holds a kernel file lock on [`health_history::HISTORY_LOCK_FILE`]
/// (not the environment lock: a probe never waits for a deploy), so concurrent probes of one
/// state directory are all recorded.
pub fn record(
    state_dir: &Path,
    urls: &[String],
    report: &ProbeReport,
    now: SystemTime,
    context: &Context,
) -> Result<Recorded> {
    let mut locked = health_history::lock(state_dir)?;
    let history = &mut locked.history;
    let time = rfc3339(now);
    let elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX);
    let transition = history.push(HistoryEntry {
        time: time.clone(),
        healthy: report.healthy,
        status: report.status,
        attempts: report.attempts,
        elapsed_ms,
        reason: report.failure_reason.clone(),
    });
    locked.save()?;
    let history = &locked.history;
    let uptime = history.uptime();
    let results = history.results.len();
    if transition != Transition::None {
        let outcome = if report.healthy {
            JournalOutcome::Healthy
        } else {
            JournalOutcome::Unhealthy
        };
        let mut entry = JournalEntry::new(env_name(state_dir), JournalEvent::Probe, outcome);
        entry.time = time;
        entry.duration_ms = Some(elapsed_ms);
        entry.transition = Some(transition.as_str().to_owned());
        entry.actor.clone_from(&context.actor);
        entry.run_url = context.run_url();
        let hosts: Vec<&str> = urls.iter().map(|u| host_of(u)).collect();
        entry.detail = Some(match &report.failure_reason {
            Some(reason) => format!("{reason} (uptime {uptime}%)"),
            None => format!("{} answers again (uptime {uptime}%)", hosts.join(", ")),
        });
        StateDir::open_existing(state_dir)?.journal(&entry)?;
    }
    drop(locked);
    Ok(Recorded {
        transition,
        uptime,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::spec;
    use crate::platform::state::JOURNAL_FILE;
    use crate::platform::state::health_history::{HISTORY_FILE, HISTORY_LIMIT, History};
    use serde_json::json;

    #[test]
    fn status_sets() {
        let s = StatusSet::parse("200").unwrap();
        assert!(s.contains(200) && !s.contains(204));
        let s = StatusSet::parse("200, 204").unwrap();
        assert!(s.contains(204) && !s.contains(201));
        assert_eq!(s.to_string(), "200,204");
        let s = StatusSet::parse("200-299,301").unwrap();
        assert!(s.contains(250) && s.contains(301) && !s.contains(302));
        assert_eq!(s.to_string(), "200-299,301");
        let s = StatusSet::parse("2xx,404").unwrap();
        assert!(s.contains(299) && s.contains(404) && !s.contains(300));
        for bad in [
            "", "ok", "200,", "99", "600", "299-200", "200-", "2yx", "20 0",
        ] {
            assert!(StatusSet::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn json_assertions_parse_every_kind_of_value() {
        let a = JsonAssertion::parse(r#"/status == "ok""#).unwrap();
        assert_eq!(
            (a.pointer.as_str(), &a.op, &a.value),
            ("/status", &JsonOp::Eq, &json!("ok"))
        );
        assert_eq!(JsonAssertion::parse("/n==3").unwrap().value, json!(3));
        assert_eq!(JsonAssertion::parse("/f == 1.5").unwrap().value, json!(1.5));
        assert_eq!(
            JsonAssertion::parse("/db/up != false").unwrap(),
            JsonAssertion {
                pointer: "/db/up".into(),
                op: JsonOp::Ne,
                value: json!(false)
            }
        );
        assert_eq!(
            JsonAssertion::parse("/x == null").unwrap().value,
            json!(null)
        );
        assert_eq!(
            JsonAssertion::parse(r#"/a == {"b": [1]}"#).unwrap().value,
            json!({"b": [1]})
        );
        let e = JsonAssertion::parse("/version").unwrap();
        assert_eq!(e.op, JsonOp::Exists);
        assert_eq!(
            JsonAssertion::parse(r#"/msg == "a == b""#).unwrap().value,
            json!("a == b")
        );
        for bad in [
            "status == \"ok\"",
            "/status == ok",
            "/status ==",
            "/status is ok",
            "/a b == 1",
        ] {
            assert!(
                JsonAssertion::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let err = JsonAssertion::parse("/status == ok").unwrap_err();
        assert!(err.contains(r#"/status == "ok""#), "{err}");
    }

    #[test]
    fn numbers_are_read_to_the_nearest_double() {
        // Regression (fuzzing): without serde_json's `float_roundtrip`, this number read as
        // -1.4498349527219908e-228, so the assertion printed (and compared) another value than
        // the one written.
        let a = JsonAssertion::parse("/x == -1.449834952721991e-228").unwrap();
        assert_eq!(a.value.as_f64(), Some(-1.449834952721991e-228));
        assert_eq!(a.to_string(), "/x == -1.449834952721991e-228");
    }

    #[test]
    fn json_assertions_check_and_explain() {
        let doc = json!({"status": "starting", "n": 3, "up": true, "none": null, "list": [1, 2]});
        let check = |line: &str| JsonAssertion::parse(line).unwrap().check(&doc);
        assert_eq!(
            check(r#"/status == "ok""#),
            Err(r#"/status is "starting", expected "ok""#.into())
        );
        assert_eq!(check(r#"/status == "starting""#), Ok(()));
        assert_eq!(check("/n == 3"), Ok(()));
        assert_eq!(check("/n == \"3\"").map_err(|_| ()), Err(()));
        assert_eq!(check("/up == true"), Ok(()));
        assert_eq!(check("/none == null"), Ok(()));
        assert_eq!(check("/list/1 == 2"), Ok(()));
        assert_eq!(check("/up != false"), Ok(()));
        assert_eq!(
            check("/up != true"),
            Err("/up is true, expected anything else".into())
        );
        assert_eq!(check("/missing != 1"), Ok(()));
        assert_eq!(
            check("/missing == 1"),
            Err("/missing is missing, expected 1".into())
        );
        assert_eq!(check("/none"), Ok(()));
        assert_eq!(check("/missing"), Err("/missing is missing".into()));
    }

    #[test]
    fn passwords_in_urls_are_not_shown() {
        assert_eq!(
            display_url("https://probe:s3cret@app.example/health?x=@"),
            "https://probe:***@app.example/health?x=@"
        );
        assert_eq!(display_url("http://app:8080/a@b"), "http://app:8080/a@b");
        assert_eq!(display_url("not a url"), "not a url");
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Authorization: Bearer a:b").unwrap(),
            ("Authorization".into(), "Bearer a:b".into())
        );
        assert_eq!(
            parse_header("X-Empty:").unwrap(),
            ("X-Empty".into(), "".into())
        );
        for bad in ["NoColon", ": value", "Bad Name: x", "X-A: a\u{7f}b"] {
            assert!(parse_header(bad).is_err(), "{bad:?} should be refused");
        }
        // A malformed line is not repeated: it may hold a credential.
        for bad in [
            "Authorization Bearer s3cr3t",
            "Authorization Bearer s3cr3t: x",
        ] {
            let err = parse_header(bad).unwrap_err();
            assert!(!err.contains("s3cr3t"), "{err}");
        }
        assert!(parse_header("X(: y").unwrap_err().contains("`X(`"));
    }

    #[test]
    fn backoff_starts_small_doubles_and_is_capped() {
        let i = Duration::from_secs(5);
        let waits: Vec<_> = (1..=6).map(|n| backoff(n, i).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000]);
        assert_eq!(
            backoff(1, Duration::from_millis(100)),
            Duration::from_millis(100)
        );
        assert_eq!(backoff(u32::MAX, i), i);
        assert_eq!(backoff(3, Duration::ZERO), Duration::ZERO);
    }

    fn entry(healthy: bool) -> HistoryEntry {
        HistoryEntry {
            time: "2026-01-01T00:00:00Z".into(),
            healthy,
            status: Some(200),
            attempts: 1,
            elapsed_ms: 1,
            reason: None,
        }
    }

    #[test]
    fn transitions_and_uptime() {
        assert_eq!(Transition::between(None, true), Transition::None);
        assert_eq!(Transition::between(None, false), Transition::Down);
        assert_eq!(Transition::between(Some(true), false), Transition::Down);
        assert_eq!(Transition::between(Some(false), false), Transition::None);
        assert_eq!(
            Transition::between(Some(false), true),
            Transition::Recovered
        );
        assert_eq!(Transition::between(Some(true), true), Transition::None);

        let mut h = History::default();
        assert_eq!(h.uptime(), "100.00");
        assert_eq!(h.push(entry(true)), Transition::None);
        assert_eq!(h.push(entry(false)), Transition::Down);
        assert_eq!(h.push(entry(true)), Transition::Recovered);
        assert_eq!(h.uptime(), "66.67");
        for _ in 0..HISTORY_LIMIT {
            h.push(entry(true));
        }
        assert_eq!(h.results.len(), HISTORY_LIMIT);
        assert_eq!(h.uptime(), "100.00", "the oldest results were dropped");
    }

    #[test]
    fn record_keeps_history_and_journals_transitions() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("preprod");
        let report = |healthy: bool| ProbeReport {
            healthy,
            status: Some(if healthy { 200 } else { 503 }),
            attempts: 1,
            quick_retries: 0,
            elapsed: Duration::from_millis(5),
            failure_reason: (!healthy).then(|| "status 503 (expected 200)".into()),
            cancelled: false,
        };
        let urls = vec!["http://app".to_owned()];
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_169_445);
        let r = record(&state, &urls, &report(true), t, &Context::default()).unwrap();
        assert_eq!(
            (r.transition, r.uptime.as_str()),
            (Transition::None, "100.00")
        );
        let r = record(&state, &urls, &report(false), t, &Context::default()).unwrap();
        assert_eq!(
            (r.transition, r.uptime.as_str()),
            (Transition::Down, "50.00")
        );
        let r = record(&state, &urls, &report(true), t, &Context::default()).unwrap();
        assert_eq!((r.transition, r.results), (Transition::Recovered, 3));
        let history: History =
            serde_json::from_slice(&std::fs::read(state.join(HISTORY_FILE)).unwrap()).unwrap();
        assert_eq!(history.results.len(), 3);
        assert_eq!(history.results[0].time, "2025-11-26T15:04:05Z");
        let journal = std::fs::read_to_string(state.join(JOURNAL_FILE)).unwrap();
        let events: Vec<Value> = journal
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["event"], "probe");
        assert_eq!(events[0]["transition"], "down");
        assert_eq!(events[1]["transition"], "recovered");
        let entries = StateDir::open_existing(&state)
            .unwrap()
            .read_journal()
            .unwrap();
        assert_eq!(entries.len(), 2, "probe lines are journal entries");
        assert_eq!(entries[0].environment, "preprod");
        assert_eq!(entries[0].outcome.as_str(), "unhealthy");
        assert_eq!(entries[0].time, "2025-11-26T15:04:05Z");
        assert_eq!(entries[0].duration_ms, Some(5));
        assert!(entries[0].detail.as_deref().unwrap().contains("503"));
        assert_eq!(entries[1].outcome.as_str(), "healthy");
        std::fs::write(state.join(HISTORY_FILE), "torn{").unwrap();
        let err = record(&state, &urls, &report(true), t, &Context::default()).unwrap_err();
        assert_eq!(err.exit_code(), 3);
    }

    #[test]
    fn concurrent_records_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("prod");
        let urls = vec!["http://app".to_owned()];
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let state = state.clone();
                let urls = urls.clone();
                std::thread::spawn(move || {
                    for i in 0..15 {
                        let report = ProbeReport {
                            healthy: (t + i) % 2 == 0,
                            status: Some(200),
                            attempts: 1,
                            quick_retries: 0,
                            elapsed: Duration::from_millis(1),
                            failure_reason: None,
                            cancelled: false,
                        };
                        record(
                            &state,
                            &urls,
                            &report,
                            SystemTime::now(),
                            &Context::default(),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let history: History =
            serde_json::from_slice(&std::fs::read(state.join(HISTORY_FILE)).unwrap()).unwrap();
        assert_eq!(history.results.len(), 8 * 15, "no result lost");
        // Each journaled transition matches the history's order.
        let transitions = history
            .results
            .windows(2)
            .filter(|w| w[0].healthy != w[1].healthy)
            .count()
            + usize::from(!history.results[0].healthy);
        let journal = StateDir::open_existing(&state)
            .unwrap()
            .read_journal()
            .unwrap();
        assert_eq!(journal.len(), transitions);
    }

    #[test]
    fn versions() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(body_has_version(&format!("v {sha}"), sha));
        assert!(body_has_version("build 0123456 ok", sha));
        assert!(body_has_version(
            "build 0123456 ok",
            &sha.to_ascii_uppercase()
        ));
        assert!(!body_has_version("build 012345 ok", sha));
        assert!(body_has_version("version 1.2.3", "1.2.3"));
        assert!(!body_has_version("version 1.2.4", "1.2.3"));
    }

    fn parse(spec: &'static spec::ActionSpec, args: &[&str]) -> Inputs {
        let mut all = vec![spec.name];
        all.extend_from_slice(args);
        Inputs::parse_from(spec, all).unwrap()
    }

    #[test]
    fn inputs_of_health_probe() {
        let inputs = parse(
            &spec::HEALTH_PROBE,
            &[
                "--url",
                "http://a/health\n\nhttps://b:8443/",
                "--expect-status",
                "200-299",
                "--expect-json",
                "/status == \"ok\"\n/db",
                "--header",
                "X-A: 1",
                "--attempts",
                "4",
                "--deadline",
                "1m",
            ],
        );
        let c = ProbeConfig::from_inputs(&inputs, "").unwrap().unwrap();
        assert_eq!(c.urls, ["http://a/health", "https://b:8443/"]);
        assert!(c.expect_status.contains(204));
        assert_eq!(c.expect_json.len(), 2);
        assert_eq!(c.headers, [("X-A".to_owned(), "1".to_owned())]);
        assert_eq!((c.attempts, c.timeout), (4, Duration::from_secs(10)));
        assert_eq!(c.deadline, Some(Duration::from_secs(60)));
        assert_eq!(c.interval, Duration::from_secs(5));

        let err = |args: &[&str]| {
            ProbeConfig::from_inputs(&parse(&spec::HEALTH_PROBE, args), "")
                .unwrap_err()
                .to_string()
        };
        // Nothing but the URL: every other value is the spec's default, which `new` agrees with.
        let plain = parse(&spec::HEALTH_PROBE, &["--url", "http://a/"]);
        assert_eq!(
            ProbeConfig::from_inputs(&plain, "").unwrap(),
            Some(ProbeConfig::new(vec!["http://a/".to_owned()]))
        );
        assert!(err(&[]).contains("`url`"));
        assert!(err(&["--url", "ftp://x"]).contains("`url`"));
        assert!(err(&["--url", "http://"]).contains("`url`"));
        assert!(err(&["--url", "http://x", "--attempts", "0"]).contains("`attempts`"));
        assert!(err(&["--url", "http://x", "--expect-status", "ok"]).contains("`expect-status`"));
        assert!(err(&["--url", "http://x", "--expect-json", "status"]).contains("`expect-json`"));
        assert!(err(&["--url", "http://x", "--header", "nope"]).contains("`header`"));
        assert!(err(&["--url", "http://x", "--timeout", "0s"]).contains("`timeout`"));
        assert!(err(&["--url", "http://x", "--interval", "soon"]).contains("`interval`"));
        assert!(
            err(&[
                "--url",
                "http://x",
                "--initial-delay",
                "5s",
                "--deadline",
                "5s"
            ])
            .contains("`deadline`")
        );
    }

    #[test]
    fn inputs_of_deploy_sha_are_prefixed() {
        let none = parse(&spec::DEPLOY_SHA, &[]);
        assert_eq!(ProbeConfig::from_inputs(&none, "health-").unwrap(), None);
        let inputs = parse(
            &spec::DEPLOY_SHA,
            &[
                "--health-url",
                "http://app/",
                "--health-expect-version",
                "sha",
                "--health-timeout",
                "2s",
            ],
        );
        let c = ProbeConfig::from_inputs(&inputs, "health-")
            .unwrap()
            .unwrap();
        assert_eq!(c.attempts, 5, "deploy-sha's own default");
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.expect_version.as_deref(), Some("sha"));
        assert_eq!(c.initial_delay, Duration::ZERO);
        assert_eq!(c.deadline, None);
        assert!(c.expect_status.contains(200) && !c.expect_status.contains(204));
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            c.with_version(Some(sha.into())).expect_version.as_deref(),
            Some(sha)
        );
        let bad = parse(
            &spec::CI_WATCHER,
            &[
                "--health-url",
                "http://app/",
                "--health-expect-status",
                "2000",
            ],
        );
        let e = ProbeConfig::from_inputs(&bad, "health-").unwrap_err();
        assert!(e.to_string().contains("`health-expect-status`"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, json_value, tricky_text};
    use proptest::prelude::*;

    /// One entry of a status set and the statuses it means: a code, a range or a class.
    fn status_entry() -> impl Strategy<Value = (String, Vec<(u16, u16)>)> {
        prop_oneof![
            (100u16..=599).prop_map(|c| (c.to_string(), vec![(c, c)])),
            (100u16..=599, 0u16..50).prop_map(|(a, w)| {
                let b = (a + w).min(599);
                (format!("{a}-{b}"), vec![(a, b)])
            }),
            (1u16..=5, any::<bool>()).prop_map(|(c, upper)| {
                let text = if upper {
                    format!("{c}XX")
                } else {
                    format!("{c}xx")
                };
                (text, vec![(c * 100, c * 100 + 99)])
            }),
        ]
    }

    /// A JSON pointer as people write them: `/a/0/~1b`, no blank, no `==` or `!=`.
    fn pointer() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-z0-9_~!=<>.-]{0,5}", 0..4)
            .prop_map(|segments| format!("/{}", segments.join("/")))
            .prop_filter("no operator inside", |p| {
                !p.contains("==") && !p.contains("!=")
            })
    }

    proptest! {
        #![proptest_config(config(1))]

        /// Any text: an error, or a set of HTTP statuses (100-599) that prints as text
        /// meaning the same set.
        #[test]
        fn any_status_text_is_refused_or_means_what_it_prints(
            text in prop_oneof![tricky_text(16), "[0-9xX, -]{0,16}"]
        ) {
            if let Ok(set) = StatusSet::parse(&text) {
                let again = StatusSet::parse(&set.to_string()).expect("its own text");
                for status in 0..=1000u16 {
                    prop_assert_eq!(set.contains(status), again.contains(status));
                    if set.contains(status) {
                        prop_assert!((100..=599).contains(&status));
                    }
                }
            }
        }

        /// A list of codes, ranges and classes (blanks around) accepts exactly its statuses.
        #[test]
        fn status_lists_accept_exactly_their_statuses(
            entries in prop::collection::vec(status_entry(), 1..5), sep in "[ ]{0,2},[ ]{0,2}"
        ) {
            let text = entries.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(&sep);
            let set = StatusSet::parse(&text).expect("a valid list");
            for status in 0..=1000u16 {
                let expected = entries.iter().flat_map(|(_, r)| r).any(|(a, b)| (*a..=*b).contains(&status));
                prop_assert_eq!(set.contains(status), expected, "{} in {}", status, text);
            }
        }

        /// Any line: an error, or an assertion that prints as a line meaning the same.
        #[test]
        fn any_assertion_line_is_refused_or_means_what_it_prints(
            line in prop_oneof![tricky_text(24), "/[a-z/ ]{0,6}(==|!=)?[ ]?[\"a-z0-9{}:,\\[\\]]{0,8}"]
        ) {
            if let Ok(a) = JsonAssertion::parse(&line) {
                prop_assert!(a.pointer.starts_with('/'));
                prop_assert_eq!(JsonAssertion::parse(&a.to_string()), Ok(a));
            }
        }

        /// `pointer == value` and `pointer != value` read as written, whatever the JSON value.
        #[test]
        fn written_assertions_read_as_written(
            p in pointer(), value in json_value(), eq in any::<bool>(), blank in "[ ]{0,2}"
        ) {
            // `/a!==1` is ambiguous: a pointer ending in `!` or `=` needs a blank before the
            // operator.
            let blank = if p.ends_with(['!', '=']) && blank.is_empty() { " ".to_owned() } else { blank };
            let (op, text) = if eq { (JsonOp::Eq, "==") } else { (JsonOp::Ne, "!=") };
            let line = format!("{blank}{p}{blank}{text}{blank}{value}{blank}");
            let parsed = JsonAssertion::parse(&line);
            prop_assert_eq!(parsed, Ok(JsonAssertion { pointer: p, op, value }), "{}", line);
        }

        /// Checks agree with the document: a field found is, equals itself and differs from
        /// nothing else; a missing one is missing. The reason is always one line.
        #[test]
        fn checks_agree_with_the_document(doc in json_value(), p in pointer(), other in json_value()) {
            let found = doc.pointer(&p).cloned();
            let check = |op: JsonOp, value: Value| JsonAssertion { pointer: p.clone(), op, value }.check(&doc);
            match &found {
                Some(v) => {
                    prop_assert!(check(JsonOp::Exists, Value::Null).is_ok());
                    prop_assert!(check(JsonOp::Eq, v.clone()).is_ok());
                    prop_assert!(check(JsonOp::Ne, v.clone()).is_err());
                }
                None => {
                    prop_assert!(check(JsonOp::Exists, Value::Null).is_err());
                    prop_assert!(check(JsonOp::Ne, other.clone()).is_ok());
                }
            }
            for op in [JsonOp::Exists, JsonOp::Eq, JsonOp::Ne] {
                if let Err(why) = check(op, other.clone()) {
                    prop_assert!(!why.contains(['\n', '\r']), "{:?}", why);
                }
            }
        }

        /// A header line that is refused is never repeated, and a password in a URL is never
        /// shown.
        #[test]
        fn credentials_in_headers_and_urls_are_never_shown(
            name in tricky_text(8), secret in "[A-Za-z0-9]{6,12}", junk in tricky_text(6),
            user in "[a-z]{0,6}", password in "[A-Za-z0-9:@!$&'()*+,;=._~-]{1,12}",
            rest in "(/[a-z?#@]{0,6})?",
        ) {
            // Documented: the value is never shown, nor a line without `:`, nor a name with a
            // blank in it or longer than 64 characters.
            let secret = format!("S3{secret}");
            let no_colon = format!("{name}{secret}{junk}").replace(':', "");
            let long = format!("{secret}{}: x", "x".repeat(60));
            for line in [format!("{name}: {junk}{secret}"), no_colon, format!("{name} {secret}: x"), long] {
                if let Err(why) = parse_header(&line) {
                    prop_assert!(!why.contains(&secret), "{:?} → {:?}", line, why);
                }
            }
            let password = format!("S3{password}");
            let url = format!("https://{user}:{password}@app.example{rest}");
            let shown = display_url(&url);
            prop_assert!(!shown.contains(&password), "{:?} → {:?}", url, shown);
        }
    }
}
