//! `cargo xtask dist`: release archives, static on linux; `cargo xtask release-manifest`: the
//! committed `actions/manifest.json` that `actions/install.sh` verifies downloads against.
//!
//! One version for every binary (the workspace's). Each binary is archived alone as
//! `<name>-<version>-<target>.tar.gz` (the binary at the archive's root) and `SHA256SUMS` lists
//! them, in `<target dir>/dist/`. The binaries archived are the ones cargo reports it has just
//! built (its artifact messages), in the target directory cargo uses: never a file left in
//! `./target` by an older build. On linux-gnu they are linked statically (`+crt-static`, checked
//! in the ELF headers), so they run on any runner whatever its glibc.
//!
//! Targets: the host, and every other linux target of [`LINUX_TARGETS`] the toolchain can build
//! here (its standard library installed by rustup, a C cross linker on `PATH`); the others are
//! named as skipped, with what to install.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::util::{
    binary_crates, build_bins, cargo, host_target, project_root, read, read_file, succeeds,
    target_dir, workspace, write_file,
};
use crate::{Failure, Result};

/// The linux targets `actions/install.sh` knows, with the C cross toolchain (Debian's package
/// names) that links each one statically from another host.
pub const LINUX_TARGETS: [(&str, &str, &str); 2] = [
    (
        "x86_64-unknown-linux-gnu",
        "x86_64-linux-gnu-gcc",
        "gcc-x86-64-linux-gnu libc6-dev-amd64-cross",
    ),
    (
        "aarch64-unknown-linux-gnu",
        "aarch64-linux-gnu-gcc",
        "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
    ),
];

/// What `dist` built: where, the `SHA256SUMS` text, and the targets built and skipped.
#[derive(Debug)]
pub struct Dist {
    /// `<target dir>/dist`.
    pub dir: PathBuf,
    /// `SHA256SUMS`, one line per archive, sorted by file name.
    pub sums: String,
    /// The targets built.
    pub built: Vec<String>,
    /// The targets not built here, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// `cargo xtask dist [--target <triple>]…`.
pub fn main(args: &[&str]) -> Result {
    let targets = target_args(args)?;
    let ws = workspace();
    // A tag build must be of the version the tag names.
    if std::env::var("GITHUB_REF_TYPE").is_ok_and(|t| t == "tag") {
        let tag = std::env::var("GITHUB_REF_NAME").unwrap_or_default();
        if tag != format!("v{}", ws.version) {
            return Err(Failure::new(format!(
                "tag {tag} does not match the workspace version {}: bump [workspace.package] version or fix the tag",
                ws.version
            )));
        }
    }
    dist(&ws.version, &targets).map(|_| ())
}

/// The `--target <triple>` arguments (none: every target the toolchain allows).
pub fn target_args(args: &[&str]) -> Result<Vec<String>> {
    let mut targets = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match (*arg, rest.next()) {
            ("--target", Some(t)) if !t.is_empty() => targets.push((*t).to_owned()),
            _ => {
                return Err(Failure::with_code(
                    format!("unexpected `{arg}`: expected `--target <triple>`"),
                    2,
                ));
            }
        }
    }
    Ok(targets)
}

/// Builds and archives every binary of version `version` for `requested` (empty: the host and
/// every linux target the toolchain can build here), into `<target dir>/dist`.
pub fn dist(version: &str, requested: &[String]) -> Result<Dist> {
    let bins = binary_crates();
    if bins.is_empty() {
        return Err(Failure::new(
            "no binary crate under crates/ (no crates/*/src/main.rs)",
        ));
    }
    let (plan, skipped) = plan(requested)?;
    let out = target_dir().join("dist");
    let _ = std::fs::remove_dir_all(&out);
    let mut files = BTreeMap::new();
    for (target, env) in &plan {
        let built = build_release_with(&bins, target, env)?;
        for bin in &bins {
            let file = format!("{bin}-{version}-{target}.tar.gz");
            let archive = archive(&built[bin], bin)?;
            write_file(&out.join(&file), &archive)?;
            println!("{file}");
            files.insert(file, sha256_hex(&archive));
        }
    }
    let sums: String = files
        .iter()
        .map(|(f, sha)| format!("{sha}  {f}\n"))
        .collect();
    write_file(&out.join("SHA256SUMS"), &sums)?;
    let built: Vec<String> = plan.into_iter().map(|(t, _)| t).collect();
    println!(
        "wrote {} archives and SHA256SUMS to {}\nbuilt for: {}",
        files.len(),
        out.display(),
        built.join(", ")
    );
    for (target, why) in &skipped {
        println!("not built here: {target}: {why}");
    }
    Ok(Dist {
        dir: out,
        sums,
        built,
        skipped,
    })
}

