//! `cargo xtask demo`: the seed's whole story, played by the real binaries exactly as the
//! reusable workflows (`.github/workflows/cd-preprod.yml`, `cd-prod.yml`, `health-check.yml`)
//! call them, with the inputs of the calling examples (`examples/workflows/`), against the
//! project's GitHub and Discord stand-ins on loopback (`lastgood-testkit`).
//!
//! 1. a good push: deployed to preprod first, the detached watcher polls the GitHub stand-in
//!    while "CI" runs, CI green → validated;
//! 2. a push broken at start-up: its health gate fails, deploy-sha rolls back at once;
//! 3. a push that starts but fails CI: the watcher rolls preprod back;
//! 4. prod, by hand: preprod vs prod and a backup (save-rollback-point), the typed `DEPLOY`
//!    refused when missing, a SHA that is not preprod's validated one refused, then the
//!    validated SHA deployed;
//! 5. the hourly probe: both environments up, prod down, prod recovered.
//!
//! What the person sees is a timeline (one line per step: what, outcome, duration), each Discord
//! message as the channel shows it, the preprod-vs-prod view, and the version in service over
//! time; the binaries' logs go to `<target>/xtask/demo.log` (live on stderr with `--verbose`).
//! The app runs in docker compose when the engine answers, else as local processes restarted by
//! `restart-command`. Everything the demo starts or writes is removed at the end, on failure and
//! on Ctrl-C (see [`cleanup`]), except the log it names.
//!
//! The workflows' logic (which step runs, which event a message reports) is written here as the
//! YAML says it; each place names the workflow step it plays.

pub(crate) mod app;
pub(crate) mod cleanup;
mod show;
mod step;
mod workflow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lastgood_core::spec;
use lastgood_testkit::discord::DiscordStandIn;
use lastgood_testkit::github::{self, FakeGitHub, Job, Run, When};
use serde_json::Value;

use crate::util::{self, cargo, git, host_target, project_root, succeeds, target_dir};
use crate::{Failure, Result};
use app::{Backend, Env, Sampler, Serving};
use show::{Mark, Progress, Timeline, seconds};
use step::{Log, Runner, StepRun};
use workflow::{Context, Workflow};

const USAGE: &str = "\
Usage: cargo xtask demo [options]

The seed's pipeline end to end: preprod deploys, CI verdicts, prod by hand, the hourly probe.

