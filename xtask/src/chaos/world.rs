//! One round's world: a git origin and the developer's clone, the deployed checkout, the state
//! directory (on a small tmpfs when this process may mount one), the GitHub stand-in, and the
//! sample app as a local process restarted by `restart-command` (`xtask demo __restart-app`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lastgood_testkit::fs::SmallFs;
use lastgood_testkit::github::{FakeGitHub, REPOSITORY, TOKEN, WORKFLOW};

use crate::demo::cleanup;
use crate::{Failure, Result};

/// The programs a round runs, copied once per run so that a rebuild meanwhile changes nothing.
#[derive(Debug, Clone)]
pub(crate) struct Bins {
    pub(crate) dir: PathBuf,
}

impl Bins {
    /// The copy of `name`.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The size of the state directory's tmpfs, in KiB.
const STATE_FS_KIB: u64 = 2048;

/// Everything a round plays on; stopped and removed when dropped.
pub(crate) struct World {
    pub(crate) dir: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) app: PathBuf,
    pub(crate) state: PathBuf,
    pub(crate) run: PathBuf,
    pub(crate) gh: FakeGitHub,
    pub(crate) port: u16,
    pub(crate) bins: Bins,
    pub(crate) disk: Option<SmallFs>,
    pub(crate) started: Instant,
    steps: std::cell::Cell<u32>,
}

/// A finished step: its exit code (`None`: killed by a signal) and its outputs.
#[derive(Debug, Clone)]
pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) outputs: BTreeMap<String, String>,
    pub(crate) stderr: String,
}

impl Ran {
    /// The output `name` (empty when absent).
    pub(crate) fn out(&self, name: &str) -> &str {
        self.outputs.get(name).map_or("", String::as_str)
    }
}

/// A step running in the background.
pub(crate) struct Running {
    child: Child,
    output: PathBuf,
    stderr: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .env("LC_ALL", "C")
        .args([
            "-c",
            "user.name=chaos",
            "-c",
            "user.email=chaos@lastgood.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Failure::new(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Failure::new(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::new(format!("no free loopback port: {e}")))
}

impl World {
    /// A new world under `parent` with one commit, `initial`, checked out (not started).
    pub(crate) fn new(parent: &Path, name: &str, bins: &Bins, disk: bool) -> Result<World> {
        let dir = parent.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let (work, app, state, run) = (
            dir.join("work"),
            dir.join("app"),
            dir.join("state"),
            dir.join("run"),
        );
        for d in [&work, &state, &run, &dir.join("steps")] {
            std::fs::create_dir_all(d)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", d.display())))?;
        }
        git(&dir, &["init", "-q", "--bare", "-b", "main", "origin.git"])?;
        git(&work, &["init", "-q", "-b", "main"])?;
        git(&work, &["remote", "add", "origin", "../origin.git"])?;
        let disk = if disk {
            SmallFs::mount_at(&state, STATE_FS_KIB)
        } else {
            None
        };
        let world = World {
            dir,
            work,
            app,
            state,
            run,
            gh: FakeGitHub::start(),
            port: free_port()?,
            bins: bins.clone(),
            disk,
            started: Instant::now(),
            steps: std::cell::Cell::new(0),
        };
        Ok(world)
    }

    /// Commits `files` (a `None` content removes the file) and pushes; the new SHA.
    pub(crate) fn push(&self, files: &[(&str, Option<String>)], message: &str) -> Result<String> {
        for (path, content) in files {
            let full = self.work.join(path);
            match content {
                Some(text) => std::fs::write(&full, text)
                    .map_err(|e| Failure::new(format!("cannot write {}: {e}", full.display())))?,
                None => {
                    let _ = std::fs::remove_file(&full);
                }
            }
        }
        git(&self.work, &["add", "-A"])?;
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        )?;
        git(&self.work, &["push", "-q", "origin", "main"])?;
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Clones the origin as the deployed checkout.
    pub(crate) fn clone_app(&self) -> Result {
        git(&self.dir, &["clone", "-q", "origin.git", "app"]).map(drop)
    }

    /// The SHA checked out in the app.
    pub(crate) fn head(&self) -> Result<String> {
        git(&self.app, &["rev-parse", "HEAD"])
    }

    /// The health gate's URL: the app's revision record, which names the commit it serves.
    pub(crate) fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}/app/static/revision.txt", self.port)
    }

