//! `cargo xtask dist`: release archives for the host target; `cargo xtask release-manifest`:
//! the committed `actions/manifest.json` that `actions/install.sh` verifies downloads against.
//!
//! One version for every binary (the workspace's). Each binary is archived alone as
//! `<name>-<version>-<target>.tar.gz` (the binary at the archive's root) and `SHA256SUMS` lists
//! them, in `target/dist/`. On linux-gnu the binaries are linked statically (`+crt-static`), so
//! they run on any runner whatever its glibc.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::util::{
    REPOSITORY, VERSION, binary_crates, cargo, host_target, project_root, read_file, run,
    target_dir, write_file,
};
use crate::{Failure, Result};

/// Builds and archives every binary for the host target.
pub fn dist() -> Result {
    // A tag build must be of the version the tag names.
    if std::env::var("GITHUB_REF_TYPE").is_ok_and(|t| t == "tag") {
        let tag = std::env::var("GITHUB_REF_NAME").unwrap_or_default();
        if tag != format!("v{VERSION}") {
            return Err(Failure::new(format!(
                "tag {tag} does not match the workspace version {VERSION}: bump [workspace.package] version or fix the tag"
            )));
        }
    }
    let bins = binary_crates();
    if bins.is_empty() {
        return Err(Failure::new(
            "no binary crate under crates/ (no crates/*/src/main.rs)",
        ));
    }
    let target = host_target()?;
    let release = build_release(&bins, &target)?;

    let out = target_dir().join("dist");
    let _ = std::fs::remove_dir_all(&out);
    let mut sums = String::new();
    for bin in &bins {
        let binary = release.join(bin);
        let file = format!("{bin}-{VERSION}-{target}.tar.gz");
        let archive = archive(&binary, bin)?;
        let _ = writeln!(sums, "{}  {file}", sha256_hex(&archive));
        write_file(&out.join(&file), &archive)?;
        println!("{file}");
    }
    write_file(&out.join("SHA256SUMS"), &sums)?;
    println!(
        "wrote {} archives and SHA256SUMS to {}",
        bins.len(),
        out.display()
    );
    Ok(())
}

/// Builds `bins` as they ship: release profile, for `target`, static on linux-gnu. Returns the
/// directory of the binaries.
pub fn build_release(bins: &[String], target: &str) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--release", "--locked", "--target", target]);
    for bin in bins {
        build.args(["-p", bin]);
    }
    if target.ends_with("linux-gnu") {
        // Scoped to the target: build scripts and proc macros stay dynamic (they must).
        let var = format!(
            "CARGO_TARGET_{}_RUSTFLAGS",
            target.to_ascii_uppercase().replace('-', "_")
        );
        build.env(var, "-C target-feature=+crt-static");
    }
    run(&mut build)?;
    Ok(target_dir().join(target).join("release"))
}

/// A .tar.gz holding `binary` as `name`, mode 755, with a fixed mtime (reproducible bytes).
fn archive(binary: &Path, name: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(binary)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", binary.display())))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
    let archived = tar
        .append_data(&mut header, name, bytes.as_slice())
        .and_then(|()| tar.into_inner())
        .and_then(GzEncoder::finish);
    archived.map_err(|e| Failure::new(format!("cannot archive {name}: {e}")))
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Updates `actions/manifest.json` from `target/dist/SHA256SUMS`.
pub fn release_manifest() -> Result {
    let root = project_root();
    let sums = read_file(&target_dir().join("dist/SHA256SUMS"))?;
    let manifest = manifest_from_sums(&sums)?;
    let path = root.join("actions/manifest.json");
    write_file(&path, manifest_text(&manifest))?;
    println!(
        "wrote {} with {} assets of v{VERSION}",
        path.display(),
        manifest["assets"].as_object().map_or(0, |a| a.len())
    );
    Ok(())
}

/// The manifest for `SHA256SUMS` lines (`<sha256>  <name>-<version>-<target>.tar.gz`).
pub fn manifest_from_sums(sums: &str) -> Result<serde_json::Value> {
    let mut assets = serde_json::Map::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (sha, file) = line
            .split_once("  ")
            .ok_or_else(|| Failure::new(format!("SHA256SUMS: malformed line `{line}`")))?;
        let ok_sha = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
        let (name, target) = file
            .strip_suffix(".tar.gz")
            .and_then(|stem| stem.split_once(&format!("-{VERSION}-")))
            .filter(|_| ok_sha)
            .ok_or_else(|| {
                Failure::new(format!(
                    "SHA256SUMS: `{line}` is not `<sha256>  <name>-{VERSION}-<target>.tar.gz`"
                ))
            })?;
        assets.insert(
            format!("{name}-{target}"),
            serde_json::json!({
                "url": format!("{REPOSITORY}/releases/download/v{VERSION}/{file}"),
                "sha256": sha.to_ascii_lowercase(),
            }),
        );
    }
    Ok(serde_json::json!({ "version": VERSION, "assets": assets }))
}

