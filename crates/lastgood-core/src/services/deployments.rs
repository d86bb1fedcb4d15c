//! GitHub deployments, the optional mirror of what runs where (`github-deployment`): deploy-sha
//! creates a deployment of the SHA and moves its status, ci-watcher adds CI's verdict.
//!
//! - Best effort: every failure (network, 4xx, 5xx, 409, 422, a rate limit) comes back as one
//!   line for a `::warning::`; nothing here ever changes a deploy's or a verdict's outcome.
//! - Requests go through [`GitHub::request_as`] (GitHub's headers, the token). A redirect is
//!   followed once, with the token, only on the API's own origin; to another host it is not
//!   followed (the token never leaves the API host).
//! - A deployment is created with `auto_merge: false` (the SHA is deployed as it is) and
//!   `required_contexts: []`: lastgood deploys first and tests in parallel, so CI has not passed
//!   yet, and GitHub would answer 409 while the commit's statuses are not green.
//! - `production_environment` is true for an environment called `prod` or `production`. GitHub
//!   marks older deployments inactive by itself (`auto_inactive`) when a deployment succeeds,
//!   but only those of non-production, non-transient environments: for a production
//!   environment the replaced deployment is marked `inactive` explicitly.

use std::time::Duration;

use serde_json::{Value, json};

use crate::base::error::{Error, Result};
use crate::base::sha::short_sha;
use crate::base::text::truncate;
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::platform::http::{self, Backoff, Decision, Request, Response, absolute};
use crate::services::github::{self, DEFAULT_API_URL, GitHub, encode_segment};

/// GitHub's limit on a status description.
const DESCRIPTION_MAX: usize = 140;

/// The tries of a request GitHub may answer with 5xx (statuses and listings: repeating them is
/// harmless). A deployment is created with one try ([`ONCE`]).
const RETRY: Backoff = Backoff {
    attempts: 3,
    initial: Duration::from_millis(500),
    max_wait: Duration::from_secs(5),
    deadline: Some(Duration::from_secs(20)),
};

/// The one try of a deployment's creation: a 5xx, a timeout or a dropped connection may come
/// after GitHub created it, and sending the POST again could create a second one.
const ONCE: Backoff = Backoff {
    attempts: 1,
    ..RETRY
};

/// A deployment status `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Being deployed.
    InProgress,
    /// In service (and, after ci-watcher, validated).
    Success,
    /// The deploy, its health gate or its CI failed.
    Failure,
    /// Stopped before a result (refused, cancelled, an error of the environment).
    Error,
    /// No longer in service.
    Inactive,
}

impl State {
    /// GitHub's word for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::InProgress => "in_progress",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
            State::Inactive => "inactive",
        }
    }
}

/// Where and how to mirror deploys: validated inputs.
#[derive(Clone)]
pub struct MirrorConfig {
    api_url: String,
    repository: String,
    token: String,
    environment: String,
    environment_url: Option<String>,
}

