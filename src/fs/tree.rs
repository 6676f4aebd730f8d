//! Sealing a finished bundle: every file and directory in it made durable (fsync) and not
//! writable by other users, without flushing other programs' data (as `syncfs` would).

use crate::error::Result;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Clears the group and other write bits of every file and directory under `root`
/// (symlinks are left as they are, never followed), then syncs each file, and each
/// directory after its entries, `root` last. Work is spread over the machine's cores.
pub fn seal(root: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .contents_first(true)
    {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_default();
            crate::fs::with_path(e.into(), &path)
        })?;
        let ft = entry.file_type();
        if ft.is_symlink() {
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| crate::fs::with_path(e.into(), entry.path()))?;
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            fs_err::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & !0o022))?;
        }
        if ft.is_dir() {
            dirs.push(entry.into_path());
        } else if ft.is_file() {
            files.push(entry.into_path());
        }
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|f| sync(f))))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("a sync thread does not panic"))
    })?;
    // Directories after their contents (the walk lists them contents first).
    dirs.iter().try_for_each(|d| sync(d))
}

fn sync(path: &Path) -> Result<()> {
    fs_err::File::open(path)?.sync_all()?;
    Ok(())
}