Options:
  --restart <how>    docker (the sample app in docker compose) or processes (local processes
                     restarted by `restart-command`); default: docker when the engine answers
  --app <app>        sample (default: examples/sample-app) or streamlit (examples/mangetamain)
  --locale <l>       en (default) or fr: the language of the Discord messages
  --pace <p>         quick (default: the watcher waits 2s, then polls every 1s) or real (the
                     workflows' defaults, as in the seed: 30s, then every 10s)
  --verbose          show the binaries' logs live (they always go to the log file)
  --bin-dir <dir>    use the binaries already built in <dir> instead of building them
";

/// The demo's image of the sample app.
pub(crate) const IMAGE: &str = "lastgood-sample-app:demo";

/// Where the app's revision record is served, when a caller names no health URL.
const REVISION_PATH: &str = "/app/static/revision.txt";

/// The binaries the story runs.
const BINARIES: [&str; 5] = [
    "save-rollback-point",
    "deploy-sha",
    "ci-watcher",
    "notify-discord",
    "health-probe",
];

/// `cargo xtask demo …`.
pub fn main(args: &[&str]) -> Result {
    if let Some((&"__restart-app", rest)) = args.split_first() {
        return app::restart_helper(rest);
    }
    let opts = Options::parse(args)?;
    if opts.help {
        print!("{USAGE}");
        return Ok(());
    }
    run(&opts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestartChoice {
    Auto,
    Docker,
    Processes,
}

#[derive(Debug)]
struct Options {
    restart: RestartChoice,
    streamlit: bool,
    locale: &'static str,
    real_pace: bool,
    verbose: bool,
    bin_dir: Option<PathBuf>,
    help: bool,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Options> {
        let mut o = Options {
            restart: RestartChoice::Auto,
            streamlit: false,
            locale: "en",
            real_pace: false,
            verbose: false,
            bin_dir: None,
            help: false,
        };
        let mut it = args.iter();
        let bad = |flag: &str, value: &str, allowed: &str| {
            Failure::with_code(
                format!("demo: {flag} takes {allowed}, not `{value}`\n\n{USAGE}"),
                2,
            )
        };
        while let Some(&arg) = it.next() {
            let mut value = || {
                it.next().copied().ok_or_else(|| {
                    Failure::with_code(format!("demo: {arg} needs a value\n\n{USAGE}"), 2)
                })
            };
            match arg {
                "--restart" => {
                    o.restart = match value()? {
                        "docker" => RestartChoice::Docker,
                        "processes" => RestartChoice::Processes,
                        v => return Err(bad(arg, v, "docker or processes")),
                    }
                }
                "--app" => {
                    o.streamlit = match value()? {
                        "sample" => false,
                        "streamlit" => true,
                        v => return Err(bad(arg, v, "sample or streamlit")),
                    }
                }
                "--locale" => {
                    o.locale = match value()? {
                        "en" => "en",
                        "fr" => "fr",
                        v => return Err(bad(arg, v, "en or fr")),
                    }
                }
                "--pace" => {
                    o.real_pace = match value()? {
                        "quick" => false,
                        "real" => true,
                        v => return Err(bad(arg, v, "quick or real")),
                    }
                }
                "--verbose" | "-v" => o.verbose = true,
                "--bin-dir" => o.bin_dir = Some(PathBuf::from(value()?)),
                "--help" | "-h" => o.help = true,
                _ => {
                    return Err(Failure::with_code(
                        format!("demo: unknown option `{arg}`\n\n{USAGE}"),
                        2,
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// Which backend, and why (said in the header).
fn choose_backend(choice: RestartChoice) -> Result<(bool, String)> {
    let docker_reason = docker_unavailable();
    match (choice, docker_reason) {
        (RestartChoice::Processes, _) => Ok((
            false,
            "local processes restarted by `restart-command` (--restart processes)".into(),
        )),
        (RestartChoice::Docker, Some(why)) => Err(Failure::new(format!(
            "--restart docker: {why}; start the engine, or use --restart processes"
        ))),
        (_, None) => Ok((
            true,
            format!(
                "docker compose ({}), the sample app's image {IMAGE}",
                compose_command().map(|c| c.join(" ")).unwrap_or_default()
            ),
        )),
        (RestartChoice::Auto, Some(why)) => Ok((
            false,
            format!("local processes restarted by `restart-command` ({why})"),
        )),
    }
}

/// Why docker cannot run the app here, or `None`.
fn docker_unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("the sample app's image holds a Linux binary".into());
    }
    if !succeeds("docker", &["info"]) {
        return Some("the docker engine does not answer `docker info`".into());
    }
    if compose_command().is_none() {
        return Some("neither `docker compose` nor `docker-compose` is installed".into());
    }
    None
}

/// `docker compose` (v2) when it answers, else `docker-compose` (v1).
fn compose_command() -> Option<Vec<String>> {
    if succeeds("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else if succeeds("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

fn run(opts: &Options) -> Result {
    let root = project_root();
    if opts.streamlit {
        return run_streamlit(opts, &root);
    }
    let (docker, how) = choose_backend(opts.restart)?;
    let bin_dir = match &opts.bin_dir {
        Some(dir) => {
            let dir = std::path::absolute(dir)
                .map_err(|e| Failure::new(format!("--bin-dir {}: {e}", dir.display())))?;
            let missing: Vec<&str> = BINARIES
                .iter()
                .chain(if docker { None } else { Some(&"sample-app") })
                .filter(|b| !dir.join(b).is_file())
                .copied()
                .collect();
            if !missing.is_empty() {
                return Err(Failure::new(format!(
                    "--bin-dir {}: {} not built there (`cargo build --workspace --bins`)",
                    dir.display(),
                    missing.join(", ")
                )));
            }
            dir
        }
        None => {
            eprintln!(
                "==> building the binaries{}",
                if docker {
                    " and the sample app's image"
                } else {
                    ""
                }
            );
            let mut build = cargo();
            build.args(["build", "--locked"]);
            for b in BINARIES {
                build.args(["-p", b]);
            }
            if !docker {
                build.args(["-p", "sample-app"]);
            }
            built_dir(&mut build)?
        }
    };
    let backend = if docker {
        if opts.bin_dir.is_none() || !image_exists() {
            build_image(&root)?;
        }
        Backend::Docker {
            compose: compose_command().unwrap_or_default(),
            image: IMAGE.into(),
        }
    } else {
        Backend::Processes {
            app: bin_dir.join("sample-app"),
            helper: std::env::current_exe()
                .map_err(|e| Failure::new(format!("cannot find xtask itself: {e}")))?,
        }
    };

    tell(
        opts,
        backend,
        bin_dir,
        &how,
        &root.join("examples/workflows"),
    )
}

/// Runs `build` and returns the directory of the binaries, where cargo says it put them.
fn built_dir(build: &mut std::process::Command) -> Result<PathBuf> {
    let built = util::build_bins(build)?;
    let dirs: std::collections::BTreeSet<&Path> =
        built.values().filter_map(|p| p.parent()).collect();
    match (
        BINARIES.iter().find(|b| !built.contains_key(**b)),
        dirs.len(),
    ) {
        (None, 1) => Ok(dirs
            .into_iter()
            .map(Path::to_path_buf)
            .next()
            .unwrap_or_default()),
        (Some(b), _) => Err(Failure::new(format!("cargo reported no `{b}` executable"))),
        _ => Err(Failure::new(
            "cargo put the binaries in more than one directory",
        )),
    }
}

/// Plays the story with `backend`; the callers' workflows are in `callers`.
fn tell(opts: &Options, backend: Backend, bin_dir: PathBuf, how: &str, callers: &Path) -> Result {
    let docker = matches!(backend, Backend::Docker { .. });
    cleanup::catch_signals();
    let parent = target_dir().join("xtask");
    let swept = cleanup::sweep(&parent, compose_command().as_deref().filter(|_| docker));
    let log = Log::create(&parent.join("demo.log"), opts.verbose)?;
    let guard = cleanup::Guard::new(&parent.join(format!("demo-{}", std::process::id())))
        .map_err(|e| Failure::new(format!("cannot create the demo's scratch directory: {e}")))?;
    let started = Instant::now();
    let stage = Stage {
        backend,
        bin_dir,
        how,
        swept,
        callers,
    };
    let mut story = Story::new(opts, guard, stage, log.clone())?;
    let result = story.tell();
    let took = started.elapsed();
    if let Err(e) = &result {
        story.timeline.say("");
        story.timeline.say(&format!(
            "{} the story stopped: {}",
            if e.to_string() == "interrupted" {
                "■"
            } else {
                "✘"
            },
            e
        ));
    }
    drop(story);
    println!(
        "logs of every binary: {} · {}",
        log.path().display(),
        match &result {
            Ok(()) => format!("the story took {}", seconds(took)),
            Err(e) if e.to_string() == "interrupted" => "interrupted".to_owned(),
            Err(_) => "see them for what went wrong".to_owned(),
        }
    );
    result
}

/// `--app streamlit`: the Streamlit example of `examples/mangetamain/` (its `serve.py restart`
/// as `restart-command`, its calling workflows), as local processes, with a Python that has its
/// pinned requirements (`LASTGOOD_DEMO_PYTHON`, else a virtualenv the demo keeps under the
/// target directory, installed from PyPI once per `requirements.txt`).
fn run_streamlit(opts: &Options, root: &Path) -> Result {
    let dir = root.join("examples/mangetamain");
    if !dir.is_dir() {
        return Err(Failure::with_code(
            format!(
                "--app streamlit: the Streamlit example is missing ({} is not in this tree yet); run `cargo xtask demo` without --app: the sample app (examples/sample-app) stands in for it",
                dir.display()
            ),
            2,
        ));
    }
    let callers = dir.join(".github/workflows");
    let needed = [
        dir.join("serve.py"),
        dir.join("app.py"),
        dir.join("requirements.txt"),
        callers.join("cd-preprod.yml"),
        callers.join("cd-prod.yml"),
        callers.join("health-check.yml"),
    ];
    if let Some(missing) = needed.iter().find(|p| !p.is_file()) {
        return Err(Failure::with_code(
            format!(
                "--app streamlit: {} is not there: the demo runs the example with `python serve.py restart` and its calling workflows; run without --app",
                missing.display()
            ),
            2,
        ));
    }
    if opts.restart == RestartChoice::Docker {
        return Err(Failure::with_code(
            "--app streamlit runs as local processes: its image is built from a Python base image, which the demo does not pull",
            2,
        ));
    }
    let python = streamlit_python(&dir)?;
    let bin_dir = match &opts.bin_dir {
        Some(d) => std::path::absolute(d)
            .map_err(|e| Failure::new(format!("--bin-dir {}: {e}", d.display())))?,
        None => {
            let mut build = cargo();
            build.args(["build", "--locked"]);
            for b in BINARIES {
                build.args(["-p", b]);
            }
            built_dir(&mut build)?
        }
    };
    let how = format!(
        "the Streamlit example (examples/mangetamain) as local processes, `python serve.py restart` as `restart-command` ({})",
        python.display()
    );
    tell(opts, Backend::Streamlit { python }, bin_dir, &how, &callers)
}

/// A Python that imports streamlit as the example pins it.
fn streamlit_python(example: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("LASTGOOD_DEMO_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let venv = target_dir().join("demo-streamlit-venv");
    let python = venv.join("bin/python");
    let requirements = util::read_file(&example.join("requirements.txt"))?;
    let stamp = venv.join("requirements.txt");
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(python);
    }
    eprintln!(
        "==> a virtualenv with the Streamlit example's requirements, in {}",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    util::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(example.join("requirements.txt")),
    )?;
    util::write_file(&stamp, requirements)?;
    Ok(python)
}

fn image_exists() -> bool {
    succeeds("docker", &["image", "inspect", IMAGE])
}

/// Builds the sample app's image as examples/sample-app/Dockerfile says: a static binary in a
/// `FROM scratch` image.
pub(crate) fn build_image(root: &Path) -> Result {
    let target = host_target()?;
    let static_dir = target_dir().join("sample-app-static");
    let mut build = cargo();
    build
        .args(["build", "--release", "--locked", "-p", "sample-app"])
        .args(["--target", &target, "--target-dir"])
        .arg(&static_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    util::run(&mut build)?;
    let context = target_dir().join("sample-app-image");
    std::fs::create_dir_all(&context)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", context.display())))?;
    let binary = static_dir.join(&target).join("release/sample-app");
    std::fs::copy(&binary, context.join("sample-app"))
        .map_err(|e| Failure::new(format!("cannot copy {}: {e}", binary.display())))?;
    util::read(
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
    .map(drop)
}

/// A commit pushed by a developer.
#[derive(Debug, Clone)]
struct Push {
    sha: String,
    author: &'static str,
    message: &'static str,
}

impl Push {
    fn short(&self) -> String {
        short(&self.sha)
    }
}

/// The workflows the demo plays: the reusable ones (`.github/workflows/`) and the calling
/// examples a user copies (`with:` values; the demo replaces their paths and URLs by its own).
struct Plays {
    preprod: Workflow,
    prod: Workflow,
    health: Workflow,
    preprod_caller: BTreeMap<String, String>,
    prod_caller: BTreeMap<String, String>,
    health_caller: BTreeMap<String, String>,
}

impl Plays {
    fn read(root: &Path, callers: &Path) -> Result<Plays> {
        let reusable = root.join(".github/workflows");
        Ok(Plays {
            preprod: Workflow::load(&reusable.join("cd-preprod.yml"))?,
            prod: Workflow::load(&reusable.join("cd-prod.yml"))?,
            health: Workflow::load(&reusable.join("health-check.yml"))?,
            preprod_caller: Workflow::caller_with(&callers.join("cd-preprod.yml"))?,
            prod_caller: Workflow::caller_with(&callers.join("cd-prod.yml"))?,
            health_caller: Workflow::caller_with(&callers.join("health-check.yml"))?,
        })
    }

    /// The path of a URL the caller gives (`/app/static/revision.txt` of
    /// `http://127.0.0.1:8500/app/static/revision.txt`), to serve from the demo's port.
    fn path_of(caller: &BTreeMap<String, String>, key: &str, default: &str) -> String {
        caller
            .get(key)
            .and_then(|u| {
                let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
                rest.find('/').map(|i| rest[i..].to_owned())
            })
            .unwrap_or_else(|| default.to_owned())
    }

    fn preprod_health_path(&self) -> String {
        Self::path_of(&self.preprod_caller, "health-url", REVISION_PATH)
    }

    fn prod_health_path(&self) -> String {
        Self::path_of(&self.prod_caller, "health-url", REVISION_PATH)
    }

    fn probe_path(&self, env: &str) -> String {
        Self::path_of(&self.health_caller, &format!("{env}-url"), "/")
    }
}

/// Where the story is played: the app's backend, the binaries, what the header says.
struct Stage<'a> {
    backend: Backend,
    bin_dir: PathBuf,
    how: &'a str,
    /// Earlier, killed runs cleaned up.
    swept: usize,
    /// The directory of the calling workflows.
    callers: &'a Path,
}

struct Story {
    timeline: Timeline,
    runner: Runner,
    guard: cleanup::Guard,
    github: FakeGitHub,
    discord: DiscordStandIn,
    /// Discord messages as last shown, by id.
    seen: BTreeMap<String, Value>,
    preprod: Env,
    prod: Env,
    dev: PathBuf,
    pushes: Vec<Push>,
    plays: Plays,
    locale: &'static str,
    real_pace: bool,
    sampler: Option<Sampler>,
    next_run: u64,
    /// Whether the preprod-vs-prod view was shown (once is enough).
    shown_view: bool,
    /// The Streamlit example instead of the sample app.
    streamlit: bool,
}

impl Story {
    fn new(opts: &Options, guard: cleanup::Guard, stage: Stage<'_>, log: Log) -> Result<Story> {
        let Stage {
            backend,
            bin_dir,
            how,
            swept,
            callers,
        } = stage;
        let dir = guard.dir().to_path_buf();
        let runner_dir = dir.join("runner");
        std::fs::create_dir_all(&runner_dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", runner_dir.display())))?;
        let github = FakeGitHub::start();
        let discord = DiscordStandIn::start();
        let preprod = Env::new("preprod", &dir, &backend)?;
        let prod = Env::new("prod", &dir, &backend)?;
        let mut guard = guard;
        guard
            .projects
            .extend([&preprod, &prod].iter().filter_map(|e| e.project.clone()));
        let env = vec![
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_REPOSITORY".into(), github::REPOSITORY.into()),
            ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
            // ci-watcher's `api-url` is not passed by cd-preprod.yml: it reads the runner's.
            ("GITHUB_API_URL".into(), github.url()),
            // The composite actions pass the job's token (`github.token`) as GITHUB_TOKEN to
            // every action with a `token` input (deploy-sha's GitHub deployments).
            ("GITHUB_TOKEN".into(), github::TOKEN.into()),
            // The runner kills what carries it when the job ends; the detached watcher drops it.
            (
                "RUNNER_TRACKING_ID".into(),
                format!("github_demo{}", std::process::id()),
            ),
            ("RUNNER_TEMP".into(), runner_dir.display().to_string()),
        ];
        let timeline = Timeline::new();
        timeline.say(&timeline.bold(
            "lastgood demo: the seed's pipeline, played by the real binaries as the workflows call them",
        ));
        timeline.say(&format!("  app        {how}"));
        timeline.say(&format!(
            "  preprod    {}   prod {}   (8500 and 8501 on the seed's VM)",
            preprod.url("/"),
            prod.url("/")
        ));
        timeline.say(&format!(
            "  stand-ins  GitHub {}   Discord {}   (loopback)",
            github.url(),
            discord.url()
        ));
        timeline.say(&format!(
            "  pace       {}",
            if opts.real_pace {
                "real: the watcher waits 30s, then polls every 10s (the workflows' defaults)"
            } else {
                "quick: the watcher waits 2s, then polls every 1s (--pace real: 30s and 10s, as in the seed)"
            }
        ));
        if swept > 0 {
            timeline.say(&format!(
                "  (removed what {swept} earlier, killed demo run(s) left behind)"
            ));
        }
        Ok(Story {
            timeline,
            runner: Runner {
                bin_dir,
                dir: runner_dir,
                log,
                env,
                counter: 0,
                last_inputs: BTreeMap::new(),
            },
            guard,
            github,
            discord,
            seen: BTreeMap::new(),
            dev: dir.join("dev"),
            preprod,
            prod,
            pushes: Vec::new(),
            plays: Plays::read(&project_root(), callers)?,
            streamlit: matches!(backend, Backend::Streamlit { .. }),
            locale: opts.locale,
            real_pace: opts.real_pace,
            sampler: None,
            next_run: 100,
            shown_view: false,
        })
    }

    fn tell(&mut self) -> Result {
        let first = self.setup()?;
        let good = self.act_good_push()?;
        self.act_broken_at_startup(&good)?;
        self.act_fails_ci(&good)?;
        self.act_prod(&first, &good)?;
        self.act_probe()?;
        self.finale(&good)
    }

    // ── Setup ──────────────────────────────────────────────────────────────────────────────

    /// The app's repository (origin and a developer's clone), both environments' checkouts on
    /// the first commit, their apps started: the VM as it was before lastgood.
    fn setup(&mut self) -> Result<Push> {
        let dir = self.guard.dir().to_path_buf();
        self.timeline
            .heading("0. The VM before lastgood: both environments run the first version");
        let t = self.timeline.elapsed();
        let clock = Instant::now();
        git(&dir, &["init", "-q", "--bare", "-b", "main", "origin.git"])?;
        util::write_file(&self.dev.join(".keep"), "")?;
        git(&self.dev, &["init", "-q", "-b", "main"])?;
        git(&self.dev, &["remote", "add", "origin", "../origin.git"])?;
        if self.streamlit {
            // The example is the app's repository.
            copy_tree(&project_root().join("examples/mangetamain"), &self.dev)?;
        } else {
            let sample = project_root().join("examples/sample-app");
            for env in ["preprod", "prod"] {
                let file = app::compose_file(env);
                let text = util::read_file(&sample.join(file))?;
                util::write_file(&self.dev.join(file), text)?;
            }
            util::write_file(&self.dev.join(".gitignore"), ".env\ndata/\n")?;
        }
        std::fs::remove_file(self.dev.join(".keep"))
            .map_err(|e| Failure::new(format!("cannot tidy the developer's clone: {e}")))?;
        let first = self.commit(
            "Alice",
            "feat: first version",
            &[("VERSION", Some("1.0\n".to_owned()))],
        )?;
        for env in [&self.preprod, &self.prod] {
            git(&dir, &["clone", "-q", "origin.git", env.name])?;
            std::fs::create_dir_all(&env.state)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", env.state.display())))?;
        }
        // Prod's local data, which the backup before a prod deploy keeps.
        util::write_file(&self.prod.checkout.join(".env"), "MANGETAMAIN_MODE=prod\n")?;
        util::write_file(
            &self.prod.checkout.join("data/ratings.csv"),
            "recipe,rating\nratatouille,5\n",
        )?;
        // Both at once: a compose start takes seconds.
        let (pre, pro, log) = (&self.preprod, &self.prod, &self.runner.log);
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| pre.start_showing(log, "starting preprod and prod"));
            let b = s.spawn(|| pro.start_showing(log, ""));
            (a.join(), b.join())
        });
        for started in [a, b] {
            started.map_err(|_| Failure::new("starting an environment panicked"))??;
        }
        self.preprod.wait_up(&self.plays.preprod_health_path())?;
        self.prod.wait_up(&self.plays.prod_health_path())?;
        self.sampler = Some(Sampler::start(
            vec![("preprod", self.preprod.port), ("prod", self.prod.port)],
            self.plays.preprod_health_path(),
            self.timeline.start(),
        ));
        self.timeline.step(
            t,
            "vm",
            "origin, checkouts, apps started",
            Mark::Ok,
            &format!(
                "preprod and prod serve {} \"{}\"",
                first.short(),
                first.message
            ),
            clock.elapsed(),
        );
        Ok(first)
    }

    /// Commits in the developer's clone (`None` removes a file) and pushes.
    fn commit(
        &mut self,
        author: &'static str,
        message: &'static str,
        files: &[(&str, Option<String>)],
    ) -> Result<Push> {
        for (file, contents) in files {
            match contents {
                Some(c) => util::write_file(&self.dev.join(file), c)?,
                None => {
                    git(&self.dev, &["rm", "-q", file])?;
                }
            }
        }
        git(&self.dev, &["add", "-A"])?;
        let name = format!("user.name={author}");
        let email = format!("user.email={}@mangetamain.invalid", author.to_lowercase());
        git(
            &self.dev,
            &[
                "-c",
                &name,
                "-c",
                &email,
                "-c",
                "commit.gpgsign=false",
                "commit",
                "-q",
                "-m",
                message,
            ],
        )?;
        git(&self.dev, &["push", "-q", "origin", "main"])?;
        let sha = git(&self.dev, &["rev-parse", "HEAD"])?;
        let push = Push {
            sha,
            author,
            message,
        };
        self.pushes.push(push.clone());
        Ok(push)
    }

    fn push(
        &mut self,
        author: &'static str,
        message: &'static str,
        files: &[(&str, Option<String>)],
    ) -> Result<Push> {
        let push = self.commit(author, message, files)?;
        self.timeline.event(
            "dev",
            &format!("git push {}", push.short()),
            &format!("\"{message}\" by {author}"),
        );
        Ok(push)
    }

    // ── Acts ───────────────────────────────────────────────────────────────────────────────

    fn act_good_push(&mut self) -> Result<Push> {
        self.timeline
            .heading("1. A good push: deployed first, CI watched in the background, validated");
        let mut files = vec![("VERSION", Some("1.1\n".to_owned()))];
        if !self.streamlit {
            files.push(("app.conf", Some("message=Analyse saisonnière\n".to_owned())));
        }
        let b = self.push("Alice", "feat: seasonal analysis", &files)?;
        self.ci_run(&b, None);
        let deploy = self.cd_preprod(&b)?;
        expect(
            deploy.out("outcome") == "deployed",
            "preprod deploys the good push",
        )?;
        let action = self.wait_watch(&b, &deploy)?;
        expect(action == "validated", "CI's green validates the good push")?;
        let validated = util::read_file(&self.preprod.state.join("last-validated-sha.txt"))?;
        expect(
            validated.trim() == b.sha,
            "last-validated-sha.txt names the good push",
        )?;
        Ok(b)
    }

    fn act_broken_at_startup(&mut self, good: &Push) -> Result {
        self.timeline
            .heading("2. A push broken at start-up: its health gate fails, rolled back at once");
        // The sample app exits at start-up with `fail=start`; the Streamlit example's script
        // raises at import, which its self-check (`serve.py run`) catches before it serves.
        let files = if self.streamlit {
            let app = util::read_file(&self.dev.join("app.py"))?;
            vec![("app.py", Some(format!("{app}\n{BROKEN}")))]
        } else {
            vec![("app.conf", Some("fail=start\n".to_owned()))]
        };
        let c = self.push("Bob", "fix: read the config from app.conf", &files)?;
        let deploy = self.cd_preprod(&c)?;
        expect(
            deploy.out("outcome") == "rolled-back" && deploy.code == 1,
            "deploy-sha rolls the broken push back (exit 1)",
        )?;
        self.expect_serving(&self.preprod.clone(), good)
    }

    fn act_fails_ci(&mut self, good: &Push) -> Result {
        self.timeline
            .heading("3. A push that starts but fails CI: the watcher rolls preprod back");
        let files = if self.streamlit {
            let app = util::read_file(&self.dev.join("app.py"))?;
            let fixed = app.replace(&format!("\n{BROKEN}"), "");
            vec![
                ("app.py", Some(fixed)),
                ("VERSION", Some("1.2\n".to_owned())),
            ]
        } else {
            vec![("app.conf", None), ("VERSION", Some("1.2\n".to_owned()))]
        };
        let d = self.push("Chloé", "feat: monthly analysis", &files)?;
        self.ci_run(&d, Some("tests"));
        let deploy = self.cd_preprod(&d)?;
        expect(
            deploy.out("outcome") == "deployed",
            "the push that starts is deployed",
        )?;
        let action = self.wait_watch(&d, &deploy)?;
        expect(action == "rolled-back", "CI's failure rolls preprod back")?;
        self.expect_serving(&self.preprod.clone(), good)
    }

    fn act_prod(&mut self, first: &Push, good: &Push) -> Result {
        self.timeline.heading(
            "4. Prod, by hand: preprod vs prod, backup, typed DEPLOY, the validated SHA only",
        );
        // Someone runs "CD prod" and types "deploy".
        let refused = self.cd_prod("deploy", "")?;
        expect(
            refused.is_none(),
            "the workflow refuses without the typed DEPLOY",
        )?;
        // Someone wants main's tip in prod: CI failed on it, preprod never validated it.
        let tip = self
            .pushes
            .last()
            .cloned()
            .ok_or_else(|| Failure::new("no push"))?;
        let not_validated = self
            .cd_prod("DEPLOY", &tip.sha)?
            .ok_or_else(|| Failure::new("the confirmation step refused DEPLOY"))?;
        expect(
            not_validated.code == 2,
            "deploy-sha refuses a SHA that preprod did not validate (exit 2)",
        )?;
        self.expect_serving(&self.prod.clone(), first)?;
        // The validated SHA: `sha` left empty, it defaults to preprod's last validated SHA.
        let deployed = self
            .cd_prod("DEPLOY", "")?
            .ok_or_else(|| Failure::new("the confirmation step refused DEPLOY"))?;
        expect(
            deployed.out("outcome") == "deployed" && deployed.out("deployed-sha") == good.sha,
            "prod deploys preprod's validated SHA",
        )?;
        self.expect_serving(&self.prod.clone(), good)
    }

    fn act_probe(&mut self) -> Result {
        self.timeline
            .heading("5. The hourly health check: both up, then prod down, then recovered");
        let round = self.health_check("hourly probe")?;
        expect(
            round.iter().all(|(_, p)| p.code == 0),
            "both environments are up",
        )?;
        self.timeline.event(
            "ops",
            "prod's app stops",
            "an outage (the process or container is stopped)",
        );
        let prod = self.prod.clone();
        prod.stop(&self.runner.log)?;
        let round = self.health_check("hourly probe, an hour later")?;
        expect(
            round
                .iter()
                .any(|(e, p)| *e == "prod" && p.out("transition") == "down"),
            "the probe finds prod down",
        )?;
        self.timeline.event(
            "ops",
            "prod's app started again",
            "by hand, on the same checkout",
        );
        prod.start(&self.runner.log)?;
        prod.wait_up(&self.plays.prod_health_path())?;
        let round = self.health_check("hourly probe, an hour later")?;
        expect(
            round
                .iter()
                .any(|(e, p)| *e == "prod" && p.out("transition") == "recovered"),
            "the probe sees prod recovered",
        )?;
        Ok(())
    }

    fn finale(&mut self, good: &Push) -> Result {
        let changes = self.sampler.take().map(Sampler::finish).unwrap_or_default();
        self.timeline
            .heading("The service's version over time (sampled every 150 ms)");
        self.timeline
            .say(&format!("  {:<8} {:<44} {}", "time", "preprod", "prod"));
        // One row per instant: a preprod change and a prod change within 100 ms share a row.
        let mut rows: Vec<(Duration, String, String)> = Vec::new();
        for (at, env, serving) in changes {
            let text = match serving {
                Serving::Down => "down".to_owned(),
                Serving::Up { sha, healthy } if sha.is_empty() => {
                    if healthy {
                        "up".to_owned()
                    } else {
                        "starting (not healthy yet)".to_owned()
                    }
                }
                Serving::Up { sha, healthy } => {
                    let label = self
                        .pushes
                        .iter()
                        .find(|p| p.sha == sha)
                        .map_or_else(|| short(&sha), |p| format!("{} {}", p.short(), p.message));
                    if healthy {
                        label
                    } else {
                        format!("{label} (unhealthy)")
                    }
                }
            };
            match rows.last_mut() {
                Some((t, _, pro))
                    if env == "prod" && pro.is_empty() && at - *t < Duration::from_millis(100) =>
                {
                    *pro = text;
                }
                _ if env == "prod" => rows.push((at, String::new(), text)),
                _ => rows.push((at, text, String::new())),
            }
        }
        for (at, pre, pro) in rows {
            self.timeline
                .say(&format!("  {:<8} {:<44} {pro}", show::clock(at), pre));
        }
        let journal = |env: &Env| {
            std::fs::read_to_string(env.state.join("journal.jsonl"))
                .map(|j| j.lines().count())
                .unwrap_or(0)
        };
        self.timeline.heading("The end");
        self.timeline.say(&format!(
            "  preprod and prod serve {} \"{}\", the last validated SHA; journals: {} preprod events, {} prod events; {} Discord messages",
            good.short(),
            good.message,
            journal(&self.preprod),
            journal(&self.prod),
            self.discord.messages().len()
        ));
        Ok(())
    }

    // ── The workflows ──────────────────────────────────────────────────────────────────────

    /// Scripts the CI run of `push` on the GitHub stand-in: queued when the watcher first
    /// looks (before it detaches), in progress at its first poll, completed at its third
    /// (`failing`: a failed job of that name, with a failed step and its log).
    fn ci_run(&mut self, push: &Push, failing: Option<&str>) {
        self.next_run += 1;
        let id = self.next_run;
        let conclusion = if failing.is_some() {
            "failure"
        } else {
            "success"
        };
        self.github.add_run(
            Run::new(id, &push.sha)
                .at(When::Poll(0), "queued", None)
                .at(When::Poll(1), "in_progress", None)
                .at(When::Poll(3), "completed", Some(conclusion)),
        );
        if let Some(job) = failing {
            let job_id = id * 10 + 2;
            self.github.set_jobs(
                id,
                vec![
                    Job::new(id * 10 + 1, "quality", "success")
                        .step("flake8", "success")
                        .step("black --check", "success"),
                    Job::new(job_id, job, "failure")
                        .step("Set up Python 3.13", "success")
                        .step("pytest --cov=src --cov-fail-under=90", "failure"),
                ],
            );
            self.github.set_log(
                job_id,
                "collected 48 items\n\
                 tests/unit/test_analyse_mensuelle.py::test_mois_vide FAILED\n\
                 E   KeyError: 'mois'\n\
                 FAIL Required test coverage of 90% not reached. Total coverage: 87.50%\n\
                 ##[error]Process completed with exit code 1.\n",
            );
        }
    }

    /// The job's context: the caller's `with:` (paths and URLs the demo's), `github.sha`, the
    /// secrets (the stand-ins' webhook and token).
    fn context(&self, caller: &BTreeMap<String, String>, env: &Env, sha: &str) -> Context {
        let mut inputs = caller.clone();
        let local = |url: &str| {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            env.url(rest.find('/').map_or("/", |i| &rest[i..]))
        };
        for (k, v) in inputs.iter_mut() {
            if k.ends_with("-url") {
                *v = local(v);
            }
        }
        inputs.insert("app-dir".into(), path(&env.checkout));
        inputs.insert("state-dir".into(), path(&env.state));
        inputs.insert("preprod-state-dir".into(), path(&self.preprod.state));
        inputs.insert("prod-state-dir".into(), path(&self.prod.state));
        inputs.insert("app-url".into(), env.url("/"));
        inputs.insert("locale".into(), self.locale.into());
        for (k, v) in env.restart_inputs() {
            inputs.insert(k.into(), v);
        }
        Context {
            inputs,
            sha: sha.to_owned(),
            secrets: [
                ("DISCORD_WEBHOOK_URL".to_owned(), self.discord.webhook_url()),
                ("WATCH_TOKEN".to_owned(), github::TOKEN.to_owned()),
            ]
            .into(),
            matrix: BTreeMap::new(),
        }
    }

    fn set_event(&mut self, event: &str, sha: &str, actor: &str) {
        self.runner.env.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "GITHUB_SHA" | "GITHUB_EVENT_NAME" | "GITHUB_ACTOR" | "GITHUB_RUN_ID"
            )
        });
        self.runner.env.extend([
            ("GITHUB_SHA".to_owned(), sha.to_owned()),
            ("GITHUB_EVENT_NAME".to_owned(), event.to_owned()),
            ("GITHUB_ACTOR".to_owned(), actor.to_lowercase()),
            (
                "GITHUB_RUN_ID".to_owned(),
                format!("{}", 9000 + self.runner.counter),
            ),
        ]);
    }

    /// `cd-preprod.yml`, job `deploy`, for a push: save → notify started → deploy → notify the
    /// outcome (editing the message) → the watcher, detached, if deployed. Returns the deploy
    /// (with the watcher's outputs as `watch-*`).
    fn cd_preprod(&mut self, push: &Push) -> Result<StepRun> {
        let env = self.preprod.clone();
        self.set_event("push", &push.sha, push.author);
        let ctx = self.context(&self.plays.preprod_caller, &env, &push.sha);
        // `github.event.head_commit.*`, as the push event gives them.
        let commit = [
            ("author", push.author.to_owned()),
            ("commit-message", push.message.to_owned()),
        ];
        let had_validated = env.state.join("last-validated-sha.txt").is_file();
        let save = self.play(Wf::Preprod, &env, "Save the rollback point", &ctx, &[])?;
        let outcome = if save.code == 0 {
            let mut text = format!("previous {}", short(save.out("previous-sha")));
            if had_validated {
                text.push_str(&format!(
                    ", rollback target {}",
                    short(save.out("rollback-sha"))
                ));
            } else {
                text.push_str(", recorded as the first good SHA (the running version)");
            }
            (Mark::Ok, text)
        } else {
            (Mark::Bad, format!("exit {}", save.code))
        };
        self.line(&env, "save-rollback-point", &save, outcome);
        if save.code != 0 {
            return Err(Failure::new("save-rollback-point failed; see the log"));
        }
        // `if: env.LASTGOOD_DISCORD == 'true'`: the webhook secret is set.
        let started = self.notify(
            Wf::Preprod,
            &env,
            "Tell Discord the deploy started",
            &ctx,
            &commit,
        )?;
        let deploy = self.play(Wf::Preprod, &env, "Deploy the exact SHA", &ctx, &[])?;
        let outcome = self.deploy_outcome(&deploy);
        self.line(
            &env,
            &format!("deploy-sha {}", push.short()),
            &deploy,
            outcome,
        );
        // `if: always() && … && steps.deploy.outcome != 'skipped'`: it ran, so always.
        let mut supplied = commit.to_vec();
        supplied.push(("event", outcome_event(&deploy).into()));
        supplied.push(("message-id", started.out("message-id").into()));
        self.notify(
            Wf::Preprod,
            &env,
            "Tell Discord how the deploy went",
            &ctx,
            &supplied,
        )?;
        // `if: steps.deploy.outputs.outcome == 'deployed'`.
        if deploy.out("outcome") != "deployed" {
            return Ok(deploy);
        }
        // `token: ${{ secrets.WATCH_TOKEN || github.token }}`.
        let mut supplied = vec![("token", github::TOKEN.to_owned())];
        let pace = if self.real_pace {
            Vec::new()
        } else {
            // The demo's one deviation from the workflow: shorter waits (`--pace real` drops it).
            vec![
                ("initial-delay", "2s".to_owned()),
                ("interval", "1s".to_owned()),
            ]
        };
        supplied.extend(pace.iter().cloned());
        let watch = self.play_with_extra(
            Wf::Preprod,
            &env,
            "Watch CI in the background",
            &ctx,
            &[
                supplied[0].clone(),
                // `${{ steps.started.outputs.message-id }}`: the verdict edits the deploy's message.
                ("message-id", started.out("message-id").to_owned()),
            ],
            &pace,
        )?;
        if let Ok(pid) = watch.out("pid").parse::<u32>() {
            self.guard.watchers.push(pid);
        }
        let outcome = if watch.code == 0 {
            (
                Mark::Ok,
                format!(
                    "detached (pid {}): the job ends, the watcher goes on",
                    watch.out("pid")
                ),
            )
        } else {
            (Mark::Bad, format!("exit {}", watch.code))
        };
        self.line(&env, "ci-watcher (detach)", &watch, outcome);
        if watch.code != 0 {
            return Err(Failure::new("ci-watcher could not detach; see the log"));
        }
        Ok(StepRun {
            outputs: deploy
                .outputs
                .into_iter()
                .chain(
                    watch
                        .outputs
                        .into_iter()
                        .map(|(k, v)| (format!("watch-{k}"), v)),
                )
                .collect(),
            ..deploy
        })
    }

    /// Waits for the detached watcher of `push` to conclude (its watch file gone), showing
    /// progress; returns the action it took, read from the journal.
    fn wait_watch(&mut self, push: &Push, deploy: &StepRun) -> Result<String> {
        let env = self.preprod.clone();
        let watch_file = env.state.join("watches").join(format!("{}.json", push.sha));
        let started = Instant::now();
        let at = self.timeline.elapsed();
        let mut progress = Progress::new("", !self.runner.log.verbose());
        let mut last_polls = usize::MAX;
        while watch_file.exists() {
            if cleanup::interrupted() {
                return Err(Failure::with_code("interrupted", 130));
            }
            if started.elapsed() > Duration::from_secs(6 * 60) {
                return Err(Failure::new(format!(
                    "the watcher of {} did not conclude within 6 minutes; see the log",
                    push.short()
                )));
            }
            let polls = self.github.polls(&push.sha);
            if polls != last_polls {
                last_polls = polls;
                // The run's state as ci_run scripted it, by the watcher's looks.
                let ci = match polls {
                    0 | 1 => "queued",
                    2 | 3 => "in progress",
                    _ => "completed",
                };
                progress.set(format!(
                    "CI of {} {ci}; the detached watcher has looked {polls} time(s)",
                    push.short(),
                ));
            }
            progress.tick();
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(progress);
        let log_file = PathBuf::from(deploy.out("watch-log-file"));
        self.runner.log.append_file(
            &format!("detached ci-watcher of {}", push.short()),
            &log_file,
        );
        // The watcher has concluded; its process may take a moment to end.
        let pid: u32 = deploy.out("watch-pid").parse().unwrap_or(0);
        let end = Instant::now();
        while pid != 0 && cleanup::alive(pid) && end.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.guard.watchers.retain(|p| *p != pid);
        // The verdict, from the journal: a `validate` of this SHA, or a `rollback` away from it.
        let last = journal(&env.state)
            .into_iter()
            .rev()
            .find(|e| {
                let sha = e["sha"].as_str() == Some(push.sha.as_str());
                let from = e["previous_sha"].as_str() == Some(push.sha.as_str());
                match e["event"].as_str() {
                    Some("validate" | "superseded") => sha,
                    Some("rollback") => from,
                    _ => false,
                }
            })
            .unwrap_or(Value::Null);
        let polls = self.github.polls(&push.sha);
        let action = match last["event"].as_str() {
            Some("validate") => "validated",
            Some("rollback") => "rolled-back",
            Some(other) => other,
            None => "unknown",
        }
        .to_owned();
        let took = started.elapsed();
        let ci = if action == "validated" {
            "success"
        } else {
            "failure"
        };
        self.timeline.step(
            at,
            "github",
            &format!("CI run of {}", push.short()),
            if ci == "success" { Mark::Ok } else { Mark::Bad },
            &format!("queued → in progress → {ci}, seen in {polls} looks by the watcher"),
            took,
        );
        let (mark, text) = match action.as_str() {
            "validated" => (
                Mark::Ok,
                format!("validated: last-validated-sha.txt ← {}", push.short()),
            ),
            "rolled-back" => (
                Mark::Guard,
                format!(
                    "rolled back to {} (the last validated SHA), health-checked",
                    short(last["sha"].as_str().unwrap_or(""))
                ),
            ),
            other => (Mark::Bad, other.to_owned()),
        };
        let run = StepRun {
            took,
            ..StepRun::default()
        };
        self.line(&env, "ci-watcher (in the background)", &run, (mark, text));
        self.show_messages();
        Ok(action)
    }

    /// `cd-prod.yml`, job `deploy`: the confirmation check, save (backup, preprod vs prod) →
    /// notify started → deploy the validated SHA → notify the outcome. `None` when the
    /// confirmation step refused.
    fn cd_prod(&mut self, confirm: &str, sha: &str) -> Result<Option<StepRun>> {
        let env = self.prod.clone();
        let tip = self
            .pushes
            .last()
            .map(|p| p.sha.clone())
            .unwrap_or_default();
        self.set_event("workflow_dispatch", &tip, "alice");
        let mut ctx = self.context(&self.plays.prod_caller, &env, &tip);
        ctx.inputs.insert("confirm".into(), confirm.into());
        ctx.inputs.insert("sha".into(), sha.into());
        self.timeline.event(
            "prod",
            "Run workflow \"CD prod\"",
            &format!(
                "confirm: \"{confirm}\"{}",
                if sha.is_empty() {
                    ", sha: (empty: preprod's validated SHA)".to_owned()
                } else {
                    format!(", sha: {}", short(sha))
                }
            ),
        );
        // "Check the confirmation": a `run:` step, `[ "$CONFIRM" != DEPLOY ]` → exit 2.
        if confirm != "DEPLOY" {
            self.line(
                &env,
                "check the confirmation",
                &StepRun::default(),
                (
                    Mark::Guard,
                    "refused: \"type DEPLOY in the confirm input to deploy to prod\" (exit 2), nothing ran".into(),
                ),
            );
            return Ok(None);
        }
        let save = self.play(
            Wf::Prod,
            &env,
            "Save the rollback point and back up",
            &ctx,
            &[],
        )?;
        let backup = save.out("backup");
        let outcome = if save.code == 0 {
            (
                Mark::Ok,
                format!(
                    "previous {}, backup {}",
                    short(save.out("previous-sha")),
                    Path::new(backup)
                        .file_name()
                        .map_or("none".into(), |n| n.to_string_lossy().into_owned())
                ),
            )
        } else {
            (Mark::Bad, format!("exit {}", save.code))
        };
        self.line(&env, "save-rollback-point (backup)", &save, outcome);
        if save.code != 0 {
            return Err(Failure::new(
                "save-rollback-point failed in prod; see the log",
            ));
        }
        if !self.shown_view {
            self.shown_view = true;
            self.timeline.detail("the job summary, preprod vs prod:");
            self.timeline.markdown(&self.tidy(&save.summary));
        }
        let started = self.notify(Wf::Prod, &env, "Tell Discord the deploy started", &ctx, &[])?;
        let deploy = self.play(
            Wf::Prod,
            &env,
            "Deploy the SHA validated on preprod",
            &ctx,
            &[],
        )?;
        let outcome = self.deploy_outcome(&deploy);
        let what = if deploy.out("deployed-sha").is_empty() {
            "deploy-sha".to_owned()
        } else {
            format!("deploy-sha {}", short(deploy.out("deployed-sha")))
        };
        self.line(&env, &what, &deploy, outcome);
        // `details: ${{ steps.deploy.outputs.outcome != 'deployed' && format(…) || '' }}`.
        let details = if deploy.out("outcome") != "deployed" {
            format!(
                "Previous SHA {}, roll back by hand with the rollback workflow",
                deploy.out("previous-sha")
            )
        } else {
            String::new()
        };
        let supplied = [
            ("message-id", started.out("message-id").to_owned()),
            ("event", outcome_event(&deploy).to_owned()),
            ("sha", deploy.out("deployed-sha").to_owned()),
            ("details", details),
        ];
        self.notify(
            Wf::Prod,
            &env,
            "Tell Discord how the deploy went",
            &ctx,
            &supplied,
        )?;
        Ok(Some(deploy))
    }

    /// `health-check.yml`: for preprod and prod (the matrix), probe, then notify on a
    /// transition.
    fn health_check(&mut self, title: &str) -> Result<Vec<(&'static str, StepRun)>> {
        self.set_event("schedule", "", "github");
        self.timeline
            .event("cron", title, "health-check.yml, both environments");
        let mut round = Vec::new();
        for env in [self.preprod.clone(), self.prod.clone()] {
            let mut ctx = self.context(&self.plays.health_caller, &env, "");
            let url = ctx
                .inputs
                .get(&format!("{}-url", env.name))
                .cloned()
                .unwrap_or_else(|| env.url(&self.plays.probe_path(env.name)));
            ctx.matrix = [
                ("environment".to_owned(), env.name.to_owned()),
                ("url".to_owned(), url),
                ("state-dir".to_owned(), path(&env.state)),
            ]
            .into();
            let probe = self.play(Wf::Health, &env, "Probe", &ctx, &[])?;
            let transition = probe.out("transition").to_owned();
            let body = ctx.inputs.get("expect-body").cloned().unwrap_or_default();
            let outcome = match (probe.code, transition.as_str()) {
                (0, "recovered") => (
                    Mark::Ok,
                    format!(
                        "up again (transition recovered), uptime {}%",
                        probe.out("uptime")
                    ),
                ),
                (0, _) => (
                    Mark::Ok,
                    format!(
                        "up: 200, contains \"{body}\", uptime {}%",
                        probe.out("uptime")
                    ),
                ),
                (_, "down") => (
                    Mark::Bad,
                    format!(
                        "DOWN after {} tries: {} (transition down)",
                        probe.out("attempts"),
                        probe.out("failure-reason")
                    ),
                ),
                _ => (Mark::Bad, format!("down: {}", probe.out("failure-reason"))),
            };
            self.line(&env, "health-probe", &probe, outcome);
            // `if: … (transition == 'down' || transition == 'recovered')`.
            if transition == "down" || transition == "recovered" {
                let event = if transition == "down" {
                    "health-down"
                } else {
                    "health-recovered"
                };
                let supplied = [
                    ("event", event.to_owned()),
                    ("details", probe.out("failure-reason").to_owned()),
                ];
                self.notify(
                    Wf::Health,
                    &env,
                    "Tell Discord about the change",
                    &ctx,
                    &supplied,
                )?;
            }
            round.push((env.name, probe));
        }
        Ok(round)
    }

    // ── Steps ──────────────────────────────────────────────────────────────────────────────

    /// Plays the step called `step` of a workflow: its action's binary with the step's inputs.
    fn play(
        &mut self,
        wf: Wf,
        env: &Env,
        step: &str,
        ctx: &Context,
        supplied: &[(&str, String)],
    ) -> Result<StepRun> {
        self.play_with_extra(wf, env, step, ctx, supplied, &[])
    }

    /// [`Story::play`] plus inputs the step does not give (the quick pace's waits).
    fn play_with_extra(
        &mut self,
        wf: Wf,
        env: &Env,
        step: &str,
        ctx: &Context,
        supplied: &[(&str, String)],
        extra: &[(&str, String)],
    ) -> Result<StepRun> {
        let workflow = match wf {
            Wf::Preprod => &self.plays.preprod,
            Wf::Prod => &self.plays.prod,
            Wf::Health => &self.plays.health,
        };
        let (action, mut with) = workflow.with(step, ctx, supplied)?;
        with.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let spec = spec::ALL
            .iter()
            .copied()
            .find(|s| s.name == action)
            .ok_or_else(|| {
                Failure::new(format!(
                    "demo out of date: step \"{step}\" uses `{action}`, not a lastgood binary"
                ))
            })?;
        let vars = env.vars();
        let title = format!("{} · {step} ({})", env.name, spec.name);
        self.runner.run(spec, &with, &vars, &title)
    }

    /// A notify-discord step; shows it and the message as the channel shows it.
    fn notify(
        &mut self,
        wf: Wf,
        env: &Env,
        step: &str,
        ctx: &Context,
        supplied: &[(&str, String)],
    ) -> Result<StepRun> {
        let run = self.play(wf, env, step, ctx, supplied)?;
        let event = self
            .runner
            .last_inputs
            .get("event")
            .cloned()
            .unwrap_or_default();
        let edit = !self
            .runner
            .last_inputs
            .get("message-id")
            .is_none_or(String::is_empty);
        let outcome = if run.out("sent") == "true" {
            (
                Mark::Ok,
                format!(
                    "message {} {}",
                    run.out("message-id"),
                    if edit { "edited" } else { "posted" }
                ),
            )
        } else {
            (
                Mark::Bad,
                format!("not sent (HTTP {})", run.out("http-status")),
            )
        };
        self.line(env, &format!("notify-discord {event}"), &run, outcome);
        self.show_messages();
        Ok(run)
    }

    /// Shows the Discord messages posted or edited since last time.
    fn show_messages(&mut self) {
        for (id, message) in self.discord.messages() {
            let edited = match self.seen.get(&id) {
                Some(old) if old == &message => continue,
                Some(_) => true,
                None => false,
            };
            self.timeline.discord(&message, edited);
            self.seen.insert(id, message);
        }
    }

    fn deploy_outcome(&self, deploy: &StepRun) -> (Mark, String) {
        match (deploy.code, deploy.out("outcome")) {
            (0, _) => (Mark::Ok, "deployed, health gate passed".into()),
            (1, "rolled-back") => (
                Mark::Guard,
                format!(
                    "health gate failed → rolled back to {}, healthy (exit 1)",
                    short(deploy.out("deployed-sha"))
                ),
            ),
            (2, _) => (
                Mark::Guard,
                format!(
                    "refused, nothing changed (exit 2): {}",
                    self.tidy(&refusal(&self.runner.log))
                ),
            ),
            (code, outcome) => (Mark::Bad, format!("{outcome} (exit {code})")),
        }
    }

    /// Text with the scratch directory's paths shortened to `…/`.
    fn tidy(&self, text: &str) -> String {
        text.replace(&format!("{}/", self.guard.dir().display()), "…/")
    }

    fn line(&mut self, env: &Env, what: &str, run: &StepRun, (mark, text): (Mark, String)) {
        let at = self.timeline.elapsed().saturating_sub(run.took);
        self.timeline
            .step(at, env.name, what, mark, &text, run.took);
    }

    fn expect_serving(&self, env: &Env, push: &Push) -> Result {
        let path = if env.name == "prod" {
            self.plays.prod_health_path()
        } else {
            self.plays.preprod_health_path()
        };
        let serving = env.serving(&path).unwrap_or_else(|| "nothing".into());
        expect(
            serving == push.sha,
            &format!(
                "{} serves {} (it serves {})",
                env.name,
                push.short(),
                short(&serving)
            ),
        )
    }
}

/// The line that breaks the Streamlit example's script at import.
const BROKEN: &str = "raise RuntimeError(\"a typo in the config\")\n";

/// Copies the example's tree into the app's repository, without what its `.gitignore` names
/// as run-time or build output.
fn copy_tree(from: &Path, to: &Path) -> Result {
    const SKIP: [&str; 9] = [
        ".venv",
        "__pycache__",
        ".run",
        "htmlcov",
        ".pytest_cache",
        ".mypy_cache",
        "build",
        "revision.txt",
        ".coverage",
    ];
    for entry in std::fs::read_dir(from)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", from.display())))?
        .flatten()
    {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if SKIP.contains(&name_str.as_ref()) || name_str.ends_with(".egg-info") {
            continue;
        }
        let target = to.join(&name);
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
            }
            std::fs::copy(entry.path(), &target).map_err(|e| {
                Failure::new(format!("cannot copy {}: {e}", entry.path().display()))
            })?;
        }
    }
    Ok(())
}

/// Which reusable workflow a step belongs to.
#[derive(Debug, Clone, Copy)]
enum Wf {
    Preprod,
    Prod,
    Health,
}

/// The notify step's `event`: `${{ steps.deploy.outputs.outcome == 'deployed' &&
/// 'deploy-succeeded' || steps.deploy.outputs.outcome == 'rolled-back' && 'rolled-back' ||
/// 'deploy-failed' }}`.
fn outcome_event(deploy: &StepRun) -> &'static str {
    match deploy.out("outcome") {
        "deployed" => "deploy-succeeded",
        "rolled-back" => "rolled-back",
        _ => "deploy-failed",
    }
}

/// The story's expectation: the binaries did what the seed says, or the demo fails saying what.
fn expect(ok: bool, what: &str) -> Result {
    if ok {
        Ok(())
    } else {
        Err(Failure::new(format!("expected: {what}; see the log")))
    }
}

/// The last `::error` line of the log, for a refusal's reason.
fn refusal(log: &Log) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("::error"))
        .map(|l| l.split_once("::").map_or(l, |(_, m)| m).to_owned())
        .unwrap_or_default()
}

fn journal(state: &Path) -> Vec<Value> {
    std::fs::read_to_string(state.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}
