//! What identifies one state of a file or directory, without reading it.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Device, inode, size, and modification and change times (nanoseconds): what changes
/// when an entry is written, replaced, renamed or has its mode changed (the change time),
/// and, for a directory, when an entry is added to or removed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of what stands at `path` (never following a link), if anything.
    pub fn at(path: &Path) -> Option<Stamp> {
        fs_err::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
    }
}
