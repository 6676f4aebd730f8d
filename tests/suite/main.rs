//! The integration suite: the real binary, real uv, real SQLite, on temporary data
//! directories. One test binary; `common` holds the shared harness.
//!
//! `pypi::*` tests need the network and are ignored by default:
//! `cargo test --test suite -- --ignored pypi::`.

// Tests may use std::fs directly: a failing call panics with the test's own message.
#![allow(clippy::disallowed_methods)]

mod activation;
mod bad_input;
mod cli;
mod common;
mod concurrency;
mod crash;
mod discover;
mod disk_full;
mod gc;
mod invariants;
mod json;
mod lifecycle;
mod plugin_checks;
mod plugins;
mod profile;
mod pypi;
mod reliability;
mod start;
mod store;
mod terminal;
mod trust;
