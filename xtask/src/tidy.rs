//! Tidy checks, as tests (rust-analyzer's `tidy.rs`): the repository's conventions, enforced.
//!
//! They read the files as they are on disk, so they pass or fail the same on a laptop and in CI.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lastgood_core::spec;
use serde_yaml::Value;

use crate::ci::yaml_files;
use crate::codegen::action_path;
use crate::util::{VERSION, binary_crates, project_root};

/// The only remote actions a workflow may use, pinned by these commits (from the project's
/// facts/action-pins.md, copied here because CI has only this repository).
const PINS: &[(&str, &str, &str)] = &[
    (
        "actions/checkout",
        "3d3c42e5aac5ba805825da76410c181273ba90b1",
        "v7.0.1",
    ),
    (
        "actions/upload-artifact",
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
    ),
    (
        "actions/upload-pages-artifact",
        "fc324d3547104276b827a68afc52ff2a11cc49c9",
        "v5.0.0",
    ),
    (
        "actions/deploy-pages",
        "cd2ce8fcbc39b97be8ca5fce6e763baed58fa128",
        "v5.0.0",
    ),
    (
        "Swatinem/rust-cache",
        "6323deb102c322ba6fcbdcafc7e3dddab59af2b6",
        "v2.9.2",
    ),
    (
        "dtolnay/rust-toolchain",
        "29eef336d9b2848a0b548edc03f92a220660cdb8",
        "stable",
    ),
];

/// First-party actions and reusable workflows are referenced at the major tag, `@v<major>`.
const FIRST_PARTY: &str = "lastgood/lastgood/";

struct YamlFile {
    path: PathBuf,
    text: String,
    doc: Value,
}

fn all_yaml() -> Vec<YamlFile> {
    let root = project_root();
    let (workflows, actions) = yaml_files();
    workflows
        .into_iter()
        .chain(actions)
        .map(|path| {
            let text = std::fs::read_to_string(root.join(&path)).unwrap();
            let doc = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
            YamlFile { path, text, doc }
        })
        .collect()
}

fn workflows() -> Vec<YamlFile> {
    all_yaml()
        .into_iter()
        .filter(|f| !f.path.ends_with("action.yml"))
        .collect()
}

/// Calls `visit(key, value)` for every mapping entry of the document, depth first.
fn walk<'a>(value: &'a Value, visit: &mut dyn FnMut(&'a str, &'a Value)) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                if let Some(k) = k.as_str() {
                    visit(k, v);
                }
                walk(v, visit);
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