/// The manifest as committed: one asset per line, so `install.sh` reads it with grep and sed.
pub fn manifest_text(manifest: &serde_json::Value) -> String {
    let version = manifest["version"].as_str().unwrap_or_default();
    let mut text = format!(
        "{{\n  \"version\": {},\n  \"assets\": {{",
        serde_json::Value::from(version)
    );
    let assets = manifest["assets"].as_object().cloned().unwrap_or_default();
    let mut first = true;
    for (key, asset) in &assets {
        let url = asset["url"].as_str().unwrap_or_default();
        let sha = asset["sha256"].as_str().unwrap_or_default();
        let _ = write!(
            text,
            "{}\n    {}: {{\"url\": {}, \"sha256\": {}}}",
            if first { "" } else { "," },
            serde_json::Value::from(key.as_str()),
            serde_json::Value::from(url),
            serde_json::Value::from(sha)
        );
        first = false;
    }
    text.push_str(if assets.is_empty() {
        "}\n}\n"
    } else {
        "\n  }\n}\n"
    });
    text
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn manifest_round_trips_through_its_text() {
        let sums = format!(
            "{SHA_A}  deploy-sha-{VERSION}-x86_64-unknown-linux-gnu.tar.gz\n{SHA_A}  health-probe-{VERSION}-aarch64-unknown-linux-gnu.tar.gz\n"
        );
        let manifest = manifest_from_sums(&sums).unwrap();
        let asset = &manifest["assets"]["deploy-sha-x86_64-unknown-linux-gnu"];
        assert_eq!(
            asset["url"].as_str().unwrap(),
            format!(
                "{REPOSITORY}/releases/download/v{VERSION}/deploy-sha-{VERSION}-x86_64-unknown-linux-gnu.tar.gz"
            )
        );
        let text = manifest_text(&manifest);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, manifest);
        assert_eq!(text.lines().filter(|l| l.contains("\"sha256\"")).count(), 2);
    }

    #[test]
    fn malformed_sums_are_refused() {
        assert!(manifest_from_sums("nothex  deploy-sha-0.1.0-x.tar.gz").is_err());
        assert!(manifest_from_sums(&format!("{SHA_A}  deploy-sha-9.9.9-x.tar.gz")).is_err());
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// `install.sh` finds a cached binary in the tool cache, for this runner's target.
    #[test]
    fn install_script_uses_the_tool_cache() {
        if Command::new("bash").arg("--version").output().is_err() {
            eprintln!("bash is not installed: skipping");
            return;
        }
        let cache = std::env::temp_dir().join(format!("lastgood-tc-{}", std::process::id()));
        let dir = cache
            .join("lastgood")
            .join(VERSION)
            .join("x86_64-unknown-linux-gnu");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("health-probe");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out_file = cache.join("github_output");
        let out = Command::new("bash")
            .arg(project_root().join("actions/install.sh"))
            .arg("health-probe")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TOOL_CACHE", &cache)
            .env("GITHUB_OUTPUT", &out_file)
            .output()
            .unwrap();
        let written = std::fs::read_to_string(&out_file).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&cache);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(written, format!("bin={}\n", bin.display()));
    }

    #[test]
    fn install_script_refuses_an_unknown_binary() {
        let out = Command::new("bash")
            .arg(project_root().join("actions/install.sh"))
            .arg("../../etc")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown lastgood binary"));
    }
}
