//! Layer 2, the platform: the machine lastgood runs on (child processes, git, the restart, HTTP,
//! the state directory). Knows the base only: never the runner contract, a service or a job.

pub mod backup;
pub mod git;
pub mod http;
pub mod process;
pub mod restart;
pub mod state;
