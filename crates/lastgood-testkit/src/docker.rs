//! The real docker engine for end-to-end tests: is it there, the sample app's image, and compose
//! projects that are always torn down.
//!
//! ```no_run
//! use lastgood_testkit::docker;
//! if !docker::require_docker() {
//!     return; // printed why; panics instead when LASTGOOD_REQUIRE_DOCKER=1
//! }
//! let fx = lastgood_testkit::git::GitFixture::new();
//! let app = docker::SampleApp::new("preprod", &fx.app);
//! app.project.up();
//! let (status, body) = app.wait_health(|s, _| s == 200).expect("healthy");
//! // `app` is dropped: `docker-compose down -v --remove-orphans`, even when the test panicked.
//! ```
//!
//! The image is built from `examples/sample-app` as a static binary
//! (`-C target-feature=+crt-static`, in its own target dir `target/sample-app-static` so normal
//! builds are not invalidated) in a `FROM scratch` image tagged
//! `lastgood-sample-app:t<hash of the Dockerfile and the binary>`: built once per change, under a
//! file lock so parallel test binaries do not race.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cargo::workspace_root;

/// Set to `1` (CI does when `docker info` answers) to make [`require_docker`] fail instead of skip.
pub const REQUIRE_ENV: &str = "LASTGOOD_REQUIRE_DOCKER";

/// The repository of the sample app's images (tags are `t<hash>`).
pub const IMAGE_REPOSITORY: &str = "lastgood-sample-app";

/// The prefix of every compose project started by tests (`lgtest-<pid>-<n>-<nanos>`).
pub const PROJECT_PREFIX: &str = "lgtest";

/// The compose command available, `docker compose` (v2) preferred, else `docker-compose` (v1);
/// `None` when neither answers `version`.
pub fn compose_command() -> Option<Vec<String>> {
    static CACHE: OnceLock<Option<Vec<String>>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            [vec!["docker", "compose"], vec!["docker-compose"]]
                .into_iter()
                .find(|cmd| {
                    Command::new(cmd[0])
                        .args(&cmd[1..])
                        .arg("version")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                })
                .map(|cmd| cmd.into_iter().map(String::from).collect())
        })
        .clone()
}

/// Why docker cannot be used here, or `None` when it can: a Linux host (the image holds a Linux
/// binary built for the host), `docker info` answering and a compose tool.
fn unavailable_reason() -> Option<String> {
    static CACHE: OnceLock<Option<String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            if !cfg!(target_os = "linux") {
                return Some("the docker tests run on Linux hosts only".into());
            }
            match Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .stdin(Stdio::null())
                .output()
            {
                Err(e) => return Some(format!("docker cannot be run: {e}")),
                Ok(out) if !out.status.success() => {
                    return Some(format!(
                        "`docker info` failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                Ok(_) => {}
            }
            if compose_command().is_none() {
                return Some("neither `docker compose` nor `docker-compose` answers".into());
            }
            None
        })
        .clone()
}

/// `true` when docker can be used. Otherwise prints why and returns `false` (the test returns
/// early), unless `LASTGOOD_REQUIRE_DOCKER=1`, where it panics: CI guarantees docker.
pub fn require_docker() -> bool {
    let Some(reason) = unavailable_reason() else {
        return true;
    };
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but docker cannot be used: {reason}");
    }
    eprintln!("skipped: {reason} (set {REQUIRE_ENV}=1 to make this a failure)");
    false
}

/// `examples/sample-app/docker-compose-<environment>.yml` (`preprod` or `prod`).
pub fn sample_compose_file(environment: &str) -> PathBuf {
    workspace_root()
        .join("examples/sample-app")
        .join(format!("docker-compose-{environment}.yml"))
}

/// The target dir of the static sample build.
fn static_target_dir() -> PathBuf {
    workspace_root().join("target/sample-app-static")
}

/// The Rust target triple of the static build (the host's architecture, Linux, glibc).
pub fn static_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Builds the sample app as a static binary and returns its path:
/// `RUSTFLAGS="-C target-feature=+crt-static" $CARGO build --release -p sample-app
/// --target <arch>-unknown-linux-gnu --target-dir target/sample-app-static`.
pub fn sample_binary() -> PathBuf {
    let target = static_target();
    let mut cmd = crate::cargo::command();
    // Under `cargo llvm-cov`, a plain binary: inside the image it could not write its profile.
    crate::cargo::without_coverage(&mut cmd, std::env::vars_os());
    let out = cmd
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "sample-app",
            "--target",
        ])
        .arg(&target)
        .arg("--target-dir")
        .arg(static_target_dir())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .output()
        .expect("run cargo to build the sample app");
    assert!(
        out.status.success(),
        "building the static sample app failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    static_target_dir().join(target).join("release/sample-app")
}

