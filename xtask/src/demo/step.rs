//! One workflow step that runs a lastgood binary, as the composite action does it: every input
//! of the action's spec in `INPUT_*` (the `with:` value, else the action's default, else empty),
//! the runner's variables (`GITHUB_ACTIONS`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, …), and the
//! outputs read back from `GITHUB_OUTPUT`. The binary's stdout and stderr go to the demo's log
//! (and to the terminal with `--verbose`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lastgood_core::spec::ActionSpec;
use rustix::process::{Pid, Signal};

use super::cleanup;
use super::show::Progress;
use crate::util::scrubbed;
use crate::{Failure, Result};

/// The demo's log file, shared by every step (and live on stderr with `--verbose`).
#[derive(Clone)]
pub struct Log {
    file: Arc<Mutex<File>>,
    path: PathBuf,
    verbose: bool,
}

impl Log {
    /// Creates (truncates) the log at `path`.
    pub fn create(path: &Path, verbose: bool) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        let file = File::create(path)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", path.display())))?;
        Ok(Log {
            file: Arc::new(Mutex::new(file)),
            path: path.to_path_buf(),
            verbose,
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether logs are also shown live.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Appends a line (and shows it with `--verbose`).
    pub fn line(&self, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{line}");
        }
        if self.verbose {
            eprintln!("    │ {line}");
        }
    }

    /// Appends a file's content (a detached watcher's log), framed.
    pub fn append_file(&self, title: &str, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        self.line(&format!("---- {title} ({}) ----", path.display()));
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(text.as_bytes());
        }
        self.line("---- end ----");
    }
}

/// The runner a step runs in: where its files go and the variables every step gets.
pub struct Runner {
    /// Where the binaries are.
    pub bin_dir: PathBuf,
    /// Where `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files go.
    pub dir: PathBuf,
    /// The log.
    pub log: Log,
    /// Variables of every step (`GITHUB_*`, `RUNNER_*`).
    pub env: Vec<(String, String)>,
    /// Numbers the steps' files.
    pub counter: usize,
    /// The inputs given to the last step (as `with:` named them).
    pub last_inputs: BTreeMap<String, String>,
}

/// What a step left: exit code, outputs, summary, duration.
#[derive(Debug, Default)]
pub struct StepRun {
    /// The exit code (-1 when killed).
    pub code: i32,
    /// The outputs, from `GITHUB_OUTPUT`.
    pub outputs: BTreeMap<String, String>,
    /// The Markdown the step appended to `GITHUB_STEP_SUMMARY`.
    pub summary: String,
    /// How long it ran.
    pub took: Duration,
}

impl StepRun {
    /// An output, empty when absent (as `steps.x.outputs.y` reads in a workflow).
    pub fn out(&self, name: &str) -> &str {
        self.outputs.get(name).map_or("", String::as_str)
    }
}

impl Runner {
    /// Runs `spec`'s binary as `uses: lastgood/lastgood/actions/<name>@v0` with `with`, plus the
    /// job's `env` (e.g. compose variables). An input `with` names that the action lacks is a bug
    /// of the demo, refused.
    pub fn run(
        &mut self,
        spec: &'static ActionSpec,
        with: &[(String, String)],
        env: &[(String, String)],
        title: &str,
    ) -> Result<StepRun> {
        self.last_inputs = with.iter().cloned().collect();
        for (name, _) in with {
            if spec.input(name).is_none() {
                return Err(Failure::new(format!(
                    "demo bug: the {} action has no input `{name}`",
                    spec.name
                )));
            }
        }
        self.counter += 1;
        let output = self
            .dir
            .join(format!("{:02}-{}.output", self.counter, spec.name));
        let summary = self
            .dir
            .join(format!("{:02}-{}.summary", self.counter, spec.name));
        for f in [&output, &summary] {
            File::create(f)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", f.display())))?;
        }
        let mut cmd = scrubbed(&self.bin_dir.join(spec.name));
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let mut shown = Vec::new();
        for input in spec.inputs {
            let value = with
                .iter()
                .find(|(n, _)| *n == input.name)
                .map(|(_, v)| v.clone())
                .or_else(|| input.default.map(str::to_owned))
                .unwrap_or_default();
            if with.iter().any(|(n, _)| *n == input.name) {
                shown.push(format!(
                    "{}={}",
                    input.env_var(),
                    if input.secret { "***" } else { value.as_str() }.replace('\n', "\\n")
                ));
            }
            cmd.env(input.env_var(), value);
        }
        self.log.line(&format!("==> {title}: {}", spec.name));
        self.log.line(&format!("    with {}", shown.join(" ")));
        let started = Instant::now();
        let code = run_logged(cmd, &self.log, title)?;
        let took = started.elapsed();
        let outputs = lastgood_testkit::outputs::read(&output);
        self.log
            .line(&format!("    exit {code}, outputs {outputs:?}"));
        Ok(StepRun {
            code,
            outputs,
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
            took,
        })
    }
}

/// Runs `cmd` with its stdout and stderr in the log; shows a progress line `label` while it
/// runs (none when `label` is empty); on
/// Ctrl-C, waits for it (it got the signal too) and stops it if it lingers.
pub fn run_logged(mut cmd: Command, log: &Log, label: &str) -> Result<i32> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        Failure::new(format!(
            "cannot run {}: {e}",
            cmd.get_program().to_string_lossy()
        ))
    })?;
    let done = pipe_to_log(&mut child, log);
    // An empty label: no progress line (another one is drawn for the same wait).
    let mut progress = Progress::new(label.to_owned(), !log.verbose() && !label.is_empty());
    let mut stop_sent: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(Failure::new(format!("cannot wait for {label}: {e}"))),
        }
        if cleanup::interrupted() {
            match stop_sent {
                None => {
                    // A terminal's Ctrl-C reached it too; a SIGTERM sent to the demo alone did not.
                    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
                        let _ = rustix::process::kill_process(pid, Signal::TERM);
                    }
                    stop_sent = Some(Instant::now());
                }
                Some(at) if at.elapsed() > Duration::from_secs(10) => {
                    let _ = child.kill();
                }
                Some(_) => {}
            }
        }
        progress.tick();
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(progress);
    // Output still buffered in the pipes reaches the log; a grandchild holding a pipe open
    // (none should) does not hold the demo.
    for _ in 0..2 {
        let _ = done.recv_timeout(Duration::from_secs(2));
    }
    if cleanup::interrupted() {
        return Err(Failure::with_code("interrupted", 130));
    }
    Ok(status.code().unwrap_or(-1))
}

/// Copies the child's stdout and stderr to the log, line by line, on two threads; each sends on
/// the channel when its pipe closes.
fn pipe_to_log(child: &mut Child, log: &Log) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    let readers: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for reader in readers {
        let log = log.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                match line {
                    Ok(line) => log.line(&format!("  {line}")),
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
    }
    rx
}
