//! The data directory's lock, held by every mutating command for its whole run.

use crate::error::{Error, Result};
use crate::report::Reporter;
use fs_err as fs;
use std::fs::TryLockError;
use std::path::Path;
use std::time::{Duration, Instant};

/// Proof that this process holds the data directory's lock; released on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard {
    _file: std::fs::File,
}

/// Takes the exclusive lock on `path`, saying so when it has to wait, and giving up after
/// `timeout`.
pub fn acquire(path: &Path, timeout: Duration, reporter: &dyn Reporter) -> Result<LockGuard> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?
        .into_parts()
        .0;
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
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::Error(e)) => {
                return Err(crate::fs::with_path(e, path).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Silent;

    #[test]
    fn a_second_lock_times_out_while_the_first_is_held_and_succeeds_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = acquire(&path, Duration::ZERO, &Silent).unwrap();
        let started = Instant::now();
        let err = acquire(&path, Duration::from_millis(200), &Silent).unwrap_err();
        assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(held);
        let _again = acquire(&path, Duration::ZERO, &Silent).unwrap();
    }
}