/// The sample app's image, built if needed (once per process; across processes under a file
/// lock; reused while the Dockerfile and the binary are unchanged) — e.g. `lastgood-sample-app:t0123456789abcdef`.
pub fn sample_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(build_sample_image).clone()
}

fn build_sample_image() -> String {
    let dir = static_target_dir();
    std::fs::create_dir_all(&dir).expect("create the static target dir");
    let lock = std::fs::File::create(dir.join("image.lock")).expect("create image.lock");
    lock.lock().expect("lock image.lock");
    let binary = sample_binary();
    let bytes = std::fs::read(&binary).expect("read the sample binary");
    let dockerfile = workspace_root().join("examples/sample-app/Dockerfile");
    let mut hashed = std::fs::read(&dockerfile).expect("read the sample Dockerfile");
    hashed.extend_from_slice(&bytes);
    let tag = format!("{IMAGE_REPOSITORY}:t{:016x}", fnv1a(&hashed));
    let present = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        let context = dir.join("image-context");
        let _ = std::fs::remove_dir_all(&context);
        std::fs::create_dir_all(&context).expect("create the image context");
        std::fs::write(context.join("sample-app"), &bytes).expect("copy the sample binary");
        set_executable(&context.join("sample-app"));
        let out = Command::new("docker")
            .args(["build", "-q", "-f"])
            .arg(dockerfile)
            .args(["-t", &tag])
            .arg(&context)
            .stdin(Stdio::null())
            .output()
            .expect("run docker build");
        assert!(
            out.status.success(),
            "docker build of {tag} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(lock);
    tag
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[cfg(not(unix))]
fn set_executable(_: &Path) {}

/// FNV-1a, 64 bits: a hash that is the same on every machine and toolchain.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A compose project with a unique name, torn down on drop (`down -v --remove-orphans`), even
/// when the test panics. Variables given with [`ComposeProject::var`] are set for every compose
/// command; [`ComposeProject::apply`] sets them (and `COMPOSE_PROJECT_NAME`) on another command,
/// e.g. `deploy-sha`, so that it drives this very project.
#[derive(Debug)]
pub struct ComposeProject {
    name: String,
    files: Vec<PathBuf>,
    vars: Vec<(String, String)>,
}

impl ComposeProject {
    /// A new project over `files`. Also removes what killed earlier test processes left behind.
    pub fn new(files: &[PathBuf]) -> ComposeProject {
        static N: AtomicU32 = AtomicU32::new(0);
        sweep_leftovers();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        ComposeProject {
            name: format!(
                "{PROJECT_PREFIX}-{}-{}-{nanos}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ),
            files: files.to_vec(),
            vars: Vec::new(),
        }
    }

    /// Sets (or replaces) a variable for the compose files' `${…}` substitutions.
    pub fn var(mut self, key: impl Into<String>, value: impl Into<String>) -> ComposeProject {
        let key = key.into();
        self.vars.retain(|(k, _)| *k != key);
        self.vars.push((key, value.into()));
        self
    }

    /// The project name (`COMPOSE_PROJECT_NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compose files.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every variable a command needs to drive this project, `COMPOSE_PROJECT_NAME` included.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![("COMPOSE_PROJECT_NAME".to_owned(), self.name.clone())];
        vars.extend(self.vars.iter().cloned());
        vars
    }

    /// Sets [`ComposeProject::vars`] on `cmd`.
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.envs(self.vars())
    }

    /// `<compose> -p <name> -f <file>… <args>`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let compose = compose_command().expect("a compose tool (check require_docker first)");
        let mut cmd = Command::new(&compose[0]);
        cmd.args(&compose[1..]).args(["-p", &self.name]);
        for file in &self.files {
            cmd.arg("-f").arg(file);
        }
        cmd.args(args).stdin(Stdio::null());
        self.apply(&mut cmd);
        cmd
    }

    /// Runs a compose command and returns its output, whatever its status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run compose")
    }

    /// Runs a compose command; panics with its stderr unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "compose {args:?} failed in project {}:\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `up -d` (panics on failure).
    pub fn up(&self) {
        self.run_ok(&["up", "-d"]);
    }

    /// `down -v --remove-orphans -t 1` (errors ignored: also run on drop).
    pub fn down(&self) {
        let _ = self
            .command(&["down", "-v", "--remove-orphans", "-t", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The ids of this project's containers, running or not.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-a", "-q", "--no-trunc", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.name))
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `(state, exit code)` of each container of the project, e.g. `("exited", 1)`.
    pub fn states(&self) -> Vec<(String, i32)> {
        self.containers()
            .iter()
            .filter_map(|id| {
                let out = Command::new("docker")
                    .args([
                        "inspect",
                        "--format",
                        "{{.State.Status}} {{.State.ExitCode}}",
                        id,
                    ])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout);
                let (state, code) = text.trim().split_once(' ')?;
                Some((state.to_owned(), code.parse().ok()?))
            })
            .collect()
    }

    /// The containers' logs (for failure messages).
    pub fn logs(&self) -> String {
        let out = self.run(&["logs", "--no-color"]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        self.down();
    }
}

/// Removes the containers and networks of `lgtest-<pid>-…` projects whose process is gone (a test
/// binary killed before its drop guards ran).
fn sweep_leftovers() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Ok(out) = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                "label=com.docker.compose.project",
                "--format",
                "{{.ID}} {{.Label \"com.docker.compose.project\"}}",
            ])
            .output()
        else {
            return;
        };
        let mut dead_projects = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((id, project)) = line.split_once(' ') else {
                continue;
            };
            let mut parts = project.split('-');
            if parts.next() != Some(PROJECT_PREFIX) {
                continue;
            }
            let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            dead_projects.push(project.to_owned());
        }
        dead_projects.sort();
        dead_projects.dedup();
        for project in dead_projects {
            let _ = Command::new("docker")
                .args(["network", "rm", &format!("{project}_default")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    });
}

