//! The watch records, `watches/<sha>.json`, and their kernel locks `watches/<sha>.lock`: the
//! only code that reads or writes them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::sha::is_full_sha;
use crate::platform::state::{LOGS_DIR, StateDir, WATCHES_DIR, open_lock_file};

/// A watch as recorded in `watches/<sha>.json`. Never holds a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct WatchRecord {
    /// The watched SHA.
    pub sha: String,
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
pub(crate) fn recorded_shas(state: &StateDir) -> Result<Vec<String>> {
    let dir = state.join(WATCHES_DIR);
    let mut shas: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")
                    .filter(|s| is_full_sha(s))
                    .map(str::to_owned)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    shas.sort();
    Ok(shas)
}

/// Opens (for appending) the log of the detached watcher of `sha`, `logs/ci-watcher-<sha>.log`:
/// its path and the file.
pub(crate) fn open_log(state: &StateDir, sha: &str) -> Result<(PathBuf, File)> {
    let logs = state.join(LOGS_DIR);
    std::fs::create_dir_all(&logs).map_err(|e| Error::io("create directory", &logs, e))?;
    let log_path = logs.join(format!("ci-watcher-{sha}.log"));
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("open", &log_path, e))?;
    Ok((log_path, log))
}
