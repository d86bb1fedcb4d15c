//! Child processes bounded in time.
//!
//! A bounded process runs as the leader of its own process group, so that a timeout kills what
//! it started too (compose's children, git's `ssh` or `git-remote-https`): SIGTERM to the whole
//! group, then SIGKILL after [`KILL_GRACE`]. Used for the restart (`restart-timeout`) and for
//! every git command that talks to a remote (`fetch-timeout`): nothing we run while holding the
//! environment lock can hold it forever.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::base::spec::ALL;
use crate::platform::cancel;
use rustix::process::{Pid, Signal, kill_process_group};

/// How long a timed-out process group has between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Pause between two looks at a bounded process while it is young: a fetch or a restart that
/// ends is noticed within this time (the deploy waits on both).
const QUICK_POLL: Duration = Duration::from_millis(5);

/// Pause between two looks once the process has run for [`QUICK_FOR`] (a long build).
const POLL: Duration = Duration::from_millis(100);

/// How long a process is looked at every [`QUICK_POLL`].
const QUICK_FOR: Duration = Duration::from_secs(30);

/// Removes lastgood's secrets from a child's environment: every secret input's `INPUT_*`
/// variable and `GITHUB_TOKEN` (ci-watcher's default token). git and the restart have no use
/// for them, and a restart that prints its environment would publish them.
pub(crate) fn without_secrets(command: &mut Command) -> &mut Command {
    for spec in ALL {
        for input in spec.inputs.iter().filter(|i| i.secret) {
            command.env_remove(input.env_var());
        }
    }
    command.env_remove("GITHUB_TOKEN")
}

/// Spawns `command` as the leader of a new process group, for [`wait_group`].
pub(crate) fn spawn_group(command: &mut Command) -> io::Result<Child> {
    command.process_group(0).spawn()
}

/// Why [`wait_group`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The leader exited by itself in time.
    Exited,
    /// It ran past its timeout: the group was stopped.
    TimedOut,
    /// The job was cancelled ([`super::cancel`]): the group was stopped.
    Cancelled,
}

/// How long a process group stopped because the job was cancelled has between SIGTERM and
/// SIGKILL: the runner sends SIGKILL to us 10 s after its first signal.
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// Waits for `child` (spawned by [`spawn_group`]), calling `poll(exited)` at every look (e.g. to
/// stream its output; `exited` is true on the last call). Once `timeout` has passed, or the job
/// is cancelled, the whole group gets SIGTERM, then SIGKILL after a grace period if the leader
/// still runs; a group that was stopped is waited for until none of its processes runs any
/// more, so that whoever holds the environment lock releases it only after. Processes left
/// behind by a leader that exits in time are not touched.
pub(crate) fn wait_group(
    child: &mut Child,
    timeout: Option<Duration>,
    mut poll: impl FnMut(bool) -> io::Result<()>,
) -> io::Result<(ExitStatus, Ended)> {
    let start = Instant::now();
    let group = Pid::from_child(child);
    let mut stopped: Option<(Instant, Ended, Duration)> = None;
    loop {
        let exited = child.try_wait()?;
        poll(exited.is_some())?;
        if let Some(status) = exited {
            let ended = match stopped {
                Some((_, why, _)) => {
                    // Whatever of the group outlived its leader.
                    let _ = kill_process_group(group, Signal::KILL);
                    wait_group_gone(group, Duration::from_secs(5));
                    why
                }
                None => Ended::Exited,
            };
            return Ok((status, ended));
        }
        match stopped {
            None => {
                let why = if cancel::requested().is_some() {
                    Some((Ended::Cancelled, CANCEL_GRACE))
                } else if timeout.is_some_and(|t| start.elapsed() >= t) {
                    Some((Ended::TimedOut, KILL_GRACE))
                } else {
                    None
                };
                if let Some((why, grace)) = why {
                    stopped = Some((Instant::now(), why, grace));
                    let _ = kill_process_group(group, Signal::TERM);
                }
            }
            Some((at, _, grace)) if at.elapsed() >= grace => {
                let _ = kill_process_group(group, Signal::KILL);
            }
            _ => {}
        }
        std::thread::sleep(if start.elapsed() < QUICK_FOR {
            QUICK_POLL
        } else {
            POLL
        });
    }
}

/// Waits up to `bound` until no process of `group` runs (zombies aside). Linux reads `/proc`;
/// elsewhere it returns at once.
fn wait_group_gone(group: Pid, bound: Duration) {
    let start = Instant::now();
    while group_runs(group) && start.elapsed() < bound {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process of `group` still runs (not a zombie).
fn group_runs(group: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    let wanted = group.as_raw_nonzero().get().to_string();
    entries.filter_map(|e| e.ok()).any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // `pid (comm) state ppid pgrp …`: the command may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).unwrap_or("");
        pgrp == wanted && state != "Z" && state != "X"
    })
}
