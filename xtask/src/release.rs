//! `cargo xtask release <version> [--target <triple>]…`: a release, made locally, never pushed.
//!
//! 1. Refuses a version that is not `MAJOR.MINOR.PATCH[-PRE]` or not newer than the workspace's,
//!    a tag that exists, and a working tree with any change or untracked file.
//! 2. Bumps `[workspace.package] version` in `Cargo.toml` and the workspace's packages in
//!    `Cargo.lock` (a text edit: no registry needed; the `--locked` build checks it).
//! 3. Runs `dist` (static linux archives for every target the toolchain allows, or the ones
//!    named by `--target`), which writes the archives and `SHA256SUMS` in `<target dir>/dist`.
//! 4. Writes `actions/manifest.json`: each asset's download URL (the GitHub release of tag
//!    `v<version>`) and sha256, so a commit pins the binaries its actions run.
//! 5. Writes the release notes, the conventional commits since the previous `v*` tag grouped by
//!    kind, to `<target dir>/dist/release-notes.md`.
//! 6. Commits the three files (`chore(release): v<version>`) and tags the commit `v<version>`
//!    (annotated, the notes as its message).
//!
//! When a step fails after the bump, the three files are restored: the tree is as it was.

use std::fmt::Write as _;
use std::path::Path;

use crate::dist::{dist, target_args, write_manifest};
use crate::util::{git, project_root, read_file, workspace, write_file};
use crate::{Failure, Result};

const USAGE: &str = "cargo xtask release <version> [--target <triple>]…

  <version>          MAJOR.MINOR.PATCH[-PRE], newer than the workspace's (no leading v)
  --target <triple>  build only these targets (default: the host and every linux target the
                     toolchain can build here: x86_64, and aarch64 with its cross toolchain)

Bumps the version, builds the static archives with SHA256SUMS, writes actions/manifest.json and
the release notes (<target dir>/dist/release-notes.md), commits and tags v<version>. Refuses a
dirty tree. Never pushes.";

/// `cargo xtask release <version> [--target <triple>]…`.
pub fn main(args: &[&str]) -> Result {
    let [version, rest @ ..] = args else {
        return Err(refusal(
            "usage: cargo xtask release <version> [--target <triple>]…",
        ));
    };
    if matches!(*version, "--help" | "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    if version.starts_with('-') {
        return Err(refusal(format!(
            "unexpected `{version}`: the version comes first (`cargo xtask release 0.2.0`)"
        )));
    }
    let targets = target_args(rest)?;
    release(version, &targets)
}

/// A refusal: nothing was changed (exit 2).
fn refusal(message: impl Into<String>) -> Failure {
    Failure::with_code(message, 2)
}

/// Makes release `version` of the workspace (see the module's documentation).
fn release(version: &str, targets: &[String]) -> Result {
    let ws = workspace();
    let root = project_root();
    let new = Semver::parse(version).map_err(refusal)?;
    let current = Semver::parse(&ws.version)
        .map_err(|e| Failure::new(format!("Cargo.toml's workspace version: {e}")))?;
    if new <= current {
        return Err(refusal(format!(
            "{version} is not newer than the workspace version {}: choose a higher version",
            ws.version
        )));
    }
    let dirty = git(
        &root,
        &["status", "--porcelain", "--untracked-files=normal"],
    )?;
    if !dirty.is_empty() {
        return Err(refusal(format!(
            "the working tree has changes; commit or stash them first (a release is made of commits only):\n{dirty}"
        )));
    }
    let tag = format!("v{version}");
    if git(
        &root,
        &[
            "rev-parse",
            "--quiet",
            "--verify",
            &format!("refs/tags/{tag}"),
        ],
    )
    .is_ok()
    {
        return Err(refusal(format!("the tag {tag} exists already")));
    }
    let previous = git(
        &root,
        &[
            "describe",
            "--tags",
            "--abbrev=0",
            "--match",
            // A release tag, never the moving major tag (`v0`) that may name the same commit.
            "v[0-9]*.[0-9]*.[0-9]*",
            "HEAD",
        ],
    )
    .ok();
    let notes = release_notes(&root, version, previous.as_deref())?;

    bump(&root, &ws.version, version, &ws.packages)?;
    let made = (|| -> Result<_> {
        let built = dist(version, targets)?;
        write_manifest(&built.sums, version, &ws.repository)?;
        let notes_file = built.dir.join("release-notes.md");
        write_file(&notes_file, &notes)?;
        Ok((built, notes_file))
    })();
    let (built, notes_file) = match made {
        Ok(made) => made,
        Err(e) => {
            let restored = git(
                &root,
                &[
                    "checkout",
                    "--",
                    "Cargo.toml",
                    "Cargo.lock",
                    "actions/manifest.json",
                ],
            );
            let how = if restored.is_ok() {
                "restored"
            } else {
                "NOT restored: run `git checkout -- .`"
            };
            return Err(Failure::new(format!(
                "{e}\n(Cargo.toml, Cargo.lock and actions/manifest.json {how})"
            )));
        }
    };
    commit_and_tag(&root, &tag, &notes_file)?;
    println!("\nreleased {tag}: commit and annotated tag made here, nothing pushed");
    println!("archives built for: {}", built.built.join(", "));
    for (target, why) in &built.skipped {
        println!("no archive for {target}: {why} (its runners build from source)");
    }
    println!(
        "next: git push origin HEAD {tag}\n      gh release create {tag} --verify-tag --title {tag} --notes-file {} {}/*.tar.gz {}/SHA256SUMS",
        notes_file.display(),
        built.dir.display(),
        built.dir.display()
    );
    Ok(())
}

