//! A GitHub REST stand-in for the CI watcher's tests: workflow runs that appear and progress as a
//! test scripts them, jobs with failed steps, and job logs behind a 302 to a second server (the
//! "log host") that refuses any request carrying an `Authorization` header, like GitHub's storage.
//!
//! Like GitHub it requires `Authorization: Bearer <token>` (401 otherwise) and
//! `X-GitHub-Api-Version: 2022-11-28` (400 otherwise), answers `If-None-Match` with 304 when the
//! body is unchanged, paginates with a `link` header, and can be told to answer rate limits
//! (403 + `x-ratelimit-remaining: 0` + `x-ratelimit-reset`, or 429 + `retry-after`) and 5xx.
//!
//! Deployments (`POST/GET …/deployments`, `POST/GET …/deployments/{id}/statuses`) follow the REST
//! description: a deployment is refused with 409 unless `required_contexts` is given empty (the
//! commit's legacy statuses are never green here: Actions reports check runs), a status with an
//! unknown `state` with 422, and a `success` status with `auto_inactive` (default true) adds an
//! `inactive` status to the environment's other non-production, non-transient deployments whose
//! latest status is `success`, as GitHub does.
//!
//! Run and job bodies are the REST description's examples (fixtures/github/, see SOURCES.md)
//! with the fields a scenario sets overwritten.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::docker::fnv1a;
use crate::server::{Recorded, Reply, TestServer};

/// The token the stand-in accepts unless told otherwise.
pub const TOKEN: &str = "ghs_lastgoodTestToken0123456789abcdefXYZ";
/// The repository it serves.
pub const REPOSITORY: &str = "octo-org/octo-repo";
/// The workflow file it knows.
pub const WORKFLOW: &str = "ci.yml";

const RUNS_FIXTURE: &str = include_str!("../fixtures/github/workflow-runs.json");
const JOBS_FIXTURE: &str = include_str!("../fixtures/github/jobs.json");
const DEPLOYMENT_FIXTURE: &str = include_str!("../fixtures/github/deployment.json");
const DEPLOYMENT_STATUS_FIXTURE: &str = include_str!("../fixtures/github/deployment-status.json");

/// The states GitHub accepts for a deployment status.
const DEPLOYMENT_STATES: &[&str] = &[
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

/// A deployment the stand-in holds, with its statuses (oldest first).
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Its id.
    pub id: u64,
    /// The SHA (the `ref` asked for).
    pub sha: String,
    /// Its environment.
    pub environment: String,
    /// `production_environment`.
    pub production: bool,
    /// `transient_environment`.
    pub transient: bool,
    /// The request that created it.
    pub request: Value,
    /// Its statuses, oldest first.
    pub statuses: Vec<DeploymentStatus>,
}

impl Deployment {
    /// The states of its statuses, oldest first.
    pub fn states(&self) -> Vec<String> {
        self.statuses.iter().map(|s| s.state.clone()).collect()
    }
}

/// One status of a deployment.
#[derive(Debug, Clone)]
pub struct DeploymentStatus {
    /// `in_progress`, `success`, …
    pub state: String,
    /// Its description.
    pub description: String,
    /// `environment_url`, if given.
    pub environment_url: Option<String>,
    /// `log_url`, if given.
    pub log_url: Option<String>,
    /// Added by GitHub (`auto_inactive`), not by a request.
    pub automatic: bool,
}

/// When a phase of a run begins.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// At the n-th listing of the runs of its SHA (0 = the first).
    Poll(usize),
    /// This long after the stand-in started.
    After(Duration),
}

#[derive(Debug, Clone)]
struct Phase {
    when: When,
    /// `None`: `status: null` (the REST description marks the run's status nullable).
    status: Option<String>,
    conclusion: Option<String>,
    attempt: u64,
}

/// A scripted workflow run: invisible until its first phase begins, then in the state of the
/// latest phase begun.
#[derive(Debug, Clone)]
pub struct Run {
    id: u64,
    sha: String,
    run_number: u64,
    event: String,
    phases: Vec<Phase>,
}

