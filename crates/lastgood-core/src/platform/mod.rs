//! Layer 2, the platform: the machine lastgood runs on (child processes, git, the restart, HTTP,
//! the state directory). Knows the base only: never the runner contract, a service or a job.

pub(crate) mod backup;
pub(crate) mod git;
pub(crate) mod http;
pub(crate) mod process;
pub(crate) mod restart;
pub(crate) mod state;