/// Commits the bumped files and the manifest, and tags the commit with the notes.
fn commit_and_tag(root: &Path, tag: &str, notes: &Path) -> Result {
    let files = ["Cargo.toml", "Cargo.lock", "actions/manifest.json"];
    git(root, &[&["add", "--"][..], &files].concat())?;
    let message = format!("chore(release): {tag}");
    git(
        root,
        &[&["commit", "--quiet", "-m", &message, "--"][..], &files].concat(),
    )?;
    let notes = notes.to_string_lossy();
    // Verbatim: the notes' `##` headings are not comments.
    git(
        root,
        &[
            "tag",
            "--annotate",
            "--cleanup=verbatim",
            "--file",
            &notes,
            tag,
        ],
    )?;
    Ok(())
}

/// A semantic version, `MAJOR.MINOR.PATCH` with an optional `-PRE` (no build metadata).
#[derive(Debug, PartialEq, Eq)]
struct Semver {
    core: (u64, u64, u64),
    pre: Vec<String>,
}

impl Semver {
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a version: expected MAJOR.MINOR.PATCH or MAJOR.MINOR.PATCH-PRE (e.g. 0.2.0, 1.0.0-rc.1), without a leading `v`"
            )
        };
        let (core, pre) = text.split_once('-').unwrap_or((text, ""));
        let numeric = |s: &str| {
            (!s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && (s == "0" || !s.starts_with('0')))
            .then(|| s.parse::<u64>().ok())
            .flatten()
        };
        let parts: Vec<Option<u64>> = core.split('.').map(numeric).collect();
        let [Some(major), Some(minor), Some(patch)] = parts[..] else {
            return Err(bad());
        };
        let pre: Vec<String> = if text.contains('-') {
            pre.split('.').map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        let ok_pre = pre.iter().all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric(id).is_some())
        });
        if !ok_pre {
            return Err(bad());
        }
        Ok(Semver {
            core: (major, minor, patch),
            pre,
        })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Semver {
    /// Semver precedence: a pre-release comes before its release; identifiers compare
    /// numerically when numeric, numeric ones first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let id = |a: &String, b: &String| match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => a.cmp(b),
        };
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    let first = self
                        .pre
                        .iter()
                        .zip(&other.pre)
                        .map(|(a, b)| id(a, b))
                        .find(|o| o.is_ne());
                    first.unwrap_or_else(|| self.pre.len().cmp(&other.pre.len()))
                }
            })
    }
}

/// Sets the workspace version to `new` in `Cargo.toml` and `Cargo.lock` (from `old`).
fn bump(root: &Path, old: &str, new: &str, packages: &[String]) -> Result {
    let toml_path = root.join("Cargo.toml");
    let toml = bump_manifest(&read_file(&toml_path)?, old, new).ok_or_else(|| {
        Failure::new(format!(
            "{}: no `version = \"{old}\"` in [workspace.package]",
            toml_path.display()
        ))
    })?;
    let lock_path = root.join("Cargo.lock");
    let lock = bump_lock(&read_file(&lock_path)?, old, new, packages).ok_or_else(|| {
        Failure::new(format!(
            "{}: no workspace package at version {old}",
            lock_path.display()
        ))
    })?;
    write_file(&toml_path, toml)?;
    write_file(&lock_path, lock)
}