impl Run {
    /// Run `id` of `sha` (run number = id, event `push`), with no phase yet.
    pub fn new(id: u64, sha: &str) -> Self {
        Run {
            id,
            sha: sha.to_owned(),
            run_number: id,
            event: "push".to_owned(),
            phases: Vec::new(),
        }
    }

    /// A run queued at the first listing, in progress at the next, completed with
    /// `conclusion` from listing `completed_at_poll` on.
    pub fn completes(id: u64, sha: &str, conclusion: &str, completed_at_poll: usize) -> Self {
        Run::new(id, sha)
            .at(When::Poll(0), "queued", None)
            .at(When::Poll(1.min(completed_at_poll)), "in_progress", None)
            .at(When::Poll(completed_at_poll), "completed", Some(conclusion))
    }

    /// Sets the run number (higher is newer).
    pub fn number(mut self, n: u64) -> Self {
        self.run_number = n;
        self
    }

    /// Sets the triggering event.
    pub fn event(mut self, event: &str) -> Self {
        self.event = event.to_owned();
        self
    }

    /// From `when` on, the run (at its current attempt) is in `status` with `conclusion`.
    pub fn at(self, when: When, status: &str, conclusion: Option<&str>) -> Self {
        let attempt = self.phases.last().map_or(1, |p| p.attempt);
        self.rerun(when, attempt, status, conclusion)
    }

    /// From `when` on, a re-run: attempt `attempt` in `status` with `conclusion`.
    pub fn rerun(
        mut self,
        when: When,
        attempt: u64,
        status: &str,
        conclusion: Option<&str>,
    ) -> Self {
        self.phases.push(Phase {
            when,
            status: Some(status.to_owned()),
            conclusion: conclusion.map(str::to_owned),
            attempt,
        });
        self
    }

    /// From `when` on, the run is listed with `status: null` and `conclusion: null` (the REST
    /// description marks both nullable; GitHub answers so for a run it is still setting up).
    pub fn at_null_status(mut self, when: When) -> Self {
        let attempt = self.phases.last().map_or(1, |p| p.attempt);
        self.phases.push(Phase {
            when,
            status: None,
            conclusion: None,
            attempt,
        });
        self
    }
}

/// A scripted job of a run.
#[derive(Debug, Clone)]
pub struct Job {
    id: u64,
    name: String,
    conclusion: String,
    steps: Vec<(String, String)>,
}

impl Job {
    /// Job `id` called `name` that completed with `conclusion`.
    pub fn new(id: u64, name: &str, conclusion: &str) -> Self {
        Job {
            id,
            name: name.to_owned(),
            conclusion: conclusion.to_owned(),
            steps: Vec::new(),
        }
    }

    /// Adds a step that completed with `conclusion`.
    pub fn step(mut self, name: &str, conclusion: &str) -> Self {
        self.steps.push((name.to_owned(), conclusion.to_owned()));
        self
    }
}

/// An answer given instead of the real one, to the next API request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` this many seconds ahead.
    RateLimitReset(u64),
    /// 429 with `retry-after` of this many seconds.
    RetryAfter(u64),
    /// This status, with a JSON `message`.
    Status(u16, String),
}

/// One answer of the API server, for assertions.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The request.
    pub request: Recorded,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    token: String,
    runs: Vec<Run>,
    jobs: HashMap<u64, Vec<Job>>,
    logs: HashMap<u64, String>,
    page_size: Option<usize>,
    etags: bool,
    faults: VecDeque<Fault>,
    outage: Option<Fault>,
    nulls: bool,
    polls: HashMap<String, usize>,
    answers: Vec<Answer>,
    deployments: Vec<Deployment>,
    deployments_outage: Option<Fault>,
}

/// The GitHub stand-in: an API server and a log host.
pub struct FakeGitHub {
    api: TestServer,
    logs: TestServer,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitHub")
            .field("api", &self.api.url())
            .finish()
    }
}

impl Default for FakeGitHub {
    fn default() -> Self {
        Self::start()
    }
}

