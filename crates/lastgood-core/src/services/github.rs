//! A small GitHub REST client for the CI watcher: workflow runs of one commit, the jobs of a run,
//! and the tail of a failed job's log.
//!
//! - Every request carries `Accept: application/vnd.github+json`, a pinned
//!   `X-GitHub-Api-Version` and `Authorization: Bearer <token>`; the token is sent to the API
//!   host only: pagination follows `link: rel="next"` only on the API's own origin, and the
//!   log redirect (302 to a storage host) is followed by a second request with no
//!   `Authorization` header at all.
//! - Conditional requests: the `etag` of each URL is remembered and sent as `If-None-Match`;
//!   a 304 reuses the cached body (and does not count against the rate limit).
//! - Rate limits (403/429): `retry-after` → wait that; `x-ratelimit-remaining: 0` → wait until
//!   `x-ratelimit-reset`; otherwise (secondary limit) wait at least a minute, doubling, bounded.
//!   A 403 without any rate-limit sign is a permission problem (`actions: read`).
//! - 5xx and network failures are retried with a growing, jittered wait, bounded.
//! - Every wait respects the caller's deadline: a wait that would end past it is not started.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::base::error::Error;
use crate::base::time::{format_duration, rfc3339};
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::platform::http::{
    self, Backoff, Client, HttpError, Judged, Request, Response, Retry, Tries,
};

/// The `token` input, else `GITHUB_TOKEN` (masked here: `run_main` masks only the input).
pub(crate) fn token(inputs: &Inputs, runner: &mut Runner) -> Option<String> {
    let token = inputs.get("token").map(str::to_owned).or_else(|| {
        std::env::var("GITHUB_TOKEN")
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    });
    if let Some(t) = &token {
        runner.mask(t);
    }
    token
}

/// The REST API version this client speaks (an unsupported one answers 410).
const API_VERSION: &str = "2022-11-28";

/// The API root when neither the input nor `GITHUB_API_URL` names one.
pub(crate) const DEFAULT_API_URL: &str = "https://api.github.com";

/// Events whose runs do not test the commit itself (they test a merge with the base branch), so
/// they never decide a deployed SHA's verdict.
const IGNORED_EVENTS: &[&str] = &["pull_request", "pull_request_target"];

/// How many pages of runs or jobs are read at most (GitHub returns at most 1,000 results).
const MAX_PAGES: usize = 10;

/// Lines of a failed job's log that are kept.
pub(crate) const LOG_TAIL_LINES: usize = 30;

/// Reads `null` as the type's default: GitHub's REST description marks many fields nullable
/// (a run's `status`, `head_branch`, a job's `steps`, …), and a missing verdict must not make an
/// answer unreadable.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One workflow run, as listed by `…/actions/workflows/{workflow}/runs`.
///
/// The list shows each run at its latest attempt (`run_attempt`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct WorkflowRun {
    /// The run's id (kept across re-runs).
    pub id: u64,
    /// The workflow's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The commit the run tests.
    #[serde(default, deserialize_with = "null_as_default")]
    pub head_sha: String,
    /// What triggered it (`push`, `workflow_dispatch`, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub event: String,
    /// `queued`, `in_progress`, `completed`, …
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    /// `success`, `failure`, … once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The run's number in its workflow (higher is newer).
    #[serde(default, deserialize_with = "null_as_default")]
    pub run_number: u64,
    /// The attempt shown (re-runs bump it).
    #[serde(default)]
    pub run_attempt: Option<u64>,
    /// The run's page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub html_url: String,
}

impl WorkflowRun {
    /// Whether the run has finished.
    pub(crate) fn is_completed(&self) -> bool {
        self.status == "completed"
    }

    /// The attempt shown (1 when GitHub does not say).
    pub(crate) fn attempt(&self) -> u64 {
        self.run_attempt.unwrap_or(1)
    }
}

#[derive(Debug, Deserialize)]
struct RunsPage {
    #[serde(default, deserialize_with = "null_as_default")]
    workflow_runs: Vec<WorkflowRun>,
}

/// One job of a run.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Job {
    /// The job's id (for its log).
    pub id: u64,
    /// The job's name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `queued`, `in_progress`, `completed`, …
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    /// `success`, `failure`, … once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The job's page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Its steps (numbers need not be contiguous).
    #[serde(default, deserialize_with = "null_as_default")]
    pub steps: Vec<Step>,
}

/// One step of a job.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Step {
    /// The step's name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `queued`, `in_progress`, `completed`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    /// `success`, `failure`, `skipped`, … once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// Its number in the job.
    #[serde(default, deserialize_with = "null_as_default")]
    pub number: u64,
}

#[derive(Debug, Deserialize)]
struct JobsPage {
    #[serde(default, deserialize_with = "null_as_default")]
    jobs: Vec<Job>,
}

/// A failed job and its failed steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailedJob {
    /// The job's id.
    pub id: u64,
    /// The job's name.
    pub name: String,
    /// Its conclusion (`failure`, `timed_out`).
    pub conclusion: String,
    /// The job's page, if known.
    pub url: Option<String>,
    /// Names of its failed steps.
    pub steps: Vec<String>,
}

impl FailedJob {
    /// One line per failed step (`build / Run tests`), or the job alone when no step failed.
    pub(crate) fn lines(&self) -> Vec<String> {
        if self.steps.is_empty() {
            vec![self.name.clone()]
        } else {
            self.steps
                .iter()
                .map(|s| format!("{} / {s}", self.name))
                .collect()
        }
    }
}

/// The failed jobs of a run (conclusion `failure` or `timed_out`), with their failed steps.
pub(crate) fn failed_jobs(jobs: &[Job]) -> Vec<FailedJob> {
    let failed = |c: &Option<String>| matches!(c.as_deref(), Some("failure" | "timed_out"));
    jobs.iter()
        .filter(|j| failed(&j.conclusion))
        .map(|j| FailedJob {
            id: j.id,
            name: j.name.clone(),
            conclusion: j.conclusion.clone().unwrap_or_default(),
            url: j.html_url.clone(),
            steps: j
                .steps
                .iter()
                .filter(|s| failed(&s.conclusion))
                .map(|s| s.name.clone())
                .collect(),
        })
        .collect()
}

/// The run that decides: the newest (highest `run_number`; the latest attempt is what the list
/// shows) among runs of `sha` that test the commit itself.
pub(crate) fn deciding_run<'a>(runs: &'a [WorkflowRun], sha: &str) -> Option<&'a WorkflowRun> {
    runs.iter()
        .filter(|r| r.head_sha.eq_ignore_ascii_case(sha))
        .filter(|r| !IGNORED_EVENTS.contains(&r.event.as_str()))
        .max_by_key(|r| (r.run_number, r.attempt(), r.id))
}