/// `Cargo.toml` with `[workspace.package] version = "<old>"` set to `new`; `None` without it.
fn bump_manifest(text: &str, old: &str, new: &str) -> Option<String> {
    let mut in_section = false;
    let mut done = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == "[workspace.package]";
        }
        let is_version = trimmed
            .split_once('=')
            .is_some_and(|(k, v)| k.trim() == "version" && v.trim() == format!("\"{old}\""));
        if in_section && !done && is_version {
            let _ = write!(
                out,
                "version = \"{new}\"{}",
                if line.ends_with('\n') { "\n" } else { "" }
            );
            done = true;
        } else {
            out.push_str(line);
        }
    }
    done.then_some(out)
}

/// `Cargo.lock` with the workspace's packages (no `source`) at `new`; `None` when none was at
/// `old`.
fn bump_lock(text: &str, old: &str, new: &str, packages: &[String]) -> Option<String> {
    let mut changed = 0;
    let blocks: Vec<String> = text
        .split("\n[[package]]\n")
        .map(|block| {
            let local = !block.lines().any(|l| l.starts_with("source = "));
            let ours = block.lines().any(|l| {
                l.strip_prefix("name = \"")
                    .and_then(|n| n.strip_suffix('"'))
                    .is_some_and(|n| packages.iter().any(|p| p == n))
            });
            let from = format!("\nversion = \"{old}\"\n");
            if local && ours && block.contains(&from) {
                changed += 1;
                block.replacen(&from, &format!("\nversion = \"{new}\"\n"), 1)
            } else {
                block.to_owned()
            }
        })
        .collect();
    (changed > 0).then(|| blocks.join("\n[[package]]\n"))
}

/// The release notes: the commits since `previous` (every commit without one), merges left
/// out, grouped by their conventional type.
fn release_notes(root: &Path, version: &str, previous: Option<&str>) -> Result<String> {
    let range = previous.map_or_else(|| "HEAD".to_owned(), |p| format!("{p}..HEAD"));
    let log = git(
        root,
        &["log", "--no-merges", "--format=%h%x1f%s%x1f%b%x1e", &range],
    )?;
    let commits: Vec<(&str, &str, &str)> = log
        .split('\u{1e}')
        .filter_map(|c| {
            let mut f = c.trim_start_matches('\n').splitn(3, '\u{1f}');
            Some((f.next()?, f.next()?, f.next().unwrap_or("")))
        })
        .filter(|(h, _, _)| !h.is_empty())
        .collect();
    Ok(notes_text(version, previous, &commits))
}

/// The groups of the notes, in order: the conventional types each one gathers.
const GROUPS: [(&str, &[&str]); 8] = [
    ("Features", &["feat"]),
    ("Fixes", &["fix"]),
    ("Performance", &["perf"]),
    ("Documentation", &["docs"]),
    ("Tests", &["test"]),
    ("CI", &["ci", "build"]),
    ("Refactoring", &["refactor", "style"]),
    ("Other changes", &[]),
];

/// The notes for `(short sha, subject, body)` commits, newest first.
fn notes_text(version: &str, previous: Option<&str>, commits: &[(&str, &str, &str)]) -> String {
    let mut breaking = Vec::new();
    let mut groups: Vec<Vec<String>> = vec![Vec::new(); GROUPS.len()];
    let mut listed = 0;
    for (sha, subject, body) in commits {
        let (kind, scope, bang, text) = conventional(subject);
        if kind == "chore" && scope == Some("release") {
            continue;
        }
        listed += 1;
        let entry = match scope {
            Some(scope) => format!("- **{scope}**: {text} ({sha})"),
            None => format!("- {text} ({sha})"),
        };
        if bang || body.contains("BREAKING CHANGE:") || body.contains("BREAKING-CHANGE:") {
            breaking.push(entry.clone());
        }
        let group = GROUPS
            .iter()
            .position(|(_, kinds)| kinds.contains(&kind))
            .unwrap_or(GROUPS.len() - 1);
        groups[group].push(entry);
    }
    let since = previous.map_or_else(
        || "since the first commit".to_owned(),
        |p| format!("since {p}"),
    );
    let mut text = format!("lastgood v{version}\n\n{listed} commits {since}.\n");
    let sections = std::iter::once(("Breaking changes", &breaking))
        .chain(GROUPS.iter().map(|g| g.0).zip(&groups));
    for (title, entries) in sections.filter(|(_, e)| !e.is_empty()) {
        let _ = write!(text, "\n## {title}\n\n{}\n", entries.join("\n"));
    }
    text
}

