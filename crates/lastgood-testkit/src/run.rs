//! One builder for running a binary in a black-box test, as zizmor's
//! `tests/integration/common.rs` does: the environment scrubbed of runner variables, inputs as
//! `INPUT_*` variables, the runner's files (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`) in a
//! directory the run owns, an expected exit code, and what the run left behind parsed once.
//!
//! ```no_run
//! # use lastgood_testkit::run::Bin;
//! let ran = Bin::new(lastgood_testkit::workspace_bin("health-probe"))
//!     .input("url", "http://127.0.0.1:9/health")
//!     .json()
//!     .summary()
//!     .expects(1)
//!     .run();
//! assert_eq!(ran.out("healthy"), "false");
//! assert!(ran.summary.contains("unhealthy"));
//! ```
//!
//! `cargo_bin_cmd!`/`cargo_bin!` only work in the binary's own crate, so the caller makes the
//! path (`assert_cmd::cargo::cargo_bin!("name")`, or [`crate::workspace_bin`] for another
//! package's binary) or the `assert_cmd::Command`, and hands it over.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

/// The prefixes of the variables that make a binary behave differently on a runner than on a
/// laptop; [`Bin`] removes every one of them from the child's environment.
pub const SCRUBBED_PREFIXES: [&str; 5] = ["GITHUB_", "RUNNER_", "ACTIONS_", "GH_", "INPUT_"];

/// Where the run's outputs come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outputs {
    /// None parsed ([`Ran::outputs`] is `Null` unless `GITHUB_OUTPUT` was asked for).
    None,
    /// `--json`: stdout must be exactly one JSON object.
    Json,
    /// `--json`, stdout's last line that starts with `{` (`Null` when none).
    JsonLastLine,
}

/// A binary about to run in a clean environment (see the module's documentation).
#[must_use = "a Bin does nothing until `.run()`"]
pub struct Bin {
    cmd: Command,
    outputs: Outputs,
    runner_dir: Option<RunnerDir>,
    github_output: bool,
    summary: bool,
    expects: Option<i32>,
    secrets: Vec<String>,
}

/// The directory that holds `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`: the run's own, or one
/// the caller keeps across runs.
enum RunnerDir {
    Own(tempfile::TempDir),
    Given(PathBuf),
}

impl RunnerDir {
    fn path(&self) -> &Path {
        match self {
            RunnerDir::Own(dir) => dir.path(),
            RunnerDir::Given(path) => path,
        }
    }
}

impl Bin {
    /// The program at `path` (`cargo_bin!("name")` or [`crate::workspace_bin`]), with the
    /// environment scrubbed of `GITHUB_*`, `RUNNER_*`, `ACTIONS_*`, `GH_*` and `INPUT_*`.
    pub fn new(path: impl AsRef<OsStr>) -> Bin {
        Bin::from_std(Command::new(path))
    }

