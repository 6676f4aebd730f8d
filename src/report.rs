//! Progress and warnings for long work, drawn only by the binary; `--json` silences progress.

/// Receives progress from operations.
pub trait Reporter {
    /// A step of long work has started.
    fn step(&self, message: &str);
    /// Something the user should know that is not an error.
    fn warn(&self, message: &str);
}

/// Prints progress and warnings to stderr.
pub struct Stderr;

impl Reporter for Stderr {
    fn step(&self, message: &str) {
        eprintln!("  {message}");
    }
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// Prints warnings only (for `--json` and `--quiet`).
pub struct WarningsOnly;

impl Reporter for WarningsOnly {
    fn step(&self, _message: &str) {}
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// Prints nothing (tests).
#[cfg(test)]
pub struct Silent;

#[cfg(test)]
impl Reporter for Silent {
    fn step(&self, _message: &str) {}
    fn warn(&self, _message: &str) {}
}
