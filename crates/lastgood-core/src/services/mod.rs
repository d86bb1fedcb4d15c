//! Layer 4, the services lastgood talks to: the app's health endpoints, Discord and GitHub.
//! Each knows the layers below; never a job.

pub mod discord;
pub mod github;
pub mod health;