impl std::fmt::Debug for MirrorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("MirrorConfig")
            .field("api_url", &self.api_url)
            .field("repository", &self.repository)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl MirrorConfig {
    /// `None` unless the spec has `github-deployment` and it is true. A malformed `api-url`,
    /// `repository` or `environment-url` is an input error; a missing token or repository only
    /// a warning (the mirror is optional: the deploy goes on without it).
    pub(crate) fn from_inputs(
        inputs: &Inputs,
        environment: &str,
        runner: &mut Runner,
    ) -> Result<Option<MirrorConfig>> {
        if inputs.spec().input("github-deployment").is_none()
            || !inputs.bool("github-deployment")?
        {
            return Ok(None);
        }
        let api_url = inputs
            .get("api-url")
            .map(str::to_owned)
            .or_else(|| runner.context().api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !is_http_url(&api_url) {
            return Err(Error::input(
                "api-url",
                format!("`{api_url}` is not an http(s) URL"),
            ));
        }
        let environment_url = inputs.get("environment-url").map(str::to_owned);
        if let Some(url) = environment_url.as_deref().filter(|u| !is_http_url(u)) {
            return Err(Error::input(
                "environment-url",
                format!("`{url}` is not an http(s) URL"),
            ));
        }
        let repository = inputs
            .get("repository")
            .map(str::to_owned)
            .or_else(|| runner.context().repository.clone());
        if let Some(r) = repository.as_deref().filter(|r| !github::is_repository(r)) {
            return Err(Error::input(
                "repository",
                format!("`{r}` is not of the form owner/repo"),
            ));
        }
        let token = github::token(inputs, runner);
        let (Some(repository), Some(token)) = (repository, token) else {
            runner.warning(
                "github-deployment is on but no repository (or GITHUB_REPOSITORY) or no token (or GITHUB_TOKEN) is given: no GitHub deployment is recorded",
            );
            return Ok(None);
        };
        Ok(Some(MirrorConfig {
            api_url,
            repository,
            token,
            environment: environment.to_owned(),
            environment_url,
        }))
    }

    /// Takes `url` as the environment's URL when none was given (a well-formed http(s) URL
    /// only; anything else is ignored).
    pub(crate) fn adopt_environment_url(&mut self, url: &str) {
        if self.environment_url.is_none() && is_http_url(url) {
            self.environment_url = Some(url.to_owned());
        }
    }

    /// Whether GitHub should treat the environment as production (`prod`, `production`).
    fn production(&self) -> bool {
        ["prod", "production"]
            .iter()
            .any(|p| self.environment.eq_ignore_ascii_case(p))
    }
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace)
}

/// A client of one repository's deployments in one environment.
pub(crate) struct Mirror {
    gh: GitHub,
    cfg: MirrorConfig,
}

impl Mirror {
    /// The client for `cfg`.
    pub(crate) fn new(cfg: &MirrorConfig) -> Mirror {
        Mirror {
            gh: GitHub::new(&cfg.api_url, &cfg.repository, &cfg.token),
            cfg: cfg.clone(),
        }
    }

    /// Creates the deployment of `sha` in the environment; its id.
    pub(crate) fn create(&self, sha: &str, description: &str) -> std::result::Result<u64, String> {
        let body = json!({
            "ref": sha,
            "environment": self.cfg.environment,
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": self.cfg.production(),
            "transient_environment": false,
            "description": cut(description),
        });
        let url = format!("{}/deployments", self.gh.repo_url());
        let label = format!(
            "GitHub deployment of {} to {}",
            short_sha(sha),
            self.cfg.environment
        );
        let answer = self.send("POST", &url, &label, Some(&body), false)?;
        match answer.status {
            201 => answer
                .json::<Value>()
                .ok()
                .and_then(|v| v["id"].as_u64())
                .ok_or_else(|| format!("{label}: GitHub's answer has no deployment id")),
            // 202: GitHub merged the default branch instead (never with `auto_merge: false`).
            status => Err(refusal(&label, status, &answer)),
        }
    }

    /// Adds a status to deployment `id`. `log_url` is the run that did it.
    pub(crate) fn status(
        &self,
        id: u64,
        state: State,
        description: &str,
        log_url: Option<&str>,
    ) -> std::result::Result<(), String> {
        let mut body = json!({"state": state.as_str(), "description": cut(description)});
        if let Some(url) = &self.cfg.environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = log_url {
            body["log_url"] = json!(url);
        }
        let url = format!("{}/deployments/{id}/statuses", self.gh.repo_url());
        let label = format!("status `{}` of GitHub deployment {id}", state.as_str());
        let answer = self.send("POST", &url, &label, Some(&body), true)?;
        match answer.status {
            201 => Ok(()),
            status => Err(refusal(&label, status, &answer)),
        }
    }

