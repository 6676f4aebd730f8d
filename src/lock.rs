//! The data directory's lock, held by every mutating command for its whole run.

use crate::error::{Error, Result};
use crate::report::Reporter;
use fs_err as fs;
use std::fs::TryLockError;
use std::path::Path;
use std::time::{Duration, Instant};

/// Default seconds to wait for another command; `COSMO_LOCK_TIMEOUT` overrides it.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// Proof that this process holds the data directory's lock; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard {
    _file: std::fs::File,
}

/// Takes the exclusive lock on `path`, saying so when it has to wait.
pub fn acquire(path: &Path, reporter: &dyn Reporter) -> Result<LockGuard> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?
        .into_parts()
        .0;
    let timeout = timeout_from_env()?;
    let started = Instant::now();
    let mut said = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(LockGuard { _file: file }),
            Err(TryLockError::WouldBlock) => {
                if !said {
                    reporter.warn(&format!(
                        "waiting for lock on {} (another cosmo-bundle command is running)",
                        path.display()
                    ));
                    said = true;
                }
                if started.elapsed() >= timeout {
                    return Err(Error::LockTimeout {
                        path: path.to_path_buf(),
                        seconds: timeout.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::Error(e)) => {
                return Err(crate::fsutil::with_path(e, path).into());
            }
        }
    }
}

fn timeout_from_env() -> Result<Duration> {
    match std::env::var("COSMO_LOCK_TIMEOUT") {
        Err(_) => Ok(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| {
                Error::input(
                    format!("COSMO_LOCK_TIMEOUT={v:?} is not a number of seconds"),
                    "set it to a whole number such as 60, or unset it",
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;

    #[test]
    fn second_lock_times_out_while_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = acquire(&path, &Silent).unwrap();
        let other = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}