impl FakeGitHub {
    /// Starts the API server and the log host, with no run, ETags on and no page limit.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            token: TOKEN.to_owned(),
            etags: true,
            ..State::default()
        }));
        let logs = {
            let state = Arc::clone(&state);
            TestServer::start(move |req| log_host(req, &state))
        };
        let log_url = logs.url();
        let started = Instant::now();
        let api = {
            let state = Arc::clone(&state);
            TestServer::start(move |req| {
                let mut st = state.lock().expect("stand-in state");
                let reply = api(req, &mut st, &log_url, started);
                st.answers.push(Answer {
                    request: req.clone(),
                    status: reply.status,
                });
                reply
            })
        };
        FakeGitHub { api, logs, state }
    }

    /// The API root (`api-url`).
    pub fn url(&self) -> String {
        self.api.url()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("stand-in state")
    }

    /// Adds a run.
    pub fn add_run(&self, run: Run) -> &Self {
        self.state().runs.push(run);
        self
    }

    /// Sets the jobs of run `run_id` (by default a run has one job `build` whose conclusion is
    /// the run's).
    pub fn set_jobs(&self, run_id: u64, jobs: Vec<Job>) -> &Self {
        self.state().jobs.insert(run_id, jobs);
        self
    }

    /// Sets the log text of job `job_id` (served by the log host).
    pub fn set_log(&self, job_id: u64, text: &str) -> &Self {
        self.state().logs.insert(job_id, text.to_owned());
        self
    }

    /// Answers lists with at most `n` items a page, with a `link: rel="next"` header.
    pub fn page_size(&self, n: usize) -> &Self {
        self.state().page_size = Some(n.max(1));
        self
    }

    /// Turns ETags and 304 answers on or off.
    pub fn etags(&self, on: bool) -> &Self {
        self.state().etags = on;
        self
    }

    /// Accepts this token instead of [`TOKEN`].
    pub fn token(&self, token: &str) -> &Self {
        self.state().token = token.to_owned();
        self
    }

    /// Answers the next API request with `fault` (faults queue up, one per request).
    pub fn fault(&self, fault: Fault) -> &Self {
        self.state().faults.push_back(fault);
        self
    }

    /// Answers every API request with `fault` until [`FakeGitHub::end_outage`] (an outage, or a
    /// rate limit that lasts).
    pub fn outage(&self, fault: Fault) -> &Self {
        self.state().outage = Some(fault);
        self
    }

    /// Answers every deployments request (and only those) with `fault`, or normally again with
    /// `None`: GitHub failing on one endpoint while the others answer.
    pub fn deployments_outage(&self, fault: Option<Fault>) -> &Self {
        self.state().deployments_outage = fault;
        self
    }

    /// Ends an [`FakeGitHub::outage`].
    pub fn end_outage(&self) -> &Self {
        self.state().outage = None;
        self
    }

    /// Lists runs and jobs with `null` in every field the REST description marks nullable and
    /// the scenario does not set (`head_branch`, `name`, `pull_requests`, `head_commit`; a job's
    /// `html_url`, `completed_at`, `runner_*`, `workflow_name`, a step's times), as GitHub may.
    pub fn nulls(&self, on: bool) -> &Self {
        self.state().nulls = on;
        self
    }

    /// Every answer of the API server so far.
    pub fn answers(&self) -> Vec<Answer> {
        self.state().answers.clone()
    }

    /// The answers to run listings.
    pub fn run_listings(&self) -> Vec<Answer> {
        self.answers()
            .into_iter()
            .filter(|a| a.request.path().ends_with("/runs"))
            .collect()
    }

    /// How many listings of `sha`'s runs were answered with data (200 or 304).
    pub fn polls(&self, sha: &str) -> usize {
        self.state().polls.get(sha).copied().unwrap_or(0)
    }

    /// Every deployment, oldest first.
    pub fn deployments(&self) -> Vec<Deployment> {
        self.state().deployments.clone()
    }

    /// The deployments of `sha`, oldest first.
    pub fn deployments_of(&self, sha: &str) -> Vec<Deployment> {
        self.deployments()
            .into_iter()
            .filter(|d| d.sha == sha)
            .collect()
    }

    /// Adds a deployment of `sha` in `environment` (`production_environment` as given) whose
    /// statuses are `states`, as an earlier deploy left it; its id.
    pub fn seed_deployment(
        &self,
        sha: &str,
        environment: &str,
        production: bool,
        states: &[&str],
    ) -> u64 {
        let mut st = self.state();
        let id = st.deployments.len() as u64 + 1;
        st.deployments.push(Deployment {
            id,
            sha: sha.to_owned(),
            environment: environment.to_owned(),
            production,
            transient: false,
            request: json!({"ref": sha, "environment": environment}),
            statuses: states
                .iter()
                .map(|s| DeploymentStatus {
                    state: (*s).to_owned(),
                    description: String::new(),
                    environment_url: None,
                    log_url: None,
                    automatic: false,
                })
                .collect(),
        });
        id
    }

    /// Every request the log host received.
    pub fn log_requests(&self) -> Vec<Recorded> {
        self.logs.requests()
    }

    /// Every request the API server received.
    pub fn api_requests(&self) -> Vec<Recorded> {
        self.api.requests()
    }
}

