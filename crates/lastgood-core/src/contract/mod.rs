//! Layer 3, the runner contract: the command line and `INPUT_*` inputs, the runner protocol
//! (outputs, summary, annotations) and the `GITHUB_*` context. Knows the base and the platform;
//! never a service or a job.

pub(crate) mod cli;
pub(crate) mod context;
pub(crate) mod inputs;
pub(crate) mod runner;
