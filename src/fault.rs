//! Named pause points for crash tests.
//!
//! When `COSMO_BUNDLE_PAUSE_AT` names a point, the process prints `paused at POINT` to
//! stderr and sleeps there, so a test can kill it at exactly that instant. Unset, a point
//! costs one lookup of a value read once per process.

use std::sync::OnceLock;

/// Pauses here if `COSMO_BUNDLE_PAUSE_AT` names `name`.
pub fn point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("COSMO_BUNDLE_PAUSE_AT").ok());
    if at.as_deref() == Some(name) {
        eprintln!("paused at {name}");
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
