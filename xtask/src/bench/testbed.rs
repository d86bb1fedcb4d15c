//! What the deploy measures run on: a git origin and the app's checkout, and the app itself, the
//! sample app of `examples/sample-app` in docker compose when docker answers, else the same
//! program as a local process restarted by a `restart-command`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::net;
use crate::Result;
use crate::util::{self, Scratch, cargo, project_root, succeeds, target_dir};

/// Where the app runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppKind {
    /// In a container of the sample app's image, restarted by docker compose.
    Docker,
    /// As a local process, restarted by a `restart-command` (`sh -c …`: stop, start).
    Process,
}

impl AppKind {
    /// Docker when `docker info` and a compose tool answer.
    pub(crate) fn detect() -> AppKind {
        if succeeds("docker", &["info"]) && compose().is_some() {
            AppKind::Docker
        } else {
            AppKind::Process
        }
    }

    /// For the report.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            AppKind::Docker => {
                "the sample app of `examples/sample-app` (a static binary in a `FROM scratch` image) in docker compose, \
                 restarted with `docker-compose restart` (the seed's command)"
            }
            AppKind::Process => {
                "docker does not answer here: the sample app of `examples/sample-app` as a local process, \
                 restarted by a `restart-command` (`sh -c` that stops it and starts it again)"
            }
        }
    }
}