/// The sample app of `examples/sample-app` as one environment's compose project, serving
/// `checkout` on a free loopback port, with `restart: "no"` (a commit failing at start-up stays
/// down) and the image of [`sample_image`].
#[derive(Debug)]
pub struct SampleApp {
    /// The compose project (torn down on drop).
    pub project: ComposeProject,
    /// The host port of the app.
    pub port: u16,
    /// `preprod` or `prod`.
    pub environment: String,
}

impl SampleApp {
    /// Prepares (does not start) the sample app for `environment` (`preprod` or `prod`) over the
    /// git checkout `checkout`. Builds the image if needed.
    pub fn new(environment: &str, checkout: &Path) -> SampleApp {
        let port = crate::server::free_port();
        let port_var = format!("{}_PORT", environment.to_uppercase());
        let project = ComposeProject::new(&[sample_compose_file(environment)])
            .var("SAMPLE_APP_IMAGE", sample_image())
            .var("SAMPLE_APP_RESTART", "no")
            .var(
                "APP_CHECKOUT",
                checkout.to_str().expect("UTF-8 checkout path"),
            )
            .var(port_var, port.to_string());
        SampleApp {
            project,
            port,
            environment: environment.to_owned(),
        }
    }

    /// The same app with another restart policy (`SAMPLE_APP_RESTART`, e.g. `unless-stopped`,
    /// the compose files' default). Call before starting it.
    pub fn restart_policy(mut self, policy: &str) -> SampleApp {
        self.project = self.project.var("SAMPLE_APP_RESTART", policy);
        self
    }

