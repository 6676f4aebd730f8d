//! Named pause points for crash tests.
//!
//! When `COSMO_BUNDLE_PAUSE_AT` names a point, the process prints `paused at POINT` to
//! stderr and sleeps there, so a test can kill it at exactly that instant. Unset, a point
//! costs one environment lookup.

/// Pauses here if `COSMO_BUNDLE_PAUSE_AT` names `name`.
pub fn point(name: &str) {
    if std::env::var("COSMO_BUNDLE_PAUSE_AT").is_ok_and(|v| v == name) {
        eprintln!("paused at {name}");
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
