//! A real Streamlit app for end-to-end tests: `examples/mangetamain` committed in a git fixture,
//! run by its own `serve.py` with Streamlit from PyPI.
//!
//! ```no_run
//! use lastgood_testkit::streamlit::Mangetamain;
//! let Some(app) = Mangetamain::new() else {
//!     return; // printed why; panics instead when LASTGOOD_REQUIRE_STREAMLIT=1
//! };
//! app.start();
//! assert_eq!(app.serving().as_deref(), Some(app.fx.initial.as_str()));
//! // `app` is dropped: its processes are stopped, even when the test panicked.
//! ```
//!
//! Streamlit is installed, pinned by `examples/mangetamain/requirements.txt`, with the example's
//! pinned development tools (its `pyproject.toml`'s `dev` list), into a virtualenv under the
//! target directory, `streamlit-venv/v<hash>` where the hash covers both lists and
//! `python3 --version`: built once per change, under a file lock so parallel test binaries do
//! not race, and reused by every later run on the machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::cargo::workspace_root;
use crate::docker::{REVISION_PATH, fnv1a, http_get, record_revision};
use crate::git::GitFixture;

/// Set to `1` (CI does) to make [`python`] fail instead of skip when Streamlit cannot be
/// installed.
pub const REQUIRE_ENV: &str = "LASTGOOD_REQUIRE_STREAMLIT";

/// `examples/mangetamain`.
pub fn example_dir() -> PathBuf {
    workspace_root().join("examples/mangetamain")
}

/// The target directory (`CARGO_TARGET_DIR`, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Names never copied from the example into a fixture (what its `.gitignore` ignores, and
/// tool caches).
const SKIPPED: &[&str] = &[
    ".venv",
    "__pycache__",
    "htmlcov",
    ".coverage",
    ".run",
    ".pytest_cache",
    ".mypy_cache",
    "revision.txt",
];

/// Every file of the example (path relative to it, content), the way a user's repository holds
/// it: without what its `.gitignore` ignores. Sorted.
pub fn example_files() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let rel = path.strip_prefix(root).expect("below the root");
            if SKIPPED.contains(&name.as_str())
                || name.ends_with(".egg-info")
                || rel == Path::new("docs/build")
            {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.push((rel.to_string_lossy().into_owned(), text));
            }
        }
    }
    let root = example_dir();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// Why Streamlit cannot be used here, or the virtualenv's `python`: one virtualenv with the
/// app's requirements and its development tools, for the app's runs and its own CI alike (one
/// install of Streamlit on a fresh machine, not two).
fn venv_python() -> Result<PathBuf, String> {
    static CACHE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CACHE
        .get_or_init(|| build_venv(&dev_requirements()))
        .clone()
}

