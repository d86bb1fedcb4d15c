//! The validated settings of one watch: inputs, the ambient `GITHUB_*` context, and what a
//! watch record stores to be resumed as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::base::error::{Error, Result};
use crate::base::sha::Sha;
use crate::base::spec::CI_WATCHER;
use crate::contract::context::Context;
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::jobs::deploy::{self, DeployConfig};
use crate::platform::state::now_rfc3339;
use crate::platform::state::watches::WatchRecord;
use crate::services::discord::{self, Locale, Webhook};
use crate::services::github::{self};

/// Inputs that steer one invocation and are not part of a watch.
pub(super) const CONTROL_INPUTS: &[&str] = &["detach", "resume", "conclusion", "run-url"];

/// The validated settings of one watch.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) sha: Sha,
    pub(super) repository: String,
    pub(super) api_url: String,
    pub(super) workflow: Option<String>,
    pub(super) initial_delay: Duration,
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
    pub(super) discovery_timeout: Duration,
    pub(super) on_timeout: Policy,
    pub(super) on_missing: Policy,
    pub(super) locale: Locale,
    pub(super) webhook: Option<Webhook>,
    pub(super) token: Option<String>,
    /// The deploy's Discord message, edited with the verdict (`message-id`).
    pub(super) message_id: Option<String>,
    /// The role pinged on a failed verdict (`mention-role`).
    pub(super) mention_role: Option<String>,
}

pub(super) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The token: the input, else `GITHUB_TOKEN`, masked.
pub(super) use crate::services::github::token;

/// In a job triggered by `workflow_run`, the commit the CI run tested (`GITHUB_SHA` is then the
/// default branch's tip, which may be a newer deploy): `workflow_run.head_sha` of the event
/// payload. `None` in other jobs; an input error when the payload cannot be read.
pub(super) fn workflow_run_head_sha(context: &Context) -> Result<Option<String>> {
    if context.event_name.as_deref() != Some("workflow_run") {
        return Ok(None);
    }
    let missing = || {
        Error::input(
            "sha",
            "is required in a `workflow_run` job whose event payload (GITHUB_EVENT_PATH) gives no `workflow_run.head_sha`: GITHUB_SHA is the default branch's tip there, not the commit CI tested; pass `sha: ${{ github.event.workflow_run.head_sha }}`",
        )
    };
    let path = context.event_path.as_ref().ok_or_else(missing)?;
    let event: serde_json::Value = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(missing)?;
    event
        .pointer("/workflow_run/head_sha")
        .and_then(serde_json::Value::as_str)
        .map(|s| Some(s.to_owned()))
        .ok_or_else(missing)
}

impl Settings {
    /// The settings of a watch that polls GitHub: repository, workflow and token required.
    pub(super) fn to_poll(inputs: &Inputs, runner: &mut Runner) -> Result<Settings> {
        let s = Settings::read(inputs, runner)?;
        if s.repository.is_empty() {
            return Err(Error::input(
                "repository",
                "is required (or GITHUB_REPOSITORY)",
            ));
        }
        if s.workflow.is_none() {
            return Err(Error::input(
                "workflow",
                "is required (the CI workflow's file name, e.g. `ci.yml`) unless `resume` or `conclusion` is given",
            ));
        }
        if s.token.is_none() {
            return Err(Error::input(
                "token",
                "is required (or GITHUB_TOKEN) to read CI runs; it needs `actions: read`",
            ));
        }
        Ok(s)
    }

    /// The settings of a watch told its conclusion (`conclusion` input): GitHub is not asked.
    pub(super) fn to_conclude(inputs: &Inputs, runner: &mut Runner) -> Result<Settings> {
        Settings::read(inputs, runner)
    }

