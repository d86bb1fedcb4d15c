//! What a journal line records: its event and its outcome, as enums that read and write the
//! same words as before (`deploy`, `rolled-back`, …). A word this version does not know (a
//! newer lastgood's journal) is kept as it is written, never refused.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The event of a journal line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalEvent {
    /// deploy-sha put a SHA in service (or tried).
    #[default]
    Deploy,
    /// A SHA was put back: after a failed deploy, or by ci-watcher after a failed CI.
    Rollback,
    /// ci-watcher validated a SHA (or left `last-validated-sha.txt` as it was).
    Validate,
    /// ci-watcher found the failed SHA already replaced by a newer deploy.
    Superseded,
    /// save-rollback-point saved a rollback point.
    Backup,
    /// health-probe saw the health change.
    Probe,
    /// ci-watcher saw the CI of a deployed SHA fail.
    CiFailed,
    /// ci-watcher kept a SHA without a verdict (`on-missing`/`on-timeout: keep`).
    CiWatch,
    /// A word this version does not know.
    #[serde(untagged)]
    Other(String),
}

/// The outcome of a journal line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalOutcome {
    /// No outcome written (old lines).
    #[default]
    #[serde(rename = "")]
    None,
    /// The SHA is in service and healthy.
    Deployed,
    /// The previous SHA is back in service.
    RolledBack,
    /// It failed.
    Failed,
    /// A rollback point was saved.
    Saved,
    /// The app answers again.
    Healthy,
    /// The app stopped answering well.
    Unhealthy,
    /// `last-validated-sha.txt` moved forward.
    Validated,
    /// `last-validated-sha.txt` was left as it was.
    Unchanged,
    /// Replaced by a newer deploy: nothing touched.
    Superseded,
    /// No CI verdict in time.
    TimedOut,
    /// No CI run appeared.
    Missing,
    /// The CI run ended neither in success nor in failure.
    Inconclusive,
    /// A word this version does not know.
    #[serde(untagged)]
    Other(String),
}

impl JournalOutcome {
    /// The word written in the journal.
    pub fn as_str(&self) -> &str {
        match self {
            JournalOutcome::None => "",
            JournalOutcome::Deployed => "deployed",
            JournalOutcome::RolledBack => "rolled-back",
            JournalOutcome::Failed => "failed",
            JournalOutcome::Saved => "saved",
            JournalOutcome::Healthy => "healthy",
            JournalOutcome::Unhealthy => "unhealthy",
            JournalOutcome::Validated => "validated",
            JournalOutcome::Unchanged => "unchanged",
            JournalOutcome::Superseded => "superseded",
            JournalOutcome::TimedOut => "timed-out",
            JournalOutcome::Missing => "missing",
            JournalOutcome::Inconclusive => "inconclusive",
            JournalOutcome::Other(s) => s,
        }
    }
}

impl JournalEvent {
    /// The word written in the journal.
    pub fn as_str(&self) -> &str {
        match self {
            JournalEvent::Deploy => "deploy",
            JournalEvent::Rollback => "rollback",
            JournalEvent::Validate => "validate",
            JournalEvent::Superseded => "superseded",
            JournalEvent::Backup => "backup",
            JournalEvent::Probe => "probe",
            JournalEvent::CiFailed => "ci-failed",
            JournalEvent::CiWatch => "ci-watch",
            JournalEvent::Other(s) => s,
        }
    }
}

impl fmt::Display for JournalEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_words_on_disk_and_unknown_ones_kept() {
        for (e, word) in [
            (JournalEvent::Deploy, "deploy"),
            (JournalEvent::CiFailed, "ci-failed"),
            (JournalEvent::CiWatch, "ci-watch"),
        ] {
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{word}\""));
            assert_eq!(e.as_str(), word);
            assert_eq!(
                serde_json::from_str::<JournalEvent>(&format!("\"{word}\"")).unwrap(),
                e
            );
        }
        for (o, word) in [
            (JournalOutcome::RolledBack, "rolled-back"),
            (JournalOutcome::TimedOut, "timed-out"),
            (JournalOutcome::None, ""),
        ] {
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{word}\""));
            assert_eq!(o.as_str(), word);
            assert_eq!(
                serde_json::from_str::<JournalOutcome>(&format!("\"{word}\"")).unwrap(),
                o
            );
        }
        let future: JournalEvent = serde_json::from_str("\"canary\"").unwrap();
        assert_eq!(future, JournalEvent::Other("canary".into()));
        assert_eq!(serde_json::to_string(&future).unwrap(), "\"canary\"");
    }
}