fn message(status: u16, text: &str) -> Reply {
    Reply::json(
        status,
        &json!({"message": text, "documentation_url": "https://docs.github.com/rest"}),
    )
}

fn api(req: &Recorded, st: &mut State, log_url: &str, started: Instant) -> Reply {
    let expected = format!("Bearer {}", st.token);
    if req.header("authorization") != Some(expected.as_str()) {
        return message(401, "Bad credentials");
    }
    if req.header("x-github-api-version") != Some("2022-11-28") {
        return message(400, "Missing or unsupported X-GitHub-Api-Version");
    }
    if let Some(fault) = st.faults.pop_front().or_else(|| st.outage.clone()) {
        return fault_reply(fault);
    }
    let host = req.header("host").unwrap_or("127.0.0.1").to_owned();
    let base = format!("http://{host}");
    let parts: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    let repo_ok = parts.len() >= 3
        && parts[0] == "repos"
        && format!("{}/{}", parts[1], parts[2]) == REPOSITORY;
    if !repo_ok {
        return message(404, "Not Found");
    }
    if parts.get(3) == Some(&"deployments") {
        if let Some(fault) = st.deployments_outage.clone() {
            return fault_reply(fault);
        }
        return deployments(req, st, &base, &parts[4..]);
    }
    runs_and_jobs(req, st, &base, &parts, log_url, started)
}

/// The answer `fault` stands for.
fn fault_reply(fault: Fault) -> Reply {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    match fault {
        Fault::RateLimitReset(secs) => message(403, "API rate limit exceeded for installation")
            .header("x-ratelimit-limit", "1000")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-used", "1000")
            .header("x-ratelimit-reset", (now + secs).to_string())
            .header("x-ratelimit-resource", "core"),
        Fault::RetryAfter(secs) => message(429, "You have exceeded a secondary rate limit")
            .header("retry-after", secs.to_string()),
        Fault::Status(status, text) => message(status, &text),
    }
}

