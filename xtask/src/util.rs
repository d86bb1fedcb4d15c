//! What every task needs: the repository root, cargo, running programs, the binary crates.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Failure, Result};

/// The repository root, found from this crate's manifest directory (`<root>/xtask`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the repository root, as
/// cargo reads it), else `<root>/target`. Every task that reads what cargo built, or writes
/// under `target/`, goes through here, so a user's `CARGO_TARGET_DIR` is honoured everywhere.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => project_root().join(dir),
        _ => project_root().join("target"),
    }
}

/// The workspace version, one for every crate.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The repository's URL, from `[workspace.package]`.
pub const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// A `cargo` command, through `$CARGO` (the cargo that runs xtask), at the repository root.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root());
    cmd
}

/// Runs `cmd`, showing it first; fails with its exit code when it fails.
pub fn run(cmd: &mut Command) -> Result {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|e| Failure::new(format!("cannot run {}: {e}", display(cmd))))?;
    if status.success() {
        Ok(())
    } else {
        let code = status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1);
        Err(Failure::with_code(
            format!("`{}` failed ({status})", display(cmd)),
            code.max(1),
        ))
    }
}

/// Runs `cmd` quietly and returns its stdout, trimmed; fails with its stderr.
pub fn read(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| Failure::new(format!("cannot run {}: {e}", display(cmd))))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(Failure::new(format!(
            "`{}` failed ({}): {}",
            display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether `program args…` runs and succeeds (output discarded).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command for `program` without the runner's variables (`GITHUB_*`, `RUNNER_*`, `ACTIONS_*`,
/// `INPUT_*`), so a binary run by xtask behaves the same on a laptop and inside a CI job.
pub fn scrubbed(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if ["GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_"]
            .iter()
            .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `git args…` in `dir`, quietly; its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    read(Command::new("git").current_dir(dir).args(args))
}

/// `program arg arg`, for messages.
pub fn display(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The binary crates of the workspace: every `crates/<name>/` with a `src/main.rs`, sorted.
pub fn binary_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project_root().join("crates"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("src/main.rs").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The host's target triple, from `rustc -vV`.
pub fn host_target() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = read(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| Failure::new("`rustc -vV` names no host target"))
}

/// Reads a file, saying which one failed.
pub fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))
}

/// Writes a file (creating its directory), saying which one failed.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, contents)
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
}

/// A fresh scratch directory under `target/xtask/<task>-<pid>`, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates the directory.
    pub fn new(task: &str) -> Result<Self> {
        let dir = target_dir()
            .join("xtask")
            .join(format!("{task}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
