//! `cargo xtask demo`: the seed's preprod pipeline, end to end, on the local docker engine.
//!
//! Real binaries, a real git origin and checkout (in `target/xtask/demo-<pid>/`), the sample app
//! of `examples/sample-app` in a real container, restarted by docker compose:
//!
//! 1. a first deploy (the running version becomes the first good one);
//! 2. a second commit deployed, then validated by CI (`ci-watcher` with a known conclusion);
//! 3. a commit whose health check fails: `deploy-sha` rolls back to the previous SHA at once;
//! 4. a commit that deploys fine but fails CI: `ci-watcher` rolls back to the last validated SHA.
//!
//! Nothing is simulated: when a piece is missing (no docker, the sample app or a binary not in
//! this tree yet) the demo says what is missing and stops; without `ci-watcher` it shows the
//! deploy steps, says which CI steps it could not show, and fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{
    self, Scratch, cargo, git, host_target, project_root, scrubbed, succeeds, target_dir,
};
use crate::{Failure, Result};

const IMAGE: &str = "lastgood-sample-app:dev";
const COMPOSE_FILE: &str = "docker-compose-preprod.yml";
const BINARIES: [&str; 2] = ["save-rollback-point", "deploy-sha"];
const WATCHER: &str = "ci-watcher";

/// Runs the demo.
pub fn run() -> Result {
    let root = project_root();
    let sample = root.join("examples/sample-app");
    if !sample.join("Dockerfile").is_file() || !sample.join(COMPOSE_FILE).is_file() {
        return Err(Failure::new(
            "sample app not built: examples/sample-app (Dockerfile, docker-compose-preprod.yml) is not in this tree yet",
        ));
    }
    let missing: Vec<&str> = BINARIES
        .into_iter()
        .filter(|b| !root.join("crates").join(b).join("src/main.rs").is_file())
        .collect();
    if !missing.is_empty() {
        return Err(Failure::new(format!(
            "not built yet: crates/{} missing in this tree; the demo needs {}",
            missing.join(", crates/"),
            BINARIES.join(", ")
        )));
    }
    if !succeeds("docker", &["info"]) {
        return Err(Failure::new(
            "the docker engine does not answer (`docker info`): start it, the demo runs the sample app in a container",
        ));
    }
    if !succeeds("docker-compose", &["version"]) && !succeeds("docker", &["compose", "version"]) {
        return Err(Failure::new(
            "neither `docker compose` nor `docker-compose` is installed",
        ));
    }

    let watcher = root
        .join("crates")
        .join(WATCHER)
        .join("src/main.rs")
        .is_file();

    println!("==> building the binaries and the sample app's image");
    let mut build = cargo();
    build.args(["build", "--locked"]);
    for b in BINARIES {
        build.args(["-p", b]);
    }
    if watcher {
        build.args(["-p", WATCHER]);
    }
    util::run(&mut build)?;
    build_image(&root)?;

    let scratch = Scratch::new("demo")?;
    let demo = Demo::new(scratch.path(), watcher)?;
    let _down = ComposeDown {
        file: demo.app.join(COMPOSE_FILE),
        env: demo.compose_env(),
    };
    demo.script()
}

