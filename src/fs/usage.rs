//! Disk use of a directory tree, each inode counted once (hardlinked files are shared
//! between bundles and with uv's cache).

use crate::error::Result;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes of disk (allocated blocks) the files, directories and symlinks under `root` use,
/// each inode counted once; symlinks are never followed. An absent `root` uses none.
pub fn disk_usage(root: &Path) -> Result<u64> {
    if fs_err::symlink_metadata(root).is_err() {
        return Ok(0);
    }
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut bytes = 0;
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_default();
            crate::fs::with_path(e.into(), &path)
        })?;
        let meta = entry
            .metadata()
            .map_err(|e| crate::fs::with_path(e.into(), entry.path()))?;
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        bytes += meta.blocks() * 512;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hardlinked_file_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        fs_err::create_dir(&root).unwrap();
        fs_err::write(root.join("a"), vec![7u8; 64 * 1024]).unwrap();
        let one = disk_usage(&root).unwrap();
        fs_err::hard_link(root.join("a"), root.join("b")).unwrap();
        assert_eq!(disk_usage(&root).unwrap(), one);
        fs_err::write(root.join("c"), vec![7u8; 64 * 1024]).unwrap();
        assert!(disk_usage(&root).unwrap() >= one + 64 * 1024);
        assert_eq!(disk_usage(&dir.path().join("absent")).unwrap(), 0);
    }
}
