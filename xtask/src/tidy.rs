//! Tidy checks, as tests (rust-analyzer's `tidy.rs`): the repository's conventions, enforced.
//!
//! They read the files as they are on disk, so they pass or fail the same on a laptop and in CI.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lastgood_core::spec;
use serde_yaml::Value;

use crate::ci::yaml_files;
use crate::codegen::action_path;
use crate::util::{binary_crates, project_root, workspace};

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
    let major = format!("v{}", workspace().version.split('.').next().unwrap_or("0"));
    let mut problems = Vec::new();
    for f in all_yaml() {
        for user in users(&f.doc) {
            let Some(uses) = user.get("uses").and_then(Value::as_str) else {
                continue;
            };
            // This repository's own code, at the running commit (`$/`: GitHub's self-repository
            // syntax) or in the checkout (`./`): nothing to pin.
            if uses.starts_with("./") || uses.starts_with("$/") {
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

/// The `with:` keys of every use of a first-party action (remote, or this repository's own by
/// `$/actions/…` or `./actions/…`) that the specs do not declare, and how many such uses there are.
fn undeclared_inputs(doc: &Value, file: &str) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut seen = 0;
    for user in users(doc) {
        let uses = user.get("uses").and_then(Value::as_str).unwrap_or_default();
        let Some(name) = ["lastgood/lastgood/actions/", "$/actions/", "./actions/"]
            .iter()
            .find_map(|prefix| uses.strip_prefix(prefix))
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

// ---------------------------------------------------------------------------------------------
// The core's layers (ARCHITECTURE.md, "Code map"): each module of `crates/lastgood-core/src`
// belongs to the layer its first path segment names, and uses only its own layer and the ones
// below it, without cycles. Every `crate::`, `super::` and `self::` path counts, in `use` items
// and in function bodies alike; dependencies belong in the `use` block.

/// The layers of the core, bottom first.
const CORE_LAYERS: &[&str] = &["base", "platform", "contract", "services", "jobs"];

/// One module of the core: its path (`platform::state::marker`), its file, its source.
struct CoreFile {
    module: String,
    file: String,
    text: String,
}

/// A dependency of a module on another, where it is written.
#[derive(Debug, Clone)]
struct CoreEdge {
    from: String,
    to: String,
    at: String,
}

fn core_files() -> Vec<CoreFile> {
    fn visit(dir: &Path, root: &Path, out: &mut Vec<CoreFile>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                visit(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under the root");
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.push(CoreFile {
                    module: module_of(&rel.to_string_lossy()),
                    file: format!("crates/lastgood-core/src/{}", rel.display()),
                    text,
                });
            }
        }
    }
    let root = project_root().join("crates/lastgood-core/src");
    let mut out = Vec::new();
    visit(&root, &root, &mut out);
    out
}

/// `platform/state/mod.rs` → `platform::state`; `lib.rs` → `` (the crate root).
fn module_of(relative: &str) -> String {
    let path = relative.trim_end_matches(".rs");
    let mut parts: Vec<&str> = path.split('/').collect();
    if matches!(parts.last(), Some(&"mod" | &"lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The source with comments, strings and character literals blanked (newlines and offsets
/// kept), so that only code is searched for paths.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            blank(&mut out, i, end);
            i = end;
        } else if (rest.starts_with(b"r#") || rest.starts_with(b"r\""))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = src[start..]
                .find(&close)
                .map_or(b.len(), |p| start + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if rest[0] == b'\'' {
            // A character literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            let len = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(ch + 2)
            };
            if let Some(len) = len {
                blank(&mut out, i, i + len);
                i += len;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8 (only ASCII bytes are replaced)")
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every path a `use` tree starting at `at` names, as segment lists (`{a, b::c}` expanded,
/// `self` dropped, aliases ignored).
fn use_tree(code: &[u8], at: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let skip_ws = |at: &mut usize| {
        while *at < code.len() && code[*at].is_ascii_whitespace() {
            *at += 1;
        }
    };
    let mut path = prefix.to_vec();
    loop {
        skip_ws(at);
        if *at < code.len() && code[*at] == b'{' {
            *at += 1;
            loop {
                skip_ws(at);
                if *at >= code.len() || code[*at] == b'}' {
                    *at += 1;
                    break;
                }
                use_tree(code, at, &path, out);
                skip_ws(at);
                if *at < code.len() && code[*at] == b',' {
                    *at += 1;
                }
            }
            return;
        }
        let start = *at;
        while *at < code.len() && (is_ident_byte(code[*at]) || code[*at] == b'*') {
            *at += 1;
        }
        let seg = String::from_utf8_lossy(&code[start..*at]).into_owned();
        if seg.is_empty() {
            out.push(path);
            return;
        }
        if seg != "self" && seg != "*" {
            path.push(seg);
        }
        skip_ws(at);
        if code[*at..].starts_with(b"::") {
            *at += 2;
            continue;
        }
        // An alias (`as x`) or the end of this tree.
        if code[*at..].starts_with(b"as") {
            *at += 2;
            skip_ws(at);
            while *at < code.len() && is_ident_byte(code[*at]) {
                *at += 1;
            }
        }
        out.push(path);
        return;
    }
}

/// The dependencies of every core module, and the problems found on the way: paths through
/// the crate root's re-exports, modules outside the layers, `crate::` paths in function
/// bodies.
fn core_edges(files: &[CoreFile]) -> (Vec<CoreEdge>, Vec<String>) {
    let modules: BTreeSet<&str> = files.iter().map(|f| f.module.as_str()).collect();
    let resolve = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|k| path[..k].join("::"))
            .find(|m| modules.contains(m.as_str()))
    };
    let mut edges = Vec::new();
    let mut problems = Vec::new();
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        if !CORE_LAYERS.contains(&f.module.split("::").next().unwrap_or_default()) {
            problems.push(format!(
                "{}: module `{}` is in no layer (put it under one of {CORE_LAYERS:?})",
                f.file, f.module
            ));
            continue;
        }
        let code = code_only(&f.text);
        let bytes = code.as_bytes();
        let line_of = |at: usize| code[..at].matches('\n').count() + 1;
        // Where inline modules (`mod tests { … }`) open and close, and the `use` items.
        let mut inline: Vec<(usize, usize)> = Vec::new();
        let mut uses: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let word_start = i == 0 || !is_ident_byte(bytes[i - 1]);
            if word_start && code[i..].starts_with("use ") {
                let end = code[i..].find(';').map_or(bytes.len(), |p| i + p);
                uses.push((i, end));
                i = end;
                continue;
            }
            if word_start && code[i..].starts_with("mod ") {
                let semi = code[i..].find(';').map_or(usize::MAX, |p| i + p);
                if let Some(open) = code[i..].find('{').map(|p| i + p)
                    && open < semi
                {
                    let mut depth = 0;
                    let mut j = open;
                    while j < bytes.len() {
                        match bytes[j] {
                            b'{' => depth += 1,
                            b'}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    inline.push((open, j));
                }
            }
            i += 1;
        }
        let own: Vec<String> = f.module.split("::").map(str::to_owned).collect();
        let mut seen = BTreeSet::new();
        for (root, _) in code.match_indices("crate::").chain(
            code.match_indices("super::")
                .chain(code.match_indices("self::")),
        ) {
            if root > 0 && (is_ident_byte(bytes[root - 1]) || bytes[root - 1] == b':') {
                continue;
            }
            let in_use = uses.iter().any(|&(a, b)| a <= root && root < b);
            let depth = inline
                .iter()
                .filter(|&&(a, b)| a < root && root < b)
                .count();
            let mut at = root;
            let mut base: Vec<String> = Vec::new();
            if code[at..].starts_with("crate::") {
                at += "crate::".len();
            } else {
                // `self::`/`super::` relative to the file's module (inline modules are part of
                // their file: `super::` in `mod tests` is the file's own module).
                base = own.clone();
                let mut level: usize = 0;
                while code[at..].starts_with("super::") {
                    at += "super::".len();
                    level += 1;
                }
                if code[at..].starts_with("self::") {
                    at += "self::".len();
                }
                let up = level.saturating_sub(depth);
                // `mod.rs` files are their directory's module; `super` of `a::b` is `a`.
                base.truncate(base.len().saturating_sub(up));
            }
            let mut paths = Vec::new();
            if in_use {
                use_tree(bytes, &mut at, &base, &mut paths);
            } else {
                let mut path = base.clone();
                loop {
                    let start = at;
                    while at < bytes.len() && is_ident_byte(bytes[at]) {
                        at += 1;
                    }
                    if start == at {
                        break;
                    }
                    path.push(code[start..at].to_owned());
                    if !code[at..].starts_with("::") {
                        break;
                    }
                    at += 2;
                }
                paths.push(path);
            }
            let line = line_of(root);
            let is_crate = code[root..].starts_with("crate::");
            if is_crate && !in_use {
                problems.push(format!(
                    "{}:{line}: a `crate::` path inside code; name the dependency in the `use` block",
                    f.file
                ));
            }
            for path in paths {
                if is_crate && !path.is_empty() && !CORE_LAYERS.contains(&path[0].as_str()) {
                    problems.push(format!(
                        "{}:{line}: `crate::{}` goes through the crate root; use the layered path (`crate::<layer>::…`)",
                        f.file,
                        path.join("::")
                    ));
                    continue;
                }
                let Some(to) = resolve(&path) else { continue };
                if to == f.module || to.is_empty() {
                    continue;
                }
                if seen.insert((to.clone(), line)) {
                    edges.push(CoreEdge {
                        from: f.module.clone(),
                        to,
                        at: format!("{}:{line}", f.file),
                    });
                }
            }
        }
    }
    (edges, problems)
}

fn layer_of(module: &str) -> Option<usize> {
    let first = module.split("::").next()?;
    CORE_LAYERS.iter().position(|l| *l == first)
}

/// Upward edges and cycles, each naming where the offending dependency is written.
fn layering_problems(files: &[CoreFile]) -> Vec<String> {
    let (edges, mut problems) = core_edges(files);
    for e in &edges {
        if let (Some(from), Some(to)) = (layer_of(&e.from), layer_of(&e.to))
            && to > from
        {
            problems.push(format!(
                "{}: `{}` ({}) uses `{}` ({}), a layer above it; move what it needs down",
                e.at, e.from, CORE_LAYERS[from], e.to, CORE_LAYERS[to]
            ));
        }
    }
    // Cycles: a depth-first search over the module graph, reporting each cycle once.
    let mut graph: std::collections::BTreeMap<&str, Vec<&CoreEdge>> = Default::default();
    for e in &edges {
        graph.entry(e.from.as_str()).or_default().push(e);
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    fn dfs<'a>(
        node: &'a str,
        graph: &std::collections::BTreeMap<&'a str, Vec<&'a CoreEdge>>,
        stack: &mut Vec<&'a CoreEdge>,
        done: &mut BTreeSet<&'a str>,
        reported: &mut BTreeSet<Vec<String>>,
        problems: &mut Vec<String>,
    ) {
        for e in graph.get(node).into_iter().flatten() {
            if let Some(start) = stack.iter().position(|s| s.from == e.to) {
                let cycle: Vec<&CoreEdge> = stack[start..].iter().copied().chain([*e]).collect();
                let mut key: Vec<String> = cycle.iter().map(|c| c.from.clone()).collect();
                key.sort();
                if reported.insert(key) {
                    let path: Vec<String> = cycle
                        .iter()
                        .map(|c| format!("{} -> {} ({})", c.from, c.to, c.at))
                        .collect();
                    problems.push(format!("module cycle: {}", path.join(", ")));
                }
                continue;
            }
            if e.to == node || done.contains(e.to.as_str()) {
                continue;
            }
            stack.push(e);
            dfs(&e.to, graph, stack, done, reported, problems);
            stack.pop();
        }
        done.insert(node);
    }
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for node in nodes {
        if !done.contains(node) {
            let mut stack = Vec::new();
            dfs(
                node,
                &graph,
                &mut stack,
                &mut done,
                &mut reported,
                &mut problems,
            );
        }
    }
    problems
}

#[test]
fn core_layers_point_down() {
    let files = core_files();
    assert!(
        files
            .iter()
            .filter(|f| layer_of(&f.module).is_some())
            .count()
            >= 20,
        "found only {} core modules",
        files.len()
    );
    fail_on(
        layering_problems(&files),
        "the core's layers (base → platform → contract → services → jobs) must point down, without cycles",
    );
}

#[test]
fn the_layering_check_finds_what_it_must() {
    let file = |module: &str, text: &str| CoreFile {
        module: module.to_owned(),
        file: format!("{}.rs", module.replace("::", "/")),
        text: text.to_owned(),
    };
    let files = [
        file("base", ""),
        file(
            "base::error",
            "use crate::platform::http::{self, Client};\n",
        ),
        file("platform", ""),
        file(
            "platform::http",
            "// crate::jobs::x in a comment is no edge\nfn f() { let s = \"crate::jobs::y\"; crate::base::error::g(); }\n",
        ),
        file("jobs", ""),
        file(
            "jobs::a",
            "use super::b::{X, c::Y};\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        file("jobs::b", "use crate::jobs::a::Z;\n"),
        file("jobs::b::c", ""),
        file("jobs::d", "use crate::Result;\n"),
    ];
    let problems = layering_problems(&files);
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(
        has("base/error.rs:1: `base::error` (base) uses `platform::http`"),
        "{problems:#?}"
    );
    assert!(
        has("platform/http.rs:2: a `crate::` path inside code"),
        "{problems:#?}"
    );
    assert!(
        !has("platform/http.rs:1"),
        "comments are not code: {problems:#?}"
    );
    assert!(!has("jobs::y"), "strings are not code: {problems:#?}");
    assert!(has("module cycle: "), "{problems:#?}");
    assert!(has("jobs::a -> jobs::b (jobs/a.rs:1)"), "{problems:#?}");
    assert!(
        has("jobs/d.rs:1: `crate::Result` goes through the crate root"),
        "{problems:#?}"
    );
    assert!(
        !has("jobs::a -> jobs::a"),
        "`super::*` in `mod tests` is the module itself: {problems:#?}"
    );
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

/// The longest a core function may be, in lines from `fn` to its closing brace.
const CORE_FN_MAX_LINES: usize = 80;

/// Functions that are data tables (one arm or entry per event, locale or input), exempt from
/// [`CORE_FN_MAX_LINES`]: `file:function`.
const CORE_FN_TABLES: &[&str] = &[];

/// Every function of the core outside test modules that is longer than the limit:
/// `(file:line, name, lines)`.
fn long_functions(files: &[CoreFile]) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for f in files {
        let code = code_only(&f.text);
        let end = code.find("#[cfg(test)]").unwrap_or(code.len());
        let bytes = code.as_bytes();
        let mut from = 0;
        while let Some(p) = code[from..end].find("fn ") {
            let at = from + p;
            from = at + 3;
            if at > 0 && is_ident_byte(bytes[at - 1]) {
                continue;
            }
            let name: String = code[at + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            // The body: the first `{` before any `;` (a declaration without body has none).
            let Some(open) = code[at..end].find(['{', ';']).map(|q| at + q) else {
                continue;
            };
            if bytes[open] == b';' {
                continue;
            }
            let mut depth = 0;
            let mut close = open;
            for (i, c) in bytes.iter().enumerate().skip(open) {
                match c {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let first = code[..at].matches('\n').count() + 1;
            let last = code[..close].matches('\n').count() + 1;
            let lines = last - first + 1;
            let key = format!("{}:{name}", f.file);
            if lines > CORE_FN_MAX_LINES && !CORE_FN_TABLES.contains(&key.as_str()) {
                out.push((format!("{}:{first}", f.file), name, lines));
            }
        }
    }
    out
}

#[test]
fn core_functions_are_short() {
    let problems: Vec<String> = long_functions(&core_files())
        .into_iter()
        .map(|(at, name, lines)| {
            format!("{at}: `{name}` has {lines} lines; split it into named steps (at most {CORE_FN_MAX_LINES})")
        })
        .collect();
    fail_on(problems, "core functions longer than the limit");
}

#[test]
fn the_length_check_counts_bodies() {
    let body = (0..CORE_FN_MAX_LINES)
        .map(|_| "    x();\n")
        .collect::<String>();
    let text = format!(
        "fn short() {{ let s = \"}}\"; }}\nfn long() {{\n{body}}}\nfn decl();\n#[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{body}    }}\n}}\n"
    );
    let files = [CoreFile {
        module: "base::x".into(),
        file: "x.rs".into(),
        text,
    }];
    let long = long_functions(&files);
    assert_eq!(long.len(), 1, "{long:?}");
    assert_eq!(
        long[0],
        (
            "x.rs:2".to_owned(),
            "long".to_owned(),
            CORE_FN_MAX_LINES + 2
        )
    );
}
