//! Operations: what the commands do, one module per command group.

pub mod activate;
pub mod build;
pub mod config;
pub mod diff;
pub mod discover;
pub mod gc;
pub mod generations;
pub mod manifest;
pub mod plugins;
pub mod stale;
pub mod start;
pub mod status;
pub mod verify;