    /// The commit the app serves (its revision record answered with 200), if any.
    pub(crate) fn served(&self) -> Option<String> {
        crate::demo::app::served_sha(self.port, "/app/static/revision.txt")
    }

    /// The restart command: this program's restart helper for the sample app.
    pub(crate) fn restart_command(&self) -> String {
        [
            self.bins.path("xtask").display().to_string(),
            "demo".into(),
            "__restart-app".into(),
            "--env".into(),
            "preprod".into(),
            "--port".into(),
            self.port.to_string(),
            "--bin".into(),
            self.bins.path("sample-app").display().to_string(),
            "--run-dir".into(),
            self.run.display().to_string(),
        ]
        .iter()
        .map(|w| crate::demo::app::quote(w))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The inputs deploy-sha and ci-watcher share (the reusable workflows pass them both).
    pub(crate) fn env_inputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("app-dir", self.app.display().to_string()),
            ("state-dir", self.state.display().to_string()),
            ("environment", "preprod".into()),
            ("restart-command", self.restart_command()),
            ("restart-timeout", "30s".into()),
            ("health-url", self.health_url()),
            ("health-expect-version", "sha".into()),
            ("health-attempts", "6".into()),
            ("health-interval", "100ms".into()),
            ("health-timeout", "2s".into()),
            ("lock-timeout", "2m".into()),
            ("fetch-timeout", "20s".into()),
        ]
    }

    /// The watcher's inputs for `sha` (short intervals, the stand-in's API).
    pub(crate) fn watch_inputs(&self, sha: &str) -> Vec<(&'static str, String)> {
        let mut inputs = self.env_inputs();
        inputs.extend([
            ("sha", sha.to_owned()),
            ("repository", REPOSITORY.to_owned()),
            ("workflow", WORKFLOW.to_owned()),
            ("api-url", self.gh.url()),
            ("token", TOKEN.to_owned()),
            ("initial-delay", "0s".into()),
            ("interval", "100ms".into()),
            ("timeout", "8s".into()),
            ("discovery-timeout", "6s".into()),
        ]);
        inputs
    }

    /// Starts `bin` with `inputs` as its action would (`INPUT_*`, `GITHUB_OUTPUT`), scrubbed.
    pub(crate) fn start(&self, bin: &str, inputs: &[(&str, String)]) -> Result<Running> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        let output = self.dir.join("steps").join(format!("{n:03}-{bin}.out"));
        let stderr = self.dir.join("steps").join(format!("{n:03}-{bin}.err"));
        let err = std::fs::File::create(&stderr)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", stderr.display())))?;
        let mut cmd = crate::util::scrubbed(&self.bins.path(bin));
        for (name, value) in inputs {
            let var = format!("INPUT_{}", name.to_uppercase().replace([' ', '-'], "_"));
            cmd.env(var, value);
        }
        cmd.env("GITHUB_OUTPUT", &output)
            .env(
                "GITHUB_STEP_SUMMARY",
                self.dir.join("steps").join("summary.md"),
            )
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .map_err(|e| Failure::new(format!("cannot start {bin}: {e}")))?;
        Ok(Running {
            child,
            output,
            stderr,
        })
    }

    /// Runs `bin` to its end (bounded: a step that hangs is a finding).
    pub(crate) fn run(&self, bin: &str, inputs: &[(&str, String)]) -> Result<Ran> {
        self.start(bin, inputs)?.wait(Duration::from_secs(180))
    }
}

impl Running {
    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the end (at most `bound`, then it is killed and the step is a finding).
    pub(crate) fn wait(mut self, bound: Duration) -> Result<Ran> {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| Failure::new(format!("cannot wait for a step: {e}")))?
            {
                break status;
            }
            if start.elapsed() > bound {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(Failure::new(format!(
                    "a step did not end within {}s (stderr in {})",
                    bound.as_secs(),
                    self.stderr.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Ran {
            code: status.code(),
            outputs: lastgood_testkit::outputs::read(&self.output),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        cleanup::stop_processes_under(&self.dir);
        for pid in cleanup::processes_in(&self.state) {
            cleanup::stop(pid, Duration::from_secs(3));
        }
        self.disk = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
