//! The health history, `health.json`: the last results of the probes of an environment, read,
//! updated and written back under its own kernel lock `health.lock` (not the environment lock:
//! a probe never waits for a deploy).

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::platform::state::{open_lock_file, write_atomic};

/// How many results the state directory's history keeps.
pub(crate) const HISTORY_LIMIT: usize = 1000;

/// The history file in the state directory.
pub(crate) const HISTORY_FILE: &str = "health.json";

/// The file locked while the history is read, updated and written back (in the state
/// directory; not the environment lock).
const HISTORY_LOCK_FILE: &str = "health.lock";

/// What the history says about the latest result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Same state as before (or first probe, healthy).
    None,
    /// Was healthy (or never probed) and is not.
    Down,
    /// Was unhealthy and is healthy again.
    Recovered,
}

impl Transition {
    /// `none`, `down` or `recovered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::None => "none",
            Transition::Down => "down",
            Transition::Recovered => "recovered",
        }
    }

    /// From the previous state (`None`: never probed) to the current one.
    pub fn between(previous: Option<bool>, healthy: bool) -> Self {
        match (previous, healthy) {
            (Some(false), true) => Transition::Recovered,
            (Some(true) | None, false) => Transition::Down,
            _ => Transition::None,
        }
    }
}

/// One remembered result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HistoryEntry {
    /// When it ended (RFC 3339, UTC).
    pub time: String,
    /// Whether it was healthy.
    pub healthy: bool,
    /// The last status, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Tries made.
    pub attempts: u32,
    /// Milliseconds spent.
    pub elapsed_ms: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The history file: the last results, oldest first (the last one is the latest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct History {
    /// Results, oldest first, at most [`HISTORY_LIMIT`].
    pub results: Vec<HistoryEntry>,
}

impl History {
    /// Adds a result, dropping the oldest beyond [`HISTORY_LIMIT`]; returns the transition.
    pub(crate) fn push(&mut self, entry: HistoryEntry) -> Transition {
        let t = Transition::between(self.results.last().map(|e| e.healthy), entry.healthy);
        self.results.push(entry);
        if self.results.len() > HISTORY_LIMIT {
            let extra = self.results.len() - HISTORY_LIMIT;
            self.results.drain(..extra);
        }
        t
    }

    /// Percentage of healthy results, two decimals (`99.50`); `100.00` when empty.
    pub(crate) fn uptime(&self) -> String {
        if self.results.is_empty() {
            return "100.00".to_owned();
        }
        let up = self.results.iter().filter(|e| e.healthy).count();
        format!("{:.2}", up as f64 * 100.0 / self.results.len() as f64)
    }
}

/// The history of a state directory, read under its lock; the lock is released on drop.
#[derive(Debug)]
pub(crate) struct Locked {
    /// The history as read (empty when there was none).
    pub history: History,
    path: PathBuf,
    _lock: File,
}

/// Locks the history of `state_dir` (created if missing), waiting for other probes, and reads it.
pub(crate) fn lock(state_dir: &Path) -> Result<Locked> {
    std::fs::create_dir_all(state_dir).map_err(|e| Error::io("create directory", state_dir, e))?;
    let lock_path = state_dir.join(HISTORY_LOCK_FILE);
    let lock = open_lock_file(&lock_path)?;
    lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
    let path = state_dir.join(HISTORY_FILE);
    let history = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<History>(&bytes).map_err(|e| {
            Error::Environment(format!(
                "{} is not a health history ({e}); move it away to start a new history",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => History::default(),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    Ok(Locked {
        history,
        path,
        _lock: lock,
    })
}

impl Locked {
    /// Writes the history back, atomically.
    pub(crate) fn save(&self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.history)
            .map_err(|e| Error::Environment(format!("cannot encode the health history: {e}")))?;
        text.push('\n');
        write_atomic(&self.path, text.as_bytes())
    }
}
