//! What a binary wrote to `GITHUB_OUTPUT` and which of our processes still run.

use std::collections::BTreeMap;
use std::path::Path;

/// The outputs of a `GITHUB_OUTPUT` file (`name=value` lines and `name<<DELIM` heredocs); a
/// later value of a name replaces an earlier one. Empty when the file does not exist.
pub fn read(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut map = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            map.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            map.insert(name.to_owned(), value.to_owned());
        }
    }
    map
}

/// Whether process `pid` still runs (a zombie does not count; Linux `/proc`).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits for `child` to exit, up to a generous bound (90 s) after which it is killed and the
/// test fails.
pub fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return status;
        }
        if start.elapsed() > std::time::Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the process did not exit within 90s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The pid written in `path` (by a restart script), if any.
pub fn pid_in(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sends `sig` (`"TERM"`, `"INT"`, `"KILL"`) to process `pid`, as the runner or the kernel would;
/// panics when it cannot (the test cannot go on).
pub fn signal(pid: u32, sig: &str) {
    use rustix::process::{Pid, Signal, kill_process};
    let signal = match sig {
        "TERM" => Signal::TERM,
        "INT" => Signal::INT,
        "KILL" => Signal::KILL,
        other => panic!("unknown signal {other}"),
    };
    let pid = Pid::from_raw(i32::try_from(pid).expect("a pid")).expect("a non-zero pid");
    kill_process(pid, signal).unwrap_or_else(|e| panic!("kill -{sig} {pid:?}: {e}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_read_as_the_runner_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output");
        std::fs::write(
            &path,
            "outcome=deployed\nfailed-jobs<<ghadelimiter_1\ntests\nlint\nghadelimiter_1\npid=42\n",
        )
        .unwrap();
        let o = read(&path);
        assert_eq!(o["outcome"], "deployed");
        assert_eq!(o["failed-jobs"], "tests\nlint");
        assert_eq!(o["pid"], "42");
    }
}
