//! Layer 3, the runner contract: the command line and `INPUT_*` inputs, the runner protocol
//! (outputs, summary, annotations) and the `GITHUB_*` context. Knows the base and the platform;
//! never a service or a job.

pub mod cli;
pub mod inputs;
pub mod runner;