/// Every mapping that has a `uses` key (steps and reusable-workflow jobs).
fn users(doc: &Value) -> Vec<&serde_yaml::Mapping> {
    fn go<'a>(v: &'a Value, out: &mut Vec<&'a serde_yaml::Mapping>) {
        match v {
            Value::Mapping(m) => {
                if m.contains_key("uses") {
                    out.push(m);
                }
                m.values().for_each(|v| go(v, out));
            }
            Value::Sequence(s) => s.iter().for_each(|v| go(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(doc, &mut out);
    out
}

fn fail_on(problems: Vec<String>, what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn the_project_has_workflows_and_actions() {
    let (workflows, actions) = yaml_files();
    assert!(workflows.len() >= 10, "found only {workflows:?}");
    assert_eq!(actions.len(), spec::ALL.len(), "{actions:?}");
}

#[test]
fn every_binary_crate_has_a_spec_and_an_action() {
    let specs: BTreeSet<&str> = spec::ALL.iter().map(|s| s.name).collect();
    let root = project_root();
    let mut problems = Vec::new();
    for name in binary_crates() {
        if !specs.contains(name.as_str()) {
            problems.push(format!(
                "crates/{name} is a binary with no entry in lastgood_core::spec::ALL"
            ));
        }
        if !root.join(action_path(&name)).is_file() {
            problems.push(format!(
                "crates/{name} has no {}: run `cargo xtask codegen`",
                action_path(&name).display()
            ));
        }
    }
    // And no action without its spec (a renamed or removed binary).
    for entry in std::fs::read_dir(root.join("actions")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !specs.contains(name.as_str()) {
            problems.push(format!("actions/{name} has no spec: remove it"));
        }
    }
    fail_on(problems, "binaries, specs and actions disagree");
}

#[test]
fn no_expression_inside_a_run_script() {
    let mut problems = Vec::new();
    for f in all_yaml() {
        walk(&f.doc, &mut |key, value| {
            if key == "run"
                && let Some(script) = value.as_str()
                && script.contains("${{")
            {
                problems.push(format!(
                    "{}: `${{{{ … }}}}` inside a run script (pass it through `env:`): {}",
                    f.path.display(),
                    script
                        .lines()
                        .find(|l| l.contains("${{"))
                        .unwrap_or_default()
                        .trim()
                ));
            }
        });
    }
    fail_on(problems, "template injection risks");
}

#[test]
fn every_run_step_of_an_action_names_its_shell() {
    let mut problems = Vec::new();
    for f in all_yaml().iter().filter(|f| f.path.ends_with("action.yml")) {
        for step in f.doc["runs"]["steps"].as_sequence().into_iter().flatten() {
            if step.get("run").is_some() && step.get("shell").is_none() {
                problems.push(format!("{}: a run step without `shell:`", f.path.display()));
            }
        }
    }
    fail_on(problems, "composite steps need a shell");
}

#[test]
fn every_remote_action_is_pinned_by_a_known_sha_with_its_version() {
    let major = format!("v{}", VERSION.split('.').next().unwrap_or("0"));
    let mut problems = Vec::new();
    for f in all_yaml() {
        for user in users(&f.doc) {
            let Some(uses) = user.get("uses").and_then(Value::as_str) else {
                continue;
            };
            if uses.starts_with("./") {
                continue;
            }
            let Some((action, reference)) = uses.split_once('@') else {
                problems.push(format!("{}: `{uses}` has no @ref", f.path.display()));
                continue;
            };
            if action.starts_with(FIRST_PARTY) {
                if reference != major {
                    problems.push(format!(
                        "{}: first-party `{uses}` must use the major tag @{major}",
                        f.path.display()
                    ));
                }
                continue;
            }
            let Some((_, sha, version)) = PINS.iter().find(|(a, _, _)| *a == action) else {
                problems.push(format!(
                    "{}: `{action}` is not an allowed action (see PINS in xtask/src/tidy.rs)",
                    f.path.display()
                ));
                continue;
            };
            if reference != *sha {
                problems.push(format!(
                    "{}: `{uses}` must be pinned to {sha} # {version}",
                    f.path.display()
                ));
                continue;
            }
            // The version comment is lost by the parser: look at the line itself.
            let comment = format!("{uses} # {version}");
            if !f
                .text
                .lines()
                .filter(|l| l.contains(uses))
                .all(|l| l.trim_end().ends_with(&comment))
            {
                problems.push(format!(
                    "{}: `{uses}` lacks its version comment `# {version}`",
                    f.path.display()
                ));
            }
        }
    }
    fail_on(problems, "unpinned or unknown actions");
}

#[test]
fn every_workflow_declares_top_level_permissions() {
    let problems: Vec<String> = workflows()
        .iter()
        .filter(|f| f.doc.get("permissions").is_none())
        .map(|f| format!("{}: no top-level `permissions:`", f.path.display()))
        .collect();
    fail_on(problems, "workflows must declare least privilege");
}

#[test]
fn every_checkout_drops_its_credentials() {
    let mut problems = Vec::new();
    for f in all_yaml() {
        for user in users(&f.doc) {
            let uses = user.get("uses").and_then(Value::as_str).unwrap_or_default();
            if uses.starts_with("actions/checkout@")
                && user
                    .get("with")
                    .and_then(|w| w.get("persist-credentials"))
                    .and_then(Value::as_bool)
                    != Some(false)
            {
                problems.push(format!(
                    "{}: checkout without `persist-credentials: false`",
                    f.path.display()
                ));
            }
        }
    }
    fail_on(problems, "checkouts must not keep the token");
}

#[test]
fn the_reusable_workflows_are_reusable() {
    let root = project_root();
    for name in [
        "cd-preprod",
        "cd-prod",
        "health-check",
        "rollback",
        "ci-verdict",
    ] {
        let path = root.join(format!(".github/workflows/{name}.yml"));
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            doc["on"].get("workflow_call").is_some(),
            "{name}.yml must be `on: workflow_call`"
        );
        let example = root.join(format!("examples/workflows/{name}.yml"));
        let text = std::fs::read_to_string(&example).unwrap();
        assert!(
            text.contains(&format!("lastgood/lastgood/.github/workflows/{name}.yml@")),
            "{} must call the reusable {name}.yml",
            example.display()
        );
    }
}

/// The README's quick start: exactly two commands, `cargo xtask demo` and `cargo xtask ci`.
#[test]
fn readme_quick_start_has_two_commands() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.to_ascii_lowercase().starts_with("quick start"))
        .expect("README.md has no `## Quick start` section");
    let mut in_code = false;
    let mut commands = Vec::new();
    for line in section.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if in_code && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            commands.push(line.trim());
        }
    }
    assert_eq!(commands, ["cargo xtask demo", "cargo xtask ci"]);
}