    /// The newest deployment of `sha` in the environment, if any.
    pub(crate) fn find(&self, sha: &str) -> std::result::Result<Option<u64>, String> {
        let url = format!(
            "{}/deployments?sha={sha}&environment={}&per_page=1",
            self.gh.repo_url(),
            encode_segment(&self.cfg.environment)
        );
        let label = format!(
            "GitHub deployments of {} in {}",
            short_sha(sha),
            self.cfg.environment
        );
        let answer = self.send("GET", &url, &label, None, true)?;
        if answer.status != 200 {
            return Err(refusal(&label, answer.status, &answer));
        }
        let list: Value = answer
            .json()
            .map_err(|e| format!("{label}: unreadable answer from GitHub ({e})"))?;
        Ok(list
            .as_array()
            .and_then(|a| a.first())
            .and_then(|d| d["id"].as_u64()))
    }

    /// The deployment of `sha`: the newest one, else a new one.
    pub(crate) fn find_or_create(
        &self,
        sha: &str,
        description: &str,
    ) -> std::result::Result<u64, String> {
        match self.find(sha)? {
            Some(id) => Ok(id),
            None => self.create(sha, description),
        }
    }

    /// After a deployment of the environment succeeded: for a production environment (which
    /// GitHub's `auto_inactive` leaves alone), the deployment of `replaced` becomes inactive.
    pub(crate) fn replaced(
        &self,
        current: u64,
        replaced: Option<&str>,
        log_url: Option<&str>,
    ) -> std::result::Result<(), String> {
        let Some(replaced) = replaced.filter(|_| self.cfg.production()) else {
            return Ok(());
        };
        match self.find(replaced)? {
            Some(id) if id != current => self.status(
                id,
                State::Inactive,
                &format!("Replaced by a newer deploy of {}", self.cfg.environment),
                log_url,
            ),
            _ => Ok(()),
        }
    }

