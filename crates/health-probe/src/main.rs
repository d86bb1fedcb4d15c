//! `health-probe`: is the app up, and is it the version we think?
//!
//! Thin: reads the inputs into a [`ProbeConfig`], runs [`health::probe`], remembers the result in
//! `state-dir` when given, and reports outputs, a summary line and an `::error::` when unhealthy.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use lastgood_core::health::{self, ProbeConfig, ProbeReport};
use lastgood_core::http::Client;
use lastgood_core::inputs::Inputs;
use lastgood_core::runner::Runner;
use lastgood_core::time::format_duration;
use lastgood_core::{Error, Result, Status, spec};

fn main() -> ExitCode {
    lastgood_core::cli::run_main(&spec::HEALTH_PROBE, run)
}

fn run(inputs: &Inputs, runner: &mut Runner) -> Result<Status> {
    // Every input is validated before the first request.
    let config = ProbeConfig::from_inputs(inputs, "")?
        .ok_or_else(|| Error::input("url", "is required and was not given"))?;
    let state_dir = inputs.get("state-dir").map(PathBuf::from);
    let target = match config.urls.as_slice() {
        [one] => health::display_url(one),
        many => format!("{} URLs", many.len()),
    };
    let listed = config
        .urls
        .iter()
        .map(|u| format!("`{}`", health::display_url(u)))
        .collect::<Vec<_>>()
        .join(", ");

    let client = Client::new();
    runner.group(&format!("Probing {target}"));
    let report = {
        let runner = &*runner;
        health::probe(&config, &client, &mut |line| runner.info(line))
    };
    runner.end_group();

    let elapsed = format_duration(report.elapsed);
    runner.output("healthy", if report.healthy { "true" } else { "false" })?;
    runner.output(
        "status",
        &report.status.map(|s| s.to_string()).unwrap_or_default(),
    )?;
    runner.output("attempts", &report.attempts.to_string())?;
    runner.output("elapsed-ms", &report.elapsed.as_millis().to_string())?;
    runner.output(
        "failure-reason",
        report.failure_reason.as_deref().unwrap_or(""),
    )?;

    let mut history = None;
    if let Some(dir) = &state_dir {
        let recorded = health::record(
            dir,
            &config.urls,
            &report,
            SystemTime::now(),
            runner.context(),
        )?;
        runner.output("transition", recorded.transition.as_str())?;
        runner.output("uptime", &recorded.uptime)?;
        history = Some(recorded);
    }

    let tries = plural(report.attempts, "try", "tries");
    let mut line = if report.healthy {
        format!("**health-probe** ✅ healthy: {listed}, {tries} in {elapsed}")
    } else {
        format!(
            "**health-probe** ❌ unhealthy: {listed}, {tries} in {elapsed}: {}",
            reason(&report)
        )
    };
    if let Some(h) = &history {
        line.push_str(&format!(
            " (transition: {}, uptime {}% over {})",
            h.transition.as_str(),
            h.uptime,
            plural(h.results as u32, "probe", "probes")
        ));
    }
    runner.summary(&line)?;

    if report.healthy {
        let status = report
            .status
            .map(|s| format!(", status {s}"))
            .unwrap_or_default();
        runner.info(&format!("healthy: {target}{status}, {tries} in {elapsed}"));
        Ok(Status::Success)
    } else {
        runner.error_titled(
            Some("health-probe"),
            &format!("{target} is unhealthy after {tries}: {}", reason(&report)),
        );
        Ok(Status::Negative)
    }
}

fn reason(report: &ProbeReport) -> &str {
    report.failure_reason.as_deref().unwrap_or("unknown reason")
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
