//! The state directory of one environment: SHA files, the journal, the lock, backups.
//!
//! Every write is atomic ([`write_atomic`]: temporary file in the same directory, fsync, rename,
//! fsync of the directory), so a process killed at any instant leaves each file old or new. The
//! journal is append-only JSON lines written with one `write` per line and fsynced; its reader
//! skips a torn last line. The environment lock is a kernel file lock (`flock` through
//! [`std::fs::File::lock`]): the kernel releases it when its holder dies, so it is never stale.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

pub(crate) mod health_history;
pub(crate) mod journal;
pub(crate) mod marker;
pub(crate) mod watches;

use self::journal::{JournalEvent, JournalOutcome};
use crate::base::error::{Error, Result};
use crate::base::sha::short_sha;
use crate::base::sha::{Sha, is_full_sha};
use crate::base::time::format_duration;
use crate::base::time::rfc3339_millis;
use crate::platform::cancel;

/// `last-validated-sha.txt`: the SHA last validated by CI.
const LAST_VALIDATED_FILE: &str = "last-validated-sha.txt";
/// `previous-sha.txt`: the SHA deployed before the current one.
pub(crate) const PREVIOUS_FILE: &str = "previous-sha.txt";
/// `journal.jsonl`: one JSON object per event.
pub(crate) const JOURNAL_FILE: &str = "journal.jsonl";
/// `journal.1.jsonl`: the journal's older entries, once `journal.jsonl` passed [`JOURNAL_LIMIT`].
pub(crate) const JOURNAL_OLD_FILE: &str = "journal.1.jsonl";
/// How large `journal.jsonl` grows before it is moved to `journal.1.jsonl`.
pub(crate) const JOURNAL_LIMIT: u64 = 2 << 20;
/// `lock`: the file the environment lock is taken on.
const LOCK_FILE: &str = "lock";
/// `lock.holder.json`: who holds the lock (informational; the lock itself is the kernel's).
const LOCK_HOLDER_FILE: &str = "lock.holder.json";
/// `watches/`: CI watches not yet concluded.
pub(crate) const WATCHES_DIR: &str = "watches";
/// `logs/`: detached watchers' logs.
pub(crate) const LOGS_DIR: &str = "logs";
/// `backups/`: archives taken before deploys.
pub(crate) const BACKUPS_DIR: &str = "backups";

