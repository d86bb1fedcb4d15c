//! The deploy marker, `deploy-in-progress.json`: written before a reset, removed once the deploy
//! (or rollback) is journaled, so a deploy killed half-way is seen by the next job.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::sha::Sha;
use crate::platform::state::StateDir;
use crate::platform::state::journal::JournalEvent;

/// The marker of a deploy in progress, in the state directory.
pub(crate) const IN_PROGRESS_FILE: &str = "deploy-in-progress.json";

/// What `deploy-in-progress.json` holds (the SHAs as 40-hex strings, as git prints them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InProgress {
    /// The SHA being put in service.
    pub sha: Sha,
    /// The SHA to go back to on failure (the SHA in service before the deploy).
    pub previous_sha: Sha,
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

/// The marker of an interrupted deploy, if one was left in the state directory. A file that is
/// not a marker (torn, or a SHA that is not one) is not trusted: it is ignored, as if absent.
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
        Some(i) if i.event == JournalEvent::Rollback => i.sha.into_string(),
        Some(i) if i.sha == *head && i.previous_sha != *head => i.previous_sha.into_string(),
        _ => head.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn the_marker_keeps_its_json_and_a_junk_sha_makes_it_untrusted() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("env")).unwrap();
        let marker = InProgress {
            sha: Sha::parse(B).unwrap(),
            previous_sha: Sha::parse(A).unwrap(),
            pid: 42,
            since: "2026-01-01T00:00:00Z".to_owned(),
            event: JournalEvent::Deploy,
        };
        write(&state, &marker).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state.join(IN_PROGRESS_FILE)).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"sha": B, "previous_sha": A, "pid": 42,
                "since": "2026-01-01T00:00:00Z", "event": "deploy"}),
            "the same JSON as when the SHAs were strings"
        );
        assert_eq!(in_service_before(B, read(&state)), A, "B never finished");
        assert_eq!(in_service_before(A, read(&state)), A);

        let junk = json.to_string().replace(A, "not-a-sha");
        std::fs::write(state.join(IN_PROGRESS_FILE), junk).unwrap();
        assert!(read(&state).is_none(), "not a marker we wrote");
        assert_eq!(in_service_before(B, read(&state)), B);
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
            sha in "[0-9a-f]{40}", previous in "[0-9a-f]{40}",
            head in "[0-9a-f]{40}", rollback in any::<bool>(), pid in any::<u32>(),
            cut in any::<prop::sample::Index>(), junk in tricky_text(30),
        ) {
            let dir = scratch_dir();
            let state = StateDir::open(dir.path()).unwrap();
            let event = if rollback { JournalEvent::Rollback } else { JournalEvent::Deploy };
            let (sha, previous) = (Sha::parse(&sha).unwrap(), Sha::parse(&previous).unwrap());
            let m = InProgress { sha: sha.clone(), previous_sha: previous.clone(), pid, since: junk.clone(), event };
            write(&state, &m).unwrap();
            let read_back = read(&state).expect("the marker just written");
            prop_assert_eq!((&read_back.sha, &read_back.previous_sha, read_back.pid), (&sha, &previous, pid));
            let before = in_service_before(&head, Some(read_back));
            prop_assert!(before == head || Sha::parse(&before).is_some(), "{}", before);
            let path = state.join(IN_PROGRESS_FILE);
            let whole = std::fs::read(&path).unwrap();
            for damaged in [&whole[..cut.index(whole.len())], junk.as_bytes()] {
                std::fs::write(&path, damaged).unwrap();
                prop_assert!(read(&state).is_none());
            }
        }
    }
}