/// Builds `lastgood-sample-app:dev` as examples/sample-app/Dockerfile says: a static binary in a
/// `FROM scratch` image.
fn build_image(root: &Path) -> Result {
    let target = host_target()?;
    let mut build = cargo();
    build
        .args(["build", "--release", "--locked", "-p", "sample-app"])
        .args(["--target", &target, "--target-dir"])
        .arg(target_dir().join("sample-app-static"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    util::run(&mut build)?;
    let context = target_dir().join("sample-app-image");
    std::fs::create_dir_all(&context)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", context.display())))?;
    let binary = target_dir()
        .join("sample-app-static")
        .join(&target)
        .join("release/sample-app");
    std::fs::copy(&binary, context.join("sample-app"))
        .map_err(|e| Failure::new(format!("cannot copy {}: {e}", binary.display())))?;
    util::run(
        Command::new("docker")
            .current_dir(root)
            .args([
                "build",
                "-q",
                "-f",
                "examples/sample-app/Dockerfile",
                "-t",
                IMAGE,
            ])
            .arg(&context),
    )
}

struct Demo {
    dir: PathBuf,
    work: PathBuf,
    app: PathBuf,
    state: PathBuf,
    port: u16,
    bin: PathBuf,
    /// Whether `ci-watcher` is in this tree (the CI steps need it).
    watcher: bool,
}

impl Demo {
    fn new(dir: &Path, watcher: bool) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| Failure::new(format!("no free local port: {e}")))?;
        Ok(Demo {
            dir: dir.to_path_buf(),
            work: dir.join("work"),
            app: dir.join("app"),
            state: dir.join("state/preprod"),
            port,
            bin: target_dir().join("debug"),
            watcher,
        })
    }

    /// What docker compose needs, for the binaries and for the final `down`.
    fn compose_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "COMPOSE_PROJECT_NAME".into(),
                format!("lastgood-demo-{}", std::process::id()),
            ),
            ("PREPROD_PORT".into(), self.port.to_string()),
            ("APP_CHECKOUT".into(), self.app.display().to_string()),
            ("SAMPLE_APP_IMAGE".into(), IMAGE.into()),
            ("SAMPLE_APP_RESTART".into(), "no".into()),
        ]
    }

    fn script(&self) -> Result {
        std::fs::create_dir_all(&self.work)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", self.work.display())))?;
        git(
            &self.dir,
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        )?;
        git(&self.work, &["init", "-q", "-b", "main"])?;
        git(&self.work, &["remote", "add", "origin", "../origin.git"])?;
        let compose = project_root()
            .join("examples/sample-app")
            .join(COMPOSE_FILE);
        std::fs::copy(&compose, self.work.join(COMPOSE_FILE))
            .map_err(|e| Failure::new(format!("cannot copy {}: {e}", compose.display())))?;

        println!(
            "==> preprod: checkout {}, state {}, app on http://127.0.0.1:{}",
            self.app.display(),
            self.state.display(),
            self.port
        );
        println!("\n==> 1. the first version, deployed and taken as the first good one");
        let a = self.commit("feat: first version", "VERSION", "1.0\n")?;
        git(&self.dir, &["clone", "-q", "origin.git", "app"])?;
        self.step("save-rollback-point", &[], 0)?;
        self.deploy(&a, 0)?;

        println!("\n==> 2. a second version: deployed at once, then validated by CI");
        let b = self.commit("feat: second version", "VERSION", "2.0\n")?;
        self.step("save-rollback-point", &[], 0)?;
        self.deploy(&b, 0)?;
        self.watch(&b, "success", 0)?;

        println!("\n==> 3. a broken commit: its health check fails, deploy-sha rolls back at once");
        let c = self.commit("fix: a typo (breaks the app)", "app.conf", "fail=health\n")?;
        self.step("save-rollback-point", &[], 0)?;
        self.deploy(&c, 1)?;
        self.expect_serving(&b)?;

        println!("\n==> 4. a commit that starts fine but fails CI: the watcher rolls back");
        if !self.watcher {
            return Err(Failure::new(
                "demo incomplete: crates/ci-watcher is not in this tree yet, so CI verdicts (steps 2 and 4) were not shown",
            ));
        }
        git(&self.work, &["rm", "-q", "app.conf"])?;
        let d = self.commit("feat: untested change", "VERSION", "3.0\n")?;
        self.step("save-rollback-point", &[], 0)?;
        self.deploy(&d, 0)?;
        self.watch(&d, "failure", 1)?;
        self.expect_serving(&b)?;

        let journal = std::fs::read_to_string(self.state.join("journal.jsonl")).unwrap_or_default();
        println!(
            "\n==> done: preprod serves {} again, the last validated SHA; {} journal entries in {}",
            short(&b),
            journal.lines().count(),
            self.state.join("journal.jsonl").display()
        );
        Ok(())
    }

    /// Commits `file` = `contents` in the developer's clone and pushes; returns the SHA.
    fn commit(&self, message: &str, file: &str, contents: &str) -> Result<String> {
        util::write_file(&self.work.join(file), contents)?;
        git(&self.work, &["add", "-A"])?;
        git(
            &self.work,
            &[
                "-c",
                "user.name=lastgood demo",
                "-c",
                "user.email=demo@lastgood.invalid",
                "commit",
                "-q",
                "-m",
                message,
            ],
        )?;
        git(&self.work, &["push", "-q", "origin", "main"])?;
        let sha = git(&self.work, &["rev-parse", "HEAD"])?;
        println!("    pushed {} \"{message}\"", short(&sha));
        Ok(sha)
    }

    fn health_inputs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("INPUT_COMPOSE_FILE", COMPOSE_FILE.into()),
            (
                "INPUT_HEALTH_URL",
                // The record the app writes once it serves, naming its commit (Streamlit's
                // /_stcore/health says only `ok`): see examples/mangetamain/README.md.
                format!("http://127.0.0.1:{}{REVISION_PATH}", self.port),
            ),
            ("INPUT_HEALTH_EXPECT_VERSION", "sha".into()),
            ("INPUT_HEALTH_ATTEMPTS", "5".into()),
            ("INPUT_HEALTH_INTERVAL", "1s".into()),
            ("INPUT_HEALTH_TIMEOUT", "2s".into()),
        ]
    }

    fn deploy(&self, sha: &str, expect: i32) -> Result {
        let mut inputs = self.health_inputs();
        inputs.push(("INPUT_SHA", sha.into()));
        self.step("deploy-sha", &inputs, expect)
    }

    fn watch(&self, sha: &str, conclusion: &str, expect: i32) -> Result {
        if !self.watcher {
            println!("    SKIPPED: ci-watcher (crates/{WATCHER} is not in this tree yet)");
            return Ok(());
        }
        let mut inputs = self.health_inputs();
        inputs.push(("INPUT_SHA", sha.into()));
        inputs.push(("INPUT_CONCLUSION", conclusion.into()));
        inputs.push(("INPUT_REPOSITORY", "lastgood/demo".into()));
        self.step("ci-watcher", &inputs, expect)
    }

    /// Runs one binary with `--json`, its logs on the terminal, and shows its outputs.
    fn step(&self, name: &str, inputs: &[(&str, String)], expect: i32) -> Result {
        let shown: Vec<String> = inputs
            .iter()
            .map(|(k, v)| format!("{k}={}", if v.len() == 40 { short(v) } else { v.clone() }))
            .collect();
        println!("$ {name} --json   {}", shown.join(" "));
        let mut cmd = scrubbed(&self.bin.join(name));
        cmd.arg("--json")
            .env("INPUT_APP_DIR", &self.app)
            .env("INPUT_STATE_DIR", &self.state)
            .env("INPUT_ENVIRONMENT", "preprod")
            .envs(self.compose_env())
            .envs(inputs.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        let out = cmd
            .output()
            .map_err(|e| Failure::new(format!("cannot run {name}: {e}")))?;
        let code = out.status.code().unwrap_or(-1);
        if let Ok(serde_json::Value::Object(outputs)) =
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
        {
            for (k, v) in outputs {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                println!("    {k}: {}", v.replace('\n', " | "));
            }
        }
        println!("    exit {code}");
        if code != expect {
            return Err(Failure::new(format!(
                "{name} exited {code} where the demo expects {expect}"
            )));
        }
        Ok(())
    }

    /// Asks the running app which commit it serves (the `revision:` line of its record).
    fn expect_serving(&self, sha: &str) -> Result {
        let url = format!("http://127.0.0.1:{}{REVISION_PATH}", self.port);
        let body = http_get(self.port, REVISION_PATH)
            .map_err(|e| Failure::new(format!("GET {url}: {e}")))?;
        let serving = body
            .lines()
            .find_map(|l| l.strip_prefix("revision:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        println!("    GET {url} → revision {serving}");
        let body = serving;
        if body.trim() == sha {
            Ok(())
        } else {
            Err(Failure::new(format!(
                "preprod serves {} where the demo expects {}",
                body.trim(),
                short(sha)
            )))
        }
    }
}

/// `docker compose down` of the demo's project, even when the demo fails.
struct ComposeDown {
    file: PathBuf,
    env: Vec<(String, String)>,
}

impl Drop for ComposeDown {
    fn drop(&mut self) {
        if !self.file.is_file() {
            return;
        }
        let mut cmd = if succeeds("docker-compose", &["version"]) {
            Command::new("docker-compose")
        } else {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        };
        cmd.arg("-f")
            .arg(&self.file)
            .args(["down", "--timeout", "2"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = cmd.status();
        println!("    (the demo's container was removed)");
    }
}

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// A minimal HTTP/1.1 GET on localhost, returning the body.
/// Where the app's revision record is served (Streamlit's static serving).
const REVISION_PATH: &str = "/app/static/revision.txt";

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}
