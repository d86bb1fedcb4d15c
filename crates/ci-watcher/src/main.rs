//! `ci-watcher`: follow the CI run of a deployed SHA on GitHub, then mark the SHA validated or
//! roll the environment back to the last validated SHA. Every mechanism lives in
//! `lastgood_core::watch`.
//!
//! Exit 0 validated, detached, or no verdict kept by policy; 1 CI failed (rolled back or
//! superseded) or the rollback failed; 2 bad input; 3 GitHub unreachable or environment error.

use std::process::ExitCode;

fn main() -> ExitCode {
    lastgood_core::cli::run_main(&lastgood_core::spec::CI_WATCHER, lastgood_core::watch::run)
}
