//! Layer 4, the services lastgood talks to: the app's health endpoints, Discord and GitHub.
//! Each knows the layers below; never a job.

pub(crate) mod deployments;
pub(crate) mod discord;
pub(crate) mod github;
pub(crate) mod health;
pub(crate) mod wording;
