//! Cancellation: the runner cancels a job with SIGINT, then SIGTERM 7.5 s later, then SIGKILL
//! 2.5 s after that. A binary that calls [`install`] turns the first two into a flag that the
//! long waits (the lock, a child process, polling, a health check) look at: they stop what runs,
//! start nothing new, and the job puts state right and reports before it exits.
//!
//! Without [`install`] (health-probe, notify-discord) the signals keep their default action.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::base::error::{Error, Result};

static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Turns SIGINT and SIGTERM into the cancellation flag of this process.
pub(crate) fn install() -> Result<()> {
    let flag = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let value = usize::try_from(sig).unwrap_or(usize::MAX);
        signal_hook::flag::register_usize(sig, Arc::clone(flag), value).map_err(|e| {
            Error::Environment(format!("cannot handle the signals that cancel a job: {e}"))
        })?;
    }
    Ok(())
}

/// Whether [`install`] ran in this process.
pub(crate) fn installed() -> bool {
    RECEIVED.get().is_some()
}

/// The signal that cancelled this job (`SIGINT`, `SIGTERM`), if one came.
pub(crate) fn requested() -> Option<&'static str> {
    let sig = RECEIVED.get()?.load(Ordering::SeqCst);
    match i32::try_from(sig).ok()? {
        0 => None,
        signal_hook::consts::SIGINT => Some("SIGINT"),
        signal_hook::consts::SIGTERM => Some("SIGTERM"),
        _ => Some("a signal"),
    }
}

/// Sleeps `d`, waking early when the job is cancelled; false when it was.
pub(crate) fn sleep(d: Duration) -> bool {
    // A wait past the clock's range (an absurd `retry-after`) lasts until cancelled.
    let Some(end) = Instant::now().checked_add(d) else {
        while requested().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        return false;
    };
    loop {
        if requested().is_some() {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs `work` on a thread and waits for it, giving up when the job is cancelled (`None`; the
/// thread is left to die with the process). For blocking calls that cannot look at the flag
/// themselves (an HTTP request waiting on a silent server).
pub(crate) fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if requested().is_some() => {
                return None;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}
