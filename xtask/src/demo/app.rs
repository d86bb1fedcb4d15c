//! The app in its two environments, preprod and prod, and how it is restarted: docker compose
//! (the sample app's image and compose files, as on the seed's VM) or local processes through
//! `restart-command` (this very program, `xtask demo __restart-app …`, stands in for
//! `systemctl restart app`). Also the sampler that records which version serves, over time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lastgood_testkit::docker::http_get;

use super::cleanup::{self, Project};
use crate::{Failure, Result};

/// How the app runs and restarts.
#[derive(Debug, Clone)]
pub enum Backend {
    /// docker compose (`docker compose` or `docker-compose`), the sample app's image.
    Docker {
        /// The compose command.
        compose: Vec<String>,
        /// The image tag.
        image: String,
    },
    /// The sample app as local processes, restarted by `restart-command`.
    Processes {
        /// The app's binary.
        app: PathBuf,
        /// This program (`xtask`), which restarts it.
        helper: PathBuf,
    },
    /// The Streamlit example as local processes: `python serve.py restart` is its
    /// `restart-command` (it stops the previous server, self-checks the script, starts
    /// Streamlit and waits until it serves the checkout's commit).
    Streamlit {
        /// A Python with the example's requirements.
        python: PathBuf,
    },
}

/// One environment: its checkout, state directory, port and how it restarts.
#[derive(Debug, Clone)]
pub struct Env {
    /// `preprod` or `prod`.
    pub name: &'static str,
    /// The deployed git checkout (`app-dir`).
    pub checkout: PathBuf,
    /// The state directory (`state-dir`).
    pub state: PathBuf,
    /// The app's port on 127.0.0.1.
    pub port: u16,
    /// Pid files and app logs (processes).
    pub run_dir: PathBuf,
    /// The compose project (docker).
    pub project: Option<Project>,
    /// How it restarts.
    pub backend: Backend,
}