/// The example's development requirements: the `dev = [...]` list of its `pyproject.toml`.
pub fn dev_requirements() -> Vec<String> {
    let text = std::fs::read_to_string(example_dir().join("pyproject.toml")).unwrap_or_default();
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("dev = ["))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with(']'))
        .map(|l| l.trim().trim_end_matches(',').trim_matches('"').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn build_venv(extra: &[String]) -> Result<PathBuf, String> {
    let requirements = example_dir().join("requirements.txt");
    let mut pinned = std::fs::read(&requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    for line in extra {
        pinned.extend_from_slice(format!("\n{line}").as_bytes());
    }
    let version = Command::new("python3")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    if !version.status.success() {
        return Err("`python3 --version` failed".into());
    }
    let mut hashed = pinned;
    hashed.extend_from_slice(&version.stdout);
    let base = target_dir().join("streamlit-venv");
    std::fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    let dir = base.join(format!("v{:016x}", fnv1a(&hashed)));
    let python = dir.join("bin/python");
    let lock = std::fs::File::create(base.join("venv.lock"))
        .map_err(|e| format!("create the venv lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("lock the venv lock: {e}"))?;
    if python.is_file() {
        return Ok(python);
    }
    let building = base.join(format!("building-{:016x}", fnv1a(&hashed)));
    let _ = std::fs::remove_dir_all(&building);
    eprintln!(
        "installing Streamlit ({}) into {} (once per change of requirements.txt)",
        String::from_utf8_lossy(&version.stdout).trim(),
        dir.display()
    );
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&building),
        "python3 -m venv",
    )?;
    run(
        Command::new(building.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("-r")
            .arg(&requirements)
            .args(extra),
        "pip install -r examples/mangetamain/requirements.txt (and the dev tools)",
    )?;
    // Built aside, then renamed: an interrupted build never looks complete. Scripts' shebangs
    // name the build path, but only `bin/python -m …` is ever run, which does not read them.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&building, &dir).map_err(|e| format!("rename the venv: {e}"))?;
    drop(lock);
    Ok(python)
}

/// The virtualenv's `python` with Streamlit, or `None` after printing why (the test returns
/// early), unless `LASTGOOD_REQUIRE_STREAMLIT=1`, where it panics: CI guarantees it.
pub fn python() -> Option<PathBuf> {
    match venv_python() {
        Ok(p) => Some(p),
        Err(reason) => {
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_ENV}=1 but Streamlit cannot be installed: {reason}");
            }
            eprintln!("skipped: {reason} (set {REQUIRE_ENV}=1 to make this a failure)");
            None
        }
    }
}

/// `examples/mangetamain` committed as the first commit of a [`GitFixture`], run as a plain
/// process on a free loopback port by its `serve.py` (the example's `restart-command`).
pub struct Mangetamain {
    /// The fixture; `fx.app` is the deployed checkout.
    pub fx: GitFixture,
    /// The port Streamlit listens on (127.0.0.1).
    pub port: u16,
    /// `serve.py`'s pid file and log (outside the checkout).
    pub run_dir: PathBuf,
    python: PathBuf,
}

impl Mangetamain {
    /// The fixture (not started), or `None` when Streamlit is unavailable (see [`python`]).
    pub fn new() -> Option<Mangetamain> {
        let python = python()?;
        let files = example_files();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let fx = GitFixture::with_files(&refs);
        let run_dir = fx.tmp.path().join("run");
        Some(Mangetamain {
            port: crate::server::free_port(),
            run_dir,
            python,
            fx,
        })
    }

    /// The virtualenv's `python`.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// The example's `restart-command` for this fixture: `<venv>/bin/python serve.py restart
    /// --port <port> --address 127.0.0.1 --run-dir <dir>` (run in the checkout).
    pub fn restart_command(&self) -> String {
        format!(
            "'{}' serve.py restart --port {} --address 127.0.0.1 --run-dir '{}'",
            self.python.display(),
            self.port,
            self.run_dir.display()
        )
    }

    fn serve(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.python)
            .arg("serve.py")
            .args(args)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .current_dir(&self.fx.app)
            .stdin(Stdio::null())
            .output()
            .expect("run serve.py")
    }

    /// Starts (or restarts) the app on the checkout as it is; panics with its log if it does
    /// not serve.
    pub fn start(&self) {
        let port = self.port.to_string();
        let out = self.serve(&["restart", "--port", &port, "--address", "127.0.0.1"]);
        assert!(
            out.status.success(),
            "the app did not start:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// Stops the app (SIGTERM, then SIGKILL after 20s).
    pub fn stop(&self) {
        drop(self.serve(&["stop"]));
    }

    /// `serve.py`'s log (every start of this fixture).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.run_dir.join("serve.log")).unwrap_or_default()
    }

    /// The health gate's URL: `http://127.0.0.1:<port>/app/static/revision.txt`.
    pub fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}{REVISION_PATH}", self.port)
    }

    /// `GET path`: `(status, body)`, `None` when nothing answers.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// The commit the app says it serves (its revision record, status 200).
    pub fn serving(&self) -> Option<String> {
        match self.get(REVISION_PATH) {
            Some((200, body)) => record_revision(&body),
            _ => None,
        }
    }

    /// The `pid:` of the revision record: the Streamlit server that serves.
    pub fn serving_pid(&self) -> Option<u32> {
        let (status, body) = self.get(REVISION_PATH)?;
        if status != 200 {
            return None;
        }
        body.lines()
            .find_map(|l| l.strip_prefix("pid:"))
            .and_then(|p| p.trim().parse().ok())
    }
}

impl Drop for Mangetamain {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The repository of the app's images (tags are `t<hash>`).
pub const IMAGE_REPOSITORY: &str = "lastgood-mangetamain";

/// What the image is made of, hashed into its tag: bump when the recipe below changes.
const IMAGE_RECIPE: &str =
    "debootstrap minbase + python3 python3-venv ca-certificates; /opt/venv; v1";

/// The app's image for docker compose, built without pulling anything (no registry is
/// reachable): a Debian root file system made by `debootstrap --variant=minbase` from the
/// machine's own Debian mirror (its apt sources) with `python3`, a virtualenv at `/opt/venv`
/// holding `requirements.txt` (pip run in a chroot, trusting the host's CA bundle), then
/// `docker import`. Tagged `lastgood-mangetamain:t<hash>` of the suite, the recipe and
/// `requirements.txt`: built once per change, under a file lock. `Err` says why it cannot be
/// built here (not Debian, no debootstrap, not root).
pub fn image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE.get_or_init(build_image).clone()
}