/// How often a waiting process retries the lock.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// The state directory of one environment.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Creates the directory (and `watches/`, `logs/`, `backups/`) if needed and checks that it is
    /// writable; [`Error::Io`] (exit 3) when it cannot.
    pub fn open(path: &Path) -> Result<StateDir> {
        for dir in [
            path.to_path_buf(),
            path.join(WATCHES_DIR),
            path.join(LOGS_DIR),
            path.join(BACKUPS_DIR),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io("create the state directory", &dir, e))?;
        }
        let probe = path.join(format!(".write-test.{}", std::process::id()));
        File::create(&probe).map_err(|e| {
            Error::io(
                "write in the state directory (check its owner and mode)",
                path,
                e,
            )
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(StateDir {
            root: path.to_path_buf(),
        })
    }

    /// Opens an existing state directory read-only (another environment's, for comparisons).
    ///
    /// Ok even when files are missing; an error only when `path` exists and is not a directory.
    pub fn open_existing(path: &Path) -> Result<StateDir> {
        match std::fs::metadata(path) {
            Ok(m) if !m.is_dir() => Err(Error::Environment(format!(
                "{} is not a directory; give a state directory",
                path.display()
            ))),
            _ => Ok(StateDir {
                root: path.to_path_buf(),
            }),
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The path of a file or directory of the state directory.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// The SHA of `last-validated-sha.txt`, if the file exists.
    pub fn last_validated(&self) -> Result<Option<String>> {
        self.read_sha(LAST_VALIDATED_FILE)
    }

    /// Writes `last-validated-sha.txt` atomically.
    pub fn set_last_validated(&self, sha: &str) -> Result<()> {
        self.write_sha(LAST_VALIDATED_FILE, sha)
    }

    /// The SHA of `previous-sha.txt`, if the file exists.
    pub fn previous(&self) -> Result<Option<String>> {
        self.read_sha(PREVIOUS_FILE)
    }

    /// Writes `previous-sha.txt` atomically.
    pub fn set_previous(&self, sha: &str) -> Result<()> {
        self.write_sha(PREVIOUS_FILE, sha)
    }

    /// Reads a SHA file: `None` when missing or empty; garbage is an error naming the file.
    pub fn read_sha(&self, name: &str) -> Result<Option<String>> {
        let path = self.root.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        if text.trim().is_empty() {
            return Ok(None);
        }
        match Sha::parse(&text) {
            Some(sha) => Ok(Some(sha.into_string())),
            None => Err(Error::Environment(format!(
                "{} does not hold a 40-hex SHA (found `{}`); fix or delete it",
                path.display(),
                text.trim().chars().take(60).collect::<String>()
            ))),
        }
    }

    fn write_sha(&self, name: &str, sha: &str) -> Result<()> {
        if !is_full_sha(sha) {
            return Err(Error::Environment(format!(
                "refusing to write `{sha}` to {name}: not a 40-hex SHA"
            )));
        }
        self.write_atomic(Path::new(name), format!("{sha}\n").as_bytes())
    }

    /// Appends one event to `journal.jsonl` (one write, then fsync). A journal that would grow
    /// past [`JOURNAL_LIMIT`] is first moved to `journal.1.jsonl` (replacing the older one), so
    /// the journal never holds more than about twice the limit on disk.
    pub fn journal(&self, entry: &JournalEntry) -> Result<()> {
        let path = self.root.join(JOURNAL_FILE);
        let mut line = serde_json::to_string(entry)
            .map_err(|e| Error::Environment(format!("cannot encode a journal entry: {e}")))?;
        line.push('\n');
        self.rotate_journal(line.len() as u64)?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        // A process killed in the middle of a write may have left a torn line without its
        // newline: start on a fresh line so this entry stays readable.
        if ends_without_newline(&mut file).map_err(|e| Error::io("read", &path, e))? {
            line.insert(0, '\n');
        }
        let before = file
            .metadata()
            .map_err(|e| Error::io("read", &path, e))?
            .len();
        if let Err(e) = file.write_all(line.as_bytes()) {
            // A full disk may take part of the line: undo it, so the journal stays whole lines.
            let _ = file.set_len(before);
            return Err(Error::io("append to", &path, e));
        }
        file.sync_data().map_err(|e| Error::io("fsync", &path, e))
    }

    /// Moves `journal.jsonl` to `journal.1.jsonl` when appending `adding` bytes would take it
    /// past [`JOURNAL_LIMIT`]. A journal far over the limit (written by something else) keeps
    /// only its last [`JOURNAL_LIMIT`] bytes, from a line start.
    fn rotate_journal(&self, adding: u64) -> Result<()> {
        let path = self.root.join(JOURNAL_FILE);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(_) => return Ok(()),
        };
        if len + adding <= JOURNAL_LIMIT {
            return Ok(());
        }
        let old = self.root.join(JOURNAL_OLD_FILE);
        if len <= 2 * JOURNAL_LIMIT {
            std::fs::rename(&path, &old).map_err(|e| Error::io("rotate", &path, e))?;
            sync_parent(&path);
            return Ok(());
        }
        let mut file = File::open(&path).map_err(|e| Error::io("read", &path, e))?;
        file.seek(SeekFrom::Start(len - JOURNAL_LIMIT))
            .map_err(|e| Error::io("read", &path, e))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)
            .map_err(|e| Error::io("read", &path, e))?;
        let from = tail.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        write_atomic(&old, &tail[from..])?;
        write_atomic(&path, b"")
    }

    /// Every readable entry of the journal (`journal.1.jsonl`, then `journal.jsonl`), oldest
    /// first (a torn or garbled line is skipped).
    pub fn read_journal(&self) -> Result<Vec<JournalEntry>> {
        let mut entries = Vec::new();
        for name in [JOURNAL_OLD_FILE, JOURNAL_FILE] {
            let path = self.root.join(name);
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read", &path, e)),
            };
            entries.extend(
                String::from_utf8_lossy(&text)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .filter_map(|l| serde_json::from_str::<JournalEntry>(l).ok()),
            );
        }
        Ok(entries)
    }

    /// Takes the environment lock, waiting up to `timeout`.
    ///
    /// While waiting, calls `waiting` once with a description of the holder (pid, purpose, SHA,
    /// since when). On timeout, [`Error::Lock`] (exit 3) naming the holder and `lock-timeout`.
    pub fn lock(
        &self,
        holder: &LockHolder,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<EnvLock> {
        let path = self.root.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if let Some(sig) = cancel::requested() {
                        return Err(Error::Cancelled(format!(
                            "cancelled by {sig} while waiting for the lock of {} (held by {}); nothing was changed",
                            self.root.display(),
                            self.describe_holder()
                        )));
                    }
                    let elapsed = start.elapsed();
                    if elapsed >= timeout {
                        return Err(Error::Lock(format!(
                            "the lock of {} is still held by {} after {}; wait for it to finish or raise `lock-timeout`",
                            self.root.display(),
                            self.describe_holder(),
                            format_duration(timeout)
                        )));
                    }
                    if !told {
                        told = true;
                        waiting(&format!(
                            "waiting up to {} for the lock of {}, held by {}",
                            format_duration(timeout),
                            self.root.display(),
                            self.describe_holder()
                        ));
                    }
                    std::thread::sleep(LOCK_POLL.min(timeout - elapsed));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &path, e));
                }
            }
        }
        let waited = told.then(|| start.elapsed());
        let holder_json = serde_json::to_vec(holder)
            .map_err(|e| Error::Environment(format!("cannot encode the lock holder: {e}")))?;
        // Informational only (the lock is the kernel's): a full disk must not stop the job here.
        let _ = self.write_atomic(Path::new(LOCK_HOLDER_FILE), &holder_json);
        Ok(EnvLock {
            _file: file,
            holder_path: self.root.join(LOCK_HOLDER_FILE),
            pid: holder.pid,
            waited,
        })
    }

    /// Who holds the lock, as written in `lock.holder.json` by the holder ("another process" when
    /// unknown).
    pub fn describe_holder(&self) -> String {
        let holder = std::fs::read(self.root.join(LOCK_HOLDER_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<LockHolder>(&b).ok());
        match holder {
            // The description of a holder that has exited is stale: a new holder has not
            // written its own yet.
            Some(h) if !process_gone(h.pid) => h.to_string(),
            _ => "another process".to_owned(),
        }
    }

    /// Atomically writes a file of the state directory.
    pub fn write_atomic(&self, relative: &Path, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.root.join(relative), bytes)
    }

    /// Removes a file of the state directory; a missing file is fine.
    pub fn remove(&self, relative: &Path) -> Result<()> {
        let path = self.root.join(relative);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_parent(&path);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }
}

