//! Everything the demo makes is undone: on success, on failure, and on Ctrl-C.
//!
//! SIGINT, SIGTERM and SIGHUP only raise a flag (signal-hook's safe `flag` API); the story
//! checks it while it waits and unwinds, and [`Guard`]'s `Drop` stops the processes the demo
//! started (the detached watchers and the apps, which run in sessions or process groups of their
//! own so the terminal's Ctrl-C never reaches them), takes the compose projects down (containers
//! and networks) and removes the scratch directory. A second Ctrl-C exits at once.
//!
//! A run killed outright (SIGKILL) cannot clean up: the next run finds its scratch directory
//! (`demo-<pid>` of a dead pid) and removes what it left, the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Catches SIGINT, SIGTERM and SIGHUP from now on (a second one ends the process at once).
pub fn catch_signals() {
    let flag = INTERRUPTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        // Order matters: the conditional exit sees the flag set by the first signal only.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag));
        let _ = signal_hook::flag::register(signal, Arc::clone(flag));
    }
}

/// Whether a signal asked the demo to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(Ordering::SeqCst))
}

/// Whether process `pid` is alive (a zombie is not).
pub fn alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    if rustix::process::test_kill_process(p).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S …`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// SIGTERM, then SIGKILL if `pid` is still alive after `grace`. Returns whether it was alive.
pub fn stop(pid: u32, grace: Duration) -> bool {
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    if !alive(pid) {
        return false;
    }
    let _ = rustix::process::kill_process(p, Signal::TERM);
    let start = Instant::now();
    while alive(pid) && start.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
    true
}

/// A compose project the demo started.
#[derive(Debug, Clone)]
pub struct Project {
    /// `docker compose` or `docker-compose`.
    pub compose: Vec<String>,
    /// `COMPOSE_PROJECT_NAME`.
    pub name: String,
    /// The compose file.
    pub file: PathBuf,
    /// The variables its file needs.
    pub vars: Vec<(String, String)>,
}

impl Project {
    /// `<compose> -p <name> -f <file> <args>` with the project's variables.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    fn down(&self) {
        let _ = self
            .command(&["down", "-v", "--remove-orphans", "-t", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What to undo, undone on drop.
pub struct Guard {
    dir: PathBuf,
    /// Detached watchers, by pid.
    pub watchers: Vec<u32>,
    /// Compose projects.
    pub projects: Vec<Project>,
    /// Whether the summary line is printed.
    pub quiet: bool,
}

impl Guard {
    /// A guard for the scratch directory `dir` (created now, emptied first).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        Ok(Guard {
            dir: dir.to_path_buf(),
            watchers: Vec::new(),
            projects: Vec::new(),
            quiet: false,
        })
    }

    /// The scratch directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Undoes everything; returns what was removed, for one line of report.
    pub fn clean(&mut self) -> String {
        let mut processes = 0;
        for pid in std::mem::take(&mut self.watchers) {
            processes += usize::from(stop(pid, Duration::from_secs(3)));
        }
        processes += stop_processes_under(&self.dir);
        let projects = std::mem::take(&mut self.projects);
        for p in &projects {
            p.down();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let mut parts = vec![format!("{processes} process(es) stopped")];
        if !projects.is_empty() {
            parts.push(format!(
                "{} compose project(s) down (containers and networks)",
                projects.len()
            ));
        }
        parts.push(format!("{} removed", self.dir.display()));
        parts.join(", ")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let report = self.clean();
        if !self.quiet {
            println!("cleaned up: {report}");
        }
    }
}

/// Stops every process whose pid file is under `dir/run/` or (on Linux) whose working directory
/// is inside `dir`: the apps (run in their checkout) and the detached watchers (run in their
/// state directory). Returns how many were alive.
pub fn stop_processes_under(dir: &Path) -> usize {
    // `run/<env>.pid` (the sample app), `run/<env>/serve.pid` (the Streamlit example).
    let run = dir.join("run");
    let mut files: Vec<PathBuf> = Vec::new();
    for e in std::fs::read_dir(&run).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            files.extend(
                std::fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else {
            files.push(e.path());
        }
    }
    let mut pids: Vec<u32> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "pid"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    pids.extend(processes_in(dir));
    pids.sort_unstable();
    pids.dedup();
    pids.retain(|&p| p != std::process::id());
    pids.into_iter()
        .filter(|&pid| stop(pid, Duration::from_secs(3)))
        .count()
}

/// Linux: the pids whose current directory is inside `dir`.
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            (cwd.starts_with(&dir) && alive(pid)).then_some(pid)
        })
        .collect()
}

/// Removes what earlier demos killed outright left behind: `demo-<pid>` directories of dead
/// pids under `parent`, their processes and their compose projects (`lastgood-demo-<pid>-…`).
pub fn sweep(parent: &Path, compose: Option<&[String]>) -> usize {
    let mut swept = 0;
    for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("demo-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        stop_processes_under(&entry.path());
        let _ = std::fs::remove_dir_all(entry.path());
        swept += 1;
    }
    if let Some(compose) = compose {
        for project in stale_projects() {
            let mut cmd = Command::new(&compose[0]);
            let _ = cmd
                .args(&compose[1..])
                .args(["-p", &project, "down", "-v", "--remove-orphans", "-t", "1"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            swept += 1;
        }
    }
    swept
}

/// Compose projects `lastgood-demo-<pid>-<env>` whose pid is dead.
fn stale_projects() -> Vec<String> {
    let Ok(out) = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            "{{.Label \"com.docker.compose.project\"}}",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let mut projects: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|p| {
            p.strip_prefix("lastgood-demo-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| pid != std::process::id() && !alive(pid))
        })
        .map(str::to_owned)
        .collect();
    projects.sort();
    projects.dedup();
    projects
}
