//! The deploy marker, `deploy-in-progress.json`: written before a reset, removed once the deploy
//! (or rollback) is journaled, so a deploy killed half-way is seen by the next job.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::sha::is_full_sha;
use crate::platform::state::StateDir;
use crate::platform::state::journal::JournalEvent;

/// The marker of a deploy in progress, in the state directory.
pub(crate) const IN_PROGRESS_FILE: &str = "deploy-in-progress.json";

/// What `deploy-in-progress.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InProgress {
    /// The SHA being put in service.
    pub sha: String,
    /// The SHA to go back to on failure (the SHA in service before the deploy).
    pub previous_sha: String,
    /// The process deploying.
    pub pid: u32,
    /// Since when.
    pub since: String,
    /// `deploy` or `rollback`.
    pub event: JournalEvent,
}

/// Writes the marker of a deploy starting (atomically).
pub(crate) fn write(state: &StateDir, marker: &InProgress) -> Result<()> {
    let json = serde_json::to_vec_pretty(marker)
        .map_err(|e| Error::Environment(format!("cannot encode the deploy marker: {e}")))?;
    state.write_atomic(Path::new(IN_PROGRESS_FILE), &json)
}

/// Removes the marker of a deploy that ended.
pub(crate) fn remove(state: &StateDir) -> Result<()> {
    state.remove(Path::new(IN_PROGRESS_FILE))
}

/// The marker of an interrupted deploy, if one was left in the state directory.
pub(crate) fn read(state: &StateDir) -> Option<InProgress> {
    std::fs::read(state.join(IN_PROGRESS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// The last SHA known to have been put in service completely: `head`, unless `head` is the SHA
/// of an interrupted deploy (reset done, restart or health gate never finished); then the SHA
/// in service before that deploy.
///
/// An interrupted `rollback` (ci-watcher rolling a SHA whose CI failed back to the last
/// validated SHA) counts as done: its target is in service, never the SHA rolled away from.
pub(crate) fn in_service_before(head: &str, interrupted: Option<InProgress>) -> String {
    match interrupted {
        Some(i) if i.event == JournalEvent::Rollback && is_full_sha(&i.sha) => i.sha,
        Some(i) if i.sha == head && i.previous_sha != head && is_full_sha(&i.previous_sha) => {
            i.previous_sha
        }
        _ => head.to_owned(),
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::base::fuzzing::{config, scratch_dir, tricky_text};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(8))]

        /// A marker reads back as written; a damaged one (cut, junk) reads as none, never a
        /// panic. Whatever it says, what was in service before is HEAD or a full SHA it names.
        #[test]
        fn markers_read_back_and_a_damaged_one_is_none(
            sha in "[0-9a-f]{40}", previous in prop_oneof!["[0-9a-f]{40}", tricky_text(8)],
            head in "[0-9a-f]{40}", rollback in any::<bool>(), pid in any::<u32>(),
            cut in any::<prop::sample::Index>(), junk in tricky_text(30),
        ) {
            let dir = scratch_dir();
            let state = StateDir::open(dir.path()).unwrap();
            let event = if rollback { JournalEvent::Rollback } else { JournalEvent::Deploy };
            let m = InProgress { sha: sha.clone(), previous_sha: previous.clone(), pid, since: junk.clone(), event };
            write(&state, &m).unwrap();
            let read_back = read(&state).expect("the marker just written");
            prop_assert_eq!((&read_back.sha, &read_back.previous_sha, read_back.pid), (&sha, &previous, pid));
            let before = in_service_before(&head, Some(read_back));
            prop_assert!(before == head || is_full_sha(&before), "{}", before);
            let path = state.join(IN_PROGRESS_FILE);
            let whole = std::fs::read(&path).unwrap();
            for damaged in [&whole[..cut.index(whole.len())], junk.as_bytes()] {
                std::fs::write(&path, damaged).unwrap();
                prop_assert!(read(&state).is_none());
            }
        }
    }
}
