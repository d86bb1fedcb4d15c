//! What a round played, as the invariants need it: the pushes and what CI said of each, what
//! was seen after every step (the SHA served, `last-validated-sha.txt`), and a trace to print.

use std::time::Duration;

/// What a push does to the app and to CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Starts, healthy, CI passes.
    Good,
    /// `app.conf` says `fail=start`: the app refuses to start.
    BrokenStart,
    /// `app.conf` says `fail=health`: the app runs, its revision record is missing (the health
    /// gate fails), as a Streamlit app with a broken script.
    BrokenHealth,
    /// The app is healthy, CI fails.
    FailingCi,
}

impl Kind {
    /// The app is healthy at this commit.
    pub(crate) fn healthy(self) -> bool {
        matches!(self, Kind::Good | Kind::FailingCi)
    }

    /// For the trace.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Good => "good",
            Kind::BrokenStart => "broken at start",
            Kind::BrokenHealth => "broken at health",
            Kind::FailingCi => "failing CI",
        }
    }
}

/// One push to main.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub(crate) sha: String,
    pub(crate) kind: Kind,
    /// CI's verdict (`success` or `failure`).
    pub(crate) ci_success: bool,
    /// When its CI run completes, from the stand-in's start.
    pub(crate) ci_done: Duration,
    /// Its deploy job was interrupted or failed (signal, exit 3, the watcher step failing).
    pub(crate) job_broken: bool,
    /// Its CI verdict is delivered by `conclusion` (the `ci-verdict` workflow) too.
    pub(crate) verdict_event: bool,
}

impl Push {
    /// CI passed and the app is healthy at this commit.
    pub(crate) fn good(&self) -> bool {
        self.ci_success && self.kind.healthy()
    }
}

/// What was seen after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The SHA the app serves (its revision record), if it answers.
    pub(crate) served: Option<String>,
    /// `last-validated-sha.txt`, if present.
    pub(crate) validated: Option<String>,
    /// The step it follows, for messages.
    pub(crate) after: String,
}

/// A round's record.
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// The initial commit first, then every push, oldest first.
    pub(crate) pushes: Vec<Push>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) trace: Vec<String>,
}

impl Model {
    /// The push of `sha`, if it is one of this round's.
    pub(crate) fn push_of(&self, sha: &str) -> Option<(usize, &Push)> {
        self.pushes.iter().enumerate().find(|(_, p)| p.sha == sha)
    }

    /// Adds a line to the trace.
    pub(crate) fn note(&mut self, line: impl Into<String>) {
        self.trace.push(line.into());
    }

    /// A short name for `sha`: `#2 (good, 1a2b3c4)`.
    pub(crate) fn name(&self, sha: &str) -> String {
        match self.push_of(sha) {
            Some((i, p)) => format!("#{i} ({}, {})", p.kind.name(), &sha[..7.min(sha.len())]),
            None => format!("unknown {sha}"),
        }
    }
}