/// Runs, jobs and logs.
fn runs_and_jobs(
    req: &Recorded,
    st: &mut State,
    base: &str,
    parts: &[&str],
    log_url: &str,
    started: Instant,
) -> Reply {
    let (status, body) = match &parts[3..] {
        [] => (200, json!({"full_name": REPOSITORY})),
        ["actions", "workflows", wf, "runs"] => {
            if *wf != WORKFLOW {
                return message(404, "Not Found");
            }
            let sha = req.query("head_sha").unwrap_or("").to_owned();
            let first_page = req.query("page").is_none_or(|p| p == "1");
            let poll = st.polls.get(&sha).copied().unwrap_or(0);
            if first_page {
                *st.polls.entry(sha.clone()).or_default() += 1;
            }
            let elapsed = started.elapsed();
            let nulls = st.nulls;
            let mut runs: Vec<Value> = st
                .runs
                .iter()
                .filter(|r| r.sha == sha)
                .filter_map(|r| run_json(r, poll, elapsed, base, nulls))
                .collect();
            runs.sort_by_key(|r| std::cmp::Reverse(r["run_number"].as_u64().unwrap_or(0)));
            return page(req, st, base, runs, "workflow_runs");
        }
        ["actions", "runs", id, "jobs"] => {
            let Ok(id) = id.parse::<u64>() else {
                return message(404, "Not Found");
            };
            let Some(run) = st.runs.iter().find(|r| r.id == id) else {
                return message(404, "Not Found");
            };
            let jobs = match st.jobs.get(&id) {
                Some(jobs) => jobs.clone(),
                None => {
                    let poll = st
                        .polls
                        .get(&run.sha)
                        .copied()
                        .unwrap_or(1)
                        .saturating_sub(1);
                    let conclusion = current(run, poll, started.elapsed())
                        .and_then(|p| p.conclusion.clone())
                        .unwrap_or_else(|| "success".to_owned());
                    vec![Job::new(id * 10, "build", &conclusion)]
                }
            };
            let jobs: Vec<Value> = jobs
                .iter()
                .map(|j| job_json(j, run, base, st.nulls))
                .collect();
            return page(req, st, base, jobs, "jobs");
        }
        ["actions", "jobs", id, "logs"] => {
            let Ok(id) = id.parse::<u64>() else {
                return message(404, "Not Found");
            };
            if !st.logs.contains_key(&id) {
                return message(404, "Not Found");
            }
            return Reply::status(302).header(
                "Location",
                format!("{log_url}/logs/{id}.txt?sig=short-lived-signature"),
            );
        }
        _ => return message(404, "Not Found"),
    };
    json_with_etag(req, st, status, &body, None)
}

fn current(run: &Run, poll: usize, elapsed: Duration) -> Option<&Phase> {
    run.phases.iter().rev().find(|p| match p.when {
        When::Poll(n) => poll >= n,
        When::After(d) => elapsed >= d,
    })
}

fn run_json(run: &Run, poll: usize, elapsed: Duration, base: &str, nulls: bool) -> Option<Value> {
    let phase = current(run, poll, elapsed)?;
    let template: Value = serde_json::from_str(RUNS_FIXTURE).expect("runs fixture");
    let mut v = template["workflow_runs"][0].clone();
    v["id"] = json!(run.id);
    v["name"] = json!("CI");
    v["head_sha"] = json!(run.sha);
    v["head_branch"] = json!("main");
    v["path"] = json!(format!(".github/workflows/{WORKFLOW}"));
    v["event"] = json!(run.event);
    v["status"] = json!(phase.status);
    v["conclusion"] = json!(phase.conclusion);
    v["run_number"] = json!(run.run_number);
    v["run_attempt"] = json!(phase.attempt);
    if nulls {
        for field in ["name", "head_branch", "pull_requests", "head_commit"] {
            v[field] = Value::Null;
        }
    }
    v["url"] = json!(format!("{base}/repos/{REPOSITORY}/actions/runs/{}", run.id));
    v["html_url"] = json!(format!(
        "https://github.com/{REPOSITORY}/actions/runs/{}",
        run.id
    ));
    v["jobs_url"] = json!(format!(
        "{base}/repos/{REPOSITORY}/actions/runs/{}/jobs",
        run.id
    ));
    Some(v)
}

fn job_json(job: &Job, run: &Run, base: &str, nulls: bool) -> Value {
    let template: Value = serde_json::from_str(JOBS_FIXTURE).expect("jobs fixture");
    let mut v = template["jobs"][0].clone();
    v["id"] = json!(job.id);
    v["run_id"] = json!(run.id);
    v["head_sha"] = json!(run.sha);
    v["name"] = json!(job.name);
    v["status"] = json!("completed");
    v["conclusion"] = json!(job.conclusion);
    v["url"] = json!(format!("{base}/repos/{REPOSITORY}/actions/jobs/{}", job.id));
    v["html_url"] = json!(format!(
        "https://github.com/{REPOSITORY}/actions/runs/{}/job/{}",
        run.id, job.id
    ));
    if !job.steps.is_empty() {
        v["steps"] = Value::Array(
            job.steps
                .iter()
                .enumerate()
                .map(|(i, (name, conclusion))| {
                    json!({"name": name, "status": "completed", "conclusion": conclusion, "number": i + 1})
                })
                .collect(),
        );
    }
    if nulls {
        for field in [
            "head_branch",
            "html_url",
            "completed_at",
            "runner_id",
            "runner_name",
            "runner_group_id",
            "runner_group_name",
            "workflow_name",
        ] {
            v[field] = Value::Null;
        }
        if let Some(steps) = v["steps"].as_array_mut() {
            for step in steps {
                step["started_at"] = Value::Null;
                step["completed_at"] = Value::Null;
            }
        }
    }
    v
}