/// Whether `pid` is known to have exited (Linux: no `/proc/<pid>`; elsewhere never assumed).
fn process_gone(pid: u32) -> bool {
    cfg!(target_os = "linux") && !Path::new("/proc").join(pid.to_string()).exists()
}

fn ends_without_newline(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Who holds (or wants) the environment lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder's process id.
    pub pid: u32,
    /// What it is doing: `deploy 1a2b3c4`, `ci-watcher rollback`.
    pub purpose: String,
    /// The SHA concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Since when (RFC 3339, UTC).
    pub since: String,
}

impl LockHolder {
    /// This process, now.
    pub fn new(purpose: impl Into<String>, sha: Option<&str>) -> LockHolder {
        LockHolder {
            pid: std::process::id(),
            purpose: purpose.into(),
            sha: sha.map(str::to_owned),
            since: now_rfc3339(),
        }
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({}", self.pid, self.purpose)?;
        if let Some(sha) = &self.sha {
            write!(f, ", sha {}", short_sha(sha))?;
        }
        write!(f, ") since {}", self.since)
    }
}

/// The environment lock; released when dropped, or by the kernel when the process dies.
#[derive(Debug)]
pub struct EnvLock {
    _file: File,
    holder_path: PathBuf,
    pid: u32,
    waited: Option<Duration>,
}

impl EnvLock {
    /// How long it took to get the lock, when another process held it.
    pub fn waited(&self) -> Option<Duration> {
        self.waited
    }
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        // Remove the holder description if it is still ours; the kernel lock goes with `_file`.
        let ours = std::fs::read(&self.holder_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<LockHolder>(&b).ok())
            .is_some_and(|h| h.pid == self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.holder_path);
        }
    }
}

