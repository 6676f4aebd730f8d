//! Commands: parse, call one operation, print.

pub mod build;
pub mod discover;
pub mod generations;
pub mod plugin;
pub mod start;

use crate::error::Result;
use serde::Serialize;

/// Prints `value` as JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
    Ok(())
}
