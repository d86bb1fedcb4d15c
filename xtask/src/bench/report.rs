//! The Markdown report: the machine, a headline table of ratios, one section per measure, and
//! the goals with their verdicts.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The machine the figures come from.
pub(crate) struct Machine {
    cpu: String,
    cores: usize,
    kernel: String,
    load: String,
    tools: Vec<(String, String)>,
}

impl Machine {
    /// Reads `/proc` and asks the tools for their versions.
    pub(crate) fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_owned());
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".to_owned());
        let version = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_else(|| "not installed".to_owned())
        };
        let tools = vec![
            ("git".into(), version("git", &["--version"])),
            ("curl".into(), version("curl", &["--version"])),
            (
                "docker".into(),
                version("docker", &["version", "--format", "{{.Server.Version}}"]),
            ),
            (
                "docker-compose".into(),
                version("docker-compose", &["version", "--short"]),
            ),
        ];
        Machine {
            cpu,
            cores,
            kernel,
            load,
            tools,
        }
    }
}

/// A goal and whether the measures meet it.
pub(crate) struct Goal {
    /// What is measured.
    pub(crate) what: String,
    /// The goal, e.g. "≤ 50 ms at median".
    pub(crate) target: String,
    /// The measure, e.g. "31 ms".
    pub(crate) measured: String,
    /// `None` when it could not be measured.
    pub(crate) met: Option<bool>,
}

/// One section of the report.
pub(crate) struct Section {
    /// Its title.
    pub(crate) title: String,
    /// Markdown: how it was measured, its table, what to read in it.
    pub(crate) body: String,
    /// Its goals.
    pub(crate) goals: Vec<Goal>,
    /// Rows of the headline table: what, lastgood, against what, ratio.
    pub(crate) headline: Vec<[String; 4]>,
}

impl Section {
    /// An empty section.
    pub(crate) fn new(title: &str) -> Section {
        Section {
            title: title.to_owned(),
            body: String::new(),
            goals: Vec::new(),
            headline: Vec::new(),
        }
    }

    /// A section that could not be measured, saying why.
    pub(crate) fn failed(title: &str, why: &str) -> Section {
        let mut s = Section::new(title);
        s.line(&format!("**Not measured**: {why}."));
        s
    }

    /// Appends a paragraph.
    pub(crate) fn line(&mut self, text: &str) {
        self.body.push_str(text);
        self.body.push_str("\n\n");
    }

    /// Appends a table.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let _ = writeln!(self.body, "| {} |", header.join(" | "));
        let _ = writeln!(
            self.body,
            "|{}|",
            header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---" } else { "---:" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in rows {
            let _ = writeln!(self.body, "| {} |", row.join(" | "));
        }
        self.body.push('\n');
    }

    /// Adds a goal.
    pub(crate) fn goal(&mut self, what: &str, target: &str, measured: String, met: Option<bool>) {
        self.goals.push(Goal {
            what: what.to_owned(),
            target: target.to_owned(),
            measured,
            met,
        });
    }

    /// Adds a headline row.
    pub(crate) fn headline(&mut self, what: &str, lastgood: String, against: &str, ratio: String) {
        self.headline
            .push([what.to_owned(), lastgood, against.to_owned(), ratio]);
    }
}

/// The whole report.
pub(crate) fn render(
    machine: &Machine,
    sections: &[Section],
    took: Duration,
    binaries: &Path,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# lastgood bench report\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench` in {:.0} s. Machine: **{}**, {} core(s), {}; load average at the start {}. \
         Binaries: the release build `cargo xtask dist` ships, from `{}`.\n",
        took.as_secs_f64(),
        machine.cpu,
        machine.cores,
        machine.kernel,
        machine.load,
        binaries.display()
    );
    let tools: Vec<String> = machine
        .tools
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(out, "Tools: {}.\n", tools.join("; "));
    let _ = writeln!(
        out,
        "Figures are medians and p95 (nearest rank) over repeated runs; the machine is shared, so \
         read the ratios of measures taken together rather than the absolute times.\n"
    );
    let _ = writeln!(out, "## What a user gets\n");
    let _ = writeln!(out, "| measure | lastgood | against | ratio |");
    let _ = writeln!(out, "|---|---:|---|---:|");
    for s in sections {
        for [what, lastgood, against, ratio] in &s.headline {
            let _ = writeln!(out, "| {what} | {lastgood} | {against} | {ratio} |");
        }
    }
    let _ = writeln!(out, "\n## Goals\n");
    let _ = writeln!(out, "| goal | target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---:|---|");
    for s in sections {
        for g in &s.goals {
            let verdict = match g.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {verdict} |",
                g.what, g.target, g.measured
            );
        }
    }
    out.push('\n');
    for s in sections {
        let _ = writeln!(out, "## {}\n", s.title);
        out.push_str(&s.body);
    }
    out
}
