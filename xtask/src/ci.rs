//! `cargo xtask ci`: the README's test command, and what the project's CI runs.
//!
//! fmt, workflow linters (zizmor, check-jsonschema), clippy, every test of the workspace
//! (xtask's tidy and codegen tests included), the doctests, then a short chaos run (3 rounds of
//! seed 8, see [`crate::chaos`]). Each step is printed; the first failure stops the run with its
//! exit code.
//!
//! - The tests run once, instrumented by cargo-llvm-cov when it is installed (see
//!   [`crate::coverage`]): then the HTML report is written to `<target>/llvm-cov/html` and the run
//!   fails under 90 % of the lines; the doctests (compiled, not measured: stable cargo-llvm-cov
//!   cannot instrument them) follow. Without cargo-llvm-cov, the plain suite runs after a loud
//!   "coverage SKIPPED", unless `LASTGOOD_REQUIRE_TOOLS=1`, which makes it a failure.
//!
//! - When `docker info` answers, the tests run with `LASTGOOD_REQUIRE_DOCKER=1`: the docker
//!   end-to-end tests become mandatory instead of returning early.
//! - When `python3` has `venv` and `ensurepip`, the tests run with `LASTGOOD_REQUIRE_STREAMLIT=1`:
//!   the tests of `examples/mangetamain` on a real Streamlit (installed from PyPI into a cached
//!   virtualenv under the target directory by the testkit) become mandatory.
//! - The workflow linters are Python tools (`pip install zizmor check-jsonschema`). A missing one is
//!   skipped with a loud notice, unless `LASTGOOD_REQUIRE_TOOLS=1` (set by `.ci/run` once every
//!   tool is installed, and by the project's CI), which makes it a failure: CI never skips
//!   silently.

use std::path::PathBuf;
use std::process::Command;

use crate::coverage;
use crate::util::{self, cargo, project_root, succeeds};
use crate::{Failure, Result};

/// The short chaos run of the suite: a fixed seed, three rounds (5 to 20 s each on a busy machine).
const CHAOS_SEED: &str = "8";
const CHAOS_ROUNDS: &str = "3";

/// Runs the suite.
pub fn run() -> Result {
    let require_tools = std::env::var("LASTGOOD_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let docker = succeeds("docker", &["info"]);
    let python = succeeds("python3", &["-c", "import venv, ensurepip"]);
    // A snapshot that differs (or is missing) fails and writes nothing, whatever the caller's env.
    let mut test_env = vec![("INSTA_UPDATE", "no")];
    if docker {
        test_env.push(("LASTGOOD_REQUIRE_DOCKER", "1"));
    }
    if python {
        test_env.push(("LASTGOOD_REQUIRE_STREAMLIT", "1"));
    }
    let missing_coverage = coverage::missing_tool();
    if let Some(why) = &missing_coverage
        && require_tools
    {
        return Err(Failure::new(format!(
            "coverage: {why}, and LASTGOOD_REQUIRE_TOOLS=1 (.ci/run installs it)"
        )));
    }
    let mut steps: Vec<(&str, Step)> = vec![
        ("format", Step::Run(cargo_cmd(&["fmt", "--all", "--check"]))),
        ("zizmor --persona=auditor (workflow security)", Step::Zizmor),
        ("check-jsonschema (workflow structure)", Step::JsonSchema),
        (
            "clippy",
            Step::Run(cargo_cmd(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])),
        ),
    ];
    if missing_coverage.is_none() {
        let tests = with_test_env(coverage::test_command(), &test_env);
        steps.push(("tests, instrumented (cargo llvm-cov)", Step::Run(tests)));
        steps.push(("coverage: HTML report, then the gate", Step::CoverageReport));
        let doc = with_test_env(cargo_cmd(&["test", "--workspace", "--doc"]), &test_env);
        steps.push(("doctests (compiled, not measured)", Step::Run(doc)));
    } else {
        let tests = with_test_env(cargo_cmd(&["test", "--workspace"]), &test_env);
        steps.push(("tests (coverage SKIPPED)", Step::Run(tests)));
    }
    println!(
        "docker engine: {}",
        if docker {
            "answers: LASTGOOD_REQUIRE_DOCKER=1, the docker end-to-end tests are mandatory"
        } else {
            "not available: the docker end-to-end tests will say so and return early"
        }
    );
    println!(
        "python3 with venv: {}",
        if python {
            "yes: LASTGOOD_REQUIRE_STREAMLIT=1, the real Streamlit tests are mandatory"
        } else {
            "no: the real Streamlit tests will say so and return early"
        }
    );
    match &missing_coverage {
        None => println!(
            "coverage: cargo-llvm-cov: the tests run instrumented, at least {} % of the lines or the run fails",
            coverage::MIN_LINES
        ),
        Some(why) => {
            println!("::warning::coverage SKIPPED: {why}; the tests run without measuring coverage")
        }
    }
    let total = steps.len();
    for (n, (title, step)) in steps.into_iter().enumerate() {
        println!("==> [{}/{total}] {title}", n + 1);
        match step {
            Step::Run(mut cmd) => util::run(&mut cmd)?,
            Step::CoverageReport => coverage::report()?,
            Step::Zizmor => zizmor(require_tools)?,
            Step::JsonSchema => check_jsonschema(require_tools)?,
        }
    }
    println!(
        "==> [{}/{}] chaos (a short run of the randomized pipeline test)",
        total + 1,
        total + 1
    );
    // A plain test run built the binaries in <target dir>/debug: only the sample app (std only)
    // is built here, since building the others again from xtask would unify other features and
    // rebuild their dependencies. An instrumented run built them elsewhere, instrumented (they
    // would leave profiles behind): chaos then builds its own, plain.
    let mut chaos = vec!["--rounds", CHAOS_ROUNDS, "--seed", CHAOS_SEED];
    if missing_coverage.is_some() {
        util::run(&mut cargo_cmd(&["build", "--locked", "-p", "sample-app"]))?;
        chaos.push("--no-build");
    }
    crate::chaos::main(&chaos)?;
    match &missing_coverage {
        None => println!("==> all green"),
        Some(why) => println!("==> all green, but coverage SKIPPED: {why}"),
    }
    Ok(())
}

