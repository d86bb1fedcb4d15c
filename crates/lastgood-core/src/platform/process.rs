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

/// Waits for `child` (spawned by [`spawn_group`]), calling `poll(exited)` at every look (e.g. to
/// stream its output; `exited` is true on the last call). Once `timeout` has passed, the whole
/// group gets SIGTERM, then SIGKILL [`KILL_GRACE`] later if the leader still runs, and what
/// outlived the leader is killed when it exits. Returns the leader's status and whether it was
/// killed for running too long. Processes left behind by a leader that exits in time are not
/// touched.
pub(crate) fn wait_group(
    child: &mut Child,
    timeout: Option<Duration>,
    mut poll: impl FnMut(bool) -> io::Result<()>,
) -> io::Result<(ExitStatus, bool)> {
    let start = Instant::now();
    let group = Pid::from_child(child);
    let mut killed: Option<Instant> = None;
    loop {
        let exited = child.try_wait()?;
        poll(exited.is_some())?;
        if let Some(status) = exited {
            if killed.is_some() {
                // Whatever of the group outlived its leader's SIGTERM.
                let _ = kill_process_group(group, Signal::KILL);
            }
            return Ok((status, killed.is_some()));
        }
        match killed {
            None if timeout.is_some_and(|t| start.elapsed() >= t) => {
                killed = Some(Instant::now());
                let _ = kill_process_group(group, Signal::TERM);
            }
            Some(at) if at.elapsed() >= KILL_GRACE => {
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