    /// Every input validated; the repository empty when neither given nor in the context.
    fn read(inputs: &Inputs, runner: &mut Runner) -> Result<Settings> {
        let sha = deploy::parse_sha(&sha_text(inputs, runner.context())?, "sha")?;
        let repository = inputs
            .get("repository")
            .map(str::to_owned)
            .or_else(|| runner.context().repository.clone());
        let api_url = api_url(inputs, runner.context())?;
        let workflow = inputs.get("workflow").map(str::to_owned);
        // One path segment of the API's URL: `.` or `..` would name another endpoint.
        if let Some(w) = &workflow
            && (w.contains('/') || w.chars().any(char::is_control) || w == "." || w == "..")
        {
            return Err(Error::input(
                "workflow",
                format!("`{w}` is not a workflow file name (e.g. `ci.yml`) or id"),
            ));
        }
        let duration = |name: &str| inputs.defaulted_duration(name);
        let initial_delay = duration("initial-delay")?;
        let interval = duration("interval")?;
        if interval.is_zero() {
            return Err(Error::input("interval", "must be more than 0s"));
        }
        let timeout = duration("timeout")?;
        let discovery_timeout = duration("discovery-timeout")?;
        let on_timeout = Policy::parse(inputs, "on-timeout", &["keep", "rollback"])?;
        let on_missing = Policy::parse(inputs, "on-missing", &["keep", "validate", "rollback"])?;
        let locale: Locale = inputs.defaulted("locale")?.parse()?;
        let webhook = inputs
            .get("webhook-url")
            .map(|url| {
                runner.mask(url);
                let hook = Webhook::new(url)?;
                runner.mask(hook.token());
                Ok::<_, Error>(hook)
            })
            .transpose()?;
        let token = token(inputs, runner);
        let snowflake = |name: &str| {
            inputs
                .get(name)
                .map(|v| discord::validate_snowflake(name, v).map(|()| v.to_owned()))
                .transpose()
        };
        let message_id = snowflake("message-id")?;
        let mention_role = snowflake("mention-role")?;
        let repository = match repository {
            Some(r) if github::is_repository(&r) => r,
            Some(r) => {
                return Err(Error::input(
                    "repository",
                    format!("`{r}` is not of the form owner/repo"),
                ));
            }
            None => String::new(),
        };
        Ok(Settings {
            sha,
            repository,
            api_url,
            workflow,
            initial_delay,
            interval,
            timeout,
            discovery_timeout,
            on_timeout,
            on_missing,
            locale,
            webhook,
            token,
            message_id,
            mention_role,
        })
    }
}

impl Settings {
    /// A verdict given by `conclusion` to a recorded watch edits that watch's Discord message
    /// (and pings its role) unless this invocation names its own: the `workflow_run` job that
    /// brings CI's verdict cannot know the deploy's message id, the record kept it.
    pub(super) fn adopt_message_of(&mut self, record: &WatchRecord) {
        let kept = |name: &str| {
            record
                .inputs
                .get(name)
                .filter(|v| discord::validate_snowflake(name, v).is_ok())
                .cloned()
        };
        if self.message_id.is_none() {
            self.message_id = kept("message-id");
        }
        if self.mention_role.is_none() {
            self.mention_role = kept("mention-role");
        }
    }
}

/// A verdict given by `conclusion` to a recorded watch posts its deployment statuses with the
/// environment's URL that watch kept, unless this invocation names its own (the `workflow_run`
/// job that brings CI's verdict does not know it). The mirror itself stays as this invocation
/// says: turning it on is the caller's choice (its token, its `deployments: write`).
pub(super) fn adopt_mirror_of(cfg: &mut DeployConfig, record: &WatchRecord) {
    if let (Some(github), Some(url)) = (cfg.github.as_mut(), record.inputs.get("environment-url")) {
        github.adopt_environment_url(url);
    }
}

/// The `sha` input, else the `workflow_run` event's head SHA, else `GITHUB_SHA`.
fn sha_text(inputs: &Inputs, context: &Context) -> Result<String> {
    match inputs.get("sha") {
        Some(sha) => Ok(sha.to_owned()),
        None => match workflow_run_head_sha(context)? {
            Some(sha) => Ok(sha),
            None => (context.sha.clone())
                .ok_or_else(|| Error::input("sha", "is required (or GITHUB_SHA)")),
        },
    }
}

/// The API root: the input, else `GITHUB_API_URL`, else GitHub's; an http(s) URL.
fn api_url(inputs: &Inputs, context: &Context) -> Result<String> {
    let api_url = inputs
        .get("api-url")
        .map(str::to_owned)
        .or_else(|| context.api_url.clone())
        .unwrap_or_else(|| github::DEFAULT_API_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(Error::input(
            "api-url",
            format!("`{api_url}` is not an http(s) URL"),
        ));
    }
    Ok(api_url)
}

pub(super) fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_owned())
    })
}

/// The non-secret inputs of a watch, resolved, with absolute paths.
pub(super) fn stored_inputs(
    inputs: &Inputs,
    s: &Settings,
    cfg: &DeployConfig,
) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for spec in CI_WATCHER.inputs {
        if spec.secret || CONTROL_INPUTS.contains(&spec.name) {
            continue;
        }
        if let Some(v) = inputs.get(spec.name) {
            map.insert(spec.name.to_owned(), v.to_owned());
        }
    }
    map.insert("sha".into(), s.sha.to_string());
    map.insert("repository".into(), s.repository.clone());
    map.insert("api-url".into(), s.api_url.clone());
    map.insert(
        "app-dir".into(),
        absolute(&cfg.app_dir).to_string_lossy().into_owned(),
    );
    map.insert(
        "state-dir".into(),
        absolute(&cfg.state_dir).to_string_lossy().into_owned(),
    );
    map
}

