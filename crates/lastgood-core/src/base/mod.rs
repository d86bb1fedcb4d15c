//! Layer 1, the base: what every other layer may use, and which knows none of them (errors and
//! exit codes, time and durations, the SHA, the spec tables).

pub(crate) mod error;
#[cfg(test)]
pub(crate) mod fuzzing;
pub(crate) mod sha;
pub mod spec;
pub(crate) mod text;
pub(crate) mod time;