/// The machine's Debian suite (`VERSION_CODENAME`) and mirror (the first `deb` source).
fn debian_source() -> Result<(String, String), String> {
    let release = std::fs::read_to_string("/etc/os-release")
        .map_err(|e| format!("cannot read /etc/os-release: {e}"))?;
    let field = |key: &str| {
        release
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_owned())
    };
    if field("ID=").as_deref() != Some("debian") {
        return Err("the image is built with debootstrap from a Debian host's mirror".into());
    }
    let suite = field("VERSION_CODENAME=").ok_or("no VERSION_CODENAME in /etc/os-release")?;
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.to_string_lossy();
            if name.ends_with(".sources") || name.ends_with(".list") {
                texts.push(std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    for text in &texts {
        for line in text.lines().map(str::trim) {
            // deb822 (`URIs: http://…/debian`) or one-line (`deb [opts] http://…/debian suite …`).
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(uri) = uri.filter(|u| u.trim_end_matches('/').ends_with("/debian")) {
                return Ok((suite, uri.to_owned()));
            }
        }
    }
    Err("no Debian mirror in the apt sources".into())
}

fn build_image() -> Result<String, String> {
    let (suite, mirror) = debian_source()?;
    if Command::new("debootstrap")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        return Err(
            "debootstrap is not installed (`apt-get install debootstrap`; .ci/run does)".into(),
        );
    }
    let requirements = std::fs::read(example_dir().join("requirements.txt"))
        .map_err(|e| format!("cannot read requirements.txt: {e}"))?;
    let mut hashed = format!("{suite}\n{IMAGE_RECIPE}\n").into_bytes();
    hashed.extend_from_slice(&requirements);
    let tag = format!("{IMAGE_REPOSITORY}:t{:016x}", fnv1a(&hashed));
    let base = target_dir().join("mangetamain-image");
    std::fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    let lock = std::fs::File::create(base.join("image.lock"))
        .map_err(|e| format!("create the image lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("lock the image lock: {e}"))?;
    let present = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(tag);
    }
    let rootfs = base.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    eprintln!("building {tag}: debootstrap {suite} + Streamlit (once per change)");
    let started = std::time::Instant::now();
    let step = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            Err(format!(
                "{what} failed: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ))
        }
    };
    step(
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                &suite,
            ])
            .arg(&rootfs)
            .arg(&mirror),
        "debootstrap",
    )?;
    // pip runs in the new root, with the host's name resolution and trusted certificates.
    let copy = |from: &str, to: &str| {
        std::fs::copy(from, rootfs.join(to)).map_err(|e| format!("copy {from}: {e}"))
    };
    copy("/etc/resolv.conf", "etc/resolv.conf")?;
    copy("/etc/ssl/certs/ca-certificates.crt", "tmp/host-ca.crt")?;
    std::fs::write(rootfs.join("tmp/requirements.txt"), &requirements)
        .map_err(|e| format!("write requirements.txt: {e}"))?;
    step(
        Command::new("chroot")
            .arg(&rootfs)
            .args(["/usr/bin/python3", "-m", "venv", "/opt/venv"]),
        "python3 -m venv in the image",
    )?;
    let mut pip = Command::new("chroot");
    pip.arg(&rootfs)
        .args(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/root"])
        .arg("PIP_CERT=/tmp/host-ca.crt");
    for key in [
        "PIP_INDEX_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        if let Ok(value) = std::env::var(key) {
            pip.arg(format!("{key}={value}"));
        }
    }
    pip.args([
        "/opt/venv/bin/pip",
        "install",
        "--quiet",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "-r",
        "/tmp/requirements.txt",
    ]);
    step(&mut pip, "pip install -r requirements.txt in the image")?;
    for leftover in ["tmp/host-ca.crt", "tmp/requirements.txt", "etc/resolv.conf"] {
        let _ = std::fs::remove_file(rootfs.join(leftover));
    }
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("tar: {e}"))?;
    let imported = Command::new("docker")
        .args([
            "import",
            "-c",
            "ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
            "-c",
            "WORKDIR /app",
            "-",
            &tag,
        ])
        .stdin(tar.stdout.ok_or("tar's output")?)
        .output()
        .map_err(|e| format!("docker import: {e}"))?;
    let _ = std::fs::remove_dir_all(&rootfs);
    if !imported.status.success() {
        return Err(format!(
            "docker import failed: {}",
            String::from_utf8_lossy(&imported.stderr).trim()
        ));
    }
    eprintln!("built {tag} in {:.0?}", started.elapsed());
    drop(lock);
    Ok(tag)
}

