//! The deploy's settings: every input validated before anything changes.

use std::path::PathBuf;
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::base::sha::Sha;
use crate::base::spec::{self, InputSpec};
use crate::base::time::parse_duration;
use crate::contract::inputs::Inputs;
use crate::contract::runner::Runner;
use crate::platform::git::Git;
use crate::platform::restart::{Restart, RestartMode, split_command};
use crate::services::deployments::MirrorConfig;
use crate::services::health::ProbeConfig;

/// The last restart's output, in the state directory's `logs/`.
pub(super) const RESTART_LOG: &str = "restart.log";

/// How old git's `index.lock` must be to count as left by a killed git command.
pub(super) const STALE_INDEX_LOCK: Duration = Duration::from_secs(60);

/// Everything the transaction needs, validated.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// The deployed git checkout.
    pub app_dir: PathBuf,
    /// This environment's state directory.
    pub state_dir: PathBuf,
    /// The environment's name.
    pub environment: String,
    /// The git remote to fetch.
    pub remote: String,
    /// The branch deployed SHAs must be reachable from.
    pub branch: String,
    /// Deploy SHAs not reachable from `remote/branch`.
    pub allow_unreachable: bool,
    /// A fetch still running after this is killed: the deploy fails, nothing changed
    /// (`fetch-timeout`).
    pub fetch_timeout: Duration,
    /// How the app restarts.
    pub restart: Restart,
    /// A restart still running after this is killed and counts as failed (`restart-timeout`).
    pub restart_timeout: Duration,
    /// The health gate (`None`: no gate).
    pub health: Option<ProbeConfig>,
    /// Put the previous SHA back on failure.
    pub rollback_on_failure: bool,
    /// How long to wait for the environment lock.
    pub lock_timeout: Duration,
    /// Who deploys (journal).
    pub actor: Option<String>,
    /// The workflow run (journal).
    pub run_url: Option<String>,
    /// The GitHub deployments mirror (`github-deployment`), if on.
    pub github: Option<MirrorConfig>,
}

impl DeployConfig {
    /// Reads and validates the deploy inputs shared by deploy-sha and ci-watcher (app-dir,
    /// state-dir, environment, remote, branch, fetch-timeout, compose-file, compose-service, restart-mode,
    /// restart-command, restart-timeout, health-*, lock-timeout, and where the spec has them allow-unreachable,
    /// rollback-on-failure, actor). No side effect; `app-dir` must be a git checkout.
    ///
    /// An input the binary's spec lacks takes its default, except `rollback-on-failure`, which is
    /// `false` then (a rollback that fails is not rolled back again).
    pub fn from_inputs(inputs: &Inputs, runner: &mut Runner) -> Result<DeployConfig> {
        let has = |name: &str| inputs.spec().input(name).is_some();
        let get = |name: &str| if has(name) { inputs.get(name) } else { None };

        let app_dir = PathBuf::from(get("app-dir").unwrap_or(spec::APP_DIR.default_value()));
        let state_dir = PathBuf::from(get("state-dir").unwrap_or(spec::STATE_DIR.default_value()));
        let environment = get("environment")
            .unwrap_or(spec::ENVIRONMENT.default_value())
            .to_owned();
        if environment.chars().any(char::is_control) {
            return Err(Error::input("environment", "must be one line"));
        }
        let remote = get("remote")
            .unwrap_or(spec::REMOTE.default_value())
            .to_owned();
        check_ref_part(&remote, "remote")?;
        let branch = get("branch").unwrap_or(spec::DEFAULT_BRANCH).to_owned();
        check_ref_part(&branch, "branch")?;
        let allow_unreachable = has("allow-unreachable") && inputs.bool("allow-unreachable")?;
        let fetch_timeout = duration_of(inputs, "fetch-timeout")?;
        if fetch_timeout.is_zero() {
            return Err(Error::input("fetch-timeout", "must be more than 0s"));
        }
        let rollback_on_failure =
            has("rollback-on-failure") && inputs.bool("rollback-on-failure")?;

        let restart = restart_of(inputs)?;
        let restart_timeout = duration_of(inputs, "restart-timeout")?;
        if restart_timeout.is_zero() {
            return Err(Error::input("restart-timeout", "must be more than 0s"));
        }
        let health = ProbeConfig::from_inputs(inputs, "health-")?;
        let lock_timeout = duration_of(inputs, "lock-timeout")?;
        let actor = get("actor")
            .map(str::to_owned)
            .or_else(|| runner.context().actor.clone())
            .filter(|a| !a.trim().is_empty());
        let github = MirrorConfig::from_inputs(inputs, &environment, runner)?;
        // Last: the checkout is checked once every input is known to be well-formed.
        Git::open(&app_dir, "app-dir")?;
        Ok(DeployConfig {
            app_dir,
            state_dir,
            environment,
            remote,
            branch,
            allow_unreachable,
            fetch_timeout,
            restart,
            restart_timeout,
            health,
            rollback_on_failure,
            lock_timeout,
            actor,
            run_url: runner.run_url(),
            github,
        })
    }
}