/// Rebuilds the inputs of a recorded watch; secrets come from the current process.
pub(super) fn rebuild_inputs(
    stored: &BTreeMap<String, String>,
    token: Option<&str>,
    webhook: Option<&str>,
) -> Result<Inputs> {
    let mut args: Vec<String> = vec![CI_WATCHER.name.to_owned()];
    for spec in CI_WATCHER.inputs {
        let value = if spec.secret {
            match spec.name {
                "token" => token,
                "webhook-url" => webhook,
                _ => None,
            }
        } else {
            // An explicit empty value keeps this process's INPUT_* out of the watch.
            Some(stored.get(spec.name).map_or("", String::as_str))
        };
        if let Some(v) = value {
            args.push(format!("--{}", spec.name));
            args.push(v.to_owned());
        }
    }
    Inputs::parse_from(&CI_WATCHER, args)
        .map_err(|e| Error::Environment(format!("the recorded watch has unusable inputs: {e}")))
}

pub(super) fn record_of(
    s: &Settings,
    stored: BTreeMap<String, String>,
    status: &str,
) -> WatchRecord {
    let ms = now_ms();
    WatchRecord {
        sha: s.sha.clone(),
        repository: s.repository.clone(),
        workflow: s.workflow.clone().unwrap_or_default(),
        api_url: s.api_url.clone(),
        initial_delay_ms: millis(s.initial_delay),
        interval_ms: millis(s.interval),
        timeout_ms: millis(s.timeout),
        discovery_timeout_ms: millis(s.discovery_timeout),
        on_timeout: s.on_timeout.as_str().to_owned(),
        on_missing: s.on_missing.as_str().to_owned(),
        started_at: now_rfc3339(),
        started_at_ms: ms,
        pid: std::process::id(),
        status: status.to_owned(),
        log_file: None,
        inputs: stored,
    }
}

/// What to do when no verdict came (`on-missing`, `on-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Policy {
    /// Leave everything as it is (a warning says so).
    Keep,
    /// Validate the SHA anyway.
    Validate,
    /// Roll back as for a failure.
    Rollback,
}

impl Policy {
    pub(super) fn parse(inputs: &Inputs, name: &str, allowed: &[&'static str]) -> Result<Policy> {
        Ok(match inputs.choice(name, allowed)? {
            Some("validate") => Policy::Validate,
            Some("rollback") => Policy::Rollback,
            _ => Policy::Keep,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Policy::Keep => "keep",
            Policy::Validate => "validate",
            Policy::Rollback => "rollback",
        }
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn now_ms() -> u64 {
    millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// The `Instant` of an epoch time in the past (now when it is in the future).
pub(super) fn instant_of(epoch_ms: u64) -> Instant {
    let ago = Duration::from_millis(now_ms().saturating_sub(epoch_ms));
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, json_value, scratch_dir};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    proptest! {
        #![proptest_config(config(8))]

        /// Any `workflow_run` payload: its `workflow_run.head_sha` when that is a string, else
        /// the input error asking for `sha`; never a panic. Other events are not read.
        #[test]
        fn any_workflow_run_payload_gives_its_head_sha_or_asks_for_sha(
            payload in json_value(), head_sha in json_value(), nest in any::<bool>(), raw in any::<bool>(),
        ) {
            let dir = scratch_dir();
            let path = dir.path().join("event.json");
            let payload = if nest { json!({"workflow_run": {"head_sha": head_sha}, "other": payload}) } else { payload };
            let bytes = if raw { payload.to_string().into_bytes()[..payload.to_string().len() / 2].to_vec() } else { payload.to_string().into_bytes() };
            std::fs::write(&path, &bytes).unwrap();
            let mut context = Context { event_name: Some("workflow_run".into()), event_path: Some(path), ..Context::default() };
            let expected = serde_json::from_slice::<Value>(&bytes).ok()
                .and_then(|v| v.pointer("/workflow_run/head_sha").and_then(Value::as_str).map(str::to_owned));
            match workflow_run_head_sha(&context) {
                Ok(found) => prop_assert_eq!(found, Some(expected.expect("a head SHA"))),
                Err(e) => {
                    prop_assert!(expected.is_none());
                    prop_assert_eq!(e.exit_code(), 2);
                    prop_assert!(e.to_string().contains("`sha`"), "{}", e);
                }
            }
            context.event_name = Some("push".into());
            prop_assert_eq!(workflow_run_head_sha(&context).ok(), Some(None));
        }
    }
}