/// `examples/mangetamain` in docker compose: its own `docker-compose-<environment>.yml`, in the
/// fixture's checkout (so `compose-file` is relative to `app-dir`, as on the VM), on a free
/// port, the image from [`image`], torn down on drop.
pub struct MangetamainCompose {
    /// The app, its fixture and port (its processes are the container's).
    pub app: Mangetamain,
    /// The compose project (`COMPOSE_PROJECT_NAME` and the variables; [`ComposeProject::apply`]).
    pub project: crate::docker::ComposeProject,
    /// `docker-compose-<environment>.yml`, relative to the checkout.
    pub compose_file: String,
}

impl MangetamainCompose {
    /// The project (not started), or `None` after printing why docker, Streamlit's
    /// requirements or the image are unavailable; panics instead when
    /// `LASTGOOD_REQUIRE_DOCKER=1` and `LASTGOOD_REQUIRE_STREAMLIT=1` are both set.
    pub fn new(environment: &str) -> Option<MangetamainCompose> {
        if !crate::docker::require_docker() {
            return None;
        }
        let app = Mangetamain::new()?;
        let tag = match image() {
            Ok(tag) => tag,
            Err(reason) => {
                let required = |k: &str| std::env::var(k).is_ok_and(|v| v == "1");
                if required(REQUIRE_ENV) && required(crate::docker::REQUIRE_ENV) {
                    panic!(
                        "docker and Streamlit are required but the app's image cannot be built: {reason}"
                    );
                }
                eprintln!("skipped: {reason}");
                return None;
            }
        };
        let compose_file = format!("docker-compose-{environment}.yml");
        let port_var = format!("{}_PORT", environment.to_uppercase());
        let project = crate::docker::ComposeProject::new(&[app.fx.app.join(&compose_file)])
            .var("MANGETAMAIN_IMAGE", tag)
            .var("MANGETAMAIN_RESTART", "no")
            .var("APP_UID", current_id("-u"))
            .var("APP_GID", current_id("-g"))
            .var(port_var, app.port.to_string());
        Some(MangetamainCompose {
            app,
            project,
            compose_file,
        })
    }
}

impl Drop for MangetamainCompose {
    fn drop(&mut self) {
        self.project.down();
    }
}

/// The current user's (`-u`) or group's (`-g`) id: the container runs as the checkout's owner.
fn current_id(flag: &str) -> String {
    Command::new("id")
        .arg(flag)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debian_source_is_read_from_the_machine() {
        match debian_source() {
            Ok((suite, mirror)) => {
                assert!(!suite.is_empty());
                assert!(
                    mirror.contains("://") && mirror.ends_with("debian"),
                    "{mirror}"
                );
            }
            Err(reason) => assert!(!reason.is_empty()),
        }
    }

    /// The seed's CI on the example, as its `ci.yml` runs it: flake8 (88), black, pydocstyle
    /// (Google), pytest with coverage ≥ 90 %. In a copy, so the repository gets no caches.
    #[test]
    fn the_example_passes_its_own_ci() {
        let Some(python) = python() else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        for (path, text) in example_files() {
            let to = tmp.path().join(path);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, text).unwrap();
        }
        for args in [
            &["-m", "flake8", "src/", "tests/"][..],
            &["-m", "black", "--check", "src/", "tests/"],
            &["-m", "pydocstyle", "src/"],
            &[
                "-m",
                "pytest",
                "tests/",
                "-q",
                "-p",
                "no:cacheprovider",
                "--cov=src",
                "--cov-report=html",
                "--cov-fail-under=90",
            ],
        ] {
            let out = Command::new(&python)
                .args(args)
                .current_dir(tmp.path())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?} failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(tmp.path().join("htmlcov/index.html").is_file());
    }

    #[test]
    fn the_dev_requirements_are_pinned() {
        let dev = dev_requirements();
        assert!(dev.iter().any(|r| r.starts_with("pytest-cov==")), "{dev:?}");
        assert!(dev.iter().all(|r| r.contains("==")), "{dev:?}");
    }

    #[test]
    fn the_example_files_are_what_a_repository_holds() {
        let files = example_files();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        for expected in [
            "app.py",
            "serve.py",
            "requirements.txt",
            "src/mangetamain/serve.py",
            ".streamlit/config.toml",
            "docker-compose-preprod.yml",
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        assert!(
            names
                .iter()
                .all(|n| !n.contains("__pycache__") && !n.ends_with("revision.txt")),
            "{names:?}"
        );
    }
}
