//! File-system primitives: crash-safe writes and flips, and the data directory's lock.

pub mod atomic;
pub mod lock;
pub mod safe;
pub mod stamp;
pub mod tree;
pub mod usage;

pub use atomic::{remove_temporary_files, replace_symlink, with_path, write_atomic};