/// The targets to build, each with the environment its build needs, and the ones skipped.
type Plan = (Vec<(String, Vec<(String, String)>)>, Vec<(String, String)>);

fn plan(requested: &[String]) -> Result<Plan> {
    let host = host_target()?;
    let installed = installed_targets();
    if !requested.is_empty() {
        let mut plan = Vec::new();
        for target in requested {
            let env = toolchain_for(target, &host, installed.as_deref())
                .map_err(|why| Failure::new(format!("cannot build {target} here: {why}")))?;
            plan.push((target.clone(), env));
        }
        return Ok((plan, Vec::new()));
    }
    let mut plan = vec![(host.clone(), Vec::new())];
    let mut skipped = Vec::new();
    for (target, _, _) in LINUX_TARGETS.iter().filter(|(t, _, _)| *t != host) {
        match toolchain_for(target, &host, installed.as_deref()) {
            Ok(env) => plan.push(((*target).to_owned(), env)),
            Err(why) => skipped.push(((*target).to_owned(), why)),
        }
    }
    Ok((plan, skipped))
}

/// `rustup target list --installed`, or `None` without rustup.
fn installed_targets() -> Option<Vec<String>> {
    let list = read(Command::new("rustup").args(["target", "list", "--installed"])).ok()?;
    Some(list.lines().map(|l| l.trim().to_owned()).collect())
}

/// The environment that builds `target` from `host`, or why it cannot be built here.
fn toolchain_for(
    target: &str,
    host: &str,
    installed: Option<&[String]>,
) -> std::result::Result<Vec<(String, String)>, String> {
    if target == host {
        return Ok(Vec::new());
    }
    let Some((_, gcc, packages)) = LINUX_TARGETS.iter().find(|(t, _, _)| *t == target) else {
        return Err(format!(
            "only the host ({host}) and {} are cross-built",
            LINUX_TARGETS.map(|t| t.0).join(", ")
        ));
    };
    match installed {
        None => return Err("rustup is not installed: only the host target is built".into()),
        Some(list) if !list.iter().any(|t| t == target) => {
            return Err(format!(
                "its standard library is not installed (`rustup target add {target}`)"
            ));
        }
        Some(_) => {}
    }
    let upper = target.to_ascii_uppercase().replace('-', "_");
    let linker_var = format!("CARGO_TARGET_{upper}_LINKER");
    let linker = std::env::var(&linker_var).unwrap_or_else(|_| (*gcc).to_owned());
    if !succeeds(&linker, &["--version"]) {
        return Err(format!(
            "no C cross toolchain `{linker}` (Debian: `apt-get install {packages}`)"
        ));
    }
    let lower = target.replace('-', "_");
    let ar = linker.strip_suffix("gcc").map(|p| format!("{p}ar"));
    let mut env = vec![
        (linker_var, linker.clone()),
        // ring's C and assembly, compiled for the target.
        (format!("CC_{lower}"), linker.clone()),
    ];
    env.extend(ar.map(|ar| (format!("AR_{lower}"), ar)));
    Ok(env)
}

/// Builds `bins` as they ship for the host bench: see [`build_release_with`].
pub fn build_release(bins: &[String], target: &str) -> Result<BTreeMap<String, PathBuf>> {
    build_release_with(bins, target, &[])
}

/// Builds `bins` as they ship: release profile, for `target`, static on linux-gnu (checked),
/// with `env` (a cross toolchain). Returns each binary's path, as cargo reports it.
fn build_release_with(
    bins: &[String],
    target: &str,
    env: &[(String, String)],
) -> Result<BTreeMap<String, PathBuf>> {
    let mut build = release_command(bins, target, env, std::env::vars_os());
    let built = build_bins(&mut build)?;
    let linux = target.ends_with("linux-gnu");
    let mut found = BTreeMap::new();
    for bin in bins {
        let path = built.get(bin).ok_or_else(|| {
            Failure::new(format!("cargo reported no `{bin}` executable for {target}"))
        })?;
        if linux {
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
            if elf_interpreter(&bytes) != Some(false) {
                return Err(Failure::new(format!(
                    "{} is not a static ELF executable (it names a dynamic loader): check the rustflags of {target} in your cargo config",
                    path.display()
                )));
            }
        }
        found.insert(bin.clone(), path.clone());
    }
    Ok(found)
}

