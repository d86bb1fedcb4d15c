//! Running the binary in a clean environment, and checking that the webhook never leaks.

use std::path::PathBuf;

use lastgood_testkit::discord::{DiscordStandIn, WEBHOOK_TOKEN};
use serde_json::Value;

/// A prepared run: the command, plus the runner files it writes.
pub struct Cmd {
    pub cmd: assert_cmd::Command,
    dir: tempfile::TempDir,
    secrets: Vec<String>,
}

/// What a run left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub output: String,
    pub summary: String,
}

impl Run {
    /// The value of an output in `GITHUB_OUTPUT` (heredoc form).
    pub fn out(&self, name: &str) -> Option<String> {
        let mut lines = self.output.lines();
        while let Some(line) = lines.next() {
            if let Some((n, delim)) = line.split_once("<<")
                && n == name
            {
                let mut value = Vec::new();
                for l in lines.by_ref() {
                    if l == delim {
                        break;
                    }
                    value.push(l);
                }
                return Some(value.join("\n"));
            }
        }
        None
    }
}

/// The binary with a scrubbed environment, `GITHUB_OUTPUT`/`GITHUB_STEP_SUMMARY` in a tempdir,
/// and the webhook of `discord` in `INPUT_WEBHOOK_URL`.
pub fn cmd(discord: &DiscordStandIn) -> Cmd {
    cmd_with_url(&discord.webhook_url())
}

/// Same, with any webhook URL (it is also checked for leaks).
pub fn cmd_with_url(url: &str) -> Cmd {
    let mut std = std::process::Command::new(assert_cmd::cargo::cargo_bin!("notify-discord"));
    lastgood_testkit::scrub_env(&mut std);
    let dir = tempfile::tempdir().unwrap();
    std.env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .env("INPUT_WEBHOOK_URL", url);
    let mut secrets = vec![url.to_owned(), WEBHOOK_TOKEN.to_owned()];
    // The token of any webhook-looking URL, and the path that holds it.
    if let Some(path) = url.split("/api/").nth(1) {
        secrets.push(path.split('?').next().unwrap_or(path).to_owned());
        if let Some(token) = path.split('?').next().and_then(|p| p.rsplit('/').next())
            && token.len() > 3
        {
            secrets.push(token.to_owned());
        }
    }
    Cmd {
        cmd: assert_cmd::Command::from_std(std),
        dir,
        secrets,
    }
}

impl Cmd {
    /// Sets an input through its `INPUT_*` variable.
    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.cmd.env(
            format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_")),
            value,
        );
        self
    }

    /// Sets any environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.cmd.env(name, value);
        self
    }

    /// Runs, and fails the test if the webhook URL, its path or token appears anywhere the
    /// binary writes (stdout except `::add-mask::` lines, stderr, outputs, summary).
    pub fn run(mut self) -> Run {
        let out = self.cmd.output().unwrap();
        let read = |name: &str| {
            std::fs::read_to_string(PathBuf::from(self.dir.path()).join(name)).unwrap_or_default()
        };
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            output: read("output"),
            summary: read("summary"),
        };
        let visible_stdout: String = run
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            for (what, text) in [
                ("stdout", &visible_stdout),
                ("stderr", &run.stderr),
                ("GITHUB_OUTPUT", &run.output),
                ("GITHUB_STEP_SUMMARY", &run.summary),
            ] {
                assert!(
                    !text.contains(secret.as_str()),
                    "the webhook secret leaked into {what}:\n{text}"
                );
            }
        }
        run
    }
}

/// The only embed of a body.
pub fn embed(body: &Value) -> &Value {
    &body["embeds"][0]
}

/// Characters as Discord counts them.
pub fn len(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

pub const SHA: &str = "acfdb42e5b0c7d9f1a2b3c4d5e6f708192a3b4c5";
