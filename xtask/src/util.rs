//! What every task needs: the repository root, cargo, running programs, the binary crates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{Failure, Result};

/// What cargo says of the workspace xtask works on, asked once (`cargo metadata`).
#[derive(Debug)]
pub struct Workspace {
    /// The workspace root.
    pub root: PathBuf,
    /// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root), `build.target-dir`
    /// of a config file, else `<root>/target`, as cargo itself resolves it.
    pub target_dir: PathBuf,
    /// `[workspace.package] version`, as it is in `Cargo.toml` now (not when xtask was built).
    pub version: String,
    /// `[workspace.package] repository`.
    pub repository: String,
    /// The names of the workspace's packages.
    pub packages: Vec<String>,
}

/// The workspace, from `cargo metadata --format-version 1 --no-deps`, asked once: in the current
/// directory when it is inside a lastgood workspace (a clone being released), else at the
/// workspace xtask was built from.
pub fn workspace() -> &'static Workspace {
    static WORKSPACE: OnceLock<Workspace> = OnceLock::new();
    WORKSPACE.get_or_init(|| {
        let here = metadata(None)
            .ok()
            .filter(|w| w.packages.iter().any(|p| p == "xtask"));
        here.map_or_else(|| metadata(Some(&built_root())), Ok)
            .unwrap_or_else(|e| {
                eprintln!(
                    "xtask: warning: {e}; assuming the workspace {} and CARGO_TARGET_DIR",
                    built_root().display()
                );
                fallback_workspace()
            })
    })
}

/// The workspace xtask's sources are in (`<root>/xtask`).
fn built_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `cargo metadata` in the current directory, or for the workspace at `root`.
fn metadata(root: Option<&Path>) -> Result<Workspace> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--format-version", "1", "--no-deps"]);
    if let Some(root) = root {
        cmd.arg("--manifest-path").arg(root.join("Cargo.toml"));
    }
    let text = read(&mut cmd)?;
    parse_metadata(&text)
        .ok_or_else(|| Failure::new(format!("`{}` answered no workspace", display(&cmd))))
}

/// The parts of `cargo metadata`'s answer xtask uses.
fn parse_metadata(text: &str) -> Option<Workspace> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let packages = json["packages"].as_array()?;
    let xtask = packages.iter().find(|p| p["name"] == "xtask");
    let field = |name: &str| {
        xtask
            .and_then(|p| p[name].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Some(Workspace {
        root: PathBuf::from(json["workspace_root"].as_str()?),
        target_dir: PathBuf::from(json["target_directory"].as_str()?),
        version: field("version"),
        repository: field("repository"),
        packages: packages
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect(),
    })
}

/// When cargo cannot answer: the workspace xtask was built from, `CARGO_TARGET_DIR` read by hand.
fn fallback_workspace() -> Workspace {
    let root = built_root();
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    };
    Workspace {
        root,
        target_dir,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        repository: env!("CARGO_PKG_REPOSITORY").to_owned(),
        packages: Vec::new(),
    }
}

/// The repository root (the workspace's).
pub fn project_root() -> PathBuf {
    workspace().root.clone()
}

/// Cargo's target directory. Every task that reads what cargo built, or writes under `target/`,
/// goes through here (and every `cargo()` child is given it), so a user's `CARGO_TARGET_DIR` or
/// `build.target-dir` is honoured everywhere.
pub fn target_dir() -> PathBuf {
    workspace().target_dir.clone()
}

/// A `cargo` command, through `$CARGO` (the cargo that runs xtask), at the repository root.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Absolute, so that a relative `CARGO_TARGET_DIR` means the same for the child as for us.
    cmd.current_dir(project_root())
        .env("CARGO_TARGET_DIR", target_dir());
    cmd
}

/// Runs `build` (a `cargo build …`) and returns the executables cargo reports it produced, by
/// name: the paths come from cargo's own artifact messages, never from a guess of the layout.
pub fn build_bins(build: &mut Command) -> Result<BTreeMap<String, PathBuf>> {
    build
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    eprintln!("$ {}", display(build));
    let out = build
        .spawn()
        .and_then(std::process::Child::wait_with_output)
        .map_err(|e| Failure::new(format!("cannot run {}: {e}", display(build))))?;
    if !out.status.success() {
        return Err(Failure::new(format!(
            "`{}` failed ({})",
            display(build),
            out.status
        )));
    }
    Ok(executables(&String::from_utf8_lossy(&out.stdout)))
}

/// The `bin` executables named in cargo's JSON messages.
fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_gives_the_root_the_target_dir_and_the_version() {
        let text = r#"{"packages":[{"name":"deploy-sha","version":"1.2.3"},
            {"name":"xtask","version":"1.2.3","repository":"https://github.com/o/r"}],
            "workspace_root":"/w","target_directory":"/elsewhere/t","version":1}"#;
        let ws = parse_metadata(text).unwrap();
        assert_eq!(ws.root, PathBuf::from("/w"));
        assert_eq!(ws.target_dir, PathBuf::from("/elsewhere/t"));
        assert_eq!(ws.version, "1.2.3");
        assert_eq!(ws.repository, "https://github.com/o/r");
        assert_eq!(ws.packages, ["deploy-sha", "xtask"]);
        assert!(parse_metadata(r#"{"packages":[]}"#).is_none());
    }

    /// This very process: `cargo test` gives it its target directory, and cargo metadata agrees.
    #[test]
    fn the_target_dir_is_where_cargo_builds() {
        let exe = std::env::current_exe().unwrap();
        assert!(
            exe.starts_with(target_dir()),
            "{} is not under {}",
            exe.display(),
            target_dir().display()
        );
        assert!(project_root().join("xtask/Cargo.toml").is_file());
    }

    /// A real (small) build into another target directory: the path is cargo's, not a guess.
    #[test]
    fn built_binaries_are_where_cargo_put_them() {
        let elsewhere = std::env::temp_dir().join(format!("xtask-build-{}", std::process::id()));
        let built = build_bins(
            cargo()
                .args(["build", "--locked", "--quiet", "-p", "sample-app"])
                .env("CARGO_TARGET_DIR", &elsewhere),
        )
        .unwrap();
        let path = built["sample-app"].clone();
        let exists = path.is_file();
        let _ = std::fs::remove_dir_all(&elsewhere);
        assert!(exists, "{} was not built", path.display());
        assert_eq!(path, elsewhere.join("debug").join("sample-app"));
        assert_eq!(built.len(), 1, "{built:?}");
    }

    #[test]
    fn executables_are_read_from_cargo_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"core"},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["custom-build"],"name":"build-script-build"},"executable":"/t/build/x"}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"deploy-sha"},"executable":"/t/x86_64-unknown-linux-gnu/release/deploy-sha"}"#,
            "not json",
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        let found = executables(&messages);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found["deploy-sha"],
            PathBuf::from("/t/x86_64-unknown-linux-gnu/release/deploy-sha")
        );
    }
}