    /// A command the caller made: its program, arguments, environment and directory are kept,
    /// then the environment is scrubbed as by [`Bin::new`] (variables set on `cmd` included: set
    /// runner variables on the `Bin`, after this call).
    pub fn from_command(cmd: &assert_cmd::Command) -> Bin {
        let mut std = Command::new(cmd.get_program());
        std.args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => std.env(key, value),
                None => std.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            std.current_dir(dir);
        }
        Bin::from_std(std)
    }

    fn from_std(mut cmd: Command) -> Bin {
        crate::scrub_env(&mut cmd);
        let set: Vec<_> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
        for key in set {
            if key
                .to_str()
                .is_some_and(|k| SCRUBBED_PREFIXES.iter().any(|p| k.starts_with(p)))
            {
                cmd.env_remove(key);
            }
        }
        Bin {
            cmd,
            outputs: Outputs::None,
            runner_dir: None,
            github_output: false,
            summary: false,
            expects: None,
            secrets: Vec::new(),
        }
    }

    /// Sets the input `name` (`health-url`) through its `INPUT_*` variable (`INPUT_HEALTH_URL`),
    /// as the runner does; a flag given with [`Bin::arg`] overrides it.
    pub fn input(mut self, name: &str, value: impl AsRef<OsStr>) -> Bin {
        self.cmd.env(input_var(name), value);
        self
    }

    /// Removes the input `name` set earlier (its `INPUT_*` variable).
    pub fn no_input(mut self, name: &str) -> Bin {
        self.cmd.env_remove(input_var(name));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Bin {
        self.cmd.env(key, value);
        self
    }

    /// Sets environment variables.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Bin
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Bin {
        self.cmd.env_remove(key);
        self
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Bin {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Bin {
        self.cmd.args(args);
        self
    }

    /// Configures the underlying command with `f` (for helpers that take a
    /// `&mut std::process::Command`, such as a compose project's variables).
    pub fn with(mut self, f: impl FnOnce(&mut Command)) -> Bin {
        f(&mut self.cmd);
        self
    }

    /// Runs in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Bin {
        self.cmd.current_dir(dir);
        self
    }

    /// Adds `--json`; [`Ran::outputs`] is stdout, which must be exactly one JSON object (the run
    /// panics otherwise, with both streams).
    pub fn json(mut self) -> Bin {
        self.cmd.arg("--json");
        self.outputs = Outputs::Json;
        self
    }

    /// Adds `--json`; [`Ran::outputs`] is stdout's last line that starts with `{` (`Null` when
    /// there is none), for binaries that may print before their outputs.
    pub fn json_last_line(mut self) -> Bin {
        self.cmd.arg("--json");
        self.outputs = Outputs::JsonLastLine;
        self
    }

    /// Points `GITHUB_OUTPUT` at a file of the run; [`Ran::github_output`] is its text and,
    /// without `--json`, [`Ran::outputs`] its entries.
    pub fn github_output(mut self) -> Bin {
        self.github_output = true;
        self
    }

    /// Points `GITHUB_STEP_SUMMARY` at a file of the run; [`Ran::summary`] is its text.
    pub fn summary(mut self) -> Bin {
        self.summary = true;
        self
    }

    /// [`Bin::summary`] with commit links to `https://github.com/o/r` (`GITHUB_SERVER_URL`,
    /// `GITHUB_REPOSITORY`).
    pub fn summary_with_links(self) -> Bin {
        self.summary()
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", "o/r")
    }

    /// Keeps `GITHUB_OUTPUT` (`dir/output`) and `GITHUB_STEP_SUMMARY` (`dir/summary`) in `dir`,
    /// which outlives the run (several runs then append to the same files, as steps of one job
    /// do); [`Ran`] reads them after the run.
    pub fn runner_files(mut self, dir: &Path) -> Bin {
        self.runner_dir = Some(RunnerDir::Given(dir.to_owned()));
        self.github_output = true;
        self.summary = true;
        self
    }

    /// The exit code the run must end with: [`Bin::run`] panics otherwise, with stdout and
    /// stderr.
    pub fn expects(mut self, code: i32) -> Bin {
        self.expects = Some(code);
        self
    }

    /// A secret that must appear nowhere the binary writes: stdout (except `::add-mask::`
    /// lines), stderr, `GITHUB_OUTPUT` and the summary. [`Bin::run`] panics naming where it
    /// leaked. Empty secrets are ignored.
    pub fn secret(mut self, secret: impl Into<String>) -> Bin {
        self.secrets.push(secret.into());
        self
    }

    fn prepare(&mut self) {
        if (self.github_output || self.summary) && self.runner_dir.is_none() {
            let dir = tempfile::tempdir().expect("a directory for the runner's files");
            self.runner_dir = Some(RunnerDir::Own(dir));
        }
        if let Some(dir) = &self.runner_dir {
            let dir = dir.path().to_owned();
            if self.github_output {
                self.cmd.env("GITHUB_OUTPUT", dir.join("output"));
            }
            if self.summary {
                self.cmd.env("GITHUB_STEP_SUMMARY", dir.join("summary"));
            }
        }
    }

    /// The `std::process::Command` this would run, for a test that spawns it in the background
    /// (its runner files, expected code and secrets are then the caller's business).
    pub fn into_command(mut self) -> Command {
        assert!(
            matches!(self.runner_dir, None | Some(RunnerDir::Given(_))),
            "a spawned command cannot own its runner files: use `runner_files(dir)`"
        );
        self.prepare();
        self.cmd
    }

    /// The run as an `assert_cmd::Command`, for predicate-style assertions
    /// (`.assert().code(2).stderr(..)`).
    pub fn assert(self) -> assert_cmd::assert::Assert {
        assert_cmd::Command::from_std(self.into_command()).assert()
    }

    /// Runs to the end and returns what it left; panics on the checks asked for
    /// ([`Bin::expects`], [`Bin::json`], [`Bin::secret`]).
    pub fn run(mut self) -> Ran {
        self.prepare();
        let described = format!("{:?}", self.cmd);
        let out = assert_cmd::Command::from_std(self.cmd)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {described}: {e}"));
        let read = |name: &str| {
            self.runner_dir
                .as_ref()
                .and_then(|d| std::fs::read_to_string(d.path().join(name)).ok())
                .unwrap_or_default()
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let github_output = if self.github_output {
            read("output")
        } else {
            String::new()
        };
        let summary = if self.summary {
            read("summary")
        } else {
            String::new()
        };
        let code = out.status.code().unwrap_or(-1);
        if let Some(expected) = self.expects {
            assert_eq!(
                code, expected,
                "{described} exited with {code}, not {expected}\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
        let outputs = match self.outputs {
            Outputs::Json => serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
                panic!("stdout is not one JSON object ({e}): {stdout}\nstderr:\n{stderr}")
            }),
            Outputs::JsonLastLine => stdout
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}\n{stderr}"))
                })
                .unwrap_or(Value::Null),
            Outputs::None if self.github_output => parse_github_output(&github_output),
            Outputs::None => Value::Null,
        };
        let ran = Ran {
            code,
            outputs,
            stdout,
            stderr,
            github_output,
            summary,
        };
        ran.assert_no_leak(&self.secrets);
        ran
    }
}