/// One event of `journal.jsonl`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalEntry {
    /// When (RFC 3339, UTC).
    #[serde(default)]
    pub time: String,
    /// The environment's name.
    #[serde(default)]
    pub environment: String,
    /// deploy, rollback, validate, superseded, backup, probe, ci-failed, …
    pub event: JournalEvent,
    /// The SHA concerned (a 40-hex string on disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<Sha>,
    /// The SHA in service before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sha: Option<Sha>,
    /// deployed, rolled-back, failed, validated, healthy, …
    #[serde(default)]
    pub outcome: JournalOutcome,
    /// How long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The workflow run that did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// One line of detail (a failure reason, an archive path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether `sha` passed its health gate in this environment (deploy and rollback events;
    /// absent when the gate did not run to its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// For `probe` events: `down` or `recovered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<String>,
}

impl JournalEntry {
    /// An entry stamped now, other fields empty.
    pub fn new(
        environment: impl Into<String>,
        event: JournalEvent,
        outcome: JournalOutcome,
    ) -> JournalEntry {
        JournalEntry {
            time: now_rfc3339(),
            environment: environment.into(),
            event,
            outcome,
            ..JournalEntry::default()
        }
    }
}

pub(crate) use crate::base::time::now_rfc3339;

/// Now, UTC, for file names that sort in time order: `20261126T150453.123Z`.
pub(crate) fn now_compact_millis() -> String {
    compact(&rfc3339_millis(SystemTime::now()))
}

/// `2026-11-26T15:04:53.123Z` → `20261126T150453.123Z`.
fn compact(rfc3339: &str) -> String {
    rfc3339
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Atomically replaces `path` with `bytes`: temporary file in the same directory, fsync, rename,
/// fsync of the directory. Readers see the old content or the new, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o666)
}

