//! Crash-safe file-system primitives: atomic writes, atomic symlink flips, directory syncs.

use crate::error::Result;
use fs_err as fs;
use fs_err::os::unix::fs::symlink;
use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically: temp file in the same directory, `sync_all`,
/// rename over the target, then sync the directory. Readers see the old or the new file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| with_path(e, dir))?;
    tmp.write_all(contents).map_err(|e| with_path(e, path))?;
    // Store files are read by the server, possibly as another user: world-readable.
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(|e| with_path(e, path))?;
    tmp.as_file().sync_all().map_err(|e| with_path(e, path))?;
    tmp.persist(path).map_err(|e| with_path(e.error, path))?;
    sync_dir(dir)
}

/// Removes the temporary files (`.tmp-*`, regular files only) that a killed
/// [`write_atomic`] left in `dir`; a missing `dir` has none.
pub fn remove_temporary_files(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Points the symlink `link` at `target` atomically: a new link under a temporary name in
/// the same directory is renamed over the old one. `link` never stops existing.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let dir = parent(link);
    let name = link.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".tmp-{}-{}", name, std::process::id()));
    let _ = fs::remove_file(&tmp);
    symlink(target, &tmp)?;
    fs::rename(&tmp, link)?;
    sync_dir(dir)
}

/// Makes a directory entry durable (a rename or a new file needs its directory synced).
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Adds the path to an io::Error that does not carry one.
pub fn with_path(err: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs_err::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn replace_symlink_flips_an_existing_link() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("current");
        replace_symlink(Path::new("a"), &link).unwrap();
        replace_symlink(Path::new("b"), &link).unwrap();
        assert_eq!(fs_err::read_link(&link).unwrap(), Path::new("b"));
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn remove_temporary_files_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs_err::write(d.join(".tmp-abc"), b"half").unwrap();
        fs_err::write(d.join("kept"), b"x").unwrap();
        fs_err::create_dir(d.join(".tmp-dir")).unwrap();
        symlink("kept", d.join(".tmp-link")).unwrap();
        remove_temporary_files(d).unwrap();
        let mut names: Vec<_> = fs_err::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".tmp-dir", ".tmp-link", "kept"]);
        remove_temporary_files(&d.join("missing")).unwrap();
    }
}
