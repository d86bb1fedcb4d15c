//! The watch records, `watches/<sha>.json`, and their kernel locks `watches/<sha>.lock`: the
//! only code that reads or writes them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::sha::{Sha, is_full_sha};
use crate::platform::state::{LOGS_DIR, StateDir, WATCHES_DIR, open_lock_file};

/// A watch as recorded in `watches/<sha>.json`. Never holds a secret. A record whose `sha` is
/// not a SHA is unreadable, as a torn one is: [`read_record`] says so for that watch only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct WatchRecord {
    /// The watched SHA (a 40-hex string on disk).
    pub sha: Sha,
    /// owner/repo.
    pub repository: String,
    /// The CI workflow's file name.
    pub workflow: String,
    /// The API root.
    pub api_url: String,
    /// `initial-delay` in milliseconds.
    pub initial_delay_ms: u64,
    /// `interval` in milliseconds.
    pub interval_ms: u64,
    /// `timeout` in milliseconds.
    pub timeout_ms: u64,
    /// `discovery-timeout` in milliseconds.
    pub discovery_timeout_ms: u64,
    /// `on-timeout`.
    pub on_timeout: String,
    /// `on-missing`.
    pub on_missing: String,
    /// When the watch started (RFC 3339).
    pub started_at: String,
    /// When the watch started (milliseconds since the epoch; deadlines count from it).
    pub started_at_ms: u64,
    /// The watcher's process id (0 while a detached watcher is being started).
    pub pid: u32,
    /// `watching`, `starting`, or `error: …` when the last watcher gave up.
    pub status: String,
    /// The detached watcher's log, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
    /// Every non-secret input of the watch, resolved (paths absolute), to resume it as it was.
    pub inputs: BTreeMap<String, String>,
}

/// `watches/<sha>.json`, relative to the state directory.
fn watch_path(sha: &str) -> PathBuf {
    Path::new(WATCHES_DIR).join(format!("{sha}.json"))
}

/// `watches/<sha>.lock`, relative to the state directory.
fn watch_lock_path(sha: &str) -> PathBuf {
    Path::new(WATCHES_DIR).join(format!("{sha}.lock"))
}

/// The record of the watch of `sha`, if there is one.
pub(crate) fn read_record(state: &StateDir, sha: &str) -> Result<Option<WatchRecord>> {
    let path = state.join(watch_path(sha));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Environment(format!(
                "{} is not a watch record ({e}); remove it if it is stale",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Writes a watch record (atomically, in a directory only its owner reads).
pub(crate) fn write_record(state: &StateDir, record: &WatchRecord) -> Result<()> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::Environment(format!("cannot encode the watch record: {e}")))?;
    private_dir(&state.join(WATCHES_DIR))?;
    state.write_atomic(&watch_path(&record.sha), &json)
}

/// Creates `dir` if needed and makes it readable by its owner only (records hold the deploy
/// inputs, such as `health-header`, which may carry credentials).
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("restrict the permissions of", dir, e))
}

/// Takes `watches/<sha>.lock` without waiting; `None` when a live watcher holds it.
pub(crate) fn try_watch_lock(state: &StateDir, sha: &str) -> Result<Option<File>> {
    let path = state.join(watch_lock_path(sha));
    private_dir(&state.join(WATCHES_DIR))?;
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
    }
}

/// Where the record of the watch of `sha` is (for messages).
pub(crate) fn record_file(state: &StateDir, sha: &str) -> PathBuf {
    state.join(watch_path(sha))
}

/// Removes the record of the watch of `sha` (absent is fine).
pub(crate) fn remove_record(state: &StateDir, sha: &str) -> Result<()> {
    state.remove(&watch_path(sha))
}

/// Removes the lock file of the watch of `sha` (absent is fine).
pub(crate) fn remove_lock(state: &StateDir, sha: &str) -> Result<()> {
    state.remove(&watch_lock_path(sha))
}

/// The SHAs of every recorded watch, sorted.
pub(crate) fn recorded_shas(state: &StateDir) -> Result<Vec<Sha>> {
    let dir = state.join(WATCHES_DIR);
    let mut shas: Vec<Sha> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")
                    .filter(|s| is_full_sha(s))
                    .and_then(Sha::parse)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    shas.sort();
    Ok(shas)
}

/// How many detached watchers' logs `logs/` keeps (the newest; those of pending watches always).
pub(crate) const KEPT_WATCHER_LOGS: usize = 20;

