//! A deployed app (real git), its state directory, a health endpoint reading the checkout, the
//! GitHub stand-in, and the binary in a clean environment.

use std::path::{Path, PathBuf};

use lastgood_testkit::git::GitFixture;
use lastgood_testkit::github::{FakeGitHub, REPOSITORY, TOKEN, WORKFLOW};
use lastgood_testkit::run::{Bin, Ran};
use lastgood_testkit::server::{Reply, TestServer};
use serde_json::Value;

/// `validated` (version "good", the last validated SHA) then `deployed` (version "bad"), both
/// pushed; the app runs `deployed`.
pub struct Scenario {
    pub fx: GitFixture,
    pub gh: FakeGitHub,
    pub state: tempfile::TempDir,
    pub runner_files: tempfile::TempDir,
    pub health: TestServer,
    pub validated: String,
    pub deployed: String,
}

impl Scenario {
    pub fn new() -> Scenario {
        let fx = GitFixture::new();
        let good = fx.commit(&[("version.txt", "good\n")], "good");
        fx.push();
        let bad = fx.commit(&[("version.txt", "bad\n")], "bad: break everything");
        fx.push();
        fx.git_app(&["fetch", "-q", "origin"]);
        fx.git_app(&["reset", "-q", "--hard", &bad]);
        let state = tempfile::tempdir().unwrap();
        std::fs::write(
            state.path().join("last-validated-sha.txt"),
            format!("{good}\n"),
        )
        .unwrap();
        let app = fx.app.clone();
        let health = TestServer::start(move |_| {
            let version = std::fs::read_to_string(app.join("version.txt")).unwrap_or_default();
            Reply::text(200, format!("app version {version}"))
        });
        Scenario {
            fx,
            gh: FakeGitHub::start(),
            state,
            runner_files: tempfile::tempdir().unwrap(),
            health,
            validated: good,
            deployed: bad,
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn last_validated(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("last-validated-sha.txt"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn journal(&self) -> Vec<Value> {
        lastgood_testkit::state::journal(self.state_dir())
    }

    pub fn events(&self) -> Vec<String> {
        self.journal()
            .iter()
            .map(|e| {
                format!(
                    "{}:{}",
                    e["event"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap()
                )
            })
            .collect()
    }

    pub fn watch_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state_dir().join("watches")) {
            Ok(d) => d
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Runs the watcher on the deployed SHA with the standard inputs.
    pub fn watch(&self) -> Ran {
        self.cmd(&self.deployed).run()
    }

    /// The binary watching `sha`, with short durations, restart by `true` and a health gate that
    /// passes only when the checkout holds `good`.
    pub fn cmd(&self, sha: &str) -> Bin {
        self.cmd_with(sha, &[])
    }

    /// Same, with inputs replaced or added (`("timeout", "1s")`; an empty value = absent).
    pub fn cmd_with(&self, sha: &str, overrides: &[(&str, &str)]) -> Bin {
        let gh = self.gh.url();
        let app = self.fx.app.to_string_lossy().into_owned();
        let state = self.state_dir().to_string_lossy().into_owned();
        let health = self.health.url();
        let mut inputs: Vec<(&str, &str)> = vec![
            ("sha", sha),
            ("repository", REPOSITORY),
            ("workflow", WORKFLOW),
            ("api-url", &gh),
            ("app-dir", &app),
            ("state-dir", &state),
            ("restart-command", "true"),
            ("health-url", &health),
            ("health-expect-body", "good"),
            ("health-attempts", "2"),
            ("health-interval", "100ms"),
            ("initial-delay", "0s"),
            ("interval", "100ms"),
            ("timeout", "30s"),
            ("discovery-timeout", "10s"),
            ("lock-timeout", "10s"),
        ];
        for (k, v) in overrides {
            match inputs.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v,
                None => inputs.push((k, v)),
            }
        }
        let mut bin = watcher()
            .runner_files(self.runner_files.path())
            .input("token", TOKEN)
            .json_last_line();
        for (k, v) in inputs {
            bin = bin.arg(format!("--{k}")).arg(v);
        }
        bin
    }

    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.runner_files.path().join("summary")).unwrap_or_default()
    }

    /// Every file under the state dir and the runner files, concatenated (for leak checks).
    pub fn all_files(&self) -> String {
        let mut text = String::new();
        for root in [self.state_dir(), self.runner_files.path()] {
            collect(root, &mut text);
        }
        text
    }
}

fn collect(dir: &Path, text: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, text);
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

/// The binary in a clean environment.
pub fn watcher() -> Bin {
    Bin::new(assert_cmd::cargo::cargo_bin!("ci-watcher"))
}
