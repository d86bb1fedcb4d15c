//! `cargo xtask release` on a temporary clone of this repository, end to end: its refusals
//! (a bad version, an old one, a dirty tree, a target the toolchain cannot build, each leaving
//! the tree as it was), then a real release for the host target with `CARGO_TARGET_DIR` set
//! elsewhere and a stale `./target` planted in the clone: the version bumped in `Cargo.toml` and
//! `Cargo.lock`, static archives of what cargo just built, `SHA256SUMS`, `actions/manifest.json`
//! with each asset's release URL and sha256, notes grouped from the conventional commits since
//! the previous tag, one commit and an annotated tag, nothing pushed. Last, a user of that
//! release commit: its `install.sh` downloads the archive from a local HTTPS server (a test CA),
//! verifies it against the commit's manifest and runs the binary of the new version.
//!
//! The clone is of this repository's HEAD (committed work). The release build (once per run)
//! goes to `CARGO_TARGET_TMPDIR/release-target`, kept between runs so that a rerun only
//! rebuilds the workspace's crates.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod support;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) -> String {
    support::run_ok("git", dir, args)
}

fn xtask(repo: &Path, target_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(std::process::Stdio::null());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(&key);
        }
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn workspace_version(repo: &Path) -> String {
    let toml = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    let section = toml.split("[workspace.package]").nth(1).unwrap();
    let line = section.lines().find(|l| l.starts_with("version")).unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}

fn host() -> String {
    let out = Command::new("rustc").arg("-vV").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_owned()
}

/// The clone, with a previous release tag and conventional commits after it.
fn clone_with_history(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    git(
        dir,
        &[
            "clone",
            "--quiet",
            &root.to_string_lossy(),
            &repo.to_string_lossy(),
        ],
    );
    git(&repo, &["config", "user.name", "release test"]);
    git(
        &repo,
        &["config", "user.email", "release-test@lastgood.invalid"],
    );
    let base = workspace_version(&repo);
    let _ = Command::new("git")
        .args(["tag", "--delete", &format!("v{base}")])
        .current_dir(&repo)
        .output();
    git(
        &repo,
        &["tag", "--annotate", "-m", "previous", &format!("v{base}")],
    );
    // The moving major tag on the same commit: the notes still start from the release tag.
    let major = format!("v{}", base.split('.').next().unwrap());
    let _ = Command::new("git")
        .args(["tag", "--delete", &major])
        .current_dir(&repo)
        .output();
    git(
        &repo,
        &["tag", "--annotate", "-m", "moving major tag", &major],
    );
    for (i, subject) in [
        "feat(xtask): a thing to release",
        "fix: a bug it had",
        "docs: how to use it",
        "feat!: a change that breaks",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(repo.join("release-test.txt"), format!("{i}\n")).unwrap();
        git(&repo, &["add", "release-test.txt"]);
        git(&repo, &["commit", "--quiet", "-m", subject]);
    }
    repo
}

fn next_minor(version: &str) -> String {
    let mut parts = version.split('-').next().unwrap().split('.');
    let major = parts.next().unwrap();
    let minor: u64 = parts.next().unwrap().parse().unwrap();
    format!("{major}.{}.0", minor + 1)
}

fn untar(archive: &[u8], name: &str) -> Vec<u8> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut entries = tar.entries().unwrap();
    let mut entry = entries.next().unwrap().unwrap();
    assert_eq!(entry.path().unwrap().to_string_lossy(), name);
    assert_eq!(entry.header().mode().unwrap() & 0o777, 0o755);
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    assert!(entries.next().is_none(), "one file per archive");
    bytes
}

