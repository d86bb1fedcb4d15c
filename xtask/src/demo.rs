//! `cargo xtask demo`.

use crate::Result;

/// Runs the demo.
pub fn run() -> Result {
    Ok(())
}