/// One page of `items` under `key`, with `link` when more follow.
fn page(req: &Recorded, st: &mut State, base: &str, items: Vec<Value>, key: &str) -> Reply {
    let per_page = req
        .query("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let size = st.page_size.map_or(per_page, |s| s.min(per_page));
    let page: usize = req
        .query("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let body = json!({"total_count": total, key: chunk});
    let link = (page * size < total).then(|| {
        let query: Vec<String> = req
            .target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
            .map(str::to_owned)
            .chain([format!("page={}", page + 1)])
            .collect();
        format!(
            "<{base}{}?{}>; rel=\"next\", <{base}{}?page=1>; rel=\"first\"",
            req.path(),
            query.join("&"),
            req.path()
        )
    });
    json_with_etag(req, st, 200, &body, link)
}

fn json_with_etag(
    req: &Recorded,
    st: &State,
    status: u16,
    body: &Value,
    link: Option<String>,
) -> Reply {
    let text = body.to_string();
    let etag = format!("W/\"{:016x}\"", fnv1a(text.as_bytes()));
    let mut reply = if st.etags && req.header("if-none-match") == Some(etag.as_str()) {
        Reply::status(304)
    } else {
        Reply::json(status, body)
    };
    if st.etags {
        reply = reply.header("ETag", etag);
    }
    if let Some(link) = link {
        reply = reply.header("Link", link);
    }
    reply
        .header("x-ratelimit-limit", "1000")
        .header("x-ratelimit-remaining", "999")
}

fn log_host(req: &Recorded, state: &Mutex<State>) -> Reply {
    if req.header("authorization").is_some() {
        return Reply::text(
            403,
            "<Error><Code>AuthenticationFailed</Code><Message>Authorization header not allowed</Message></Error>",
        );
    }
    let id = req
        .path()
        .trim_start_matches("/logs/")
        .trim_end_matches(".txt")
        .parse::<u64>()
        .ok();
    let st = state.lock().expect("stand-in state");
    match id.and_then(|id| st.logs.get(&id)) {
        Some(text) => Reply::status(200)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(text.clone()),
        None => Reply::text(404, "BlobNotFound"),
    }
}

/// `…/deployments…`: create, list, add and list statuses.
fn deployments(req: &Recorded, st: &mut State, base: &str, rest: &[&str]) -> Reply {
    match (req.method.as_str(), rest) {
        ("POST", []) => create_deployment(req, st, base),
        ("GET", []) => {
            let sha = req.query("sha");
            let environment = req.query("environment").map(percent_decode);
            let per_page = req
                .query("per_page")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(30)
                .clamp(1, 100);
            let list: Vec<Value> = st
                .deployments
                .iter()
                .rev()
                .filter(|d| sha.is_none_or(|s| d.sha == s))
                .filter(|d| environment.as_deref().is_none_or(|e| d.environment == e))
                .take(per_page)
                .map(|d| deployment_json(d, base))
                .collect();
            Reply::json(200, &Value::Array(list))
        }
        ("POST", [id, "statuses"]) => add_status(req, st, base, id),
        ("GET", [id, "statuses"]) => {
            let Some(d) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| st.deployments.iter().find(|d| d.id == id))
            else {
                return message(404, "Not Found");
            };
            let list: Vec<Value> = (0..d.statuses.len())
                .rev()
                .map(|i| status_json(d, i, base))
                .collect();
            Reply::json(200, &Value::Array(list))
        }
        _ => message(404, "Not Found"),
    }
}

fn create_deployment(req: &Recorded, st: &mut State, base: &str) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return message(400, "Problems parsing JSON");
    };
    let Some(reference) = body["ref"].as_str().filter(|r| !r.is_empty()) else {
        return validation_failed("Deployment", "ref", "missing_field");
    };
    // Without `required_contexts: []`, GitHub checks every context of the commit's legacy
    // statuses: there are none that are green here, as Actions reports check runs.
    let skips_checks = body["required_contexts"]
        .as_array()
        .is_some_and(Vec::is_empty);
    if !skips_checks {
        return message(
            409,
            &format!("Conflict: Commit status checks failed for {reference}."),
        );
    }
    let environment = body["environment"]
        .as_str()
        .unwrap_or("production")
        .to_owned();
    let production = body["production_environment"]
        .as_bool()
        .unwrap_or(environment == "production");
    let deployment = Deployment {
        id: st.deployments.len() as u64 + 1,
        sha: reference.to_owned(),
        environment,
        production,
        transient: body["transient_environment"].as_bool().unwrap_or(false),
        request: body,
        statuses: Vec::new(),
    };
    let reply = Reply::json(201, &deployment_json(&deployment, base));
    st.deployments.push(deployment);
    reply
}

