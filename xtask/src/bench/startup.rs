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
    let floor = match times(Command::new("true").stdin(Stdio::null())) {
        Ok(t) => t,
        Err(why) => return Section::failed(&s.title, &why),
    };
    s.line(&format!(
        "Each binary runs `--help` {RUNS} times (parse the spec, print, exit); `true` is spawned as many \
         times, the floor of a process start here (median {}). The ratio is the binary's median over \
         `true`'s; the size is the file as `cargo xtask dist` archives it.",
        ms(floor.median())
    ));
    let mut rows = Vec::new();
    let mut worst = 0.0f64;
    let mut biggest = 0u64;
    for spec in spec::ALL {
        let row = bins.get(spec.name).and_then(|path| {
            let t = times(Command::new(&path).arg("--help").stdin(Stdio::null()))?;
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Ok((t, size, linkage(&path)))
        });
        match row {
            Ok((t, size, link)) => {
                worst = worst.max(t.p95());
                biggest = biggest.max(size);
                rows.push(vec![
                    format!("`{}`", spec.name),
                    ms(t.median()),
                    ms(t.p95()),
                    ratio(t.median(), floor.median()),
                    format!("{:.2} MiB", size as f64 / 1_048_576.0),
                    link,
                ]);
            }
            Err(why) => rows.push(vec![format!("`{}`", spec.name), why]),
        }
    }
    s.table(
        &["binary", "median", "p95", "× `true`", "size", "linkage"],
        &rows,
    );
    s.goal(
        "start-up of every binary (`--help`)",
        "p95 ≤ 20 ms",
        ms(worst),
        (worst > 0.0).then_some(worst <= 20.0),
    );
    s.headline(
        "start-up of a binary (worst p95)",
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

fn times(cmd: &mut Command) -> std::result::Result<Samples, String> {
    let mut s = Samples::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run: {e}"))?;
        if !out.success() {
            return Err(format!("failed ({out})"));
        }
        s.push(start.elapsed());
    }
    Ok(s)
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