impl Env {
    /// Prepares (does not start) `name` over `checkout`.
    pub fn new(name: &'static str, scratch: &Path, backend: &Backend) -> Result<Env> {
        let port = free_port()?;
        let checkout = scratch.join(name);
        let project = match backend {
            Backend::Docker { compose, image } => Some(Project {
                compose: compose.clone(),
                name: format!("lastgood-demo-{}-{name}", std::process::id()),
                file: checkout.join(compose_file(name)),
                vars: vec![
                    (
                        "COMPOSE_PROJECT_NAME".into(),
                        format!("lastgood-demo-{}-{name}", std::process::id()),
                    ),
                    (format!("{}_PORT", name.to_uppercase()), port.to_string()),
                    ("APP_CHECKOUT".into(), checkout.display().to_string()),
                    ("SAMPLE_APP_IMAGE".into(), image.clone()),
                    // A commit that fails at start-up stays down instead of restarting in a loop.
                    ("SAMPLE_APP_RESTART".into(), "no".into()),
                ],
            }),
            Backend::Processes { .. } | Backend::Streamlit { .. } => None,
        };
        Ok(Env {
            name,
            checkout,
            state: scratch.join("state").join(name),
            port,
            run_dir: scratch.join("run"),
            project,
            backend: backend.clone(),
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The job's environment for steps that restart the app (compose's variables).
    pub fn vars(&self) -> Vec<(String, String)> {
        self.project
            .as_ref()
            .map(|p| p.vars.clone())
            .unwrap_or_default()
    }

    /// The restart inputs the caller workflow passes: `compose-file`, or `restart-command` with
    /// `compose-file` emptied (the reusable workflow defaults it, and the two exclude each other).
    pub fn restart_inputs(&self) -> Vec<(&'static str, String)> {
        match &self.backend {
            Backend::Docker { .. } => vec![("compose-file", compose_file(self.name).to_owned())],
            Backend::Processes { .. } | Backend::Streamlit { .. } => vec![
                ("compose-file", String::new()),
                ("restart-command", self.restart_command()),
            ],
        }
    }

    fn restart_words(&self) -> Vec<String> {
        match &self.backend {
            Backend::Processes { app, helper } => vec![
                helper.display().to_string(),
                "demo".into(),
                "__restart-app".into(),
                "--env".into(),
                self.name.into(),
                "--port".into(),
                self.port.to_string(),
                "--bin".into(),
                app.display().to_string(),
                "--run-dir".into(),
                self.run_dir.display().to_string(),
            ],
            Backend::Streamlit { python } => vec![
                python.display().to_string(),
                "serve.py".into(),
                "restart".into(),
                "--port".into(),
                self.port.to_string(),
                "--address".into(),
                "127.0.0.1".into(),
                "--run-dir".into(),
                self.run_dir.join(self.name).display().to_string(),
            ],
            Backend::Docker { .. } => Vec::new(),
        }
    }

    /// `restart-command`, quoted for its shell-like splitting.
    pub fn restart_command(&self) -> String {
        self.restart_words()
            .iter()
            .map(|w| quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the app on the checked-out commit (the VM as it was before lastgood).
    pub fn start(&self, log: &super::step::Log) -> Result {
        self.start_showing(log, &format!("starting {}", self.name))
    }

    /// [`Env::start`] with the progress line `label` (none when empty).
    pub fn start_showing(&self, log: &super::step::Log, label: &str) -> Result {
        let cmd = match (&self.backend, &self.project) {
            (Backend::Docker { .. }, Some(p)) => p.command(&["up", "-d"]),
            _ => {
                let words = self.restart_words();
                let mut cmd = Command::new(&words[0]);
                cmd.args(&words[1..]).current_dir(&self.checkout);
                cmd
            }
        };
        let code = super::step::run_logged(cmd, log, label)?;
        if code != 0 {
            return Err(Failure::new(format!(
                "could not start {} (exit {code}); see the log",
                self.name
            )));
        }
        Ok(())
    }

    /// Stops the app (an outage, for the hourly probe to find).
    pub fn stop(&self, log: &super::step::Log) -> Result {
        match (&self.backend, &self.project) {
            (Backend::Docker { .. }, Some(p)) => {
                let code = super::step::run_logged(
                    p.command(&["stop", "-t", "1"]),
                    log,
                    &format!("stopping {}", self.name),
                )?;
                if code != 0 {
                    return Err(Failure::new(format!("could not stop {}", self.name)));
                }
            }
            (Backend::Streamlit { python }, _) => {
                let mut cmd = Command::new(python);
                cmd.args(["serve.py", "stop", "--run-dir"])
                    .arg(self.run_dir.join(self.name))
                    .current_dir(&self.checkout);
                super::step::run_logged(cmd, log, &format!("stopping {}", self.name))?;
            }
            _ => {
                let pid_file = self.run_dir.join(format!("{}.pid", self.name));
                if let Some(pid) = read_pid(&pid_file) {
                    cleanup::stop(pid, Duration::from_secs(5));
                }
            }
        }
        Ok(())
    }

    /// Waits until the app answers its health URL with 200 (up to 60 s).
    pub fn wait_up(&self, path: &str) -> Result {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if cleanup::interrupted() {
                return Err(Failure::with_code("interrupted", 130));
            }
            if http_get(self.port, path).is_some_and(|(s, _)| s == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Failure::new(format!(
            "{} never answered {} within 60s; see the log",
            self.name,
            self.url(path)
        )))
    }

    /// The SHA the app says it serves at `path` (its health gate's URL, which must name it), if
    /// it answers.
    pub fn serving(&self, path: &str) -> Option<String> {
        served_sha(self.port, path)
    }
}

/// The compose file of an environment, as in the seed (`docker-compose-preprod.yml`).
pub fn compose_file(env: &str) -> &'static str {
    if env == "prod" {
        "docker-compose-prod.yml"
    } else {
        "docker-compose-preprod.yml"
    }
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure::new(format!("no free loopback port: {e}")))
}

/// The first 40-hex word of `GET path` answered with 200: the commit the app serves.
pub fn served_sha(port: u16, path: &str) -> Option<String> {
    let (status, body) = http_get(port, path)?;
    if status != 200 {
        return None;
    }
    first_sha(&body)
}

/// The first 40-hex word of `text`.
fn first_sha(text: &str) -> Option<String> {
    if let Some(sha) = text
        .lines()
        .find_map(|l| l.strip_prefix("revision:"))
        .map(str::trim)
        .filter(|s| s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Some(sha.to_owned());
    }
    text.split(|c: char| !c.is_ascii_hexdigit())
        .find(|w| w.len() == 40)
        .map(str::to_owned)
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A word for `restart-command`'s shell-like splitting: as is when plain, else single-quoted.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `xtask demo __restart-app --env E --port P --bin APP --run-dir DIR`, run by deploy-sha and
/// ci-watcher as `restart-command` in the checkout: stops the app's previous process (pid file),
/// starts the app on the checkout in a process group of its own, output to `DIR/<env>-app.log`,
/// records its pid, and returns at once, as `docker compose up -d` does. A commit that fails
/// at start-up exits on its own; the health gate finds it down.
pub fn restart_helper(args: &[&str]) -> Result {
    let mut env = None;
    let mut port = None;
    let mut bin = None;
    let mut run_dir = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| Failure::with_code(format!("{flag} needs a value"), 2))?;
        match *flag {
            "--env" => env = Some(*value),
            "--port" => port = Some(*value),
            "--bin" => bin = Some(PathBuf::from(value)),
            "--run-dir" => run_dir = Some(PathBuf::from(value)),
            _ => return Err(Failure::with_code(format!("unknown option {flag}"), 2)),
        }
    }
    let (Some(env), Some(port), Some(bin), Some(run_dir)) = (env, port, bin, run_dir) else {
        return Err(Failure::with_code(
            "usage: xtask demo __restart-app --env E --port P --bin APP --run-dir DIR",
            2,
        ));
    };
    let checkout =
        std::env::current_dir().map_err(|e| Failure::new(format!("no current directory: {e}")))?;
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", run_dir.display())))?;
    let pid_file = run_dir.join(format!("{env}.pid"));
    if let Some(old) = read_pid(&pid_file)
        && cleanup::stop(old, Duration::from_secs(5))
    {
        eprintln!("stopped {env} (pid {old})");
    }
    // A restart stopped between starting the app and recording its pid left it running
    // unrecorded: stop every process of the app's program in this checkout (as compose
    // replaces the container, whatever happened before).
    let program = bin.canonicalize().unwrap_or_else(|_| bin.clone());
    for pid in cleanup::processes_in(&checkout) {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        if pid != std::process::id()
            && exe.as_deref() == Some(program.as_path())
            && cleanup::stop(pid, Duration::from_secs(5))
        {
            eprintln!("stopped an unrecorded {env} (pid {pid})");
        }
    }
    let log_path = run_dir.join(format!("{env}-app.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Failure::new(format!("cannot open {}: {e}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Failure::new(format!("cannot open {}: {e}", log_path.display())))?;
    use std::os::unix::process::CommandExt;
    let child = Command::new(&bin)
        .env("APP_DIR", &checkout)
        .env("APP_ENV", env)
        .env("PORT", port)
        .env("BIND_ADDRESS", "127.0.0.1")
        .current_dir(&checkout)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .spawn()
        .map_err(|e| Failure::new(format!("cannot start {}: {e}", bin.display())))?;
    let tmp = run_dir.join(format!("{env}.pid.tmp"));
    std::fs::write(&tmp, format!("{}\n", child.id()))
        .and_then(|()| std::fs::rename(&tmp, &pid_file))
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", pid_file.display())))?;
    eprintln!(
        "started {env} on port {port} (pid {}), log {}",
        child.id(),
        log_path.display()
    );
    Ok(())
}

/// What an environment serves at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// Nothing answers.
    Down,
    /// This SHA answers; `healthy` when its health URL says 200.
    Up {
        /// The SHA (the `revision:` line of the health gate's record), empty if unknown.
        sha: String,
        /// Health answered 200.
        healthy: bool,
    },
}

/// A change seen by the sampler: when (since the story started), where, what serves.
pub type Change = (Duration, &'static str, Serving);

/// Samples both environments every 150 ms, keeping the changes.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    changes: Arc<Mutex<Vec<Change>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `envs` (name, port) at the health gate's `path` (200 when healthy, the
    /// SHA in its body), times relative to `start`.
    pub fn start(envs: Vec<(&'static str, u16)>, path: String, start: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let changes = Arc::clone(&changes);
            std::thread::spawn(move || {
                let mut last: Vec<Option<Serving>> = vec![None; envs.len()];
                while !stop.load(Ordering::SeqCst) {
                    for (i, (name, port)) in envs.iter().enumerate() {
                        let now = match http_get(*port, &path) {
                            None => Serving::Down,
                            Some((status, body)) => Serving::Up {
                                sha: first_sha(&body).unwrap_or_default(),
                                healthy: status == 200,
                            },
                        };
                        if last[i].as_ref() != Some(&now) {
                            if let Ok(mut c) = changes.lock() {
                                c.push((start.elapsed(), *name, now.clone()));
                            }
                            last[i] = Some(now);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
        };
        Sampler {
            stop,
            changes,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the changes, in order.
    pub fn finish(mut self) -> Vec<Change> {
        // One more round, so the last state (e.g. an app just recovered) is seen.
        std::thread::sleep(Duration::from_millis(400));
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.changes.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_command_words_survive_the_split() {
        assert_eq!(quote("/a/b-c.d"), "/a/b-c.d");
        assert_eq!(quote("/my dir/it's"), r"'/my dir/it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
