//! Layer 5, the jobs: what each binary does (save a rollback point, deploy a SHA, watch CI).
//! Jobs may use every layer below; nothing below knows them.

pub(crate) mod deploy;
pub(crate) mod rollback_point;
pub(crate) mod watch;
