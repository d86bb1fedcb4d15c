//! Restarting the app after its checkout moved: docker compose (v2 or v1) or any command.
//!
//! Behaviour, for the docs:
//! - `docker compose` (v2) is used when `docker compose version` succeeds, else `docker-compose`
//!   (v1) when `docker-compose version` does; neither → exit 3, checked before the checkout moves.
//! - `restart-mode: recreate` runs `up -d --force-recreate [--build] [service]`: unlike `restart`,
//!   it applies changes to the compose file, the image and `.env`. `--build` is added when one of
//!   the compose files has a `build:` key, found by a plain text scan (the binaries carry no YAML
//!   parser): a line whose first word is `build:`, outside comments. Without `compose-file`, the
//!   files compose reads by default are scanned (`compose.yaml`, `compose.yml`,
//!   `docker-compose.yml`, `docker-compose.yaml` and their `.override` variants).
//! - `restart-mode: restart` runs the seed's `restart [service]`.
//! - Compose files are passed with `-f` in the order given; commands run in `app-dir`.
//! - `restart-command` is split into words like a shell would (quotes respected; unbalanced quotes
//!   are refused), then run directly, never through a shell, in `app-dir`, with `LASTGOOD_SHA`
//!   (the SHA being put in service) and `LASTGOOD_ENVIRONMENT` set. Its program must exist before
//!   anything changes (exit 3 otherwise).
//! - The secrets (`INPUT_TOKEN`, `INPUT_WEBHOOK_URL`, `GITHUB_TOKEN`) are removed from the restart's
//!   environment.
//! - Output is streamed to the log, held in memory while the restart runs (a full state disk
//!   never fails the program's writes), and kept in `logs/restart.log` of the state directory
//!   (the last restart's, best effort); its tail is kept: a non-zero exit is a failed deploy (and a
//!   rollback), with the last lines of output in the failure reason.
//! - The restart runs in its own process group. One still running after `restart-timeout`
//!   (default 5m) gets SIGTERM (the whole group), then SIGKILL after a short grace: a hung
//!   `docker compose up` never holds the environment lock forever. A timed-out restart is a
//!   failed restart (so a rollback), its reason says so. Processes the restart leaves behind
//!   after exiting in time are not touched.

use std::collections::VecDeque;
use std::fs::File;
#[cfg(not(target_os = "linux"))]
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::base::time::format_duration;
use crate::platform::cancel;
use crate::platform::process::Ended;
use crate::platform::process::spawn_group;
use crate::platform::process::wait_group;
use crate::platform::process::without_secrets;
use crate::platform::state::write_atomic;

/// How compose restarts the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartMode {
    /// `up -d --force-recreate` (plus `--build` where the compose file builds).
    Recreate,
    /// `restart`.
    Restart,
}

impl RestartMode {
    /// `recreate` or `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartMode::Recreate => "recreate",
            RestartMode::Restart => "restart",
        }
    }
}

/// How the app is restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// docker compose with these files (relative to `app-dir`; empty: compose's defaults).
    Compose {
        /// The `-f` files, in order.
        files: Vec<PathBuf>,
        /// Only this service.
        service: Option<String>,
        /// recreate or restart.
        mode: RestartMode,
    },
    /// A command run directly (program, arguments).
    Command(Vec<String>),
}

/// Which compose program runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ComposeFlavour {
    /// `docker compose` (the v2 plugin).
    V2,
    /// `docker-compose` (v1, standalone).
    V1,
}

impl ComposeFlavour {
    /// The program and the first arguments.
    pub(crate) fn base(&self) -> Vec<String> {
        match self {
            ComposeFlavour::V2 => vec!["docker".to_owned(), "compose".to_owned()],
            ComposeFlavour::V1 => vec!["docker-compose".to_owned()],
        }
    }
}

/// Compose's default file names, scanned for `build:` when no `compose-file` is given.
const DEFAULT_COMPOSE_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// Splits `restart-command` into words like a shell (quotes respected), for running without one.
///
/// Unbalanced quotes or an empty command → [`Error::Input`] naming `input`.
pub(crate) fn split_command(text: &str, input: &str) -> Result<Vec<String>> {
    let words = shlex::split(text).ok_or_else(|| {
        Error::input(
            input,
            format!("`{text}` has unbalanced quotes or a trailing backslash"),
        )
    })?;
    if words.is_empty() {
        return Err(Error::input(input, "is empty"));
    }
    Ok(words)
}