/// Why a GitHub request gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A definitive refusal (bad token, no permission, not found, unusable answer): polling
    /// again will not help.
    #[error(transparent)]
    Fatal(#[from] Error),
    /// GitHub did not answer usably after bounded retries (5xx, network, secondary rate limit);
    /// a later poll may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The next try is allowed only after the caller's deadline (e.g. the rate limit resets later).
    #[error("{0}")]
    PastDeadline(String),
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Fatal(e) => e,
            ApiError::Unavailable(m) | ApiError::PastDeadline(m) => Error::Environment(m),
        }
    }
}

/// Counters of what was asked, for the summary and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// API requests sent (retries included).
    pub requests: u32,
    /// Answers that were 304 Not Modified.
    pub not_modified: u32,
    /// Rate-limit waits.
    pub rate_limited: u32,
}

/// What one answer of the API means for [`GitHub::get`].
enum Answer {
    /// The request's result.
    Done(Result<Response, ApiError>),
    /// Rate limited: wait, then try again.
    Throttled(Throttle),
    /// GitHub failing (5xx): back off, then try again.
    Failing(String),
}

/// How a 403/429 answer should be waited out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Throttle {
    /// Not a rate limit (a 403 is then a permission error).
    No,
    /// Wait exactly this long (`retry-after`, or until `x-ratelimit-reset`).
    Wait(Duration),
    /// A secondary rate limit with no hint: wait at least a minute, doubling.
    Secondary,
}

/// Classifies a response as GitHub's rate-limit rules say.
fn throttle(resp: &Response, now: SystemTime) -> Throttle {
    if resp.status != 403 && resp.status != 429 {
        return Throttle::No;
    }
    if let Some(wait) = resp.retry_after() {
        return Throttle::Wait(wait);
    }
    if resp.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        if let Some(reset) = resp
            .header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            // A reset past the clock's range is a wait too long for anyone.
            let wait = SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(reset))
                .map_or(Duration::MAX, |reset| {
                    reset.duration_since(now).unwrap_or(Duration::ZERO)
                });
            // One second of margin: the reset is whole seconds and clocks drift.
            return Throttle::Wait(wait.saturating_add(Duration::from_secs(1)));
        }
        return Throttle::Secondary;
    }
    if resp.status == 429 || resp.text().to_ascii_lowercase().contains("rate limit") {
        return Throttle::Secondary;
    }
    Throttle::No
}

/// The `rel="next"` URL of a `link` header, if any.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            })
            .then(|| url.to_owned())
    })
}

/// The last `max` meaningful lines of a job log, ending at its last `##[error]` line when there
/// is one (the failed step's end, before the post steps), without the timestamp GitHub puts
/// before each line and without terminal colour codes; a line redrawn with `\r` (a progress
/// bar) keeps its last state.
fn log_tail(text: &str, max: usize) -> String {
    let raw: Vec<String> = text
        .lines()
        .map(|l| strip_ansi(strip_timestamp(l.trim_end_matches('\r'))))
        .collect();
    let end = raw
        .iter()
        .rposition(|l| l.starts_with("##[error]"))
        .map_or(raw.len(), |i| i + 1);
    let lines: Vec<String> = raw.iter().map(|l| last_drawn(l).to_owned()).collect();
    let mut kept: Vec<&str> = lines[..end]
        .iter()
        .rev()
        .take(max)
        .map(String::as_str)
        .collect();
    kept.reverse();
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    kept.join("\n").trim_end().to_owned()
}

/// What a terminal last drew of a line written over with `\r`: its last non-empty part.
fn last_drawn(line: &str) -> &str {
    line.rsplit('\r')
        .find(|part| !part.is_empty())
        .unwrap_or("")
}