    /// One request: bounded retries when `retry` (429 with a short `Retry-After`, 5xx, network),
    /// else one try; a redirect followed once on the API's origin only.
    fn send(
        &self,
        method: &'static str,
        url: &str,
        label: &str,
        body: Option<&Value>,
        retry: bool,
    ) -> std::result::Result<Response, String> {
        let mut target = url.to_owned();
        for _ in 0..2 {
            let mut req: Request = self
                .gh
                .request_as(method, &target, label)
                .timeout(Duration::from_secs(10));
            if let Some(body) = body {
                req = req.json(body);
            }
            let answer = if retry {
                self.gh
                    .client()
                    .send_retrying(&req, &RETRY, http::retry_transient)
            } else {
                self.gh
                    .client()
                    .send_retrying(&req, &ONCE, |_| Decision::Accept)
            }
            .map_err(|e| e.to_string())?;
            let Some(location) = answer.location().filter(|_| is_redirect(answer.status)) else {
                return Ok(answer);
            };
            let next = absolute(&target, location);
            if !self.gh.same_origin(&next) {
                return Err(format!(
                    "{label}: GitHub redirected to another host ({}); not following it with the token",
                    http::host_of(&next)
                ));
            }
            target = next;
        }
        Err(format!("{label}: GitHub redirected more than once"))
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// What GitHub's refusal means, in one line with what to do.
fn refusal(label: &str, status: u16, answer: &Response) -> String {
    let said = github::github_message(answer)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let hint = match status {
        401 => "; check the token (it may be expired or revoked)",
        403 | 429 if answer.header("x-ratelimit-remaining").map(str::trim) == Some("0") => {
            "; rate limited, the next deploy records its own"
        }
        403 => {
            "; the token needs `deployments: write` (add `permissions: deployments: write` to the job)"
        }
        404 => "; the repository is not found or the token cannot see it",
        409 => "; GitHub refused the deployment (its required status checks)",
        422 => "; GitHub refused the request as invalid",
        500..=599 => "; GitHub is failing, try again later",
        _ => "",
    };
    format!("{label}: GitHub answered {status}{said}{hint}")
}

/// A status description within GitHub's 140 characters.
fn cut(text: &str) -> String {
    truncate(text, DESCRIPTION_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lastgood_testkit::server::{Reply, TestServer};

    fn mirror(api: &str, environment: &str) -> Mirror {
        Mirror::new(&MirrorConfig {
            api_url: api.to_owned(),
            repository: "o/r".to_owned(),
            token: "tok-secret".to_owned(),
            environment: environment.to_owned(),
            environment_url: None,
        })
    }

    #[test]
    fn a_redirect_to_another_host_is_not_followed_with_the_token() {
        let other = TestServer::start(|_| Reply::json(201, &json!({"id": 9})));
        let elsewhere = format!("{}/repos/o/r/deployments", other.url());
        let api =
            TestServer::start(move |_| Reply::status(307).header("Location", elsewhere.clone()));
        let err = mirror(&api.url(), "preprod")
            .create(&"a".repeat(40), "d")
            .unwrap_err();
        assert!(err.contains("another host"), "{err}");
        assert!(!err.contains("tok-secret"));
        assert!(
            other.requests().is_empty(),
            "nothing sent to the other host"
        );
    }

    #[test]
    fn a_redirect_on_the_api_origin_is_followed_once_with_the_token() {
        let api = TestServer::start(|req| {
            if req.path() == "/repos/o/r/deployments" {
                Reply::status(307).header("Location", "/repositories/1/deployments")
            } else {
                Reply::json(201, &json!({"id": 7}))
            }
        });
        let id = mirror(&api.url(), "prod")
            .create(&"a".repeat(40), "d")
            .unwrap();
        assert_eq!(id, 7);
        let reqs = api.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1].method, "POST");
        assert_eq!(reqs[1].header("authorization"), Some("Bearer tok-secret"));
        assert_eq!(reqs[1].json()["production_environment"], true);
    }

    #[test]
    fn a_created_deployment_is_not_retried_on_a_5xx_but_a_status_is() {
        let api = TestServer::start(|_| Reply::json(502, &json!({"message": "Server Error"})));
        let m = mirror(&api.url(), "preprod");
        let err = m.create(&"a".repeat(40), "d").unwrap_err();
        assert!(err.contains("502") && err.contains("failing"), "{err}");
        assert_eq!(
            api.requests().len(),
            1,
            "a 5xx may have created it: one try"
        );
        let err = m.status(1, State::Success, "d", None).unwrap_err();
        assert!(err.contains("502"), "{err}");
        assert_eq!(api.requests().len(), 1 + RETRY.attempts as usize);
    }

    #[test]
    fn a_created_deployment_is_not_sent_again_after_a_network_error() {
        // The POST reached GitHub, which may have created the deployment before the
        // connection dropped: sending it again could create a second one.
        let api = TestServer::start(|_| Reply::hang_up());
        let m = mirror(&api.url(), "preprod");
        assert!(m.create(&"a".repeat(40), "d").is_err());
        assert_eq!(api.requests().len(), 1, "one try");
    }

    #[test]
    fn descriptions_fit_and_queries_are_encoded() {
        assert!(cut(&"é".repeat(300)).chars().count() <= DESCRIPTION_MAX);
        assert_eq!(encode_segment("pre prod&x"), "pre%20prod%26x");
        assert_eq!(
            absolute(
                "http://127.0.0.1:9/repos/o/r/deployments",
                "/repositories/1/deployments"
            ),
            "http://127.0.0.1:9/repositories/1/deployments"
        );
        assert_eq!(absolute("http://a/x", "https://b/y"), "https://b/y");
        for s in [
            State::InProgress,
            State::Success,
            State::Failure,
            State::Error,
            State::Inactive,
        ] {
            assert!(!s.as_str().is_empty());
        }
    }
}
