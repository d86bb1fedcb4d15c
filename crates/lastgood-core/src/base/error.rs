//! The core's error type and its mapping to the exit codes of the contract.
//!
//! A negative verdict (unhealthy, CI failed, deploy rolled back) is not an error: binaries return
//! [`crate::base::error::Status::Negative`] for it. Errors are for what stopped the job from reaching a verdict.

use std::path::PathBuf;
use std::time::Duration;

use crate::base::time::format_duration;

/// Exit code: the job succeeded.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: the verdict is negative.
pub(crate) const EXIT_NEGATIVE: u8 = 1;
/// Exit code: invalid input, usage or refusal; nothing was changed.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the environment failed (git, docker, state dir, lock, network).
pub(crate) const EXIT_ENVIRONMENT: u8 = 3;

/// Result type of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a lastgood binary before it reaches a verdict.
///
/// Messages say what failed and what to do, and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input is missing or malformed (exit 2, nothing changed).
    #[error("input `{input}`: {reason}")]
    Input {
        /// The input's name, as in action.yml (`health-url`).
        input: String,
        /// What is wrong with it and what is expected.
        reason: String,
    },
    /// The request is well-formed but refused by a guard (exit 2, nothing changed).
    #[error("refused: {0}")]
    Refused(String),
    /// The environment lock was not obtained in time (exit 3).
    #[error("{0}")]
    Lock(String),
    /// A file or directory could not be read or written (exit 3).
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("write", "create directory", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external program (git, docker) failed or is missing (exit 3).
    #[error("{0}")]
    Command(String),
    /// A network service could not be reached or answered unusably (exit 3).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Anything else the environment did wrong (exit 3).
    #[error("{0}")]
    Environment(String),
}

impl Error {
    /// The exit code of the contract for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input { .. } | Error::Refused(_) => EXIT_USAGE,
            Error::Lock(_)
            | Error::Io { .. }
            | Error::Command(_)
            | Error::Http(_)
            | Error::Environment(_) => EXIT_ENVIRONMENT,
        }
    }

    /// An input error naming the input.
    pub fn input(input: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input {
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// An I/O error with what was being done and where.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// How a job ended, when it reached a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Healthy, deployed, validated, sent: exit 0.
    Success,
    /// Unhealthy, deploy failed, CI failed: exit 1.
    Negative,
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing listens on the port.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// No complete answer within the timeout.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The URL is not usable (bad scheme, no host).
    BadUrl,
    /// The connection broke, or the peer spoke broken HTTP.
    Connection,
}

/// A request that got no response. Its message names the request's label, never its URL.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{label}: {}", describe(*kind, *timeout, detail))]
pub struct HttpError {
    /// How the target is named.
    pub label: String,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The timeout in force (for "timed out after 10s").
    pub timeout: Duration,
    /// A short technical detail, already free of the URL.
    pub detail: String,
}

fn describe(kind: ErrorKind, timeout: Duration, detail: &str) -> String {
    let base = match kind {
        ErrorKind::Refused => "connection refused".to_owned(),
        ErrorKind::Dns => "host name not found (DNS)".to_owned(),
        ErrorKind::Timeout => format!("timed out after {}", format_duration(timeout)),
        ErrorKind::Tls => "TLS failure".to_owned(),
        ErrorKind::BadUrl => "not a usable http(s) URL".to_owned(),
        ErrorKind::Connection => "connection failed".to_owned(),
    };
    if detail.is_empty() {
        base
    } else {
        format!("{base} ({detail})")
    }
}

impl HttpError {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        self.kind != ErrorKind::BadUrl
    }
}
