//! lastgood's core: every mechanism the five binaries share.
//!
//! Binaries are thin: they parse their inputs ([`inputs`]), call one function of this crate and
//! report through [`runner`]. See ARCHITECTURE.md for the map and the invariants.
//!
//! The modules live in five layers, each using only the ones below it (the tidy test
//! `core_layers_point_down` in xtask holds the direction):
//! - `base`: errors, time and durations, the SHA, text, the spec tables;
//! - `platform`: processes, git, the restart, HTTP, the state directory;
//! - `contract`: the runner contract (CLI, inputs, the runner protocol, the `GITHUB_*` context);
//! - `services`: health probes, Discord, GitHub;
//! - `jobs`: the jobs of the binaries (rollback point, deploy, watch).
//!
//! The paths the binaries use (`lastgood_core::deploy`, …) are re-exported at the root.

#![warn(unreachable_pub)]
#![warn(clippy::print_stderr)]

mod base;
mod contract;
mod jobs;
mod platform;
mod services;

// The paths the binaries, their tests and xtask use; everything else is `pub(crate)`.
pub use base::error::{Error, Result, Status};
pub use base::spec;
pub use contract::context::Context;

/// The runner protocol: outputs, summary, annotations, masking.
pub mod runner {
    pub use crate::contract::runner::Runner;
}

/// A binary's inputs, from its spec.
pub mod inputs {
    pub use crate::contract::inputs::Inputs;
}

/// A binary's `main`.
pub mod cli {
    pub use crate::contract::cli::run_main;
}

/// Durations for people.
pub mod time {
    pub use crate::base::time::format_duration;
}

/// Commit SHAs.
pub mod sha {
    pub use crate::base::sha::{Sha, short_sha};
}

/// The deploy transaction (deploy-sha; ci-watcher's rollbacks use it too).
pub mod deploy {
    pub use crate::jobs::deploy::{DeployConfig, DeployReport, Outcome, deploy, parse_sha};
    pub use crate::services::deployments::MirrorConfig;
}

/// Saving a rollback point (save-rollback-point).
pub mod rollback_point {
    pub use crate::jobs::rollback_point::{RollbackPoint, RollbackPointConfig, save, summary};
}

/// The CI watcher (ci-watcher).
pub mod watch {
    pub use crate::jobs::watch::run;
}

/// HTTP, for the services' callers.
pub mod http {
    pub use crate::platform::http::Client;
}

/// The state directory of an environment.
pub mod state {
    pub use crate::platform::state::StateDir;
}

/// Health probes (health-probe).
pub mod health {
    pub use crate::platform::state::health_history::Transition;
    pub use crate::services::health::{
        ProbeConfig, ProbeReport, Recorded, display_url, probe, record,
    };
}

/// Discord messages (notify-discord).
pub mod discord {
    pub use crate::services::discord::{
        Event, Locale, Message, SendReport, Webhook, payload, send, validate_snowflake,
    };
}
