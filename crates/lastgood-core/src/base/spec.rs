//! The one source of every binary's inputs and outputs.
//!
//! Each binary builds its command line from its [`ActionSpec`] ([`crate::contract::inputs`]), and
//! `cargo xtask codegen` writes `actions/<name>/action.yml` and `docs/cli.md` from the same table,
//! so `--help`, the action and the docs can never disagree.

/// One binary, which is also one GitHub Action.
#[derive(Debug)]
pub struct ActionSpec {
    /// The binary's and the action's name (`health-probe`).
    pub name: &'static str,
    /// One line: what the action does.
    pub about: &'static str,
    /// Feather icon for the marketplace branding.
    pub icon: &'static str,
    /// Branding colour.
    pub color: &'static str,
    /// Every input, in the order of `--help`.
    pub inputs: &'static [InputSpec],
    /// Every output.
    pub outputs: &'static [OutputSpec],
}

/// One input: a CLI flag `--name` falling back to `INPUT_NAME`.
#[derive(Debug)]
pub struct InputSpec {
    /// The input's name, kebab-case (`expect-status`).
    pub name: &'static str,
    /// What it means, one or two sentences.
    pub help: &'static str,
    /// The default value, if any (shown in `--help` and action.yml).
    pub default: Option<&'static str>,
    /// Whether the binary refuses to run without it.
    pub required: bool,
    /// A secret: masked in the runner, never printed, its env value hidden from `--help`.
    pub secret: bool,
    /// A boolean input: `--name` alone means `true`.
    pub flag: bool,
}

/// One output, written to `GITHUB_OUTPUT` and to the `--json` object.
#[derive(Debug)]
pub struct OutputSpec {
    /// The output's name (`failure-reason`).
    pub name: &'static str,
    /// What it holds.
    pub help: &'static str,
}

impl InputSpec {
    /// The default value; empty for an input without one.
    pub(crate) const fn default_value(&self) -> &'static str {
        match self.default {
            Some(d) => d,
            None => "",
        }
    }
}

