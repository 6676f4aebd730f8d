//! Operations: what the commands do, one module per concern.

pub mod build;
pub mod discover;
pub mod generations;
pub mod plugins;
pub mod start;