/// `type(scope)!: text` → (type, scope, breaking, text); a subject that is not conventional is
/// `("", None, false, subject)`.
fn conventional(subject: &str) -> (&str, Option<&str>, bool, &str) {
    let plain = ("", None, false, subject);
    let Some((head, text)) = subject.split_once(": ") else {
        return plain;
    };
    let (head, bang) = head.strip_suffix('!').map_or((head, false), |h| (h, true));
    let (kind, scope) = match head.split_once('(') {
        Some((kind, rest)) => match rest.strip_suffix(')') {
            Some(scope) => (kind, Some(scope)),
            None => return plain,
        },
        None => (head, None),
    };
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase()) {
        return plain;
    }
    (kind, scope, bang, text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_semver_and_ordered() {
        for bad in [
            "1.2",
            "v1.2.3",
            "01.2.3",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3+build",
            "1.2.3-01",
            "x.y.z",
            "",
        ] {
            assert!(Semver::parse(bad).is_err(), "{bad}");
        }
        let v = |t: &str| Semver::parse(t).unwrap();
        assert!(v("0.1.0") < v("0.2.0"));
        assert!(v("0.9.0") < v("0.10.0"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.2") < v("1.0.0-alpha.10"));
        assert!(v("1.0.0-2") < v("1.0.0-alpha"));
        assert_eq!(v("1.2.3"), v("1.2.3"));
    }

    #[test]
    fn the_manifest_bump_touches_the_workspace_version_only() {
        let text = "[package]\nversion = \"0.1.0\"\n[workspace.package]\nedition = \"2024\"\nversion = \"0.1.0\"\n[dependencies]\nversion = \"0.1.0\"\n";
        let bumped = bump_manifest(text, "0.1.0", "0.2.0").unwrap();
        assert_eq!(
            bumped,
            "[package]\nversion = \"0.1.0\"\n[workspace.package]\nedition = \"2024\"\nversion = \"0.2.0\"\n[dependencies]\nversion = \"0.1.0\"\n"
        );
        assert!(bump_manifest(text, "0.3.0", "0.4.0").is_none());
    }

    #[test]
    fn the_lock_bump_touches_the_workspace_packages_only() {
        let lock = "version = 4\n\n[[package]]\nname = \"deploy-sha\"\nversion = \"0.1.0\"\ndependencies = [\n \"ureq\",\n]\n\n[[package]]\nname = \"ureq\"\nversion = \"0.1.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"other\"\nversion = \"0.1.0\"\n";
        let packages = ["deploy-sha".to_owned()];
        let bumped = bump_lock(lock, "0.1.0", "0.2.0", &packages).unwrap();
        assert_eq!(
            bumped,
            lock.replacen(
                "name = \"deploy-sha\"\nversion = \"0.1.0\"",
                "name = \"deploy-sha\"\nversion = \"0.2.0\"",
                1
            )
        );
        assert!(bump_lock(lock, "0.3.0", "0.4.0", &packages).is_none());
    }

    #[test]
    fn notes_group_conventional_commits() {
        let commits = [
            ("aaaaaaa", "chore(release): v0.1.0", ""),
            ("bbbbbbb", "feat(xtask): a release task", ""),
            ("ccccccc", "fix: a real bug", ""),
            ("ddddddd", "feat!: inputs renamed", ""),
            (
                "eeeeeee",
                "refactor(core): split",
                "BREAKING CHANGE: the journal moved",
            ),
            ("fffffff", "Merge-free subject without a type", ""),
            ("1111111", "docs: the README", ""),
        ];
        let text = notes_text("0.2.0", Some("v0.1.0"), &commits);
        assert!(
            text.starts_with("lastgood v0.2.0\n\n6 commits since v0.1.0.\n"),
            "{text}"
        );
        let breaking =
            "## Breaking changes\n\n- inputs renamed (ddddddd)\n- **core**: split (eeeeeee)\n";
        assert!(text.contains(breaking), "{text}");
        assert!(
            text.contains(
                "## Features\n\n- **xtask**: a release task (bbbbbbb)\n- inputs renamed (ddddddd)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("## Fixes\n\n- a real bug (ccccccc)\n"),
            "{text}"
        );
        assert!(
            text.contains("## Other changes\n\n- Merge-free subject without a type (fffffff)\n"),
            "{text}"
        );
        assert!(!text.contains("aaaaaaa"), "{text}");
        assert!(!text.contains("## Tests"), "{text}");
        let order: Vec<usize> = [
            "## Breaking",
            "## Features",
            "## Fixes",
            "## Documentation",
            "## Refactoring",
            "## Other",
        ]
        .iter()
        .map(|h| text.find(h).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