/// The default of a duration input, from the spec.
fn spec_duration(input: &InputSpec) -> Result<Duration> {
    parse_duration(input.default_value()).map_err(|reason| Error::input(input.name, reason))
}

/// A duration input with a default: the value given, else the binary's default, else (the
/// binary's spec lacks it) deploy-sha's.
fn duration_of(inputs: &Inputs, name: &str) -> Result<Duration> {
    if inputs.spec().input(name).is_some() {
        return inputs.defaulted_duration(name);
    }
    match spec::DEPLOY_SHA.input(name) {
        Some(input) => spec_duration(input),
        None => Err(Error::input(name, "is required and was not given")),
    }
}

/// How the app is restarted: `restart-command`, else docker compose with `compose-file`,
/// `compose-service` and `restart-mode` (inputs the binary's spec lacks are absent).
fn restart_of(inputs: &Inputs) -> Result<Restart> {
    let has = |name: &str| inputs.spec().input(name).is_some();
    let get = |name: &str| if has(name) { inputs.get(name) } else { None };
    let compose_files: Vec<PathBuf> = if has("compose-file") {
        inputs
            .lines("compose-file")
            .into_iter()
            .map(PathBuf::from)
            .collect()
    } else {
        Vec::new()
    };
    // `-f -` would read the compose file from stdin; a leading `-` is never a file we mean.
    if let Some(f) = compose_files.iter().find(|f| {
        let text = f.to_string_lossy();
        text.starts_with('-') || text.chars().any(char::is_control)
    }) {
        return Err(Error::input(
            "compose-file",
            format!(
                "`{}` is not a compose file path (it starts with `-` or holds a control character); write `./{}` if the file is really named so",
                f.display(),
                f.display()
            ),
        ));
    }
    let service = get("compose-service").map(str::to_owned);
    if let Some(s) = service.as_deref().filter(|s| !is_service_name(s)) {
        return Err(Error::input(
            "compose-service",
            format!("`{s}` is not a compose service name (letters, digits, `.`, `_`, `-`)"),
        ));
    }
    let mode = match (has("restart-mode"))
        .then(|| inputs.choice("restart-mode", &["recreate", "restart"]))
        .transpose()?
        .flatten()
    {
        Some("restart") => RestartMode::Restart,
        _ => RestartMode::Recreate,
    };
    match get("restart-command") {
        Some(cmd) => {
            if !compose_files.is_empty() || service.is_some() {
                return Err(Error::input(
                    "restart-command",
                    "give either `restart-command` or `compose-file`/`compose-service`, not both",
                ));
            }
            Ok(Restart::Command(split_command(cmd, "restart-command")?))
        }
        None => Ok(Restart::Compose {
            files: compose_files,
            service,
            mode,
        }),
    }
}

fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A remote or branch name safe to put in a refspec.
pub(super) fn check_ref_part(value: &str, input: &str) -> Result<()> {
    let ok = !value.is_empty()
        && !value.starts_with(['-', '/', '.'])
        && !value.ends_with(['/', '.'])
        && !value.contains("..")
        && !value.contains("//")
        && !value.ends_with(".lock")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            input,
            format!("`{value}` is not a valid name (letters, digits, `.`, `_`, `-`, `/`)"),
        ))
    }
}

/// A `sha` input: a full 40-hex SHA (upper case accepted, returned in lower case).
pub fn parse_sha(value: &str, input: &str) -> Result<Sha> {
    if let Some(sha) = Sha::parse(value) {
        Ok(sha)
    } else {
        let shown: String = value.chars().take(60).collect();
        Err(Error::input(
            input,
            format!(
                "`{shown}` is not a full 40-hex commit SHA (nor `last-validated` or `previous`); short SHAs and ref names are refused"
            ),
        ))
    }
}