#[test]
fn the_release_manifest_is_canonical() {
    let path = project_root().join("actions/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        crate::dist::manifest_text(&manifest),
        text,
        "{} is not in the one-asset-per-line form install.sh reads: run `cargo xtask release-manifest`",
        path.display()
    );
}

#[test]
fn install_script_is_strict_bash() {
    let path: &Path = &project_root().join("actions/install.sh");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("#!/usr/bin/env bash\n"));
    assert!(text.contains("set -euo pipefail"));
    assert!(
        !text.contains("${{"),
        "install.sh must not contain expressions"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "install.sh must be executable");
    }
}

/// The `with:` keys of every use of a first-party action that the specs do not declare, and how
/// many such uses there are.
fn undeclared_inputs(doc: &Value, file: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut seen = 0;
    for user in users(doc) {
        let uses = user.get("uses").and_then(Value::as_str).unwrap_or_default();
        let Some(name) = uses
            .strip_prefix("lastgood/lastgood/actions/")
            .and_then(|r| r.split('@').next())
        else {
            continue;
        };
        let Some(spec) = spec::ALL.iter().find(|s| s.name == name) else {
            problems.push(format!("{file}: unknown action {name}"));
            continue;
        };
        seen += 1;
        for (key, _) in user
            .get("with")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap_or_default();
            if spec.input(key).is_none() {
                problems.push(format!("{file}: {name} has no input `{key}`"));
            }
        }
    }
    (problems, seen)
}

/// Workflows give lastgood's actions only inputs the specs declare.
#[test]
fn workflows_use_declared_inputs() {
    let mut problems = Vec::new();
    for f in all_yaml() {
        problems.extend(undeclared_inputs(&f.doc, &f.path.display().to_string()).0);
    }
    fail_on(problems, "workflows disagree with the specs");
}

/// The README's action examples use only inputs the specs declare, one example per action.
#[test]
fn readme_examples_use_declared_inputs() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let mut problems = Vec::new();
    let mut seen = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        let doc: Value = serde_yaml::from_str(block).unwrap_or_else(|e| panic!("{e}: {block}"));
        let (p, n) = undeclared_inputs(&doc, "README.md");
        problems.extend(p);
        seen += n;
    }
    assert_eq!(seen, spec::ALL.len(), "one README example per action");
    fail_on(problems, "README examples disagree with the specs");
}
