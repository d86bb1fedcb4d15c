//! lastgood's core: every mechanism the five binaries share.
//!
//! Binaries are thin: they parse their inputs ([`inputs`]), call one function of this crate and
//! report through [`runner`]. See ARCHITECTURE.md for the map and the invariants.
//!
//! The modules live in five layers, each using only the ones below it (the tidy test
//! `core_layers_point_down` in xtask holds the direction):
//! - [`base`]: errors, time and durations, the SHA, text, the spec tables;
//! - [`platform`]: processes, git, the restart, HTTP, the state directory;
//! - [`contract`]: the runner contract (CLI, inputs, the runner protocol, the `GITHUB_*` context);
//! - [`services`]: health probes, Discord, GitHub;
//! - [`jobs`]: the jobs of the binaries (rollback point, deploy, watch).
//!
//! The paths the binaries use (`lastgood_core::deploy`, …) are re-exported at the root.

pub mod base;
pub mod contract;
pub mod jobs;
pub mod platform;
pub mod services;

pub use base::error::{self, Error, Result, Status};
pub use base::{sha, spec, time};
pub use contract::{cli, inputs, runner};
pub use jobs::{deploy, rollback_point, watch};
pub use platform::{backup, git, http, process, restart, state};
pub use services::{discord, github, health};
