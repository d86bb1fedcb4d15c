//! Black-box tests of `notify-discord` against the Discord stand-in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed setup ends the test"
)]

mod common;
mod events;
mod failures;
mod inputs;
mod limits;
mod snapshots;
