//! Start-up time and size of each shipped binary, against spawning `true` (the floor of any
//! process start on this machine).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use lastgood_core::spec;

use super::stats::{Samples, ms, ratio};
use super::{Binaries, Section};

const RUNS: usize = 30;

/// Measures every binary of the specs.
pub(crate) fn run(bins: &Binaries) -> Section {
    let mut s = Section::new("Start-up and size of the shipped binaries");
    let found: Vec<(&str, std::result::Result<std::path::PathBuf, String>)> = spec::ALL
        .iter()
        .map(|sp| (sp.name, bins.get(sp.name)))
        .collect();
    // Round-robin: `true`, then each binary, RUNS times, so that noise falls on all alike.
    let mut floor = Samples::new();
    let mut samples: Vec<Samples> = found.iter().map(|_| Samples::new()).collect();
    let mut errors: Vec<Option<String>> = found.iter().map(|_| None).collect();
    for _ in 0..RUNS {
        match time(Command::new("true").stdin(Stdio::null())) {
            Ok(t) => floor.push(t),
            Err(why) => return Section::failed(&s.title, &why),
        }
        for (i, (_, path)) in found.iter().enumerate() {
            let Ok(path) = path else { continue };
            match time(Command::new(path).arg("--help").stdin(Stdio::null())) {
                Ok(t) => samples[i].push(t),
                Err(why) => errors[i] = Some(why),
            }
        }
    }
    s.line(&format!(
        "Each binary runs `--help` {RUNS} times (parse the spec, print, exit), in turn with \
         spawning `true`, the floor of a process start here (median {}, p95 {}), so that noise \
         falls on all alike. The ratio is the binary's median over `true`'s; the size is the \
         file as `cargo xtask dist` archives it.",
        ms(floor.median()),
        ms(floor.p95())
    ));
    let mut rows = Vec::new();
    let mut worst = 0.0f64;
    let mut biggest = 0u64;
    for (i, (name, path)) in found.iter().enumerate() {
        match (path, &errors[i]) {
            (Ok(path), None) => {
                let t = &samples[i];
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                worst = worst.max(t.median());
                biggest = biggest.max(size);
                rows.push(vec![
                    format!("`{name}`"),
                    ms(t.median()),
                    ms(t.p95()),
                    ratio(t.median(), floor.median()),
                    format!("{:.2} MiB", size as f64 / 1_048_576.0),
                    linkage(path),
                ]);
            }
            (Err(why), _) | (_, Some(why)) => rows.push(vec![format!("`{name}`"), why.clone()]),
        }
    }
    s.table(
        &["binary", "median", "p95", "× `true`", "size", "linkage"],
        &rows,
    );
    let limit = 2.0 * floor.median();
    s.goal(
        "start-up of every binary (`--help`, the slowest median)",
        "≤ 2 × spawning `true`",
        format!(
            "{} (×{:.2})",
            ms(worst),
            worst / floor.median().max(f64::EPSILON)
        ),
        (worst > 0.0).then_some(worst <= limit),
    );
    s.headline(
        "start-up of a binary (the slowest median)",
        ms(worst),
        &format!("spawning `true` ({})", ms(floor.median())),
        ratio(worst, floor.median()),
    );
    s.headline(
        "size of the largest binary (static)",
        format!("{:.2} MiB", biggest as f64 / 1_048_576.0),
        "",
        String::new(),
    );
    s
}

fn time(cmd: &mut Command) -> std::result::Result<std::time::Duration, String> {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run: {e}"))?;
    if out.success() {
        Ok(start.elapsed())
    } else {
        Err(format!("failed ({out})"))
    }
}

/// "static" when the ELF file has no program interpreter (`PT_INTERP`), else "dynamic".
fn linkage(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return "unknown".into();
    };
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        bytes.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    // ELF64, little-endian only (the hosts lastgood ships for).
    if bytes.get(..5) != Some(b"\x7fELF\x02") {
        return "not ELF64".into();
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return "unknown".into();
    };
    let interp = (0..usize::from(phnum)).any(|i| {
        let at = usize::try_from(phoff).unwrap_or(usize::MAX) + i * usize::from(phentsize);
        u32_at(at) == Some(3)
    });
    if interp { "dynamic" } else { "static" }.into()
}