fn add_status(req: &Recorded, st: &mut State, base: &str, id: &str) -> Reply {
    let Some(index) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.deployments.iter().position(|d| d.id == id))
    else {
        return message(404, "Not Found");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return message(400, "Problems parsing JSON");
    };
    let state = body["state"].as_str().unwrap_or("");
    if !DEPLOYMENT_STATES.contains(&state) {
        return validation_failed("DeploymentStatus", "state", "invalid");
    }
    // GitHub's limit on a status's description.
    if body["description"]
        .as_str()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return validation_failed("DeploymentStatus", "description", "too_long");
    }
    let text = |key: &str| body[key].as_str().map(str::to_owned);
    st.deployments[index].statuses.push(DeploymentStatus {
        state: state.to_owned(),
        description: text("description").unwrap_or_default(),
        environment_url: text("environment_url"),
        log_url: text("log_url"),
        automatic: false,
    });
    if state == "success" && body["auto_inactive"].as_bool().unwrap_or(true) {
        let env = st.deployments[index].environment.clone();
        for (i, d) in st.deployments.iter_mut().enumerate() {
            let active = d.statuses.last().is_some_and(|s| s.state == "success");
            // "All prior" deployments of the environment: never a newer one.
            if i < index && d.environment == env && !d.production && !d.transient && active {
                d.statuses.push(DeploymentStatus {
                    state: "inactive".to_owned(),
                    description: String::new(),
                    environment_url: None,
                    log_url: None,
                    automatic: true,
                });
            }
        }
    }
    let d = &st.deployments[index];
    Reply::json(201, &status_json(d, d.statuses.len() - 1, base))
}

fn validation_failed(resource: &str, field: &str, code: &str) -> Reply {
    Reply::json(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "field": field, "code": code}],
            "documentation_url": "https://docs.github.com/rest/deployments",
        }),
    )
}

fn deployment_json(d: &Deployment, base: &str) -> Value {
    let mut v: Value = serde_json::from_str(DEPLOYMENT_FIXTURE).expect("deployment fixture");
    let url = format!("{base}/repos/{REPOSITORY}/deployments/{}", d.id);
    v["id"] = json!(d.id);
    v["sha"] = json!(d.sha);
    v["ref"] = json!(d.sha);
    v["environment"] = json!(d.environment);
    v["original_environment"] = json!(d.environment);
    v["production_environment"] = json!(d.production);
    v["transient_environment"] = json!(d.transient);
    v["description"] = d.request.get("description").cloned().unwrap_or(Value::Null);
    v["statuses_url"] = json!(format!("{url}/statuses"));
    v["repository_url"] = json!(format!("{base}/repos/{REPOSITORY}"));
    v["url"] = json!(url);
    v
}

