//! `save-rollback-point`: record where we are before moving.
//!
//! Thin: validates the inputs, runs [`lastgood_core::rollback_point::save`] and reports its
//! outputs and summary (with the other environment side by side when `compare-state-dir` is set).

use std::process::ExitCode;

use lastgood_core::inputs::Inputs;
use lastgood_core::rollback_point::{self, RollbackPointConfig};
use lastgood_core::runner::Runner;
use lastgood_core::{Result, Status, spec};

fn main() -> ExitCode {
    lastgood_core::cli::run_main(&spec::SAVE_ROLLBACK_POINT, run)
}

fn run(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    let cfg = RollbackPointConfig::from_inputs(inputs)?;
    let point = rollback_point::save(&cfg, runner)?;
    runner.output("previous-sha", &point.previous_sha)?;
    runner.output("rollback-sha", &point.rollback_sha)?;
    let backup = point
        .archive
        .as_ref()
        .map(|a| a.path.display().to_string())
        .unwrap_or_default();
    runner.output("backup", &backup)?;
    match rollback_point::summary(&cfg, &point, runner) {
        Ok(md) => runner.summary(&md)?,
        // The rollback point is saved; a comparison that cannot be made is not a failure.
        Err(e) => runner.warning(&format!("no comparison in the summary: {e}")),
    }
    Ok(Status::Success)
}