/// Each refusal exits before any change, or restores what it changed.
fn refusals(repo: &Path, target_dir: &Path, base: &str, next: &str) {
    let head = git(repo, &["rev-parse", "HEAD"]);
    let cases: [(&[&str], i32, &str); 4] = [
        (&["release", "1.2"], 2, "`1.2` is not a version"),
        (
            &["release", base],
            2,
            "is not newer than the workspace version",
        ),
        (
            &["release", next, "--target", "riscv64gc-unknown-linux-gnu"],
            1,
            "cannot build riscv64gc-unknown-linux-gnu here",
        ),
        (&["release"], 2, "usage: cargo xtask release <version>"),
    ];
    for (args, code, says) in cases {
        let out = xtask(repo, target_dir, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        assert_eq!(
            git(repo, &["status", "--porcelain"]),
            "",
            "{args:?} left changes"
        );
    }
    std::fs::write(repo.join("untracked.txt"), "x").unwrap();
    let dirty = xtask(repo, target_dir, &["release", next]);
    assert_eq!(dirty.status.code(), Some(2), "{}", text(&dirty));
    assert!(
        text(&dirty).contains("the working tree has changes"),
        "{}",
        text(&dirty)
    );
    assert!(text(&dirty).contains("untracked.txt"), "{}", text(&dirty));
    std::fs::remove_file(repo.join("untracked.txt")).unwrap();
    assert_eq!(workspace_version(repo), base);
    assert_eq!(git(repo, &["rev-parse", "HEAD"]), head);
    assert!(git(repo, &["tag", "--list", &format!("v{next}")]).is_empty());
}

#[test]
fn a_release_of_a_clone_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = clone_with_history(tmp.path());
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("release-target");
    let base = workspace_version(&repo);
    let next = next_minor(&base);
    let host = host();
    refusals(&repo, &target_dir, &base, &next);

    // An old build in the clone's ./target: with CARGO_TARGET_DIR elsewhere, never packaged.
    let stale_dir = repo.join("target").join(&host).join("release");
    std::fs::create_dir_all(&stale_dir).unwrap();
    std::fs::write(stale_dir.join("deploy-sha"), b"stale").unwrap();

    let before = git(&repo, &["rev-parse", "HEAD"]);
    let out = xtask(&repo, &target_dir, &["release", &next, "--target", &host]);
    assert!(out.status.success(), "{}", text(&out));
    let tag = format!("v{next}");
    assert!(
        text(&out).contains(&format!("released {tag}")),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("archives built for: {host}")),
        "{}",
        text(&out)
    );

    // One commit on the previous HEAD, the tag on it, a clean tree, nothing else.
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(git(&repo, &["rev-parse", "HEAD~1"]), before);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s"]),
        format!("chore(release): {tag}")
    );
    assert_eq!(
        git(&repo, &["diff", "--name-only", "HEAD~1", "HEAD"]),
        "Cargo.lock\nCargo.toml\nactions/manifest.json"
    );
    assert_eq!(
        git(&repo, &["cat-file", "-t", &tag]),
        "tag",
        "an annotated tag"
    );
    assert_eq!(
        git(&repo, &["rev-parse", &format!("{tag}^{{commit}}")]),
        git(&repo, &["rev-parse", "HEAD"])
    );
    let origin = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(
        git(origin, &["tag", "--list", &tag]).is_empty(),
        "the tag reached the origin"
    );
    assert!(
        git(&repo, &["branch", "--remotes", "--contains", "HEAD"]).is_empty(),
        "nothing pushed"
    );

    // The version, in Cargo.toml and for every workspace package of Cargo.lock.
    assert_eq!(workspace_version(&repo), next);
    let lock = std::fs::read_to_string(repo.join("Cargo.lock")).unwrap();
    for name in ["deploy-sha", "lastgood-core", "xtask", "sample-app"] {
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"{next}\"\n")),
            "{name} not bumped in Cargo.lock"
        );
    }

    // The notes: since the previous tag, grouped; the tag's message.
    let notes = git(&repo, &["tag", "--list", "--format=%(contents)", &tag]);
    assert!(
        notes.starts_with(&format!("lastgood {tag}\n\n4 commits since v{base}.")),
        "{notes}"
    );
    for part in [
        "## Breaking changes\n\n- a change that breaks (",
        "## Features\n\n- a change that breaks (",
        "- **xtask**: a thing to release (",
        "## Fixes\n\n- a bug it had (",
        "## Documentation\n\n- how to use it (",
    ] {
        assert!(notes.contains(part), "missing {part:?} in\n{notes}");
    }

    // The archives: in CARGO_TARGET_DIR, exactly what cargo built there, static.
    let dist = target_dir.join("dist");
    assert!(!repo.join("target/dist").exists());
    assert_eq!(
        std::fs::read(stale_dir.join("deploy-sha")).unwrap(),
        b"stale"
    );
    assert_eq!(
        std::fs::read_to_string(dist.join("release-notes.md"))
            .unwrap()
            .trim_end(),
        notes.trim_end()
    );
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    let bins = [
        "ci-watcher",
        "deploy-sha",
        "health-probe",
        "notify-discord",
        "save-rollback-point",
    ];
    assert_eq!(sums.lines().count(), bins.len(), "{sums}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("actions/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["version"], next.as_str());
    assert_eq!(manifest["assets"].as_object().unwrap().len(), bins.len());
    for bin in bins {
        let file = format!("{bin}-{next}-{host}.tar.gz");
        let archive = std::fs::read(dist.join(&file)).unwrap();
        let sha = support::sha256_hex(&archive);
        assert!(
            sums.contains(&format!("{sha}  {file}\n")),
            "{file} in\n{sums}"
        );
        let asset = &manifest["assets"][format!("{bin}-{host}")];
        assert_eq!(
            asset["url"],
            format!("https://github.com/lastgood/lastgood/releases/download/{tag}/{file}").as_str()
        );
        assert_eq!(asset["sha256"], sha.as_str());
        let binary = untar(&archive, bin);
        let built = target_dir.join(&host).join("release").join(bin);
        assert!(
            binary == std::fs::read(&built).unwrap(),
            "{file} is not {}",
            built.display()
        );
        if host.ends_with("linux-gnu") {
            let loader = b"/ld-linux";
            assert!(
                !binary.windows(loader.len()).any(|w| w == loader),
                "{bin} names a dynamic loader: not static"
            );
        }
    }

    user_of_the_release_commit(tmp.path(), &repo, &dist, &tag, &next, &host);
}

