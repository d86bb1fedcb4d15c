//! What a binary left in a state directory, read back for assertions.

use std::path::Path;

use serde_json::Value;

/// The entries of `journal.jsonl` (none when the file does not exist).
pub fn journal(state_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(state_dir.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line is JSON"))
        .collect()
}

/// A state file's trimmed content (`None` when it does not exist).
pub fn file(state_dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(state_dir.join(name))
        .ok()
        .map(|s| s.trim().to_owned())
}