/// A restart ready to run: its tools were found.
#[derive(Debug, Clone)]
pub struct Restarter {
    restart: Restart,
    flavour: Option<ComposeFlavour>,
}

impl Restart {
    /// Finds the tools the restart needs (compose flavour, or the command's program) before
    /// anything changes: missing → [`Error::Command`] (exit 3).
    pub fn prepare(&self, app_dir: &Path) -> Result<Restarter> {
        let flavour = match self {
            Restart::Compose { .. } => Some(detect_compose(app_dir)?),
            Restart::Command(words) => {
                let program = words.first().map_or("", String::as_str);
                if find_program(program, app_dir).is_none() {
                    return Err(Error::Command(format!(
                        "`restart-command`: program `{program}` not found (in PATH or relative to {}); install it or fix the command",
                        app_dir.display()
                    )));
                }
                None
            }
        };
        Ok(Restarter {
            restart: self.clone(),
            flavour,
        })
    }
}

/// Where the docker CLI looks for its plugins (`docker compose` is the `docker-compose` plugin):
/// the user's `$DOCKER_CONFIG/cli-plugins` (default `~/.docker/cli-plugins`), then the system's.
fn compose_plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(config) => dirs.push(PathBuf::from(config).join("cli-plugins")),
        None => {
            if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                dirs.push(PathBuf::from(home).join(".docker/cli-plugins"));
            }
        }
    }
    for system in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        dirs.push(PathBuf::from(system));
    }
    dirs
}