/// The `cargo build` of [`build_release_with`], run from an environment `parent`
/// (`std::env::vars_os()`): what ships is built with the flags below and nothing of the caller's.
/// RUSTFLAGS would silently replace them, and a coverage run's instrumentation must not reach a
/// release: cargo-llvm-cov instruments through `RUSTC_WRAPPER` and its own variables, which
/// [`lastgood_testkit::cargo::without_coverage`] takes back out.
fn release_command(
    bins: &[String],
    target: &str,
    env: &[(String, String)],
    parent: impl IntoIterator<Item = (OsString, OsString)>,
) -> Command {
    let mut build = cargo();
    build.args(["build", "--release", "--locked", "--target", target]);
    for bin in bins {
        build.args(["-p", bin]);
    }
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        build.env_remove(var);
    }
    lastgood_testkit::cargo::without_coverage(&mut build, parent);
    if target.ends_with("linux-gnu") {
        // Scoped to the target: build scripts and proc macros stay dynamic (they must).
        let upper = target.to_ascii_uppercase().replace('-', "_");
        build.env(
            format!("CARGO_TARGET_{upper}_RUSTFLAGS"),
            "-C target-feature=+crt-static",
        );
    }
    build.envs(env.iter().map(|(k, v)| (k, v)));
    build
}

