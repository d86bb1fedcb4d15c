//! Layer 5, the jobs: what each binary does (save a rollback point, deploy a SHA, watch CI).
//! Jobs may use every layer below; nothing below knows them.

pub mod deploy;
pub mod rollback_point;
pub mod watch;