/// Removes a leading `2020-01-20T17:42:40.1234567Z ` timestamp.
fn strip_timestamp(line: &str) -> &str {
    let Some((first, rest)) = line.split_once(' ') else {
        return if looks_like_timestamp(line) { "" } else { line };
    };
    if looks_like_timestamp(first) {
        rest
    } else {
        line
    }
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && s.ends_with('Z')
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A GitHub client for one repository.
pub(crate) struct GitHub {
    client: Client,
    api: String,
    repository: String,
    token: String,
    /// Per URL: the last `etag`, the body it validates and that answer's `link` header.
    etags: HashMap<String, (String, Vec<u8>, Option<String>)>,
    deadline: Option<Instant>,
    backoff: Duration,
    secondary_wait: Duration,
    stats: Stats,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("GitHub")
            .field("api", &self.api)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

/// The tries of one request (5xx and network failures).
const TRIES: u32 = 4;
/// The tries of one request that keeps being rate limited.
const THROTTLED_TRIES: u32 = 5;

impl GitHub {
    /// A client of `repository` (`owner/repo`) at the API root `api` with `token`.
    pub(crate) fn new(api: &str, repository: &str, token: &str) -> Self {
        GitHub {
            client: Client::new(),
            api: api.trim_end_matches('/').to_owned(),
            repository: repository.to_owned(),
            token: token.to_owned(),
            etags: HashMap::new(),
            deadline: None,
            backoff: Duration::from_secs(1),
            secondary_wait: Duration::from_secs(60),
            stats: Stats::default(),
        }
    }

    /// No wait (rate limit, backoff) is started that would end after `deadline`.
    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The first wait after a 5xx or network failure (it doubles, up to 30 s).
    pub(crate) fn set_backoff(&mut self, initial: Duration) {
        self.backoff = initial.max(Duration::from_millis(10));
    }

    /// What was asked so far.
    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    /// `https://github.com/owner/repo/…`-style root of the repository's API.
    pub(crate) fn repo_url(&self) -> String {
        format!("{}/repos/{}", self.api, self.repository)
    }

    /// The HTTP client (no automatic redirects).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    fn request(&self, url: &str, label: &str) -> Request {
        self.request_as("GET", url, label)
    }

    /// A request with GitHub's headers and the token. Only for a URL on the API's origin
    /// ([`GitHub::same_origin`]): the token goes nowhere else.
    pub(crate) fn request_as(&self, method: &'static str, url: &str, label: &str) -> Request {
        Request::new(method, url, label)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header("Authorization", format!("Bearer {}", self.token))
            .timeout(Duration::from_secs(30))
    }

    /// Whether `url` is on the API's own origin (the only place the token may go).
    pub(crate) fn same_origin(&self, url: &str) -> bool {
        let scheme = |u: &str| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        scheme(url) == scheme(&self.api)
            && http::host_of(url).eq_ignore_ascii_case(http::host_of(&self.api))
    }

    /// GET with conditional requests, rate limits and bounded retries.
    /// Returns the answer (200, or 302 when `redirect_ok`) with a 304 replaced by the cached body.
    fn get(
        &mut self,
        url: &str,
        label: &str,
        redirect_ok: bool,
        log: &mut dyn FnMut(&str),
    ) -> Result<Response, ApiError> {
        let client = self.client.clone();
        client.retry(&mut Get::new(self, url, label, redirect_ok, log))
    }

    /// What one answer means: a result (the cached body for a 304, the ETag remembered for a
    /// 2xx, a fatal error with what to do), a throttle to wait out, or a failure to retry.
    fn answered(&mut self, url: &str, label: &str, redirect_ok: bool, resp: Response) -> Answer {
        let fatal = |text: String| Answer::Done(Err(ApiError::Fatal(Error::Environment(text))));
        match resp.status {
            200..=299 => {
                if let Some(etag) = resp.header("etag") {
                    self.etags.insert(
                        url.to_owned(),
                        (
                            etag.to_owned(),
                            resp.body.clone(),
                            resp.header("link").map(str::to_owned),
                        ),
                    );
                }
                Answer::Done(Ok(resp))
            }
            304 => {
                self.stats.not_modified += 1;
                let Some((_, body, link)) = self.etags.get(url) else {
                    return fatal(format!(
                        "{label}: GitHub answered 304 Not Modified to a request that was not conditional"
                    ));
                };
                let mut headers = resp.headers;
                // A 304 need not repeat `link`: the cached answer's pages still hold.
                if let Some(link) = link
                    && !headers.iter().any(|(k, _)| k == "link")
                {
                    headers.push(("link".to_owned(), link.clone()));
                }
                Answer::Done(Ok(Response {
                    status: 200,
                    headers,
                    body: body.clone(),
                }))
            }
            300..=399 if redirect_ok => Answer::Done(Ok(resp)),
            401 => fatal(format!(
                "{label}: GitHub refused the token (401 Bad credentials): check the `token` input (or GITHUB_TOKEN); it may be expired or revoked"
            )),
            403 | 429 => match throttle(&resp, SystemTime::now()) {
                Throttle::No => fatal(format!(
                    "{label}: GitHub refused access (403{}): the token needs the `actions: read` permission (add `permissions: actions: read` to the job)",
                    github_message(&resp)
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                )),
                t => Answer::Throttled(t),
            },
            404 => fatal(format!("{label}: not found (404)")),
            500..=599 => Answer::Failing(format!("{label}: GitHub answered {}", resp.status)),
            other => fatal(format!(
                "{label}: unexpected answer {other}{}",
                github_message(&resp)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )),
        }
    }

    /// GET every page of a list, following `link: rel="next"` on the API's origin only.
    fn get_pages(
        &mut self,
        first: String,
        label: &str,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Vec<u8>>, ApiError> {
        let mut pages = Vec::new();
        let mut url = first;
        loop {
            let resp = self.get(&url, label, false, log)?;
            let next = resp.header("link").and_then(next_link);
            pages.push(resp.body);
            match next {
                Some(next) if pages.len() < MAX_PAGES => {
                    if !self.same_origin(&next) {
                        return Err(ApiError::Fatal(Error::Environment(format!(
                            "{label}: GitHub's next page is on another host ({}); not following it with the token",
                            http::host_of(&next)
                        ))));
                    }
                    url = next;
                }
                _ => return Ok(pages),
            }
        }
    }

    /// Every run of `workflow` (file name or id) for `sha`, all pages.
    ///
    /// No `event=` filter is sent: a run started by `workflow_dispatch` on the SHA tests it as
    /// well as a `push` run does. Pull-request runs are left out by [`deciding_run`].
    pub(crate) fn runs(
        &mut self,
        workflow: &str,
        sha: &str,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<WorkflowRun>, ApiError> {
        let url = format!(
            "{}/actions/workflows/{}/runs?head_sha={sha}&per_page=100",
            self.repo_url(),
            encode_segment(workflow)
        );
        let label = format!("runs of workflow `{workflow}` in {}", self.repository);
        let pages = match self.get_pages(url, &label, log) {
            Err(ApiError::Fatal(Error::Environment(m))) if m.ends_with("not found (404)") => {
                return Err(ApiError::Fatal(self.explain_404(workflow, log)));
            }
            other => other?,
        };
        let mut runs = Vec::new();
        for page in pages {
            let page: RunsPage = serde_json::from_slice(&page).map_err(|e| {
                ApiError::Fatal(Error::Environment(format!(
                    "{label}: unreadable answer from GitHub ({e})"
                )))
            })?;
            runs.extend(page.workflow_runs);
        }
        Ok(runs)
    }

    /// Tells a missing repository (or one the token cannot see) from a missing workflow.
    fn explain_404(&mut self, workflow: &str, log: &mut dyn FnMut(&str)) -> Error {
        let url = self.repo_url();
        match self.get(&url, &format!("repository {}", self.repository), false, log) {
            Ok(_) => Error::input(
                "workflow",
                format!(
                    "no workflow `{workflow}` in {} (give the workflow's file name, e.g. `ci.yml`, as in .github/workflows/)",
                    self.repository
                ),
            ),
            Err(_) => Error::input(
                "repository",
                format!(
                    "repository {} not found, or the token cannot read it",
                    self.repository
                ),
            ),
        }
    }

    /// The latest attempt's jobs of run `run_id`, all pages.
    pub(crate) fn jobs(
        &mut self,
        run_id: u64,
        log: &mut dyn FnMut(&str),
    ) -> Result<Vec<Job>, ApiError> {
        let url = format!(
            "{}/actions/runs/{run_id}/jobs?filter=latest&per_page=100",
            self.repo_url()
        );
        let label = format!("jobs of run {run_id}");
        let mut jobs = Vec::new();
        for page in self.get_pages(url, &label, log)? {
            let page: JobsPage = serde_json::from_slice(&page).map_err(|e| {
                ApiError::Fatal(Error::Environment(format!(
                    "{label}: unreadable answer from GitHub ({e})"
                )))
            })?;
            jobs.extend(page.jobs);
        }
        Ok(jobs)
    }

    /// The tail of job `job_id`'s log ([`log_tail`]). The API answers 302 to a storage host:
    /// that second request carries no `Authorization` header.
    pub(crate) fn job_log_tail(
        &mut self,
        job_id: u64,
        lines: usize,
        log: &mut dyn FnMut(&str),
    ) -> Result<String, ApiError> {
        let url = format!("{}/actions/jobs/{job_id}/logs", self.repo_url());
        let label = format!("log of job {job_id}");
        let resp = self.get(&url, &label, true, log)?;
        let text = if let Some(location) = resp.location() {
            // Relative: same origin as the API, but still sent without the token.
            let location = http::absolute(&self.api, location);
            let req = Request::new("GET", location, format!("{label} (storage)"))
                .timeout(Duration::from_secs(30));
            let policy = Backoff {
                attempts: 3,
                initial: self.backoff,
                max_wait: Duration::from_secs(10),
                deadline: Some(Duration::from_secs(60)),
            };
            let resp = self
                .client
                .send_retrying(&req, &policy, http::retry_transient)
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            if resp.status != 200 {
                return Err(ApiError::Unavailable(format!(
                    "{label}: the log storage answered {}",
                    resp.status
                )));
            }
            resp.text()
        } else {
            resp.text()
        };
        Ok(log_tail(&text, lines))
    }
}

/// GitHub's retry policy for one GET ([`GitHub::get`]): the request made conditional by the
/// remembered ETag; 5xx and network failures retried after a backoff ([`TRIES`] in all); rate
/// limits waited out as [`throttle`] says ([`THROTTLED_TRIES`] in all); no wait begun that
/// would end past the watch's deadline; every other answer a result or a fatal error.
struct Get<'a> {
    gh: &'a mut GitHub,
    url: &'a str,
    label: &'a str,
    redirect_ok: bool,
    log: &'a mut dyn FnMut(&str),
    failures: u32,
    throttled: u32,
}

impl Retry for Get<'_> {
    type Output = Result<Response, ApiError>;

    fn request(&mut self) -> Request {
        let mut req = self.gh.request(self.url, self.label);
        if let Some((etag, _, _)) = self.gh.etags.get(self.url) {
            req = req.header("If-None-Match", etag.clone());
        }
        self.gh.stats.requests += 1;
        req
    }

    fn judge(&mut self, result: Result<Response, HttpError>, _: Tries) -> Judged<Self::Output> {
        let label = self.label;
        let why = match result {
            Err(e) if !e.is_transient() => return Judged::Done(Err(ApiError::Fatal(e.into()))),
            Err(e) => e.to_string(),
            Ok(resp) => match self.gh.answered(self.url, label, self.redirect_ok, resp) {
                Answer::Done(result) => return Judged::Done(result),
                Answer::Failing(why) => why,
                Answer::Throttled(t) => return self.throttled(t),
            },
        };
        self.failures += 1;
        if self.failures >= TRIES {
            return Judged::Done(Err(ApiError::Unavailable(format!(
                "{why} ({} tries): GitHub is unreachable or failing, try again later",
                self.failures
            ))));
        }
        let backoff = Backoff {
            attempts: TRIES,
            initial: self.gh.backoff,
            max_wait: Duration::from_secs(30),
            deadline: None,
        };
        self.wait(backoff.backoff(self.failures), &why)
    }

    fn cancelled(&mut self, signal: &'static str) -> Self::Output {
        Err(ApiError::Fatal(Error::Cancelled(format!(
            "cancelled by {signal} while waiting for GitHub"
        ))))
    }
}

impl<'a> Get<'a> {
    /// A GET of `url` through the one retry loop, before its first try.
    fn new(
        gh: &'a mut GitHub,
        url: &'a str,
        label: &'a str,
        redirect_ok: bool,
        log: &'a mut dyn FnMut(&str),
    ) -> Self {
        Get {
            gh,
            url,
            label,
            redirect_ok,
            log,
            failures: 0,
            throttled: 0,
        }
    }

    /// A rate limit: wait what GitHub says, else a minute doubling, within [`THROTTLED_TRIES`].
    fn throttled(&mut self, t: Throttle) -> Judged<Result<Response, ApiError>> {
        self.throttled += 1;
        self.gh.stats.rate_limited += 1;
        let label = self.label;
        if self.throttled >= THROTTLED_TRIES {
            return Judged::Done(Err(ApiError::Unavailable(format!(
                "{label}: still rate limited by GitHub after {} tries",
                self.throttled
            ))));
        }
        let wait = match t {
            Throttle::Wait(d) => d,
            _ => (self.gh.secondary_wait).saturating_mul(1 << (self.throttled - 1)),
        };
        self.wait(wait, &format!("{label}: rate limited by GitHub"))
    }

    /// Waits `wait` (says so in the log) unless that would pass the deadline.
    fn wait(&mut self, wait: Duration, why: &str) -> Judged<Result<Response, ApiError>> {
        // A wait announced by GitHub may be absurd (`retry-after: 1e300`): it ends past any
        // deadline, and past the clock's range it has no date.
        if let Some(deadline) = self.gh.deadline
            && Instant::now()
                .checked_add(wait)
                .is_none_or(|end| end > deadline)
        {
            let until = SystemTime::now()
                .checked_add(wait)
                .map_or_else(|| "the end of time".to_owned(), rfc3339);
            return Judged::Done(Err(ApiError::PastDeadline(format!(
                "{why} until {until}; the next try would come after the watch's deadline"
            ))));
        }
        (self.log)(&format!("{why}; waiting {}", format_duration(wait)));
        Judged::Again(wait)
    }
}

/// GitHub's `message` field of an error body, if any (never contains the token).
pub(crate) fn github_message(resp: &Response) -> Option<String> {
    let v: serde_json::Value = resp.json().ok()?;
    let m = v.get("message")?.as_str()?.trim();
    (!m.is_empty()).then(|| m.chars().take(200).collect())
}

/// Percent-encodes one URL path segment or query value (a workflow file name, an environment).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks `owner/repo`.
pub(crate) fn is_repository(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    matches!(s.split_once('/'), Some((o, r)) if ok(o) && ok(r))
}

/// Test support: [`Get::wait`] on its own, `Ok` when it would wait, the error when it refuses.
#[cfg(test)]
fn wait_alone(
    gh: &mut GitHub,
    wait: Duration,
    why: &str,
    log: &mut dyn FnMut(&str),
) -> Result<(), ApiError> {
    let mut get = Get::new(gh, "https://api.github.com/", "test", false, log);
    match get.wait(wait, why) {
        Judged::Done(Err(e)) => Err(e),
        Judged::Done(Ok(_)) | Judged::Again(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn an_unchanged_first_page_without_link_still_leads_to_the_next_pages() {
        use lastgood_testkit::server::{Reply, TestServer};
        let sha = "b".repeat(40);
        let run = |id: u64| {
            serde_json::json!({"id": id, "head_sha": sha, "event": "push",
                "status": "in_progress", "run_number": id})
        };
        let page1 = serde_json::json!({"workflow_runs": [run(1)]});
        let page2 = serde_json::json!({"workflow_runs": [run(2)]});
        let server = TestServer::start(move |req| {
            let page2_wanted = req.target.contains("page=2");
            let body = if page2_wanted { &page2 } else { &page1 };
            let etag = if page2_wanted { "\"p2\"" } else { "\"p1\"" };
            if req.header("if-none-match") == Some(etag) {
                // Like a cache that keeps only the validators: no `link` on the 304.
                return Reply::status(304).header("ETag", etag);
            }
            let mut reply = Reply::json(200, body).header("ETag", etag);
            if !page2_wanted {
                reply = reply.header(
                    "Link",
                    format!(
                        "<http://{}/repos/o/r/actions/workflows/ci.yml/runs?page=2>; rel=\"next\"",
                        req.header("host").unwrap_or("")
                    ),
                );
            }
            reply
        });
        let mut gh = GitHub::new(&server.url(), "o/r", "t");
        for look in 0..2 {
            let runs = gh.runs("ci.yml", &sha, &mut |_| {}).unwrap();
            let ids: Vec<u64> = runs.iter().map(|r| r.id).collect();
            assert_eq!(ids, vec![1, 2], "look {look}");
        }
        assert_eq!(gh.stats().not_modified, 2);
    }

    #[test]
    fn link_header_next() {
        let link = "<https://api.github.com/repositories/1/actions/runs?page=2>; rel=\"next\", \
                    <https://api.github.com/repositories/1/actions/runs?page=5>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/actions/runs?page=2")
        );
        let last_page = "<https://x/y?page=1>; rel=\"prev\", <https://x/y?page=1>; rel=\"first\"";
        assert_eq!(next_link(last_page), None);
        assert_eq!(
            next_link("<https://x/y?page=3&per_page=2>; rel=\"prev next\"").as_deref(),
            None,
            "only an exact rel=next counts"
        );
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage; rel=\"next\""), None);
    }

    #[test]
    fn log_tail_strips_timestamps_and_ends_at_the_error() {
        let log = "2020-01-20T17:42:40.1234567Z ##[group]Run cargo test\n\
                   2020-01-20T17:42:41.0000000Z \u{1b}[31mtest a ... FAILED\u{1b}[0m\n\
                   2020-01-20T17:42:41.1000000Z assertion failed: 1 == 2\n\
                   2020-01-20T17:42:42.0000000Z ##[error]Process completed with exit code 101.\n\
                   2020-01-20T17:42:43.0000000Z Post job cleanup.\n\
                   2020-01-20T17:42:44.0000000Z Cleaning up orphan processes\n";
        let tail = log_tail(log, 3);
        assert_eq!(
            tail,
            "test a ... FAILED\nassertion failed: 1 == 2\n##[error]Process completed with exit code 101."
        );
        assert_eq!(log_tail("plain\nlines\n", 30), "plain\nlines");
        assert_eq!(log_tail("", 30), "");
        let many: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(log_tail(&many, 2), "line 98\nline 99");
    }

    #[test]
    fn a_log_line_redrawn_with_carriage_returns_shows_what_a_terminal_shows() {
        // Regression (fuzzing): a `\r` before a colour code stayed in the tail
        // (`##[error]\u{1b}[31m\r\r\u{1b}[0m` gave `##[error]\r\r`), and a progress line
        // redrawn with `\r` showed every state it went through.
        let log = "2020-01-20T17:42:40.1234567Z Downloading 10%\rDownloading 100%\r\n\
                   ##[error]\u{1b}[31mfailed\r\r\u{1b}[0m\n\
                   Post job cleanup.\n";
        let tail = log_tail(log, 30);
        assert_eq!(tail, "Downloading 100%\n##[error]failed");
        assert_eq!(
            log_tail("##[error]\u{1b}[31m\r\r\u{1b}[0m", 30),
            "##[error]"
        );
    }

    #[test]
    fn deciding_run_is_the_newest_latest_attempt_of_the_commit() {
        let sha = "a".repeat(40);
        let run = |id, number, attempt, event: &str, status: &str, head: &str| WorkflowRun {
            id,
            name: None,
            head_sha: head.to_owned(),
            event: event.to_owned(),
            status: status.to_owned(),
            conclusion: None,
            run_number: number,
            run_attempt: Some(attempt),
            html_url: String::new(),
        };
        let runs = vec![
            run(1, 10, 3, "push", "completed", &sha),
            run(2, 11, 1, "workflow_dispatch", "in_progress", &sha),
            run(3, 12, 1, "pull_request", "completed", &sha),
            run(4, 13, 1, "push", "completed", &"b".repeat(40)),
        ];
        assert_eq!(deciding_run(&runs, &sha).map(|r| r.id), Some(2));
        assert_eq!(deciding_run(&runs[..1], &sha).map(|r| r.id), Some(1));
        assert_eq!(deciding_run(&runs[2..3], &sha), None);
    }

    #[test]
    fn failed_jobs_and_steps() {
        let jobs: JobsPage = serde_json::from_str(
            r#"{"jobs":[
              {"id":1,"name":"lint","status":"completed","conclusion":"success","steps":[]},
              {"id":2,"name":"test","status":"completed","conclusion":"failure","html_url":"u",
               "steps":[{"name":"Set up job","status":"completed","conclusion":"success","number":1},
                        {"name":"Run tests","status":"completed","conclusion":"failure","number":4},
                        {"name":"Post","status":"completed","conclusion":"skipped","number":9}]},
              {"id":3,"name":"slow","status":"completed","conclusion":"timed_out"},
              {"id":4,"name":"other","status":"completed","conclusion":"cancelled"}]}"#,
        )
        .unwrap();
        let failed = failed_jobs(&jobs.jobs);
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0].lines(), vec!["test / Run tests".to_owned()]);
        assert_eq!(failed[1].lines(), vec!["slow".to_owned()]);
    }

    #[test]
    fn throttling_rules() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(throttle(&resp(200, &[], ""), now), Throttle::No);
        assert_eq!(
            throttle(&resp(429, &[("retry-after", "7")], ""), now),
            Throttle::Wait(Duration::from_secs(7))
        );
        assert_eq!(
            throttle(
                &resp(
                    403,
                    &[
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "1030")
                    ],
                    ""
                ),
                now
            ),
            Throttle::Wait(Duration::from_secs(31))
        );
        assert_eq!(
            throttle(
                &resp(
                    403,
                    &[],
                    r#"{"message":"You have exceeded a secondary rate limit"}"#
                ),
                now
            ),
            Throttle::Secondary
        );
        assert_eq!(throttle(&resp(429, &[], ""), now), Throttle::Secondary);
        assert_eq!(
            throttle(
                &resp(
                    403,
                    &[("x-ratelimit-remaining", "12")],
                    r#"{"message":"Resource not accessible by integration"}"#
                ),
                now
            ),
            Throttle::No
        );
    }

    #[test]
    fn absurd_rate_limit_headers_are_waits_too_long_never_a_panic() {
        // Regression (fuzzing): `x-ratelimit-reset` past the clock's range panicked on
        // `UNIX_EPOCH + reset`, and `retry-after: 1e300` (or `inf`) panicked on
        // `Instant::now() + wait` in the deadline check.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        for reset in ["18446744073709551615", "9223372036854775807"] {
            let r = resp(
                403,
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)],
                "",
            );
            let t = throttle(&r, now);
            assert!(
                matches!(t, Throttle::Wait(w) if w > Duration::from_secs(1 << 40)),
                "{reset}: {t:?}"
            );
        }
        let r = resp(429, &[("retry-after", "1e300")], "");
        assert_eq!(throttle(&r, now), Throttle::Wait(Duration::MAX));
        let mut gh = GitHub::new("http://127.0.0.1:9", "o/r", "t");
        gh.set_deadline(Some(Instant::now() + Duration::from_secs(60)));
        let mut logged = Vec::new();
        let err = wait_alone(&mut gh, Duration::MAX, "rate limited by GitHub", &mut |l| {
            logged.push(l.to_owned())
        })
        .unwrap_err();
        assert!(matches!(err, ApiError::PastDeadline(_)), "{err}");
        assert!(err.to_string().contains("rate limited by GitHub"), "{err}");
        assert!(logged.is_empty(), "{logged:?}");
    }

    #[test]
    fn fixtures_parse() {
        let runs: RunsPage = serde_json::from_str(include_str!(
            "../../../lastgood-testkit/fixtures/github/workflow-runs.json"
        ))
        .unwrap();
        assert_eq!(runs.workflow_runs[0].run_number, 562);
        assert_eq!(runs.workflow_runs[0].attempt(), 1);
        let jobs: JobsPage = serde_json::from_str(include_str!(
            "../../../lastgood-testkit/fixtures/github/jobs.json"
        ))
        .unwrap();
        assert_eq!(jobs.jobs[0].steps.len(), 10);
    }

    #[test]
    fn repositories_and_segments() {
        assert!(is_repository("octo-org/octo.repo_1"));
        assert!(!is_repository("octo-org"));
        assert!(!is_repository("a/b/c"));
        assert!(!is_repository("/b"));
        assert_eq!(encode_segment("ci.yml"), "ci.yml");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn token_stays_on_the_api_origin() {
        let gh = GitHub::new("https://api.github.com/", "o/r", "t");
        assert!(gh.same_origin("https://api.github.com/repositories/1/x?page=2"));
        assert!(!gh.same_origin("https://evil.example/x"));
        assert!(!gh.same_origin("http://api.github.com/x"));
        assert!(!format!("{gh:?}").contains("\"t\""));
    }

    /// GitHub's retry policy, judged answer by answer (no network).
    mod retry_policy {
        use super::super::*;
        use super::resp;

        const URL: &str = "https://api.github.com/repos/o/r/actions/runs";

        fn tries(number: u32) -> Tries {
            Tries {
                number,
                start: Instant::now(),
                began: Duration::ZERO,
            }
        }

        /// Judges each answer in turn as one GET would; returns the decisions and the log.
        fn judge_all(
            gh: &mut GitHub,
            answers: Vec<Result<Response, HttpError>>,
        ) -> (Vec<Judged<Result<Response, ApiError>>>, Vec<String>) {
            let mut notes = Vec::new();
            let mut log = |n: &str| notes.push(n.to_owned());
            let mut get = Get::new(gh, URL, "runs", false, &mut log);
            let judged = answers
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    let _ = get.request();
                    get.judge(a, tries(i as u32 + 1))
                })
                .collect();
            (judged, notes)
        }

        fn waited(j: &Judged<Result<Response, ApiError>>) -> Option<Duration> {
            match j {
                Judged::Again(w) => Some(*w),
                Judged::Done(_) => None,
            }
        }

        fn error(j: Judged<Result<Response, ApiError>>) -> ApiError {
            match j {
                Judged::Done(Err(e)) => e,
                other => panic!("not an error: {:?}", waited(&other)),
            }
        }

        #[test]
        fn etags_make_the_next_request_conditional_and_a_304_reuses_the_body() {
            let mut gh = GitHub::new("https://api.github.com", "o/r", "t");
            let fresh = resp(
                200,
                &[("etag", "\"v1\""), ("link", "<x>; rel=\"next\"")],
                "[1]",
            );
            let get = |gh: &mut GitHub, a| {
                let mut log = |_: &str| {};
                let mut g = Get::new(gh, URL, "runs", false, &mut log);
                let req = g.request();
                (req, g.judge(Ok(a), tries(1)))
            };
            let (first, _) = get(&mut gh, fresh);
            assert!(!first.headers.iter().any(|(k, _)| k == "If-None-Match"));
            let (second, judged) = get(&mut gh, resp(304, &[], ""));
            assert!(
                second
                    .headers
                    .contains(&("If-None-Match".to_owned(), "\"v1\"".to_owned()))
            );
            let Judged::Done(Ok(cached)) = judged else {
                panic!("not done")
            };
            assert_eq!((cached.status, cached.text()), (200, "[1]".to_owned()));
            assert_eq!(cached.header("link"), Some("<x>; rel=\"next\""));
            assert_eq!((gh.stats().requests, gh.stats().not_modified), (2, 1));

            let mut other = GitHub::new("https://api.github.com", "o/r", "t");
            let e = error(get(&mut other, resp(304, &[], "")).1);
            assert!(e.to_string().contains("was not conditional"), "{e}");
        }

        #[test]
        fn failures_back_off_then_give_up_and_refusals_are_fatal() {
            let mut gh = GitHub::new("https://api.github.com", "o/r", "t");
            gh.set_backoff(Duration::from_millis(100));
            let failing = (0..TRIES).map(|_| Ok(resp(502, &[], ""))).collect();
            let (judged, notes) = judge_all(&mut gh, failing);
            for (i, j) in judged[..TRIES as usize - 1].iter().enumerate() {
                let w = waited(j).expect("retried");
                let full = Duration::from_millis(100 << i);
                assert!(w >= full / 2 && w <= full, "try {i}: {w:?}");
            }
            assert!(
                notes[0].starts_with("runs: GitHub answered 502; waiting"),
                "{notes:?}"
            );
            let last = judged.into_iter().last().unwrap();
            let e = error(last);
            assert!(matches!(e, ApiError::Unavailable(_)), "{e:?}");
            assert!(e.to_string().contains(&format!("({TRIES} tries)")), "{e}");

            let (judged, _) = judge_all(&mut gh, vec![Ok(resp(401, &[], ""))]);
            let e = error(judged.into_iter().next().unwrap());
            assert!(
                matches!(e, ApiError::Fatal(_)) && e.to_string().contains("`token`"),
                "{e}"
            );
            let denied = resp(
                403,
                &[],
                r#"{"message":"Resource not accessible by integration"}"#,
            );
            let (judged, _) = judge_all(&mut gh, vec![Ok(denied)]);
            let e = error(judged.into_iter().next().unwrap());
            assert!(e.to_string().contains("actions: read"), "{e}");
        }

        #[test]
        fn rate_limits_wait_as_github_says_within_tries_and_the_deadline() {
            let mut gh = GitHub::new("https://api.github.com", "o/r", "t");
            let (judged, notes) =
                judge_all(&mut gh, vec![Ok(resp(429, &[("retry-after", "7")], ""))]);
            assert_eq!(waited(&judged[0]), Some(Duration::from_secs(7)));
            assert_eq!(notes, ["runs: rate limited by GitHub; waiting 7s"]);
            // A secondary limit without a hint: a minute, doubling; then it gives up.
            let secondary = (0..THROTTLED_TRIES)
                .map(|_| Ok(resp(429, &[], "")))
                .collect();
            let (judged, _) = judge_all(&mut gh, secondary);
            let waits: Vec<Option<Duration>> = judged.iter().map(waited).collect();
            assert_eq!(
                waits[..2],
                [
                    Some(Duration::from_secs(60)),
                    Some(Duration::from_secs(120))
                ]
            );
            let e = error(judged.into_iter().last().unwrap());
            assert!(e.to_string().contains("still rate limited"), "{e}");
            // A wait that would end after the deadline is not begun.
            gh.set_deadline(Some(Instant::now() + Duration::from_secs(5)));
            let (judged, notes) =
                judge_all(&mut gh, vec![Ok(resp(429, &[("retry-after", "7")], ""))]);
            let e = error(judged.into_iter().next().unwrap());
            assert!(matches!(e, ApiError::PastDeadline(_)), "{e:?}");
            assert!(notes.is_empty(), "{notes:?}");
            assert_eq!(gh.stats().rate_limited, 1 + THROTTLED_TRIES + 1);
        }

        #[test]
        fn a_cancelled_wait_is_a_cancellation() {
            let mut gh = GitHub::new("https://api.github.com", "o/r", "t");
            let mut log = |_: &str| {};
            let mut get = Get::new(&mut gh, URL, "runs", false, &mut log);
            let e = Error::from(get.cancelled("SIGINT").unwrap_err());
            assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
            assert_eq!(
                e.to_string(),
                "cancelled by SIGINT while waiting for GitHub"
            );
        }
    }

    mod against_the_stand_in {
        use super::super::*;
        use lastgood_testkit::github::{FakeGitHub, Fault, Job, REPOSITORY, Run, TOKEN, WORKFLOW};

        fn client(gh: &FakeGitHub) -> GitHub {
            let mut c = GitHub::new(&gh.url(), REPOSITORY, TOKEN);
            c.set_backoff(Duration::from_millis(20));
            c
        }

        const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

        #[test]
        fn pages_follow_the_link_header_and_304_reuses_the_body() {
            let gh = FakeGitHub::start();
            for id in 1..=5 {
                gh.add_run(Run::completes(id, SHA, "success", 0));
            }
            gh.page_size(2);
            let mut c = client(&gh);
            let runs = c.runs(WORKFLOW, SHA, &mut |_| {}).unwrap();
            assert_eq!(runs.len(), 5);
            assert_eq!(deciding_run(&runs, SHA).map(|r| r.id), Some(5));
            assert_eq!(c.stats().requests, 3);
            let again = c.runs(WORKFLOW, SHA, &mut |_| {}).unwrap();
            assert_eq!(again, runs);
            assert_eq!(c.stats().not_modified, 3, "every unchanged page is a 304");
            let sent = gh.api_requests();
            assert!(
                sent.iter()
                    .all(|r| r.header("authorization") == Some(&*format!("Bearer {TOKEN}")))
            );
            assert!(
                sent.iter()
                    .all(|r| r.header("accept") == Some("application/vnd.github+json"))
            );
        }

        #[test]
        fn rate_limits_are_waited_out() {
            let gh = FakeGitHub::start();
            gh.add_run(Run::completes(1, SHA, "success", 0));
            gh.fault(Fault::RetryAfter(1));
            let mut c = client(&gh);
            let mut notes = Vec::new();
            let runs = c
                .runs(WORKFLOW, SHA, &mut |n| notes.push(n.to_owned()))
                .unwrap();
            assert_eq!(runs.len(), 1);
            let answers = gh.answers();
            assert_eq!(answers[0].status, 429);
            assert!(
                answers[1].request.at.duration_since(answers[0].request.at)
                    >= Duration::from_secs(1)
            );
            assert!(notes[0].contains("rate limited"), "{notes:?}");
            // A wait past the deadline is not started.
            gh.fault(Fault::RateLimitReset(3600));
            c.set_deadline(Some(Instant::now() + Duration::from_secs(5)));
            let err = c
                .runs(WORKFLOW, "f".repeat(40).as_str(), &mut |_| {})
                .unwrap_err();
            assert!(matches!(err, ApiError::PastDeadline(_)), "{err:?}");
        }

        #[test]
        fn server_errors_are_retried_then_reported() {
            let gh = FakeGitHub::start();
            gh.fault(Fault::Status(502, "Server Error".into()));
            let mut c = client(&gh);
            assert!(c.runs(WORKFLOW, SHA, &mut |_| {}).unwrap().is_empty());
            for _ in 0..4 {
                gh.fault(Fault::Status(503, "down".into()));
            }
            let err = c.runs(WORKFLOW, SHA, &mut |_| {}).unwrap_err();
            assert!(matches!(err, ApiError::Unavailable(_)), "{err:?}");
        }

        #[test]
        fn refusals_say_what_to_fix_and_never_the_token() {
            let gh = FakeGitHub::start();
            let mut bad = GitHub::new(&gh.url(), REPOSITORY, "wrong-token");
            let err = Error::from(bad.runs(WORKFLOW, SHA, &mut |_| {}).unwrap_err()).to_string();
            assert!(err.contains("401") && err.contains("`token`"), "{err}");
            gh.fault(Fault::Status(
                403,
                "Resource not accessible by integration".into(),
            ));
            let err = Error::from(client(&gh).runs(WORKFLOW, SHA, &mut |_| {}).unwrap_err());
            assert!(err.to_string().contains("actions: read"), "{err}");
            assert!(!err.to_string().contains(TOKEN));
            let err = Error::from(client(&gh).runs("nope.yml", SHA, &mut |_| {}).unwrap_err());
            assert!(
                err.to_string().contains("`workflow`") && err.exit_code() == 2,
                "{err}"
            );
            let mut other = GitHub::new(&gh.url(), "octo-org/missing", TOKEN);
            let err = Error::from(other.runs(WORKFLOW, SHA, &mut |_| {}).unwrap_err());
            assert!(err.to_string().contains("`repository`"), "{err}");
        }

        #[test]
        fn failed_job_log_comes_from_the_log_host_without_the_token() {
            let gh = FakeGitHub::start();
            gh.add_run(Run::completes(7, SHA, "failure", 0));
            gh.set_jobs(
                7,
                vec![
                    Job::new(70, "lint", "success"),
                    Job::new(71, "test", "failure")
                        .step("Set up job", "success")
                        .step("Run tests", "failure"),
                ],
            );
            gh.set_log(71, "2026-01-01T00:00:00.0000000Z running\n2026-01-01T00:00:01.0000000Z ##[error]boom\n2026-01-01T00:00:02.0000000Z Post job cleanup.\n");
            let mut c = client(&gh);
            let jobs = c.jobs(7, &mut |_| {}).unwrap();
            let failed = failed_jobs(&jobs);
            assert_eq!(failed[0].lines(), vec!["test / Run tests".to_owned()]);
            let tail = c
                .job_log_tail(failed[0].id, LOG_TAIL_LINES, &mut |_| {})
                .unwrap();
            assert_eq!(tail, "running\n##[error]boom");
            let log_requests = gh.log_requests();
            assert_eq!(log_requests.len(), 1);
            assert!(log_requests[0].header("authorization").is_none());
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, json_value, tricky_text};
    use proptest::prelude::*;
    use serde_json::Value;

    const RUNS: &str = include_str!("../../../lastgood-testkit/fixtures/github/workflow-runs.json");
    const JOBS: &str = include_str!("../../../lastgood-testkit/fixtures/github/jobs.json");

    /// What each field of `object` becomes: kept, `null`, removed, or (`other`) any JSON.
    #[derive(Debug, Clone)]
    enum Change {
        Keep,
        Null,
        Remove,
        Other(Value),
    }

    fn changes(documented_only: bool) -> impl Strategy<Value = Vec<Change>> {
        let change = if documented_only {
            prop_oneof![2 => Just(Change::Keep), 1 => Just(Change::Null), 1 => Just(Change::Remove)]
                .boxed()
        } else {
            prop_oneof![
                Just(Change::Keep),
                Just(Change::Null),
                json_value().prop_map(Change::Other)
            ]
            .boxed()
        };
        prop::collection::vec(change, 40)
    }

    /// Applies `changes` to every field of `object` but `id` (never null in GitHub's description).
    fn apply(object: &mut Value, changes: &[Change]) {
        let Some(map) = object.as_object_mut() else {
            return;
        };
        let keys: Vec<String> = map.keys().filter(|k| *k != "id").cloned().collect();
        for (key, change) in keys.iter().zip(changes.iter().cycle()) {
            match change {
                Change::Keep => {}
                Change::Null => {
                    map.insert(key.clone(), Value::Null);
                }
                Change::Remove => {
                    map.remove(key);
                }
                Change::Other(v) => {
                    map.insert(key.clone(), v.clone());
                }
            }
        }
    }

    proptest! {
        #![proptest_config(config(1))]

        /// Runs and jobs whose fields GitHub leaves `null` or out (any of them but `id`) are
        /// read, and decided on, without error.
        #[test]
        fn nulls_and_missing_fields_are_read(run_c in changes(true), job_c in changes(true), step_c in changes(true)) {
            let mut runs: Value = serde_json::from_str(RUNS).unwrap();
            let mut second = runs["workflow_runs"][0].clone();
            apply(&mut second, &run_c);
            runs["workflow_runs"].as_array_mut().unwrap().push(second);
            let page: RunsPage = serde_json::from_value(runs).expect("runs with nulls");
            let sha = page.workflow_runs[0].head_sha.clone();
            prop_assert!(deciding_run(&page.workflow_runs, &sha).is_some());
            let mut jobs: Value = serde_json::from_str(JOBS).unwrap();
            let mut job = jobs["jobs"][0].clone();
            if let Some(steps) = job["steps"].as_array_mut() {
                for step in steps.iter_mut() { apply(step, &step_c) }
            }
            apply(&mut job, &job_c);
            jobs["jobs"].as_array_mut().unwrap().push(job);
            let page: JobsPage = serde_json::from_value(jobs).expect("jobs with nulls");
            for failed in failed_jobs(&page.jobs) {
                prop_assert!(!failed.lines().is_empty());
            }
        }

        /// Any JSON in any field: read or refused, never a panic.
        #[test]
        fn any_json_in_any_field_is_read_or_refused(run_c in changes(false), job_c in changes(false), junk in json_value()) {
            let mut runs: Value = serde_json::from_str(RUNS).unwrap();
            apply(&mut runs["workflow_runs"][0], &run_c);
            if let Ok(page) = serde_json::from_value::<RunsPage>(runs) {
                let _ = deciding_run(&page.workflow_runs, "x");
            }
            let mut jobs: Value = serde_json::from_str(JOBS).unwrap();
            apply(&mut jobs["jobs"][0], &job_c);
            if let Ok(page) = serde_json::from_value::<JobsPage>(jobs) {
                let _ = failed_jobs(&page.jobs);
            }
            let _ = serde_json::from_value::<RunsPage>(junk.clone());
            let _ = serde_json::from_value::<JobsPage>(junk);
        }

        /// Whatever a 403/429 says in its headers, it is classified, and its wait either fits
        /// before the deadline or ends the polling as past it; never a panic.
        #[test]
        fn any_rate_limit_answer_is_a_bounded_decision(
            status in prop::sample::select(vec![403u16, 429, 200, 500]),
            retry_after in prop_oneof![tricky_text(8), "[0-9.e+-]{1,24}", Just("inf".to_owned())],
            remaining in prop_oneof![Just("0".to_owned()), "[0-9 ]{0,3}"],
            reset in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), "[0-9]{0,30}", tricky_text(6)],
            with_retry_after in any::<bool>(),
            body in tricky_text(30),
        ) {
            let mut headers = vec![("x-ratelimit-remaining", remaining.as_str()), ("x-ratelimit-reset", reset.as_str())];
            if with_retry_after { headers.push(("retry-after", retry_after.as_str())); }
            let r = Response {
                status,
                headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                body: body.into_bytes(),
            };
            let t = throttle(&r, SystemTime::now());
            if let Throttle::Wait(wait) = t {
                let mut gh = GitHub::new("http://127.0.0.1:9", "o/r", "t");
                gh.set_deadline(Some(Instant::now()));
                std::thread::sleep(Duration::from_millis(1));
                let ended = wait_alone(&mut gh, wait, "rate limited", &mut |_| {});
                prop_assert!(matches!(ended, Err(ApiError::PastDeadline(_))), "{:?}", ended);
            }
        }

        /// Any `link` header: a next page or none; a well-formed one gives its URL.
        #[test]
        fn link_headers_are_read_or_ignored(text in tricky_text(40), url in "https://api\\.github\\.com/[a-z?=&0-9]{0,12}", prev in any::<bool>()) {
            let _ = next_link(&text);
            let header = if prev {
                format!("<https://api.github.com/p1>; rel=\"prev\", <{url}>; rel=\"next\"")
            } else {
                format!("<{url}>; rel=\"next\"")
            };
            prop_assert_eq!(next_link(&header), Some(url));
        }

        /// A workflow name goes into the URL as one path segment, whatever it holds, and a
        /// repository is `owner/name` of plain characters.
        #[test]
        fn names_stay_in_their_place_in_urls(workflow in tricky_text(16), repo in tricky_text(16)) {
            let segment = encode_segment(&workflow);
            prop_assert!(segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)), "{}", segment);
            if is_repository(&repo) {
                prop_assert_eq!(repo.matches('/').count(), 1);
                prop_assert!(!repo.contains(['?', '#', '%', ' ', '\n']) && !repo.starts_with('/') && !repo.ends_with('/'));
            }
        }

        /// A log tail keeps at most the lines asked, without colour codes or carriage returns.
        #[test]
        fn log_tails_are_bounded_and_clean(
            lines in prop::collection::vec(prop_oneof![
                tricky_text(20),
                tricky_text(10).prop_map(|l| format!("2026-01-20T17:42:40.1234567Z {l}")),
                tricky_text(10).prop_map(|l| format!("##[error]\u{1b}[31m{l}\u{1b}[0m")),
            ], 0..50),
            max in 0usize..40,
        ) {
            let tail = log_tail(&lines.join("\n"), max);
            prop_assert!(tail.lines().count() <= max, "{:?}", tail);
            prop_assert!(!tail.contains("\u{1b}["), "{:?}", tail);
            prop_assert!(!tail.lines().any(|l| l.ends_with('\r')), "{:?}", tail);
        }
    }
}