/// `cmd` (a test run) with `env`, and without `INSTA_FORCE_PASS`.
fn with_test_env(mut cmd: Command, env: &[(&str, &str)]) -> Command {
    cmd.envs(env.iter().copied()).env_remove("INSTA_FORCE_PASS");
    cmd
}

enum Step {
    Run(Command),
    CoverageReport,
    Zizmor,
    JsonSchema,
}

fn cargo_cmd(args: &[&str]) -> Command {
    let mut cmd = cargo();
    cmd.args(args);
    cmd
}

fn skip_or_fail(title: &str, tool: &str, require: bool) -> Result {
    if require {
        return Err(Failure::new(format!(
            "{title}: `{tool}` is not installed and LASTGOOD_REQUIRE_TOOLS=1: run `pip install zizmor check-jsonschema`"
        )));
    }
    println!(
        "    SKIPPED: `{tool}` is not installed (`pip install zizmor check-jsonschema`; .ci/run installs it)"
    );
    Ok(())
}

/// Every workflow and action file the project ships, relative to the root, sorted.
pub fn yaml_files() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let root = project_root();
    let mut workflows = Vec::new();
    for dir in [
        ".github/workflows",
        "examples/workflows",
        "examples/mangetamain/.github/workflows",
    ] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    workflows.push(p.strip_prefix(&root).unwrap_or(&p).to_path_buf());
                }
            }
        }
    }
    let mut actions = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join("actions")) {
        for e in entries.flatten() {
            let p = e.path().join("action.yml");
            if p.is_file() {
                actions.push(p.strip_prefix(&root).unwrap_or(&p).to_path_buf());
            }
        }
    }
    workflows.sort();
    actions.sort();
    (workflows, actions)
}

fn zizmor(require: bool) -> Result {
    if !succeeds("zizmor", &["--version"]) {
        return skip_or_fail("zizmor", "zizmor", require);
    }
    let (workflows, actions) = yaml_files();
    let mut cmd = Command::new("zizmor");
    cmd.current_dir(project_root())
        // The auditor persona: every audit, pedantic ones included; each finding is fixed or
        // justified where it is (`# zizmor: ignore[rule]` with a reason, or zizmor.yml).
        .args(["--offline", "--persona=auditor", "--config", "zizmor.yml"])
        .args(workflows)
        .args(actions);
    util::run(&mut cmd)
}

fn check_jsonschema(require: bool) -> Result {
    if !succeeds("check-jsonschema", &["--version"]) {
        return skip_or_fail("check-jsonschema", "check-jsonschema", require);
    }
    let (workflows, actions) = yaml_files();
    for (schema, files) in [
        ("vendor.github-workflows", workflows),
        ("vendor.github-actions", actions),
    ] {
        if files.is_empty() {
            continue;
        }
        let mut cmd = Command::new("check-jsonschema");
        cmd.current_dir(project_root())
            .args(["--builtin-schema", schema])
            .args(files);
        util::run(&mut cmd)?;
    }
    Ok(())
}