fn status_json(d: &Deployment, i: usize, base: &str) -> Value {
    let s = &d.statuses[i];
    let mut v: Value =
        serde_json::from_str(DEPLOYMENT_STATUS_FIXTURE).expect("deployment status fixture");
    let url = format!("{base}/repos/{REPOSITORY}/deployments/{}", d.id);
    v["id"] = json!(i + 1);
    v["url"] = json!(format!("{url}/statuses/{}", i + 1));
    v["state"] = json!(s.state);
    v["description"] = json!(s.description);
    v["environment"] = json!(d.environment);
    v["environment_url"] = json!(s.environment_url.clone().unwrap_or_default());
    v["log_url"] = json!(s.log_url.clone().unwrap_or_default());
    v["target_url"] = v["log_url"].clone();
    v["deployment_url"] = json!(url);
    v["repository_url"] = json!(format!("{base}/repos/{REPOSITORY}"));
    v
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, token: Option<&str>, body: Value) -> Recorded {
        let mut headers = vec![
            ("x-github-api-version".to_owned(), "2022-11-28".to_owned()),
            ("host".to_owned(), "127.0.0.1:9".to_owned()),
        ];
        if let Some(t) = token {
            headers.push(("authorization".to_owned(), format!("Bearer {t}")));
        }
        Recorded {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: body.to_string().into_bytes(),
            at: Instant::now(),
        }
    }

    fn call(st: &mut State, method: &str, target: &str, body: Value) -> (u16, Value) {
        let reply = api(
            &request(method, target, Some(TOKEN), body),
            st,
            "http://logs",
            Instant::now(),
        );
        let body = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        (reply.status, body)
    }

    #[test]
    fn deployments_answer_as_the_rest_description_says() {
        let mut st = State {
            token: TOKEN.to_owned(),
            ..State::default()
        };
        let path = format!("/repos/{REPOSITORY}/deployments");
        let sha = "a".repeat(40);
        // Auth first.
        let unauthenticated = api(
            &request("POST", &path, None, json!({"ref": sha})),
            &mut st,
            "http://logs",
            Instant::now(),
        );
        assert_eq!(unauthenticated.status, 401);
        // Legacy statuses are never green: 409 unless required_contexts is empty.
        let (status, body) = call(&mut st, "POST", &path, json!({"ref": sha}));
        assert_eq!(status, 409);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("status checks failed")
        );
        let (status, _) = call(&mut st, "POST", &path, json!({"environment": "preprod"}));
        assert_eq!(status, 422, "no ref");
        let create = json!({"ref": sha, "environment": "preprod", "required_contexts": []});
        let (status, first) = call(&mut st, "POST", &path, create.clone());
        assert_eq!(status, 201);
        assert_eq!(first["sha"], sha.as_str());
        assert_eq!(first["production_environment"], false);
        assert!(first["creator"]["login"].is_string(), "the fixture's shape");
        let statuses = format!("{path}/{}/statuses", first["id"]);
        let (status, body) = call(&mut st, "POST", &statuses, json!({"state": "done"}));
        assert_eq!(
            (status, body["message"].as_str()),
            (422, Some("Validation Failed"))
        );
        let (status, s) = call(&mut st, "POST", &statuses, json!({"state": "success"}));
        assert_eq!(status, 201);
        assert_eq!(s["state"], "success");
        // A second success in the environment retires the first (auto_inactive).
        let (_, second) = call(&mut st, "POST", &path, create);
        let second_statuses = format!("{path}/{}/statuses", second["id"]);
        call(
            &mut st,
            "POST",
            &second_statuses,
            json!({"state": "success"}),
        );
        assert_eq!(st.deployments[0].states(), ["success", "inactive"]);
        assert!(st.deployments[0].statuses[1].automatic);
        // Listing: newest first, filtered by SHA and environment.
        let (status, list) = call(
            &mut st,
            "GET",
            &format!("{path}?sha={sha}&environment=preprod&per_page=1"),
            Value::Null,
        );
        assert_eq!(status, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], second["id"]);
        let (_, none) = call(
            &mut st,
            "GET",
            &format!("{path}?sha={sha}&environment=prod"),
            Value::Null,
        );
        assert_eq!(none, json!([]));
        let (status, _) = call(
            &mut st,
            "POST",
            &format!("{path}/99/statuses"),
            json!({"state": "success"}),
        );
        assert_eq!(status, 404);
    }
}