/// Whether a 64-bit little-endian ELF file names a dynamic loader (a `PT_INTERP` header);
/// `None` when it is not such a file.
pub fn elf_interpreter(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    // Magic, ELFCLASS64, ELFDATA2LSB.
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    let mut interp = false;
    for i in 0..phnum {
        interp |= u32_at(phoff.checked_add(i.checked_mul(phentsize)?)?)? == PT_INTERP;
    }
    Some(interp)
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

/// Updates `actions/manifest.json` from `<target dir>/dist/SHA256SUMS`.
pub fn release_manifest() -> Result {
    let ws = workspace();
    let sums = read_file(&target_dir().join("dist/SHA256SUMS"))?;
    write_manifest(&sums, &ws.version, &ws.repository).map(|_| ())
}

/// Writes `actions/manifest.json` for `SHA256SUMS` of `version`; returns its path.
pub fn write_manifest(sums: &str, version: &str, repository: &str) -> Result<PathBuf> {
    let manifest = manifest_from_sums(sums, version, repository)?;
    let path = project_root().join("actions/manifest.json");
    write_file(&path, manifest_text(&manifest))?;
    println!(
        "wrote {} with {} assets of v{version}",
        path.display(),
        manifest["assets"].as_object().map_or(0, |a| a.len())
    );
    Ok(path)
}

/// The manifest for `SHA256SUMS` lines (`<sha256>  <name>-<version>-<target>.tar.gz`): each
/// asset's GitHub release download URL (tag `v<version>` of `repository`) and sha256.
pub fn manifest_from_sums(
    sums: &str,
    version: &str,
    repository: &str,
) -> Result<serde_json::Value> {
    let mut assets = serde_json::Map::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (sha, file) = line
            .split_once("  ")
            .ok_or_else(|| Failure::new(format!("SHA256SUMS: malformed line `{line}`")))?;
        let ok_sha = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
        let (name, target) = file
            .strip_suffix(".tar.gz")
            .and_then(|stem| stem.split_once(&format!("-{version}-")))
            .filter(|_| ok_sha)
            .ok_or_else(|| {
                Failure::new(format!(
                    "SHA256SUMS: `{line}` is not `<sha256>  <name>-{version}-<target>.tar.gz`"
                ))
            })?;
        assets.insert(
            format!("{name}-{target}"),
            serde_json::json!({
                "url": format!("{repository}/releases/download/v{version}/{file}"),
                "sha256": sha.to_ascii_lowercase(),
            }),
        );
    }
    Ok(serde_json::json!({ "version": version, "assets": assets }))
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

    const VERSION: &str = "0.4.2";
    const REPOSITORY: &str = "https://github.com/o/r";
    const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// The variables a command sets (`Some`) or removes (`None`), by name.
    fn env_of(cmd: &Command) -> BTreeMap<String, Option<String>> {
        cmd.get_envs()
            .map(|(k, v)| {
                let v = v.map(|v| v.to_string_lossy().into_owned());
                (k.to_string_lossy().into_owned(), v)
            })
            .collect()
    }

    #[test]
    fn a_release_built_under_llvm_cov_is_not_instrumented() {
        let parent: Vec<(OsString, OsString)> = [
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER", "1"),
            (
                "__CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS",
                "-C instrument-coverage",
            ),
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES", "deploy_sha"),
            ("RUSTC_WRAPPER", "/home/u/.cargo/bin/cargo-llvm-cov"),
            ("RUSTFLAGS", "-C instrument-coverage"),
            ("CARGO_ENCODED_RUSTFLAGS", "-Cinstrument-coverage"),
            ("PATH", "/usr/bin"),
        ]
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let target = "x86_64-unknown-linux-gnu";
        let env = env_of(&release_command(
            &["deploy-sha".to_owned()],
            target,
            &[],
            parent,
        ));
        for var in [
            "RUSTC_WRAPPER",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "__CARGO_LLVM_COV_RUSTC_WRAPPER",
            "__CARGO_LLVM_COV_RUSTC_WRAPPER_RUSTFLAGS",
            "__CARGO_LLVM_COV_RUSTC_WRAPPER_CRATE_NAMES",
        ] {
            assert_eq!(env.get(var), Some(&None), "{var} must be removed: {env:?}");
        }
        let flags = env.values().flatten();
        assert!(
            !flags.clone().any(|v| v.contains("instrument-coverage")),
            "{env:?}"
        );
        assert_eq!(
            env.get("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS"),
            Some(&Some("-C target-feature=+crt-static".to_owned()))
        );
    }

    #[test]
    fn a_release_keeps_the_users_own_wrapper() {
        let parent: Vec<(OsString, OsString)> = [
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER", "1"),
            ("__CARGO_LLVM_COV_RUSTC_WRAPPER_PRE_EXISTING", "sccache"),
            ("RUSTC_WRAPPER", "/home/u/.cargo/bin/cargo-llvm-cov"),
        ]
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let cmd = release_command(&[], "aarch64-apple-darwin", &[], parent);
        let env = env_of(&cmd);
        assert_eq!(env.get("RUSTC_WRAPPER"), Some(&Some("sccache".to_owned())));
        assert!(
            !env.keys()
                .any(|k| k.ends_with("_RUSTFLAGS") && k.starts_with("CARGO_TARGET"))
        );
    }

    #[test]
    fn manifest_round_trips_through_its_text() {
        let sums = format!(
            "{SHA_A}  deploy-sha-{VERSION}-x86_64-unknown-linux-gnu.tar.gz\n{SHA_A}  health-probe-{VERSION}-aarch64-unknown-linux-gnu.tar.gz\n"
        );
        let manifest = manifest_from_sums(&sums, VERSION, REPOSITORY).unwrap();
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
        let read = |sums: &str| manifest_from_sums(sums, VERSION, REPOSITORY);
        assert!(read(&format!("nothex  deploy-sha-{VERSION}-x.tar.gz")).is_err());
        assert!(read(&format!("{SHA_A}  deploy-sha-9.9.9-x.tar.gz")).is_err());
        assert!(read(&format!("{SHA_A} deploy-sha-{VERSION}-x.tar.gz")).is_err());
    }

    #[test]
    fn the_elf_check_tells_a_dynamic_executable() {
        // This test binary is a debug build: dynamic, with an interpreter.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_interpreter(&me), Some(true));
        // A header with no program header: static.
        let mut fake = vec![0u8; 64];
        fake[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(elf_interpreter(&fake), Some(false));
        // One PT_LOAD, then one PT_INTERP.
        fake[0x20] = 64;
        fake[0x36] = 56;
        fake[0x38] = 1;
        fake.extend([1, 0, 0, 0]);
        fake.resize(64 + 56, 0);
        assert_eq!(elf_interpreter(&fake), Some(false));
        fake[0x38] = 2;
        fake.extend([3, 0, 0, 0]);
        fake.resize(64 + 2 * 56, 0);
        assert_eq!(elf_interpreter(&fake), Some(true));
        // Truncated, or not ELF at all.
        fake[0x38] = 3;
        assert_eq!(elf_interpreter(&fake), None);
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn a_target_the_toolchain_lacks_is_named_with_what_to_install() {
        let host = "x86_64-unknown-linux-gnu";
        assert_eq!(toolchain_for(host, host, None), Ok(Vec::new()));
        let arm = "aarch64-unknown-linux-gnu";
        let why = toolchain_for(arm, host, Some(&[host.to_owned()])).unwrap_err();
        assert!(
            why.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{why}"
        );
        assert!(
            toolchain_for(arm, host, None)
                .unwrap_err()
                .contains("rustup")
        );
        let why = toolchain_for("riscv64gc-unknown-linux-gnu", host, None).unwrap_err();
        assert!(why.contains("only the host"), "{why}");
    }

    #[test]
    fn target_arguments_are_pairs() {
        assert_eq!(
            target_args(&["--target", "a", "--target", "b"]).unwrap(),
            ["a", "b"]
        );
        assert!(target_args(&["--target"]).is_err());
        assert!(target_args(&["--bins"]).is_err());
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
            .join(&workspace().version)
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
