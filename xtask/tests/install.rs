//! `actions/install.sh`'s real download path, against a local HTTPS server whose certificate
//! comes from a CA made by the test (curl trusts it through `CURL_CA_BUNDLE` only):
//! a checksum that matches is installed in the tool cache and the next run uses the cache
//! without a request; a mismatch is refused and nothing is installed or run; an asset the
//! release does not have (absent from the manifest, or 404) is built from source (a fake
//! `cargo` on `PATH` records the build); an unsupported platform is a clear error.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure ends the test"
)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{Https, archive, https_tools, sha256_hex};

const VERSION: &str = "9.9.9";
const X64: &str = "x86_64-unknown-linux-gnu";

/// A copy of `actions/` (install.sh, the action directories) with a manifest of our own, a
/// release directory served over HTTPS, a tool cache, and a fake `cargo`.
struct Stand {
    dir: tempfile::TempDir,
    https: Https,
}

impl Stand {
    fn new() -> Stand {
        let dir = tempfile::tempdir().unwrap();
        let actions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../actions");
        let copy = dir.path().join("lastgood/actions");
        std::fs::create_dir_all(copy.join("deploy-sha")).unwrap();
        std::fs::copy(actions.join("install.sh"), copy.join("install.sh")).unwrap();
        std::fs::copy(
            actions.join("deploy-sha/action.yml"),
            copy.join("deploy-sha/action.yml"),
        )
        .unwrap();
        for d in ["release", "cache", "temp", "bin"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        // A cargo that records its arguments and "builds" a script where cargo would.
        let cargo = dir.path().join("bin/cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\necho \"$@\" >> \"$FAKE_CARGO_LOG\"\nmkdir -p \"$CARGO_TARGET_DIR/release\"\nprintf '#!/bin/sh\\necho built from source\\n' > \"$CARGO_TARGET_DIR/release/deploy-sha\"\nchmod 755 \"$CARGO_TARGET_DIR/release/deploy-sha\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let https = Https::serve(&dir.path().join("release"), &dir.path().join("tls"));
        Stand { dir, https }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Publishes `contents` as the release archive of deploy-sha for `target`; returns its URL.
    fn publish(&self, target: &str, contents: &[u8]) -> (String, String) {
        let file = format!("deploy-sha-{VERSION}-{target}.tar.gz");
        let bytes = archive("deploy-sha", contents);
        let dir = self.path(&format!("release/v{VERSION}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&file), &bytes).unwrap();
        (
            self.https.url(&format!("v{VERSION}/{file}")),
            sha256_hex(&bytes),
        )
    }

    /// Writes the manifest with `assets`: (target, url, sha256).
    fn manifest(&self, assets: &[(&str, &str, &str)]) {
        let lines: Vec<String> = assets
            .iter()
            .map(|(t, url, sha)| {
                format!("    \"deploy-sha-{t}\": {{\"url\": \"{url}\", \"sha256\": \"{sha}\"}}")
            })
            .collect();
        let text = format!(
            "{{\n  \"version\": \"{VERSION}\",\n  \"assets\": {{\n{}\n  }}\n}}\n",
            lines.join(",\n")
        );
        std::fs::write(self.path("lastgood/actions/manifest.json"), text).unwrap();
    }

    /// Runs install.sh for deploy-sha as the composite action does, on `os`/`arch`.
    fn install(&self, os: &str, arch: &str, trust: bool) -> Installed {
        let output = self.path(&format!("github_output-{}", rand_suffix()));
        let mut cmd = Command::new("bash");
        cmd.arg(self.path("lastgood/actions/install.sh"))
            .arg("deploy-sha")
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    self.path("bin").display()
                ),
            )
            .env("HOME", self.dir.path())
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("RUNNER_TOOL_CACHE", self.path("cache"))
            .env("RUNNER_TEMP", self.path("temp"))
            .env("GITHUB_OUTPUT", &output)
            .env("FAKE_CARGO_LOG", self.path("cargo.log"));
        if trust {
            cmd.env("CURL_CA_BUNDLE", self.https.ca());
        }
        let out = cmd.output().unwrap();
        let bin = std::fs::read_to_string(&output)
            .ok()
            .and_then(|o| o.strip_prefix("bin=").map(|b| PathBuf::from(b.trim_end())));
        Installed { out, bin }
    }

    fn cargo_log(&self) -> String {
        std::fs::read_to_string(self.path("cargo.log")).unwrap_or_default()
    }

    fn cached(&self, target: &str) -> PathBuf {
        self.path(&format!("cache/lastgood/{VERSION}/{target}/deploy-sha"))
    }

    /// RUNNER_TEMP holds nothing once the script is done.
    fn temp_is_empty(&self) -> bool {
        std::fs::read_dir(self.path("temp"))
            .unwrap()
            .next()
            .is_none()
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

struct Installed {
    out: Output,
    bin: Option<PathBuf>,
}

impl Installed {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }
}

/// A fake binary that leaves a mark when it runs.
fn marking_binary(mark: &Path) -> Vec<u8> {
    format!(
        "#!/bin/sh\ntouch '{}'\necho deploy-sha ran\n",
        mark.display()
    )
    .into_bytes()
}

#[test]
fn a_matching_archive_is_installed_cached_and_reused_without_a_download() {
    if !https_tools() {
        return;
    }
    let stand = Stand::new();
    let mark = stand.path("ran");
    let (url, sha) = stand.publish(X64, &marking_binary(&mark));
    stand.manifest(&[(X64, &url, &sha)]);

    // curl really checks the certificate: without the test CA it refuses the server.
    let untrusted = stand.install("Linux", "X64", false);
    assert_eq!(untrusted.code(), Some(3), "{}", untrusted.stderr());
    assert!(
        untrusted.stderr().contains("could not download"),
        "{}",
        untrusted.stderr()
    );
    assert!(!stand.cached(X64).exists());

    let first = stand.install("Linux", "X64", true);
    assert_eq!(first.code(), Some(0), "{}", first.stderr());
    assert_eq!(first.bin.as_deref(), Some(stand.cached(X64).as_path()));
    assert!(
        first.stderr().contains(&format!("downloading {url}")),
        "{}",
        first.stderr()
    );
    let mode = std::fs::metadata(stand.cached(X64))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read(stand.cached(X64)).unwrap(),
        marking_binary(&mark)
    );
    let asset = format!("GET /v{VERSION}/deploy-sha-{VERSION}-{X64}.tar.gz 200");
    assert_eq!(stand.https.requests(), std::slice::from_ref(&asset));
    assert!(stand.temp_is_empty());

    // What the action's next step does: run it.
    let ran = Command::new(first.bin.as_ref().unwrap()).output().unwrap();
    assert!(ran.status.success() && mark.exists());

    let second = stand.install("Linux", "X64", true);
    assert_eq!(second.code(), Some(0), "{}", second.stderr());
    assert_eq!(second.bin, first.bin);
    assert!(
        !second.stderr().contains("downloading"),
        "{}",
        second.stderr()
    );
    assert_eq!(
        stand.https.requests(),
        [asset],
        "the second run must not download"
    );
    assert_eq!(stand.cargo_log(), "", "nothing is built from source");
}

#[test]
fn a_checksum_mismatch_is_refused_and_nothing_is_installed_or_run() {
    if !https_tools() {
        return;
    }
    let stand = Stand::new();
    let mark = stand.path("ran");
    let (url, _) = stand.publish(X64, &marking_binary(&mark));
    let other = sha256_hex(b"the archive the release commit was made with");
    stand.manifest(&[(X64, &url, &other)]);

    let refused = stand.install("Linux", "X64", true);
    assert_eq!(refused.code(), Some(3), "{}", refused.stderr());
    let stderr = refused.stderr();
    assert!(
        stderr.contains("::error title=lastgood install::"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "does not match the manifest's {other}; refusing to run it"
        )),
        "{stderr}"
    );
    assert_eq!(
        refused.bin, None,
        "no `bin` output: the action's run step never starts"
    );
    assert!(!stand.cached(X64).exists());
    let cache_dir = stand.cached(X64).parent().unwrap().to_path_buf();
    assert!(
        std::fs::read_dir(&cache_dir).map_or(true, |mut d| d.next().is_none()),
        "{} holds a file",
        cache_dir.display()
    );
    assert!(!mark.exists(), "the refused binary ran");
    assert_eq!(
        stand.cargo_log(),
        "",
        "a mismatch is never a reason to build"
    );
    assert!(stand.temp_is_empty());
    assert_eq!(stand.https.requests().len(), 1);
}

#[test]
fn an_asset_the_release_lacks_is_built_from_source() {
    if !https_tools() {
        return;
    }
    let stand = Stand::new();
    let (url, sha) = stand.publish(X64, b"#!/bin/sh\n");
    // Released for x64 only (as this machine builds it): an arm64 runner builds from source.
    stand.manifest(&[(X64, &url, &sha)]);
    let arm = stand.install("Linux", "ARM64", true);
    assert_eq!(arm.code(), Some(0), "{}", arm.stderr());
    let built = stand.path("cache/lastgood/build/release/deploy-sha");
    assert_eq!(arm.bin.as_deref(), Some(built.as_path()));
    assert!(
        arm.stderr()
            .contains(&format!("no release asset of {VERSION} for aarch64-unknown-linux-gnu: building deploy-sha from source")),
        "{}",
        arm.stderr()
    );
    let manifest = stand.path("lastgood/Cargo.toml");
    assert_eq!(
        stand.cargo_log(),
        format!(
            "build --release --locked --quiet -p deploy-sha --manifest-path {}\n",
            manifest.display()
        )
    );
    assert!(stand.https.requests().is_empty(), "nothing to download");

    // Listed, but the release has no such file (404): from source too.
    std::fs::remove_file(stand.path(&format!(
        "release/v{VERSION}/deploy-sha-{VERSION}-{X64}.tar.gz"
    )))
    .unwrap();
    std::fs::remove_file(stand.path("cargo.log")).unwrap();
    let x64 = stand.install("Linux", "X64", true);
    assert_eq!(x64.code(), Some(0), "{}", x64.stderr());
    assert_eq!(x64.bin.as_deref(), Some(built.as_path()));
    assert!(x64.stderr().contains("(HTTP 404 for"), "{}", x64.stderr());
    assert!(stand.cargo_log().starts_with("build --release --locked"));
    assert!(!stand.cached(X64).exists());
    assert_eq!(
        stand.https.requests(),
        [format!(
            "GET /v{VERSION}/deploy-sha-{VERSION}-{X64}.tar.gz 404"
        )]
    );
}

#[test]
fn an_unsupported_platform_is_a_clear_error() {
    if !https_tools() {
        return;
    }
    let stand = Stand::new();
    let (url, sha) = stand.publish(X64, b"#!/bin/sh\n");
    stand.manifest(&[(X64, &url, &sha)]);
    for (os, arch) in [("Windows", "X64"), ("Linux", "ARM"), ("FreeBSD", "X64")] {
        let refused = stand.install(os, arch, true);
        assert_eq!(refused.code(), Some(3), "{os}/{arch}: {}", refused.stderr());
        assert!(
            refused.stderr().contains(&format!(
                "lastgood runs on Linux and macOS runners, x64 or arm64; this runner is {os}/{arch}"
            )),
            "{}",
            refused.stderr()
        );
        assert_eq!(refused.bin, None);
    }
    assert_eq!(stand.cargo_log(), "");
    assert!(stand.https.requests().is_empty());
}