/// `INPUT_<NAME>` as the runner spells it: upper case, `-` as `_`.
pub fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// The entries of a `GITHUB_OUTPUT` file as a JSON object of strings; a name written twice keeps
/// its last value, as the runner does. Panics unless every entry is a `name<<delimiter` heredoc
/// closed by its delimiter (the only form the runner protocol of lastgood writes).
pub fn parse_github_output(text: &str) -> Value {
    let mut map = Map::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delim) = line
            .split_once("<<")
            .unwrap_or_else(|| panic!("not a heredoc entry: {line:?} in\n{text}"));
        let mut value = Vec::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l == delim {
                closed = true;
                break;
            }
            value.push(l);
        }
        assert!(closed, "the heredoc of {name} is not closed in\n{text}");
        map.insert(name.to_owned(), Value::String(value.join("\n")));
    }
    Value::Object(map)
}

/// What a run left behind.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// The outputs: stdout's JSON with [`Bin::json`], else the entries of `GITHUB_OUTPUT` with
    /// [`Bin::github_output`], else `Null`.
    pub outputs: Value,
    /// stdout, lossily decoded.
    pub stdout: String,
    /// stderr, lossily decoded.
    pub stderr: String,
    /// The text of `GITHUB_OUTPUT` (empty unless asked for, or when nothing was written).
    pub github_output: String,
    /// The text of `GITHUB_STEP_SUMMARY` (empty unless asked for, or when nothing was written).
    pub summary: String,
}

impl Ran {
    /// The output `name`, `""` when absent.
    pub fn out(&self, name: &str) -> &str {
        self.output(name).unwrap_or("")
    }

