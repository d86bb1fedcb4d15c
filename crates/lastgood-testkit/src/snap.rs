//! Redactions for snapshot tests (insta): what changes from one run to the next (times,
//! durations, loopback ports, temporary paths, the SHAs of freshly made commits, run URLs) is
//! replaced by a stable placeholder, so a snapshot only changes when the contract does.
//!
//! ```no_run
//! # let (v2, state) = ("0".repeat(40), std::path::PathBuf::new());
//! lastgood_testkit::snap::Redactions::new()
//!     .sha(&v2, "v2")
//!     .path(&state, "[state]")
//!     .bind(|| insta::assert_snapshot!("summary", "…"));
//! ```
//!
//! Snapshots live in `tests/it/snapshots/`. To accept a change of output: run the test with
//! `INSTA_UPDATE=always` (files are rewritten in place), then read `git diff`. `cargo xtask ci`
//! runs with `INSTA_UPDATE=no`: a mismatch fails and writes nothing.

use std::path::Path;

/// An ordered list of insta filters (regex → replacement); the specific ones (a named SHA, a
/// path) come before the generic ones, which [`Redactions::bind`] appends last.
#[derive(Default)]
pub struct Redactions {
    filters: Vec<(String, String)>,
}

/// The generic filters, applied after the specific ones.
const GENERIC: [(&str, &str); 9] = [
    // RFC 3339 times (the journal, the watch records, Discord's embed timestamp).
    (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[time]",
    ),
    // Compact times in file names (`backup-20261201T090748.073Z-…`).
    (r"\b\d{8}T\d{6}(\.\d+)?Z", "[time]"),
    // Loopback servers listen on a fresh port for every test.
    (r"(127\.0\.0\.1|localhost):\d+", "$1:[port]"),
    // Measured durations in JSON: `"duration_ms": 1234`, `"elapsed-ms": "17"`.
    (r#"("(?:duration|elapsed)[_-]ms"\s*:\s*)"?\d+"?"#, "$1[ms]"),
    // Measured durations in text (`2 tries in 116ms`) and in a summary's table (`| 302ms |`), as
    // `format_duration` writes them; configured ones (`[default: 2m]`) are left alone.
    (r"(\bin )(\d+ms|\d+(\.\d)?s|\d+m\d{2}s)\b", "$1[duration]"),
    (
        r"(\| )(\d+ms|\d+(\.\d)?s|\d+m\d{2}s)( \|)",
        "$1[duration]$4",
    ),
    // Any other full SHA (a commit made by the test and not named).
    (r"\b[0-9a-f]{40}\b", "[sha]"),
    // Temporary directories.
    (r"/tmp/\.tmp[A-Za-z0-9]+", "[tmp]"),
    // A process id in a lock holder's description.
    (r"\bpid \d+", "pid [pid]"),
];

impl Redactions {
    /// No specific redaction yet (the generic ones are always applied).
    pub fn new() -> Redactions {
        Redactions::default()
    }

    /// Replaces `sha` (full, and its 7-character short form) by `[name]` / `[name:short]`.
    pub fn sha(self, sha: &str, name: &str) -> Redactions {
        assert!(sha.len() >= 7, "not a SHA: {sha}");
        self.literal(sha, &format!("[{name}]"))
            .literal(&sha[..7], &format!("[{name}:short]"))
    }

    /// Replaces the path `path` (and everything below it) by `name`.
    pub fn path(self, path: &Path, name: &str) -> Redactions {
        self.literal(&path.to_string_lossy(), name)
    }

    /// Replaces the literal text `text` by `replacement`.
    pub fn literal(mut self, text: &str, replacement: &str) -> Redactions {
        if !text.is_empty() {
            self.filters
                .push((regex_escape(text), replacement.replace('$', "$$")));
        }
        self
    }

    /// Adds a filter: every match of `regex` becomes `replacement` (`$1` for a group).
    pub fn regex(mut self, regex: &str, replacement: &str) -> Redactions {
        self.filters
            .push((regex.to_owned(), replacement.to_owned()));
        self
    }

    /// Runs `f` (which holds the `insta::assert_*snapshot!` calls) with these filters, then the
    /// generic ones.
    pub fn bind<R>(self, f: impl FnOnce() -> R) -> R {
        let mut settings = insta::Settings::clone_current();
        for (regex, replacement) in &self.filters {
            settings.add_filter(regex, replacement.as_str());
        }
        for (regex, replacement) in GENERIC {
            settings.add_filter(regex, replacement);
        }
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(f)
    }
}

/// `text` as a regex that matches it literally.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_shas_paths_and_generic_values_are_redacted() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let other = "fedcba9876543210fedcba9876543210fedcba98";
        let text = format!(
            "{sha} {} {other} at 2026-12-01T08:00:01.5Z on http://127.0.0.1:40123/x in /srv/a.b/c\n\
             \"duration_ms\": 1234, \"elapsed-ms\": \"17\", pid 4242\n\
             2 tries in 1.5s, backup-20261201T090748.073Z.tar.gz, [default: 2m]\n\
             | duration | 2m05s |",
            &sha[..7]
        );
        Redactions::new()
            .sha(sha, "v2")
            .path(Path::new("/srv/a.b"), "[app]")
            .bind(|| {
                insta::assert_snapshot!(text, @r#"
                [v2] [v2:short] [sha] at [time] on http://127.0.0.1:[port]/x in [app]/c
                "duration_ms": [ms], "elapsed-ms": [ms], pid [pid]
                2 tries in [duration], backup-[time].tar.gz, [default: 2m]
                | duration | [duration] |
                "#);
            });
    }
}