/// Removes the oldest `ci-watcher-<sha>.log` beyond [`KEPT_WATCHER_LOGS`], except the logs of
/// pending watches and of `sha` (best effort: a log that cannot be removed stays).
fn prune_logs(state: &StateDir, logs: &Path, sha: &str) {
    let Ok(entries) = std::fs::read_dir(logs) else {
        return;
    };
    let mut old: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let of = name
                .strip_prefix("ci-watcher-")?
                .strip_suffix(".log")?
                .to_owned();
            if of == sha || state.join(watch_path(&of)).exists() {
                return None;
            }
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    old.sort();
    let excess = old
        .len()
        .saturating_sub(KEPT_WATCHER_LOGS.saturating_sub(1));
    for (_, path) in old.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

/// Opens (for appending) the log of the detached watcher of `sha`, `logs/ci-watcher-<sha>.log`:
/// its path and the file.
pub(crate) fn open_log(state: &StateDir, sha: &str) -> Result<(PathBuf, File)> {
    let logs = state.join(LOGS_DIR);
    std::fs::create_dir_all(&logs).map_err(|e| Error::io("create directory", &logs, e))?;
    let log_path = logs.join(format!("ci-watcher-{sha}.log"));
    prune_logs(state, &logs, sha);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("open", &log_path, e))?;
    Ok((log_path, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn record() -> WatchRecord {
        WatchRecord {
            sha: Sha::parse(A).unwrap(),
            repository: "o/r".to_owned(),
            workflow: "ci.yml".to_owned(),
            api_url: "https://api.github.com".to_owned(),
            initial_delay_ms: 0,
            interval_ms: 10_000,
            timeout_ms: 300_000,
            discovery_timeout_ms: 120_000,
            on_timeout: "keep".to_owned(),
            on_missing: "keep".to_owned(),
            started_at: "2026-01-01T00:00:00Z".to_owned(),
            started_at_ms: 1,
            pid: 7,
            status: "watching".to_owned(),
            log_file: None,
            inputs: BTreeMap::new(),
        }
    }

    #[test]
    fn a_record_keeps_its_sha_as_a_string_and_a_junk_one_is_unreadable_alone() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("env")).unwrap();
        write_record(&state, &record()).unwrap();
        let path = record_file(&state, A);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["sha"], A, "the same JSON as when the SHA was a string");
        assert_eq!(read_record(&state, A).unwrap(), Some(record()));
        assert_eq!(recorded_shas(&state).unwrap(), [Sha::parse(A).unwrap()]);

        std::fs::write(&path, json.to_string().replace(A, "junk")).unwrap();
        let err = read_record(&state, A).unwrap_err().to_string();
        assert!(
            err.contains("is not a watch record") && err.contains("remove it"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, scratch_dir, tricky_text};
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = WatchRecord> {
        (
            (
                "[0-9a-f]{40}",
                tricky_text(10),
                tricky_text(10),
                tricky_text(10),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            (
                tricky_text(8),
                tricky_text(8),
                tricky_text(8),
                any::<u64>(),
                any::<u32>(),
                tricky_text(8),
            ),
            (
                prop::option::of(tricky_text(10)),
                prop::collection::btree_map(tricky_text(8), tricky_text(12), 0..5),
            ),
        )
            .prop_map(
                |(
                    (sha, repository, workflow, api_url),
                    (initial_delay_ms, interval_ms, timeout_ms, discovery_timeout_ms),
                    (on_timeout, on_missing, started_at, started_at_ms, pid, status),
                    (log_file, inputs),
                )| WatchRecord {
                    sha: Sha::parse(&sha).unwrap(),
                    repository,
                    workflow,
                    api_url,
                    initial_delay_ms,
                    interval_ms,
                    timeout_ms,
                    discovery_timeout_ms,
                    on_timeout,
                    on_missing,
                    started_at,
                    started_at_ms,
                    pid,
                    status,
                    log_file,
                    inputs,
                },
            )
    }

    proptest! {
        #![proptest_config(config(8))]

        /// A record reads back as written; cut anywhere or replaced by junk, it is an error
        /// that names the file and says what to do, never a panic or a wrong record.
        #[test]
        fn records_read_back_and_a_damaged_one_is_named(
            r in record(), cut in any::<prop::sample::Index>(), junk in prop::collection::vec(any::<u8>(), 0..40)
        ) {
            let dir = scratch_dir();
            let state = StateDir::open(dir.path()).unwrap();
            write_record(&state, &r).unwrap();
            prop_assert_eq!(read_record(&state, &r.sha).unwrap(), Some(r.clone()));
            prop_assert_eq!(recorded_shas(&state).unwrap(), vec![r.sha.clone()]);
            let path = record_file(&state, &r.sha);
            let whole = std::fs::read(&path).unwrap();
            let at = cut.index(whole.len());
            for damaged in [&whole[..at], &junk[..]] {
                std::fs::write(&path, damaged).unwrap();
                if let Ok(found) = read_record(&state, &r.sha) {
                    prop_assert_eq!(found, None::<WatchRecord>, "{:?}", damaged);
                } else {
                    let e = read_record(&state, &r.sha).unwrap_err().to_string();
                    prop_assert!(e.contains(&path.display().to_string()) && e.contains("remove it"), "{}", e);
                }
            }
        }
    }
}
