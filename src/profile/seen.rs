//! `profile.seen`: how `generations/` and `profile.json` looked when the last locked
//! command left them in agreement (one link per entry, nothing else in `generations/`).
//!
//! When both still look the same (device, inode, size, modification and change times),
//! nothing has changed them since, so a command can skip listing `generations/`. It is a
//! cache: written by rename without `fsync`, and anything unreadable or different means
//! "list the directory".

use fs_err as fs;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The format this version writes and trusts.
const FORMAT: u32 = 1;

pub use crate::fs::stamp::Stamp;

/// The contents of `profile.seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    format: u32,
    /// `generations/`.
    generations: Stamp,
    /// `profile.json`.
    index: Stamp,
}

impl Seen {
    pub fn new(generations: Stamp, index: Stamp) -> Seen {
        Seen {
            format: FORMAT,
            generations,
            index,
        }
    }
}

/// The recorded state, if `path` holds one this version trusts.
pub fn read(path: &Path) -> Option<Seen> {
    let text = fs::read(path).ok()?;
    serde_json::from_slice::<Seen>(&text)
        .ok()
        .filter(|s| s.format == FORMAT)
}

/// Records `seen` at `path` (temporary file renamed over it, no `fsync`). A failure only
/// costs the next command a listing, so it is not reported.
pub fn write(path: &Path, seen: &Seen) {
    let _ = try_write(path, seen);
}

fn try_write(path: &Path, seen: &Seen) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(crate::layout::TMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(&serde_json::to_vec(seen).expect("a stamp serialises"))?;
    // Like every file of the data directory: readable by the server's user.
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
