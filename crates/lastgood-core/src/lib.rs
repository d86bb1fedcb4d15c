//! lastgood's core: every mechanism the five binaries share.
//!
//! Binaries are thin: they parse their inputs ([`inputs`]), call one function of this crate and
//! report through [`runner`]. See ARCHITECTURE.md for the map and the invariants.

pub mod backup;
pub mod cli;
pub mod deploy;
pub mod discord;
pub mod error;
pub mod git;
pub mod github;
pub mod health;
pub mod http;
pub mod inputs;
pub mod process;
pub mod restart;
pub mod rollback_point;
pub mod runner;
pub mod spec;
pub mod state;
pub mod time;
pub mod watch;

pub use error::{Error, Result};

/// How a job ended, when it reached a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Healthy, deployed, validated, sent: exit 0.
    Success,
    /// Unhealthy, deploy failed, CI failed: exit 1.
    Negative,
}