/// `docker compose` (v2) if the docker CLI and its compose plugin are installed, else
/// `docker-compose` (v1, or v2's standalone binary) if it is in `PATH`, else `docker compose`
/// if `docker compose version` runs (a plugin installed elsewhere).
///
/// Found by looking at files, not by running the tools: `docker-compose version` alone costs a
/// Python start-up (a second or more on a busy runner), on every deploy and rollback.
fn detect_compose(app_dir: &Path) -> Result<ComposeFlavour> {
    let docker = find_program("docker", app_dir).is_some();
    if docker
        && compose_plugin_dirs()
            .iter()
            .any(|d| d.join("docker-compose").is_file())
    {
        return Ok(ComposeFlavour::V2);
    }
    if find_program("docker-compose", app_dir).is_some() {
        return Ok(ComposeFlavour::V1);
    }
    // Without the secrets: the action's environment holds the job token.
    let works = |program: &str, args: &[&str]| {
        without_secrets(&mut Command::new(program))
            .args(args)
            .current_dir(app_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if docker && works("docker", &["compose", "version"]) {
        Ok(ComposeFlavour::V2)
    } else {
        Err(Error::Command(
            "neither `docker compose` (v2) nor `docker-compose` (v1) runs here; install Docker Compose on the runner or use `restart-command`"
                .to_owned(),
        ))
    }
}

/// Where `program` is: a path (relative to `dir` when relative) if it contains `/`, else the
/// first match in `PATH`.
fn find_program(program: &str, dir: &Path) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let p = dir.join(program);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether compose text has a `build:` key (a line whose first word is `build:`).
fn has_build_key(yaml: &str) -> bool {
    yaml.lines().any(|line| {
        let t = line.trim_start().trim_start_matches("- ").trim_start();
        t.strip_prefix("build")
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
            || t.starts_with("\"build\":")
            || t.starts_with("'build':")
    })
}

impl Restarter {
    /// The argument vector that will run (program first), reading the compose files in
    /// `app_dir` as they are now (after the checkout moved).
    pub fn argv(&self, app_dir: &Path) -> Vec<String> {
        match (&self.restart, &self.flavour) {
            (Restart::Command(words), _) => words.clone(),
            (
                Restart::Compose {
                    files,
                    service,
                    mode,
                },
                flavour,
            ) => {
                let mut argv = flavour.as_ref().unwrap_or(&ComposeFlavour::V1).base();
                for f in files {
                    argv.push("-f".to_owned());
                    argv.push(f.to_string_lossy().into_owned());
                }
                match mode {
                    RestartMode::Recreate => {
                        argv.extend(["up", "-d", "--force-recreate"].map(str::to_owned));
                        let scanned: Vec<PathBuf> = if files.is_empty() {
                            DEFAULT_COMPOSE_FILES.iter().map(PathBuf::from).collect()
                        } else {
                            files.clone()
                        };
                        let builds = scanned.iter().any(|f| {
                            std::fs::read_to_string(app_dir.join(f))
                                .is_ok_and(|text| has_build_key(&text))
                        });
                        if builds {
                            argv.push("--build".to_owned());
                        }
                    }
                    RestartMode::Restart => argv.push("restart".to_owned()),
                }
                if let Some(s) = service {
                    argv.push(s.clone());
                }
                argv
            }
        }
    }

    /// Runs the restart in `app_dir`, streaming each output line to `log`. `Ok(Err(reason))`
    /// when it ran and failed (the reason holds the output's tail); `Err` when it could not start.
    ///
    /// The output is also written to `capture` (replaced), which stays as the last restart's log.
    pub fn run(
        &self,
        app_dir: &Path,
        env: &[(&str, &str)],
        capture: &Path,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<std::result::Result<(), String>> {
        self.run_with_timeout(app_dir, env, capture, log, None)
    }

    /// [`Restarter::run`], killing the restart (its whole process group) when it runs longer
    /// than `timeout`: then `Ok(Err(reason))`, the reason saying it timed out.
    pub fn run_with_timeout(
        &self,
        app_dir: &Path,
        env: &[(&str, &str)],
        capture: &Path,
        log: &(dyn Fn(&str) + Sync),
        timeout: Option<Duration>,
    ) -> Result<std::result::Result<(), String>> {
        let argv = self.argv(app_dir);
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Command("empty restart command".to_owned()))?;
        log(&format!("$ {}", shell_words(&argv)));
        let program_path = if program.contains('/') {
            // Absolute: a relative path would be resolved against the child's directory.
            std::path::absolute(app_dir.join(program)).unwrap_or_else(|_| app_dir.join(program))
        } else {
            PathBuf::from(program)
        };
        // Output goes to a file, not a pipe: a restart that leaves a background process behind
        // (holding its stdout) must not keep us waiting once it has exited.
        let result = run_captured(&program_path, args, app_dir, env, capture, log, timeout);
        let (status, lines, ended) =
            result.map_err(|e| Error::Command(format!("cannot run `{program}`: {e}")))?;
        if ended == Ended::Cancelled {
            let reason = format!(
                "the restart `{}` was stopped (its whole process group): the job was cancelled by {}",
                shell_words(&argv),
                cancel::requested().unwrap_or("a signal")
            );
            log(&reason);
            return Err(Error::Cancelled(reason));
        }
        let timed_out = ended == Ended::TimedOut;
        if let Some(limit) = timeout.filter(|_| timed_out) {
            let reason = format!(
                "restart `{}` did not finish within {} and was killed; find out why it hangs (its output is in {}) or raise `restart-timeout`",
                shell_words(&argv),
                format_duration(limit),
                capture.display()
            );
            log(&reason);
            return Ok(Err(reason));
        }
        if status.success() {
            return Ok(Ok(()));
        }
        let tail: Vec<&str> = lines
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .map(|l| cut(l, 500))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let mut reason = format!("restart `{}` failed ({status})", shell_words(&argv));
        if !tail.is_empty() {
            reason.push_str(": ");
            reason.push_str(&tail.join(" | "));
        }
        Ok(Err(reason))
    }
}

/// How many output lines are kept for the failure reason.
const KEPT_LINES: usize = 50;

/// The longest line kept or logged: longer runs without a newline are cut into pieces of this.
const MAX_LINE: usize = 4096;

/// How much of the restart's output is streamed to the log; the rest is only in the capture.
const LOGGED_LIMIT: usize = 1 << 20;

/// How much of the restart's output the capture file (`logs/restart.log`) keeps: its end.
pub(crate) const CAPTURE_LIMIT: u64 = 1 << 20;

/// Runs the program with stdout and stderr into `capture`, logging new lines as they come,
/// until the program exits, `timeout` passes or the job is cancelled (then its process group is
/// stopped); returns its status, the last lines and why it ended.
///
/// Whatever the program prints, memory and disk stay bounded: output is read in chunks, a line
/// longer than [`MAX_LINE`] is cut, at most [`LOGGED_LIMIT`] bytes are logged, and the capture
/// keeps its last [`CAPTURE_LIMIT`] bytes (the part already read is released while it runs).
fn run_captured(
    program: &Path,
    args: &[String],
    dir: &Path,
    env: &[(&str, &str)],
    capture: &Path,
    log: &(dyn Fn(&str) + Sync),
    timeout: Option<Duration>,
) -> std::io::Result<(ExitStatus, VecDeque<String>, Ended)> {
    let file = output_file(capture)?;
    let mut command = Command::new(program);
    without_secrets(&mut command)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file.try_clone()?);
    // Its own process group, so that a timeout kills what it started too.
    let mut child = spawn_group(&mut command)?;
    let mut out = Output {
        pending: Vec::new(),
        lines: VecDeque::new(),
        logged: 0,
        read: 0,
        released: 0,
    };
    let mut chunk = vec![0u8; 64 * 1024];
    let (status, ended) = wait_group(&mut child, timeout, |exited| {
        loop {
            // At our own offset: the program's writes go on at theirs.
            let n = file.read_at(&mut chunk, out.read)?;
            if n == 0 {
                break;
            }
            out.read += n as u64;
            out.take(&chunk[..n], log);
        }
        out.release(&file);
        if exited && !out.pending.is_empty() {
            let rest = std::mem::take(&mut out.pending);
            out.line(&rest, log);
        }
        Ok(())
    })?;
    if let Err(e) = keep_tail(capture, &file, out.read) {
        // The restart's result does not depend on the state disk: its output was logged.
        log(&format!(
            "warning: cannot keep the restart's output in {} ({e})",
            capture.display()
        ));
    }
    Ok((status, out.lines, ended))
}

/// Where the restart's stdout and stderr go while it runs: a file in memory (Linux), never on
/// the state disk, so that a full state disk does not fail the program's own writes; its tail
/// is copied to `capture` afterwards. A file, not a pipe: a restart that leaves a background
/// process behind (holding its stdout) must not keep us waiting once it has exited.
fn output_file(capture: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        let _ = capture;
        let fd = rustix::fs::memfd_create("lastgood-restart", rustix::fs::MemfdFlags::CLOEXEC)?;
        Ok(File::from(fd))
    }
    #[cfg(not(target_os = "linux"))]
    {
        if let Some(parent) = capture.parent() {
            std::fs::create_dir_all(parent)?;
        }
        tempfile_next_to(capture)
    }
}

