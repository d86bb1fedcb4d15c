//! `cargo xtask bench`.

use crate::Result;

/// Runs the benchmarks.
pub fn run() -> Result {
    Ok(())
}
