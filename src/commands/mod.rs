//! Commands: take the parsed arguments, call one operation, print its output.

pub mod activate;
pub mod build;
pub mod completions;
pub mod config;
pub mod diff;
pub mod discover;
pub mod gc;
pub mod generations;
pub mod manifest;
pub mod plugin;
pub mod start;
pub mod status;
pub mod verify;