#[cfg(not(target_os = "linux"))]
fn tempfile_next_to(capture: &Path) -> std::io::Result<File> {
    let path = capture.with_extension("running");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// What has been read of the restart's output.
struct Output {
    pending: Vec<u8>,
    lines: VecDeque<String>,
    logged: usize,
    read: u64,
    released: u64,
}

impl Output {
    fn take(&mut self, bytes: &[u8], log: &(dyn Fn(&str) + Sync)) {
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            let complete = part.ends_with(b"\n");
            let part = if complete {
                &part[..part.len() - 1]
            } else {
                part
            };
            let room = MAX_LINE.saturating_sub(self.pending.len());
            self.pending
                .extend_from_slice(&part[..part.len().min(room)]);
            if complete || self.pending.len() >= MAX_LINE {
                if !complete {
                    // A line without an end: cut it and drop what follows until its newline.
                    self.pending.extend_from_slice("…".as_bytes());
                }
                let line = std::mem::take(&mut self.pending);
                self.line(&line, log);
            }
        }
    }

    fn line(&mut self, bytes: &[u8], log: &(dyn Fn(&str) + Sync)) {
        let line = String::from_utf8_lossy(bytes).trim_end().to_owned();
        if self.logged < LOGGED_LIMIT {
            self.logged += line.len() + 1;
            if self.logged >= LOGGED_LIMIT {
                log(&format!(
                    "… the restart's output goes on; only its last {} KiB are kept, in the restart log",
                    CAPTURE_LIMIT / 1024
                ));
            } else {
                log(&line);
            }
        }
        if self.lines.len() == KEPT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// Gives the disk back for what was read, except the last [`CAPTURE_LIMIT`] bytes (Linux:
    /// a hole punched in the file; the program's writes go on at their offset).
    fn release(&mut self, file: &File) {
        let keep_from = self.read.saturating_sub(CAPTURE_LIMIT) & !0xfff;
        if keep_from > self.released {
            let _ = rustix::fs::fallocate(
                file,
                rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
                self.released,
                keep_from - self.released,
            );
            self.released = keep_from;
        }
    }
}

/// Writes the restart's output (`len` bytes of `output`) to `capture`: its last
/// [`CAPTURE_LIMIT`] bytes.
fn keep_tail(capture: &Path, output: &File, len: u64) -> std::io::Result<()> {
    let start = len.saturating_sub(CAPTURE_LIMIT);
    let mut tail = vec![0u8; usize::try_from(len - start).unwrap_or(0)];
    let mut done = 0;
    while done < tail.len() {
        match output.read_at(&mut tail[done..], start + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    tail.truncate(done);
    let mut text = if start > 0 {
        format!("[the first {start} bytes of the restart's output are not kept]\n").into_bytes()
    } else {
        Vec::new()
    };
    text.extend_from_slice(&tail);
    if let Some(parent) = capture.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(capture, &text).map_err(std::io::Error::other)
}

/// `line` cut to at most `max` bytes on a character boundary.
fn cut(line: &str, max: usize) -> &str {
    let mut end = line.len().min(max);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

/// Words joined for display, quoted where needed.
fn shell_words(words: &[String]) -> String {
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell_without_one() {
        assert_eq!(
            split_command(
                r#"systemctl restart "my app" 'a b' c\ d"#,
                "restart-command"
            )
            .unwrap(),
            vec!["systemctl", "restart", "my app", "a b", "c d"]
        );
        assert_eq!(
            split_command("echo $(touch pwned); rm -rf /", "restart-command").unwrap(),
            vec!["echo", "$(touch", "pwned);", "rm", "-rf", "/"],
            "no expansion, no separators: just words"
        );
        let err = split_command("echo 'unbalanced", "restart-command").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("`restart-command`"), "{err}");
        assert!(split_command("   ", "restart-command").is_err());
    }

    #[test]
    fn build_key_scan() {
        assert!(has_build_key("services:\n  app:\n    build: .\n"));
        assert!(has_build_key(
            "services:\n  app:\n    build:\n      context: .\n"
        ));
        assert!(!has_build_key(
            "services:\n  app:\n    image: x\n    # build: .\n    labels:\n      rebuild: no\n"
        ));
    }

    #[test]
    fn compose_argv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compose.yml"),
            "services:\n  web:\n    build: .\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("prod.yml"),
            "services:\n  web:\n    image: x\n",
        )
        .unwrap();
        let r = |files: &[&str], mode, flavour| Restarter {
            restart: Restart::Compose {
                files: files.iter().map(PathBuf::from).collect(),
                service: Some("web".to_owned()),
                mode,
            },
            flavour: Some(flavour),
        };
        assert_eq!(
            r(
                &["compose.yml", "prod.yml"],
                RestartMode::Recreate,
                ComposeFlavour::V2
            )
            .argv(dir.path())
            .join(" "),
            "docker compose -f compose.yml -f prod.yml up -d --force-recreate --build web"
        );
        assert_eq!(
            r(&["prod.yml"], RestartMode::Recreate, ComposeFlavour::V1)
                .argv(dir.path())
                .join(" "),
            "docker-compose -f prod.yml up -d --force-recreate web"
        );
        assert_eq!(
            r(&[], RestartMode::Restart, ComposeFlavour::V1)
                .argv(dir.path())
                .join(" "),
            "docker-compose restart web"
        );
        assert_eq!(
            r(&[], RestartMode::Recreate, ComposeFlavour::V1)
                .argv(dir.path())
                .join(" "),
            "docker-compose up -d --force-recreate --build web",
            "default files are scanned for build:"
        );
    }

    /// Found by `cargo xtask chaos` (seed 20261202, round 917): the restart's output went to
    /// `logs/restart.log` in the state directory, so on a full state disk the restart's own
    /// writes failed and a program that checks them (the rollback's restart) failed with them.
    #[test]
    fn a_full_state_disk_does_not_fail_the_restarts_own_writes() {
        let Some(fs) = lastgood_testkit::fs::SmallFs::mount(256) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let capture = fs.path().join("logs").join("restart.log");
        std::fs::create_dir_all(capture.parent().unwrap()).unwrap();
        fs.fill();
        let cmd = split_command("sh -c 'echo restarted || exit 7'", "x").unwrap();
        let restart = Restart::Command(cmd).prepare(dir.path()).unwrap();
        let logged = std::sync::Mutex::new(Vec::new());
        let ran = restart
            .run(dir.path(), &[], &capture, &|l| {
                logged.lock().unwrap().push(l.to_owned())
            })
            .unwrap();
        assert_eq!(
            ran,
            Ok(()),
            "the restart's echo failed on the full state disk"
        );
        assert!(logged.lock().unwrap().iter().any(|l| l == "restarted"));
        fs.free();
    }

    #[test]
    fn command_runs_without_a_shell_and_reports_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let ok = Restart::Command(vec!["true".to_owned()])
            .prepare(dir.path())
            .unwrap();
        assert_eq!(
            ok.run(dir.path(), &[], &dir.path().join("out.log"), &|_| {})
                .unwrap(),
            Ok(())
        );
        let fail = Restart::Command(split_command("sh -c 'echo boom >&2; exit 3'", "x").unwrap())
            .prepare(dir.path())
            .unwrap();
        let reason = fail
            .run(dir.path(), &[], &dir.path().join("out.log"), &|_| {})
            .unwrap()
            .unwrap_err();
        assert!(reason.contains("boom") && reason.contains('3'), "{reason}");
        // A background process left holding the output does not keep us waiting.
        let start = std::time::Instant::now();
        let bg = Restart::Command(split_command("sh -c 'sleep 30 & echo started'", "x").unwrap())
            .prepare(dir.path())
            .unwrap();
        let logged = std::sync::Mutex::new(Vec::new());
        let ran = bg
            .run(dir.path(), &[], &dir.path().join("out.log"), &|l| {
                logged.lock().unwrap().push(l.to_owned())
            })
            .unwrap();
        assert_eq!(ran, Ok(()));
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        assert!(logged.lock().unwrap().iter().any(|l| l == "started"));
        // A program relative to a relative app-dir.
        let app = dir.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(app.join("run.sh"), "#!/bin/sh\necho ran in \"$PWD\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(app.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let cwd = std::env::current_dir().unwrap();
        let ups = "../".repeat(cwd.components().count() - 1);
        let relative = PathBuf::from(format!(
            "{ups}{}",
            app.display().to_string().trim_start_matches('/')
        ));
        assert!(relative.is_relative());
        let r = Restart::Command(vec!["./run.sh".to_owned()])
            .prepare(&relative)
            .unwrap();
        let logged = std::sync::Mutex::new(Vec::new());
        let ran = r
            .run(&relative, &[], &dir.path().join("out.log"), &|l| {
                logged.lock().unwrap().push(l.to_owned())
            })
            .unwrap();
        assert_eq!(ran, Ok(()), "{:?}", logged.lock().unwrap());
        let missing = Restart::Command(vec!["no-such-program-xyz".to_owned()]).prepare(dir.path());
        assert_eq!(missing.unwrap_err().exit_code(), 3);
    }

    #[test]
    fn a_hung_restart_is_killed_with_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        // The restart starts a child of its own, then hangs waiting for it.
        let hung = Restart::Command(vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!(
                "echo hanging; sleep 600 & echo $! > '{}'; wait",
                pid_file.display()
            ),
        ])
        .prepare(dir.path())
        .unwrap();
        let start = std::time::Instant::now();
        let reason = hung
            .run_with_timeout(
                dir.path(),
                &[],
                &dir.path().join("out.log"),
                &|_| {},
                Some(Duration::from_millis(300)),
            )
            .unwrap()
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(30));
        assert!(
            reason.contains("did not finish within 300ms")
                && reason.contains("restart-timeout")
                && reason.contains("out.log"),
            "{reason}"
        );
        // The grandchild went with the group (reaped by init once killed).
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let stat = Path::new("/proc").join(pid.trim()).join("stat");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let alive = || {
            std::fs::read_to_string(&stat).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        while alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(), "the restart's child was left running");
        // In time: no interference.
        let quick = Restart::Command(vec!["true".to_owned()])
            .prepare(dir.path())
            .unwrap();
        assert_eq!(
            quick
                .run_with_timeout(
                    dir.path(),
                    &[],
                    &dir.path().join("out.log"),
                    &|_| {},
                    Some(Duration::from_secs(60)),
                )
                .unwrap(),
            Ok(())
        );
    }
}