/// The compose command: `docker-compose` (v1, the seed's) preferred here, else `docker compose`.
pub(crate) fn compose() -> Option<Vec<String>> {
    if succeeds("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else if succeeds("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else {
        None
    }
}

/// Builds the sample app's image (as `cargo xtask demo` does).
pub(crate) fn build_sample_image() -> Result {
    crate::demo::build_image(&project_root())
}

/// The sample app's binary, as cargo reported it when [`build_sample_binary`] built it.
static SAMPLE_BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn sample_binary() -> PathBuf {
    SAMPLE_BINARY
        .get()
        .cloned()
        .unwrap_or_else(|| target_dir().join("release").join("sample-app"))
}

/// Builds the sample app for a local process.
pub(crate) fn build_sample_binary() -> Result {
    let built =
        util::build_bins(cargo().args(["build", "--release", "--locked", "-p", "sample-app"]))?;
    let path = built
        .get("sample-app")
        .ok_or_else(|| crate::Failure::new("cargo reported no sample-app executable"))?;
    let _ = SAMPLE_BINARY.set(path.clone());
    Ok(())
}

/// A git origin with a developer's clone, and the deployed checkout.
pub(crate) struct Repo {
    _scratch: Scratch,
    pub(crate) root: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) app: PathBuf,
    pub(crate) state: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> std::result::Result<String, String> {
    util::git(dir, args).map_err(|f| f.to_string())
}

impl Repo {
    /// A new origin with one commit holding `files` (and the compose file), cloned as the app.
    pub(crate) fn new(name: &str, files: &[(&str, &str)]) -> std::result::Result<Repo, String> {
        let scratch = Scratch::new(&format!("bench-{name}")).map_err(|f| f.to_string())?;
        let root = scratch.path().to_path_buf();
        let (work, app, state) = (root.join("work"), root.join("app"), root.join("state"));
        for dir in [&work, &state] {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        git(&root, &["init", "-q", "--bare", "-b", "main", "origin.git"])?;
        git(&work, &["init", "-q", "-b", "main"])?;
        git(&work, &["remote", "add", "origin", "../origin.git"])?;
        let compose = project_root().join("examples/sample-app/docker-compose-preprod.yml");
        std::fs::copy(&compose, work.join("docker-compose-preprod.yml"))
            .map_err(|e| format!("cannot copy {}: {e}", compose.display()))?;
        let repo = Repo {
            _scratch: scratch,
            root,
            work,
            app,
            state,
        };
        repo.commit(files, "first")?;
        git(&repo.root, &["clone", "-q", "origin.git", "app"])?;
        Ok(repo)
    }

    /// Commits `files` in the developer's clone and pushes; the new SHA.
    pub(crate) fn commit(
        &self,
        files: &[(&str, &str)],
        message: &str,
    ) -> std::result::Result<String, String> {
        self.commit_only(files, message)?;
        self.push()?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Commits without pushing; the new SHA.
    pub(crate) fn commit_only(
        &self,
        files: &[(&str, &str)],
        message: &str,
    ) -> std::result::Result<String, String> {
        for (path, text) in files {
            std::fs::write(self.work.join(path), text).map_err(|e| e.to_string())?;
        }
        git(&self.work, &["add", "-A"])?;
        git(
            &self.work,
            &[
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@lastgood.invalid",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                message,
            ],
        )?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// `git push origin main` from the developer's clone.
    pub(crate) fn push(&self) -> std::result::Result<(), String> {
        git(&self.work, &["push", "-q", "origin", "main"]).map(drop)
    }

    /// Checks the app out at `sha` (fetch + reset), outside any measure.
    pub(crate) fn checkout(&self, sha: &str) -> std::result::Result<(), String> {
        git(&self.app, &["fetch", "-q", "origin"])?;
        git(&self.app, &["reset", "-q", "--hard", sha]).map(drop)
    }
}

/// The running app of a [`Repo`]'s checkout; stopped when dropped.
pub(crate) struct Service {
    kind: AppKind,
    pub(crate) port: u16,
    app: PathBuf,
    compose: Vec<String>,
    env: Vec<(String, String)>,
    pidfile: PathBuf,
}

impl Service {
    /// The app of `repo` (not started).
    pub(crate) fn new(kind: AppKind, repo: &Repo, name: &str) -> std::result::Result<Self, String> {
        let port = net::free_port()?;
        let env = vec![
            (
                "COMPOSE_PROJECT_NAME".to_owned(),
                format!("lastgood-bench-{}-{name}", std::process::id()),
            ),
            ("PREPROD_PORT".to_owned(), port.to_string()),
            ("APP_CHECKOUT".to_owned(), repo.app.display().to_string()),
            ("SAMPLE_APP_IMAGE".to_owned(), crate::demo::IMAGE.to_owned()),
            ("SAMPLE_APP_RESTART".to_owned(), "no".to_owned()),
        ];
        Ok(Service {
            kind,
            port,
            app: repo.app.clone(),
            compose: compose().unwrap_or_default(),
            env,
            pidfile: repo.root.join("app.pid"),
        })
    }

    /// The health URL (the app's revision record; its body names the commit).
    pub(crate) fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, net::REVISION_PATH)
    }

    fn compose_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .arg("-f")
            .arg(self.app.join("docker-compose-preprod.yml"))
            .args(args)
            .current_dir(&self.app)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        cmd
    }

    /// The restart script of a local process (stop the old one, start the new one).
    fn script(&self) -> String {
        let pid = self.pidfile.display();
        format!(
            "if [ -f {pid} ]; then kill $(cat {pid}) 2>/dev/null; while kill -0 $(cat {pid}) 2>/dev/null; do sleep 0.01; done; fi; \
             APP_DIR={app} PORT={port} APP_ENV=preprod {bin} </dev/null >/dev/null 2>&1 & echo $! > {pid}",
            app = self.app.display(),
            port = self.port,
            bin = sample_binary().display()
        )
    }

    /// The restart, as the seed (and the bare sequence) run it.
    pub(crate) fn restart(&self) -> Command {
        match self.kind {
            AppKind::Docker => self.compose_cmd(&["restart"]),
            AppKind::Process => {
                let mut cmd = Command::new("sh");
                cmd.args(["-c", &self.script()]).stdin(Stdio::null());
                cmd
            }
        }
    }

    /// The inputs and variables that make deploy-sha restart this app the same way.
    pub(crate) fn lastgood_env(&self, recreate: bool) -> Vec<(String, String)> {
        match self.kind {
            AppKind::Docker => {
                let mut env = self.env.clone();
                env.push((
                    "INPUT_COMPOSE_FILE".into(),
                    "docker-compose-preprod.yml".into(),
                ));
                env.push((
                    "INPUT_RESTART_MODE".into(),
                    if recreate { "recreate" } else { "restart" }.into(),
                ));
                env
            }
            AppKind::Process => vec![(
                "INPUT_RESTART_COMMAND".into(),
                format!("sh -c '{}'", self.script()),
            )],
        }
    }

    /// Starts the app and waits until it answers.
    pub(crate) fn up(&self) -> std::result::Result<(), String> {
        let mut cmd = match self.kind {
            AppKind::Docker => self.compose_cmd(&["up", "-d"]),
            AppKind::Process => self.restart(),
        };
        let out = cmd
            .output()
            .map_err(|e| format!("cannot start the app: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the app did not start: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        net::poll_until(self.port, "/_stcore/health", Duration::from_secs(60), |a| {
            a.status == 200
        })
        .map(drop)
        .ok_or_else(|| "the app did not answer within 60s".to_owned())
    }

    /// The commit the app serves, if it answers.
    pub(crate) fn serves(&self) -> Option<String> {
        net::get(self.port, net::REVISION_PATH, &[], Duration::from_secs(2))
            .ok()
            .filter(|a| a.status == 200)
            .and_then(|a| net::revision(&a.body).map(str::to_owned))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        match self.kind {
            AppKind::Docker => {
                let _ = self
                    .compose_cmd(&["down", "--timeout", "2"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            AppKind::Process => {
                if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
                    let _ = Command::new("kill").arg(pid.trim()).status();
                }
            }
        }
    }
}

/// Runs `cmd` quietly; its failure with stderr.
pub(crate) fn quiet(cmd: &mut Command) -> std::result::Result<std::process::Output, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", util::display(cmd)))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{} failed ({}): {}",
            util::display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
