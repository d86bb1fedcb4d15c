//! The save point under faults. Its phases: lock → HEAD (the SHA in service) →
//! `previous-sha.txt` → `last-validated-sha.txt` (first run only) → archive → prune → journal.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lastgood_testkit::fs::SmallFs;
use lastgood_testkit::run::Ran;

use crate::Site;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn sigterm_while_waiting_for_the_lock_writes_nothing_and_says_so() {
    let site = Site::new();
    std::fs::create_dir_all(&site.state).unwrap();
    // Another process holds the environment lock (a kernel file lock on `lock`).
    let mut holder = Command::new("flock")
        .arg(site.state.join("lock"))
        .args(["sleep", "600"])
        .spawn()
        .unwrap();
    let runner = site.fx.tmp.path().join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let log = runner.join("stderr");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("save-rollback-point"));
    lastgood_testkit::scrub_env(&mut cmd);
    let mut child = cmd
        .env("INPUT_APP_DIR", &site.fx.app)
        .env("INPUT_STATE_DIR", &site.state)
        .env("INPUT_LOCK_TIMEOUT", "10m")
        .env("GITHUB_STEP_SUMMARY", runner.join("summary"))
        .env("GITHUB_OUTPUT", runner.join("output"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !read(&log).contains("waiting up to") {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", read(&log));
        std::thread::sleep(Duration::from_millis(20));
    }
    lastgood_testkit::outputs::signal(child.id(), "TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = holder.kill();
    let _ = holder.wait();
    let said = read(&log);
    assert!(
        status.code().is_some(),
        "died of SIGTERM without a word: {said}"
    );
    assert_ne!(status.code(), Some(0));
    assert!(said.to_lowercase().contains("cancel"), "{said}");
    assert!(
        read(&runner.join("summary"))
            .to_lowercase()
            .contains("cancel")
    );
    assert_eq!(site.state_file("previous-sha.txt"), None);
    assert_eq!(site.state_file("last-validated-sha.txt"), None);
}

#[test]
fn a_full_disk_while_archiving_fails_clearly_and_leaves_no_partial_archive() {
    let Some(fs) = SmallFs::mount(1024) else {
        return;
    };
    let mut site = Site::new();
    site.state = fs.path().join("prod");
    // 2 MiB of data that does not compress, on a 1 MiB file system.
    let mut noise = Vec::with_capacity(2 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while noise.len() < 2 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(site.fx.app.join("uploads.bin"), &noise).unwrap();
    let Ran { code, stderr, .. } = site.run(&["--backup-paths", "uploads.bin"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("backups"), "names what failed: {stderr}");
    assert!(
        stderr.to_lowercase().contains("space"),
        "says what to do: {stderr}"
    );
    let leftovers: Vec<String> = std::fs::read_dir(site.state.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        leftovers.is_empty(),
        "a partial archive was left: {leftovers:?}"
    );
    // Whatever was written reads back.
    if let Some(p) = site.state_file("previous-sha.txt") {
        assert_eq!(p, site.fx.head());
    }
    for line in read(&site.state.join("journal.jsonl")).lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
}
