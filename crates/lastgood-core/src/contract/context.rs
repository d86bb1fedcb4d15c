//! The job's context from the runner's `GITHUB_*` variables, read once when the runner
//! protocol starts ([`Runner::from_env`](crate::contract::runner::Runner::from_env)); later
//! code asks the context, never the environment. Blank values count as absent.
//!
//! `GITHUB_TOKEN` is not part of it: a secret is read where it is used, and masked there.

use std::path::PathBuf;

/// What the runner says about the job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// `GITHUB_ACTIONS=true`: workflow commands are understood.
    pub in_actions: bool,
    /// `GITHUB_OUTPUT`.
    pub output_file: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`.
    pub summary_file: Option<PathBuf>,
    /// `GITHUB_SERVER_URL` (`https://github.com`).
    pub server_url: Option<String>,
    /// `GITHUB_API_URL`.
    pub api_url: Option<String>,
    /// `GITHUB_REPOSITORY` (owner/repo).
    pub repository: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// `GITHUB_ACTOR`.
    pub actor: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_EVENT_NAME`.
    pub event_name: Option<String>,
    /// `GITHUB_EVENT_PATH`.
    pub event_path: Option<PathBuf>,
}

impl Context {
    /// Reads the `GITHUB_*` variables.
    pub fn from_env() -> Context {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Context {
            in_actions: var("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
            output_file: var("GITHUB_OUTPUT").map(PathBuf::from),
            summary_file: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            server_url: var("GITHUB_SERVER_URL"),
            api_url: var("GITHUB_API_URL"),
            repository: var("GITHUB_REPOSITORY"),
            run_id: var("GITHUB_RUN_ID"),
            actor: var("GITHUB_ACTOR"),
            sha: var("GITHUB_SHA"),
            event_name: var("GITHUB_EVENT_NAME"),
            event_path: var("GITHUB_EVENT_PATH").map(PathBuf::from),
        }
    }

    /// The URL of the current workflow run, when the variables name it.
    pub fn run_url(&self) -> Option<String> {
        match (&self.server_url, &self.repository, &self.run_id) {
            (Some(server), Some(repo), Some(id)) => Some(format!(
                "{}/{repo}/actions/runs/{id}",
                server.trim_end_matches('/')
            )),
            _ => None,
        }
    }
}