impl ActionSpec {
    /// The input called `name`, if the action has one.
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

impl InputSpec {
    /// The environment variable the input falls back to: `INPUT_` + upper case, `-` → `_`.
    pub fn env_var(&self) -> String {
        env_var_for(self.name)
    }
}

/// `INPUT_SOME_NAME` for `some-name`.
pub fn env_var_for(name: &str) -> String {
    format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"))
}

const fn opt(name: &'static str, help: &'static str) -> InputSpec {
    InputSpec {
        name,
        help,
        default: None,
        required: false,
        secret: false,
        flag: false,
    }
}

const fn def(name: &'static str, default: &'static str, help: &'static str) -> InputSpec {
    InputSpec {
        name,
        help,
        default: Some(default),
        required: false,
        secret: false,
        flag: false,
    }
}

const fn req(name: &'static str, help: &'static str) -> InputSpec {
    InputSpec {
        name,
        help,
        default: None,
        required: true,
        secret: false,
        flag: false,
    }
}

const fn flag(name: &'static str, default: &'static str, help: &'static str) -> InputSpec {
    InputSpec {
        name,
        help,
        default: Some(default),
        required: false,
        secret: false,
        flag: true,
    }
}

const fn secret(name: &'static str, required: bool, help: &'static str) -> InputSpec {
    InputSpec {
        name,
        help,
        default: None,
        required,
        secret: true,
        flag: false,
    }
}

const fn out(name: &'static str, help: &'static str) -> OutputSpec {
    OutputSpec { name, help }
}

/// The default of every `branch` input.
pub(crate) const DEFAULT_BRANCH: &str = "main";

// Rows shared by several actions: same name, default and help (deploy-sha and ci-watcher both
// deploy; save-rollback-point works on the same checkout and state directory).
pub(crate) const APP_DIR: InputSpec = def("app-dir", ".", "The deployed git checkout");
pub(crate) const STATE_DIR: InputSpec = def(
    "state-dir",
    "/var/app-state",
    "This environment's state directory",
);
pub(crate) const ENVIRONMENT: InputSpec = def(
    "environment",
    "preprod",
    "Environment name, for messages and the journal",
);
pub(crate) const REMOTE: InputSpec = def("remote", "origin", "Git remote to fetch");
const COMPOSE_FILE: InputSpec = opt(
    "compose-file",
    "Compose file(s), one per line, relative to `app-dir`",
);
const COMPOSE_SERVICE: InputSpec = opt("compose-service", "Restart only this compose service");
const HEALTH_EXPECT_STATUS: InputSpec =
    opt("health-expect-status", "Accepted statuses (default `200`)");
const HEALTH_EXPECT_BODY: InputSpec = opt("health-expect-body", "Substring the body must contain");
const HEALTH_EXPECT_JSON: InputSpec = opt("health-expect-json", "JSON assertions, one per line");
const HEALTH_ATTEMPTS: InputSpec = def("health-attempts", "5", "Tries of the health gate");
const HEALTH_TIMEOUT: InputSpec = def("health-timeout", "10s", "Time allowed for one try");
const HEALTH_INTERVAL: InputSpec = def("health-interval", "5s", "Longest wait between tries");
const HEALTH_HEADER: InputSpec = opt("health-header", "Extra request headers, one per line");
const GITHUB_DEPLOYMENT: InputSpec = flag(
    "github-deployment",
    "false",
    "Mirror the deploy as a GitHub deployment of `environment` (best effort: an API failure is a warning; the token needs `deployments: write`)",
);
const REPOSITORY: InputSpec = opt("repository", "owner/repo (default `GITHUB_REPOSITORY`)");
const API_URL: InputSpec = opt(
    "api-url",
    "GitHub API root (default `GITHUB_API_URL`, else https://api.github.com)",
);
const ENVIRONMENT_URL: InputSpec = opt(
    "environment-url",
    "The environment's URL, shown on its GitHub deployment (`environment_url`)",
);
pub(crate) const LOCK_TIMEOUT: InputSpec = def(
    "lock-timeout",
    "10m",
    "How long to wait for the environment lock",
);

/// Every action of the project, in the order of the pipeline.
pub const ALL: &[&ActionSpec] = &[
    &SAVE_ROLLBACK_POINT,
    &DEPLOY_SHA,
    &CI_WATCHER,
    &NOTIFY_DISCORD,
    &HEALTH_PROBE,
];

/// `health-probe`: is the app up, and is it the version we think?
pub const HEALTH_PROBE: ActionSpec = ActionSpec {
    name: "health-probe",
    about: "Check that an app answers, with the right status, body and version, retrying until a deadline",
    icon: "activity",
    color: "green",
    inputs: &[
        req(
            "url",
            "URL to probe; several URLs one per line, all must pass",
        ),
        def(
            "expect-status",
            "200",
            "Accepted HTTP statuses: a code, a list (`200,204`) or a range (`200-299`)",
        ),
        opt("expect-body", "A substring the response body must contain"),
        opt(
            "expect-json",
            "Assertions on the JSON body, one per line: `/status == \"ok\"` (JSON pointer, `==` or `!=`, a JSON value)",
        ),
        opt(
            "expect-version",
            "A string (typically the deployed SHA) the body must contain; the short SHA is accepted for a 40-hex SHA",
        ),
        def(
            "timeout",
            "10s",
            "Time allowed for one try (`500ms`, `10s`, `5m`, `1h`)",
        ),
        def("attempts", "3", "How many tries before giving up"),
        def(
            "interval",
            "5s",
            "Longest wait between tries; the first retries come quickly and the wait grows up to this",
        ),
        def("initial-delay", "0s", "Wait before the first try"),
        opt(
            "deadline",
            "Overall bound on the whole probe, whatever `attempts` says",
        ),
        opt(
            "header",
            "Extra request headers, one `Name: value` per line",
        ),
        opt(
            "state-dir",
            "Directory remembering past results, to report `transition` and `uptime`",
        ),
    ],
    outputs: &[
        out("healthy", "`true` or `false`"),
        out("status", "The last HTTP status received (empty if none)"),
        out("attempts", "How many tries were made"),
        out("elapsed-ms", "Milliseconds spent probing"),
        out(
            "failure-reason",
            "One line a person understands, empty when healthy",
        ),
        out(
            "transition",
            "With `state-dir`: `none`, `down` or `recovered`",
        ),
        out(
            "uptime",
            "With `state-dir`: percentage of healthy probes in the recorded history",
        ),
    ],
};

/// `notify-discord`: one embed per event, within every Discord limit, never pinging anyone by accident.
pub const NOTIFY_DISCORD: ActionSpec = ActionSpec {
    name: "notify-discord",
    about: "Tell a Discord channel about a deploy, a rollback, a CI verdict or a health change",
    icon: "message-square",
    color: "purple",
    inputs: &[
        secret(
            "webhook-url",
            true,
            "The Discord webhook URL (a secret: its token is in the path)",
        ),
        def(
            "event",
            "custom",
            "deploy-started, deploy-succeeded, deploy-failed, rolled-back, ci-succeeded, ci-failed, health-down, health-recovered, docs-failed or custom",
        ),
        opt(
            "environment",
            "Environment name shown in the message (preprod, prod)",
        ),
        opt(
            "sha",
            "The commit concerned; shown short, linked to the commit",
        ),
        opt("author", "The commit's author"),
        opt(
            "commit-message",
            "The commit message; its first line is shown",
        ),
        opt("url", "The app's URL"),
        opt(
            "run-url",
            "Link to the workflow run; defaults to the current run",
        ),
        opt(
            "details",
            "Free text such as a CI log excerpt, shown as a code block",
        ),
        opt("title", "Title of a `custom` message"),
        opt("description", "Description of a `custom` message"),
        def("locale", "en", "`en` or `fr` (the seed's French wording)"),
        opt("mention-role", "A role id pinged on failure events only"),
        opt(
            "message-id",
            "Edit this message (PATCH) instead of posting a new one",
        ),
        flag(
            "fail-on-error",
            "false",
            "Exit 1 when the message could not be sent",
        ),
    ],
    outputs: &[
        out("sent", "`true` or `false`"),
        out("message-id", "The id of the message posted or edited"),
        out("http-status", "Discord's last HTTP status"),
    ],
};

/// `save-rollback-point`: record where we are before moving.
pub const SAVE_ROLLBACK_POINT: ActionSpec = ActionSpec {
    name: "save-rollback-point",
    about: "Record the deployed SHA and back up local data before a deploy",
    icon: "save",
    color: "blue",
    inputs: &[
        APP_DIR,
        STATE_DIR,
        opt(
            "backup-paths",
            "Paths to archive, one per line, relative to `app-dir` (untracked data, `.env`, volumes)",
        ),
        def("keep-backups", "5", "How many archives to keep"),
        opt(
            "compare-state-dir",
            "Another environment's state directory, shown side by side in the summary",
        ),
        def(
            "fetch-timeout",
            "2m",
            "A fetch (of the compared SHA) still running after this is killed (with its process group)",
        ),
        LOCK_TIMEOUT,
    ],
    outputs: &[
        out(
            "previous-sha",
            "The SHA deployed now, recorded as the previous one",
        ),
        out("rollback-sha", "The last validated SHA"),
        out("backup", "Path of the archive written, if any"),
    ],
};

/// `deploy-sha`: put exactly this SHA in service, or leave the service as it was.
pub const DEPLOY_SHA: ActionSpec = ActionSpec {
    name: "deploy-sha",
    about: "Deploy one exact SHA (git reset + restart + health gate), rolling back on failure",
    icon: "upload-cloud",
    color: "orange",
    inputs: &[
        opt(
            "sha",
            "A full 40-hex SHA, `last-validated` or `previous`; defaults to the last validated SHA of `require-validated-from`",
        ),
        APP_DIR,
        STATE_DIR,
        ENVIRONMENT,
        REMOTE,
        def(
            "branch",
            DEFAULT_BRANCH,
            "The SHA must be reachable from `remote/branch`",
        ),
        def(
            "fetch-timeout",
            "2m",
            "A `git fetch` still running after this is killed (with its process group): the deploy fails and nothing changes",
        ),
        flag(
            "allow-unreachable",
            "false",
            "Deploy a SHA not reachable from `remote/branch`",
        ),
        COMPOSE_FILE,
        COMPOSE_SERVICE,
        def(
            "restart-mode",
            "recreate",
            "`recreate` (`up -d --force-recreate`, building where the compose file builds) or `restart`",
        ),
        opt(
            "restart-command",
            "Instead of compose: a command split into words like a shell would, never run by one",
        ),
        def(
            "restart-timeout",
            "5m",
            "A restart still running after this is killed (with its process group) and counts as a failed deploy",
        ),
        opt(
            "health-url",
            "URL(s) to probe after the restart; no health gate when empty",
        ),
        HEALTH_EXPECT_STATUS,
        HEALTH_EXPECT_BODY,
        HEALTH_EXPECT_JSON,
        opt(
            "health-expect-version",
            "String the body must contain; `sha` means the SHA being deployed",
        ),
        HEALTH_ATTEMPTS,
        HEALTH_TIMEOUT,
        HEALTH_INTERVAL,
        HEALTH_HEADER,
        flag(
            "rollback-on-failure",
            "true",
            "Go back to the previous SHA when the deploy fails",
        ),
        opt(
            "require-validated-from",
            "A state directory: the SHA must be the last validated SHA there",
        ),
        flag(
            "require-confirm",
            "false",
            "Refuse unless `confirm` is exactly `DEPLOY`",
        ),
        opt(
            "confirm",
            "Typed confirmation: must be exactly `DEPLOY` when `require-confirm`",
        ),
        LOCK_TIMEOUT,
        opt(
            "actor",
            "Who deploys, for the journal (defaults to `GITHUB_ACTOR`)",
        ),
        GITHUB_DEPLOYMENT,
        secret(
            "token",
            false,
            "Token with `deployments: write`, for `github-deployment` (default `GITHUB_TOKEN`)",
        ),
        REPOSITORY,
        API_URL,
        ENVIRONMENT_URL,
    ],
    outputs: &[
        out("deployed-sha", "The SHA in service at the end"),
        out("previous-sha", "The SHA in service before"),
        out("healthy", "`true` or `false`"),
        out("rolled-back", "`true` when the previous SHA was put back"),
        out("outcome", "`deployed`, `rolled-back` or `failed`"),
        out("duration-ms", "Milliseconds the deploy took"),
        out(
            "deployment-id",
            "With `github-deployment`: the id of the GitHub deployment (empty when it could not be created)",
        ),
    ],
};

/// `ci-watcher`: follow CI for a deployed SHA and act on the verdict.
pub const CI_WATCHER: ActionSpec = ActionSpec {
    name: "ci-watcher",
    about: "Follow the CI run of a deployed SHA, then mark it validated or roll back",
    icon: "eye",
    color: "yellow",
    inputs: &[
        opt(
            "sha",
            "The deployed SHA (default `GITHUB_SHA`; in a `workflow_run` job, the CI run's `head_sha`)",
        ),
        REPOSITORY,
        secret(
            "token",
            false,
            "Token with `actions: read` (and `deployments: write` with `github-deployment`; default `GITHUB_TOKEN`)",
        ),
        API_URL,
        opt(
            "workflow",
            "The CI workflow's file name, e.g. `ci.yml` (required unless `resume` or `conclusion`)",
        ),
        def("initial-delay", "30s", "Wait before the first look"),
        def("interval", "10s", "Time between polls"),
        def(
            "timeout",
            "5m",
            "Give up waiting for the verdict after this",
        ),
        def("on-timeout", "keep", "`keep` or `rollback`"),
        def(
            "discovery-timeout",
            "2m",
            "How long a run may take to appear",
        ),
        def(
            "on-missing",
            "keep",
            "No run appeared (paths filters, [skip ci]): `keep`, `validate` or `rollback`",
        ),
        def("app-dir", ".", "The deployed git checkout (for a rollback)"),
        STATE_DIR,
        ENVIRONMENT,
        REMOTE,
        def(
            "branch",
            DEFAULT_BRANCH,
            "Branch that validated SHAs move forward along",
        ),
        def(
            "fetch-timeout",
            "2m",
            "A `git fetch` still running after this is killed (with its process group)",
        ),
        COMPOSE_FILE,
        COMPOSE_SERVICE,
        def("restart-mode", "recreate", "`recreate` or `restart`"),
        opt(
            "restart-command",
            "Instead of compose: a command split into words, never run by a shell",
        ),
        def(
            "restart-timeout",
            "5m",
            "A restart still running after this is killed (with its process group) and counts as a failed rollback",
        ),
        opt("health-url", "URL(s) to probe after a rollback"),
        HEALTH_EXPECT_STATUS,
        HEALTH_EXPECT_BODY,
        HEALTH_EXPECT_JSON,
        opt(
            "health-expect-version",
            "String the body must contain; `sha` means the SHA rolled back to",
        ),
        HEALTH_ATTEMPTS,
        HEALTH_TIMEOUT,
        HEALTH_INTERVAL,
        HEALTH_HEADER,
        LOCK_TIMEOUT,
        GITHUB_DEPLOYMENT,
        ENVIRONMENT_URL,
        secret("webhook-url", false, "Discord webhook for verdict messages"),
        def("locale", "en", "`en` or `fr`"),
        opt(
            "message-id",
            "The Discord message of this deploy (notify-discord's `message-id`): the verdict edits it instead of posting a new one",
        ),
        opt(
            "mention-role",
            "A role id pinged on a failed verdict (a short follow-up message: an edit never pings)",
        ),
        flag(
            "detach",
            "false",
            "Watch in a detached process that outlives the job",
        ),
        flag(
            "resume",
            "false",
            "Finish every pending watch of `state-dir` (after a crash or reboot); `token` and `webhook-url` are read again, never stored",
        ),
        opt(
            "conclusion",
            "Apply this known CI conclusion without polling (from a `workflow_run` event)",
        ),
        opt("run-url", "Link to the CI run, with `conclusion`"),
    ],
    outputs: &[
        out("conclusion", "The CI run's conclusion"),
        out("run-url", "Link to the CI run"),
        out(
            "action",
            "`validated`, `rolled-back`, `rollback-failed`, `superseded`, `timed-out`, `missing`, `inconclusive`, `unreachable` (GitHub could not be asked: the watch stays pending, exit 3) or `unhealthy` (CI passed but the SHA did not pass its health gate here, or never ran here: not validated)",
        ),
        out("failed-jobs", "Failed jobs and steps, one per line"),
        out("pid", "With `detach`: the watcher's process id"),
        out("log-file", "With `detach`: the watcher's log file"),
    ],
};