    /// The health gate's URL, as `examples/mangetamain` sets it:
    /// `http://127.0.0.1:<port>/app/static/revision.txt`, the record the app writes once it
    /// serves, naming its commit (Streamlit's `/_stcore/health` says only `ok`).
    pub fn health_url(&self) -> String {
        format!("http://127.0.0.1:{}{REVISION_PATH}", self.port)
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// `GET path` on the app: `(status, body)`, `None` when nothing answers.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    /// Polls the revision record (every 100ms, up to 30s) until `accept(status, body)`; returns
    /// the accepted answer, or `None` at the deadline.
    pub fn wait_health(&self, accept: impl Fn(u16, &str) -> bool) -> Option<(u16, String)> {
        wait_for(self.port, REVISION_PATH, Duration::from_secs(30), accept)
    }

    /// The commit the running app says it serves (its revision record, status 200), or `None`
    /// when nothing answers or it has no record.
    pub fn serving(&self) -> Option<String> {
        match self.get(REVISION_PATH) {
            Some((200, body)) => record_revision(&body),
            _ => None,
        }
    }
}

/// Where Streamlit's static serving answers the revision record of `examples/mangetamain`
/// (`static/revision.txt`, written by `serve.py` once the process serves).
pub const REVISION_PATH: &str = "/app/static/revision.txt";

/// The `revision: <sha>` of a revision record.
pub fn record_revision(body: &str) -> Option<String> {
    body.lines()
        .find_map(|l| l.strip_prefix("revision:"))
        .map(|sha| sha.trim().to_owned())
}

/// A minimal `GET` on `127.0.0.1:port` (HTTP/1.1, `Connection: close`): `(status, body)`, or
/// `None` when the connection fails or the answer is not HTTP.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Polls `GET path` on `127.0.0.1:port` every 100ms until `accept(status, body)` or `timeout`.
pub fn wait_for(
    port: u16,
    path: &str,
    timeout: Duration,
    accept: impl Fn(u16, &str) -> bool,
) -> Option<(u16, String)> {
    let start = Instant::now();
    loop {
        if let Some((status, body)) = http_get(port, path)
            && accept(status, &body)
        {
            return Some((status, body));
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::GitFixture;

    #[test]
    fn fnv1a_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn records_name_their_revision() {
        let record = "Mangetamain\nrevision: abc\nstarted: x\n";
        assert_eq!(record_revision(record).as_deref(), Some("abc"));
        assert_eq!(record_revision("Mangetamain\n"), None);
    }

    /// Under `cargo llvm-cov` (which instruments this test too) the nested build must not
    /// instrument the binary the image holds: the profiler runtime, whose error message this is,
    /// is linked only into instrumented binaries.
    #[test]
    fn the_image_binary_is_never_instrumented() {
        let bytes = std::fs::read(sample_binary()).unwrap();
        let needle = b"LLVM Profile Error";
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the sample app's static binary carries the coverage profiler runtime"
        );
    }

    #[test]
    fn the_compose_files_exist() {
        assert!(sample_compose_file("preprod").is_file());
        assert!(sample_compose_file("prod").is_file());
    }

    #[test]
    fn the_sample_image_serves_the_checkout_and_fails_at_start_by_commit() {
        if !require_docker() {
            return;
        }
        let fx = GitFixture::with_files(&[("VERSION", "1.0\n")]);
        let app = SampleApp::new("preprod", &fx.app);
        app.project.up();
        let (_, record) = app
            .wait_health(|s, _| s == 200)
            .unwrap_or_else(|| panic!("never healthy:\n{}", app.project.logs()));
        assert!(record.starts_with("Mangetamain\n"), "{record}");
        assert_eq!(
            record_revision(&record).as_deref(),
            Some(fx.initial.as_str())
        );
        assert!(record.contains("\nversion: 1.0\n") && record.contains("\nenv: preprod\n"));
        assert_eq!(app.serving().as_deref(), Some(fx.initial.as_str()));
        // Streamlit's own answers: `ok`, and a page drawn by JavaScript.
        assert_eq!(app.get("/_stcore/health"), Some((200, "ok".to_owned())));
        let (status, page) = app.get("/").unwrap();
        assert_eq!(status, 200);
        assert!(page.contains("<title>Streamlit</title>") && !page.contains("Mangetamain"));

        // A commit that fails at start-up: the recreated container exits with status 1.
        let broken = fx.commit(&[("app.conf", "fail=start\n")], "broken");
        fx.push();
        fx.git_app(&["fetch", "-q", "origin"]);
        fx.git_app(&["reset", "-q", "--hard", &broken]);
        app.project.run_ok(&["up", "-d", "--force-recreate"]);
        let start = Instant::now();
        while app.project.states() != [("exited".to_owned(), 1)] {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "still {:?}:\n{}",
                app.project.states(),
                app.project.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(app.get("/_stcore/health").is_none());
        assert!(app.project.logs().contains("fail=start"));
    }

    #[test]
    fn the_prod_file_serves_a_broken_script_and_is_torn_down() {
        if !require_docker() {
            return;
        }
        let fx = GitFixture::with_files(&[("app.conf", "fail=health\n")]);
        let app = SampleApp::new("prod", &fx.app);
        app.project.up();
        // As Streamlit: `ok` at /_stcore/health although the script is broken; only the script
        // check and the missing record tell.
        wait_for(
            app.port,
            "/_stcore/script-health-check",
            Duration::from_secs(30),
            |s, b| s == 503 && b == "error",
        )
        .unwrap_or_else(|| panic!("never answered 503:\n{}", app.project.logs()));
        assert_eq!(app.get("/_stcore/health"), Some((200, "ok".to_owned())));
        assert_eq!(app.get(REVISION_PATH).unwrap().0, 404);
        assert_eq!(app.serving(), None);
        let name = app.project.name().to_owned();
        drop(app);
        let out = Command::new("docker")
            .args(["ps", "-a", "-q", "--filter"])
            .arg(format!("label=com.docker.compose.project={name}"))
            .output()
            .unwrap();
        assert!(out.stdout.is_empty(), "containers left behind");
        let networks = Command::new("docker")
            .args(["network", "ls", "-q", "--filter"])
            .arg(format!("name={name}_default"))
            .output()
            .unwrap();
        assert!(networks.stdout.is_empty(), "network left behind");
    }
}