/// [`write_atomic`] for a file only its owner may read (`0600`): backups may hold secrets.
pub(crate) fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_mode(path, bytes, 0o600)
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(|e| Error::io("create", &temp, e))?;
        file.write_all(bytes)
            .map_err(|e| Error::io("write", &temp, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", &temp, e))?;
        drop(file);
        std::fs::rename(&temp, path).map_err(|e| Error::io("rename into place", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
        return result;
    }
    sync_parent(path);
    Ok(())
}

/// Fsyncs the directory holding `path`, so a rename or removal survives a power cut (best effort:
/// some file systems refuse to fsync directories).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Opens (creating it if needed, never truncating it) a file used for a kernel lock
/// ([`File::lock`], [`File::try_lock`]): the environment lock, a watch's lock, the probe
/// history's lock.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open the lock file", path, e))
}

/// An environment's name for messages and the journal: its state directory's last component.
pub(crate) fn env_name(state_dir: &Path) -> String {
    state_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| state_dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn sha_files_round_trip_and_garbage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("env")).unwrap();
        assert!(state.path().join("backups").is_dir());
        assert_eq!(state.last_validated().unwrap(), None);
        state.set_last_validated(A).unwrap();
        assert_eq!(state.last_validated().unwrap().as_deref(), Some(A));
        assert_eq!(
            std::fs::read_to_string(state.join(LAST_VALIDATED_FILE)).unwrap(),
            format!("{A}\n")
        );
        std::fs::write(state.join(PREVIOUS_FILE), A.to_uppercase()).unwrap();
        assert_eq!(state.previous().unwrap().as_deref(), Some(A));
        std::fs::write(state.join(PREVIOUS_FILE), "not a sha\n").unwrap();
        let err = state.previous().unwrap_err();
        assert!(err.to_string().contains(PREVIOUS_FILE), "{err}");
        assert!(state.set_previous("$(rm -rf /)").is_err());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.txt")]);
        assert!(write_atomic(&dir.path().join("missing/f"), b"x").is_err());
    }

    #[test]
    fn a_journal_append_that_fills_the_disk_is_undone() {
        let Some(fs) = lastgood_testkit::fs::SmallFs::mount(64) else {
            return;
        };
        let state = StateDir::open(&fs.path().join("env")).unwrap();
        let mut e = JournalEntry::new("preprod", JournalEvent::Deploy, JournalOutcome::Deployed);
        e.sha = Sha::parse(A);
        state.journal(&e).unwrap();
        let whole = std::fs::read(state.join(JOURNAL_FILE)).unwrap();
        fs.fill();
        // Longer than what a page left over can hold.
        e.detail = Some("x".repeat(64 * 1024));
        let err = state.journal(&e).unwrap_err();
        assert!(err.to_string().contains("free space"), "{err}");
        assert_eq!(std::fs::read(state.join(JOURNAL_FILE)).unwrap(), whole);
    }

    #[test]
    fn journal_skips_a_torn_line_and_appends_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut e = JournalEntry::new("preprod", JournalEvent::Deploy, JournalOutcome::Deployed);
        e.sha = Sha::parse(A);
        state.journal(&e).unwrap();
        // A writer killed mid-line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(state.join(JOURNAL_FILE))
            .unwrap();
        f.write_all(b"{\"time\":\"2026-").unwrap();
        assert_eq!(state.read_journal().unwrap(), vec![e.clone()]);
        let e2 = JournalEntry::new(
            "preprod",
            JournalEvent::Rollback,
            JournalOutcome::RolledBack,
        );
        state.journal(&e2).unwrap();
        assert_eq!(state.read_journal().unwrap(), vec![e, e2]);
        let text = std::fs::read_to_string(state.join(JOURNAL_FILE)).unwrap();
        assert!(!text.contains("null"), "None fields are skipped: {text}");
    }

    #[test]
    fn journal_shas_are_typed_with_the_same_json_and_a_junk_sha_skips_its_line_only() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut e = JournalEntry::new("preprod", JournalEvent::Deploy, JournalOutcome::Deployed);
        e.sha = Sha::parse(A);
        e.previous_sha = Sha::parse(&A.replace('a', "b"));
        state.journal(&e).unwrap();
        let line = std::fs::read_to_string(state.join(JOURNAL_FILE)).unwrap();
        let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(json["sha"], A, "a SHA is written as the string it was");
        assert_eq!(json["previous_sha"], A.replace('a', "b"));
        // An old line in upper case reads as the same SHA; a line whose SHA is not one (written
        // by something else, or garbled) is skipped as a torn line is, never the whole journal.
        let upper = line.trim().replace(A, &A.to_ascii_uppercase());
        let junk = line.trim().replace(A, "not-a-sha");
        let mut f = OpenOptions::new()
            .append(true)
            .open(state.join(JOURNAL_FILE))
            .unwrap();
        f.write_all(format!("{junk}\n{upper}\n").as_bytes())
            .unwrap();
        assert_eq!(state.read_journal().unwrap(), vec![e.clone(), e]);
    }

    #[test]
    fn lock_waits_names_the_holder_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let holder = LockHolder::new("deploy 0123456", Some(A));
        let first = state
            .lock(&holder, Duration::from_millis(10), &mut |_| {
                panic!("free lock")
            })
            .unwrap();
        assert_eq!(first.waited(), None);
        let mut said = Vec::new();
        let err = state
            .lock(
                &LockHolder::new("second", None),
                Duration::from_millis(100),
                &mut |m| said.push(m.to_owned()),
            )
            .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.contains("deploy 0123456") && msg.contains("lock-timeout"),
            "{msg}"
        );
        assert_eq!(said.len(), 1);
        assert!(said[0].contains("deploy 0123456"), "{}", said[0]);

        // Released on drop: a waiter gets it once the holder lets go.
        let s2 = state.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
            drop(s2);
        });
        let second = state
            .lock(
                &LockHolder::new("second", None),
                Duration::from_secs(30),
                &mut |_| {},
            )
            .unwrap();
        t.join().unwrap();
        assert!(second.waited().is_some());
        assert!(state.describe_holder().contains("second"));
        drop(second);
        assert!(!state.join(LOCK_HOLDER_FILE).exists());
    }

    #[test]
    fn timestamps() {
        assert_eq!(compact("2026-11-26T15:04:53.123Z"), "20261126T150453.123Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z'));
        assert_eq!(now_compact_millis().len(), 20);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, scratch_dir, tricky_text};
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = JournalEvent> {
        prop_oneof![
            prop::sample::select(vec![
                JournalEvent::Deploy,
                JournalEvent::Rollback,
                JournalEvent::Validate,
                JournalEvent::Superseded,
                JournalEvent::Backup,
                JournalEvent::Probe,
                JournalEvent::CiFailed,
                JournalEvent::CiWatch,
            ]),
            // A newer lastgood's word (never one this version knows).
            "x-[a-z-]{0,8}".prop_map(JournalEvent::Other),
        ]
    }

    fn outcome() -> impl Strategy<Value = JournalOutcome> {
        prop_oneof![
            prop::sample::select(vec![
                JournalOutcome::None,
                JournalOutcome::Deployed,
                JournalOutcome::RolledBack,
                JournalOutcome::Failed,
                JournalOutcome::Validated,
                JournalOutcome::Superseded,
                JournalOutcome::TimedOut,
                JournalOutcome::Inconclusive,
            ]),
            "x-[a-z-]{0,8}".prop_map(JournalOutcome::Other),
        ]
    }

    fn entry() -> impl Strategy<Value = JournalEntry> {
        let text = || prop::option::of(tricky_text(16));
        let sha = || prop::option::of("[0-9a-f]{40}");
        (
            (tricky_text(8), tricky_text(8), event(), outcome()),
            (sha(), sha(), prop::option::of(any::<u64>()), text()),
            (text(), text(), prop::option::of(any::<bool>()), text()),
        )
            .prop_map(
                |(
                    (time, environment, event, outcome),
                    (sha, previous_sha, duration_ms, actor),
                    (run_url, detail, healthy, transition),
                )| JournalEntry {
                    time,
                    environment,
                    event,
                    outcome,
                    sha: sha.and_then(|s| Sha::parse(&s)),
                    previous_sha: previous_sha.and_then(|s| Sha::parse(&s)),
                    duration_ms,
                    actor,
                    run_url,
                    detail,
                    healthy,
                    transition,
                },
            )
    }

    /// A line a reader must skip: a torn entry (a strict prefix of one) or bytes that are no
    /// JSON object at all (invalid UTF-8 included).
    fn junk() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (entry(), any::<prop::sample::Index>()).prop_map(|(e, at)| {
                let line = serde_json::to_vec(&e).unwrap();
                line[..at.index(line.len() - 1)].to_vec()
            }),
            prop::collection::vec(any::<u8>(), 0..30),
            tricky_text(20).prop_map(String::into_bytes),
        ]
        .prop_map(|mut b: Vec<u8>| {
            b.retain(|c| *c != b'\n');
            b
        })
    }

    proptest! {
        #![proptest_config(config(8))]

        /// Whatever the lines around them (torn, junk, blank, split across the two files), the
        /// reader gives back exactly the whole entries, in order; and an entry appended after
        /// a torn last line is read too.
        #[test]
        fn the_journal_reads_back_every_whole_entry_and_skips_the_rest(
            lines in prop::collection::vec((prop::option::of(junk()), entry()), 0..8),
            split in any::<prop::sample::Index>(),
            torn in junk(),
            last in entry(),
        ) {
            let dir = scratch_dir();
            let state = StateDir::open(dir.path()).unwrap();
            let at = split.index(lines.len() + 1);
            let mut files = [Vec::new(), Vec::new()];
            for (i, (junk, e)) in lines.iter().enumerate() {
                let file = &mut files[usize::from(i >= at)];
                if let Some(junk) = junk {
                    file.extend_from_slice(junk);
                    file.push(b'\n');
                }
                file.extend(serde_json::to_vec(e).unwrap());
                file.push(b'\n');
            }
            files[1].extend_from_slice(&torn);
            std::fs::write(state.join(JOURNAL_OLD_FILE), &files[0]).unwrap();
            std::fs::write(state.join(JOURNAL_FILE), &files[1]).unwrap();
            let mut expected: Vec<JournalEntry> = lines.into_iter().map(|(_, e)| e).collect();
            prop_assert_eq!(&state.read_journal().unwrap(), &expected);
            state.journal(&last).unwrap();
            expected.push(last);
            prop_assert_eq!(state.read_journal().unwrap(), expected);
            let text = std::fs::read(state.join(JOURNAL_FILE)).unwrap();
            prop_assert!(text.ends_with(b"\n"));
        }

        /// A SHA file holds a SHA or nothing; anything else is an error naming the file.
        #[test]
        fn sha_files_are_a_sha_nothing_or_an_error(text in prop_oneof![tricky_text(45), "[0-9a-fA-F]{39,41}[ \n]{0,2}"]) {
            let dir = scratch_dir();
            let state = StateDir::open(dir.path()).unwrap();
            std::fs::write(state.join(PREVIOUS_FILE), &text).unwrap();
            match state.previous() {
                Ok(Some(sha)) => prop_assert!(is_full_sha(&sha)),
                Ok(None) => prop_assert!(text.trim().is_empty()),
                Err(e) => prop_assert!(e.to_string().contains(PREVIOUS_FILE), "{}", e),
            }
        }
    }
}