/// A workflow pinning the release commit: install.sh downloads, verifies and runs the binary.
fn user_of_the_release_commit(
    tmp: &Path,
    repo: &Path,
    dist: &Path,
    tag: &str,
    next: &str,
    host: &str,
) {
    if host != "x86_64-unknown-linux-gnu" || !support::https_tools() {
        eprintln!("the install of the release is checked on x86_64 linux with openssl and python3");
        return;
    }
    let served = tmp
        .join("served/lastgood/lastgood/releases/download")
        .join(tag);
    std::fs::create_dir_all(&served).unwrap();
    for entry in std::fs::read_dir(dist).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, served.join(path.file_name().unwrap())).unwrap();
    }
    let https = support::Https::serve(&tmp.join("served"), &tmp.join("tls"));
    // The release's URLs, with github.com's host replaced by the local server's.
    let manifest_path = repo.join("actions/manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replace("https://github.com/", &https.url("")),
    )
    .unwrap();

    let cache = tmp.join("toolcache");
    let output = tmp.join("github_output");
    let out = Command::new("bash")
        .arg(repo.join("actions/install.sh"))
        .arg("deploy-sha")
        .env_clear()
        // No cargo on this PATH: the binary can only come from the release.
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tmp)
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TOOL_CACHE", &cache)
        .env("GITHUB_OUTPUT", &output)
        .env("CURL_CA_BUNDLE", https.ca())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let bin = cache
        .join("lastgood")
        .join(next)
        .join(host)
        .join("deploy-sha");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("bin={}\n", bin.display())
    );
    assert_eq!(
        https.requests(),
        [format!(
            "GET /lastgood/lastgood/releases/download/{tag}/deploy-sha-{next}-{host}.tar.gz 200"
        )]
    );
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(version.status.success(), "{}", text(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("deploy-sha {next}")
    );
}