    /// The output `name`, `None` when absent.
    pub fn output(&self, name: &str) -> Option<&str> {
        self.outputs.get(name).and_then(Value::as_str)
    }

    fn assert_no_leak(&self, secrets: &[String]) {
        let visible_stdout: String = self
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            for (what, text) in [
                ("stdout", &visible_stdout),
                ("stderr", &self.stderr),
                ("GITHUB_OUTPUT", &self.github_output),
                ("GITHUB_STEP_SUMMARY", &self.summary),
            ] {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret leaked into {what}:\n{text}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh -c script` through the builder.
    fn sh(script: &str) -> Bin {
        Bin::new("sh").arg("-c").arg(script)
    }

    #[test]
    fn the_environment_is_scrubbed_and_inputs_are_input_variables() {
        let mut made = assert_cmd::Command::new("sh");
        made.env("GITHUB_TOKEN", "ghs_leak").env("KEPT", "yes");
        let ran = Bin::from_command(&made)
            .arg("-c")
            .arg("env")
            .input("health-url", "http://x")
            .env("GITHUB_ACTIONS", "true")
            .expects(0)
            .run();
        assert!(ran.stdout.contains("INPUT_HEALTH_URL=http://x"), "{ran:?}");
        assert!(ran.stdout.contains("GITHUB_ACTIONS=true"), "{ran:?}");
        assert!(ran.stdout.contains("KEPT=yes"), "{ran:?}");
        assert!(!ran.stdout.contains("ghs_leak"), "{ran:?}");
        for line in ran.stdout.lines() {
            let key = line.split('=').next().unwrap_or("");
            assert!(
                key == "GITHUB_ACTIONS"
                    || key == "INPUT_HEALTH_URL"
                    || !SCRUBBED_PREFIXES.iter().any(|p| key.starts_with(p)),
                "{line}"
            );
        }
    }

    #[test]
    fn runner_files_and_outputs_are_read_back() {
        let ran = sh(concat!(
            "printf 'a<<EOF_1\\none\\ntwo\\nEOF_1\\nb<<EOF_2\\n2\\nEOF_2\\n' >> \"$GITHUB_OUTPUT\";",
            "echo '# done' >> \"$GITHUB_STEP_SUMMARY\"; exit 1"
        ))
        .github_output()
        .summary()
        .expects(1)
        .run();
        assert_eq!(ran.output("a"), Some("one\ntwo"));
        assert_eq!(ran.out("b"), "2");
        assert_eq!(ran.output("c"), None);
        assert_eq!(ran.summary, "# done\n");
        let plain = std::panic::catch_unwind(|| parse_github_output("b=2\n"));
        assert!(plain.is_err(), "only heredoc entries");
        let open = std::panic::catch_unwind(|| parse_github_output("b<<EOF\n2\n"));
        assert!(open.is_err(), "an unclosed heredoc");
    }

    #[test]
    fn json_outputs_are_parsed_and_must_be_one_object() {
        let ran = sh(r#"echo '{"k":"v"}'"#).json().run();
        assert_eq!(ran.out("k"), "v");
        let ran = sh(r#"echo log; echo '{"k":"v"}'"#).json_last_line().run();
        assert_eq!(ran.out("k"), "v");
        let not_json = std::panic::catch_unwind(|| sh("echo log").json().run());
        assert!(not_json.is_err(), "a stdout that is not JSON fails the run");
    }

    #[test]
    fn an_unexpected_code_or_a_leaked_secret_fails_the_run() {
        let wrong = std::panic::catch_unwind(|| sh("echo out; exit 3").expects(0).run());
        let text = wrong
            .expect_err("exit 3 is not 0")
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            text.contains("exited with 3, not 0") && text.contains("out"),
            "{text}"
        );
        let leaked = std::panic::catch_unwind(|| sh("echo hunter2 >&2").secret("hunter2").run());
        assert!(leaked.is_err());
        let masked = sh("echo ::add-mask::hunter2").secret("hunter2").run();
        assert_eq!(masked.code, 0);
    }
}
