//! The core's error type and its mapping to the exit codes of the contract.
//!
//! A negative verdict (unhealthy, CI failed, deploy rolled back) is not an error: binaries return
//! [`crate::Status::Negative`] for it. Errors are for what stopped the job from reaching a verdict.

use std::path::PathBuf;

/// Exit code: the job succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the verdict is negative.
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit code: invalid input, usage or refusal; nothing was changed.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the environment failed (git, docker, state dir, lock, network).
pub const EXIT_ENVIRONMENT: u8 = 3;

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
    Http(#[from] crate::http::HttpError),
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
