//! File-system primitives: crash-safe writes and flips, and the data directory's lock.

pub mod atomic;
pub mod lock;

pub use atomic::{replace_symlink, sync_filesystem, with_path, write_atomic};
