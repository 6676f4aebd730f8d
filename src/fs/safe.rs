//! The data directory is ours, and only ours: nothing in it that cosmo-bundle writes or
//! deletes may be a symlink leading elsewhere, or writable by other users.

use crate::error::{Error, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What an entry of the data directory must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Refuses `path` when it exists and is a symlink or not of `kind`.
pub fn check_entry(path: &Path, kind: Kind) -> Result<()> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let what = match kind {
        Kind::Dir => "a directory",
        Kind::File => "a file",
    };
    if meta.file_type().is_symlink() {
        let target = fs_err::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        return Err(Error::input(
            format!(
                "{} is a symlink (to {target}); cosmo-bundle never writes or deletes through a link in its data directory",
                path.display()
            ),
            format!("replace the link with {what} of the data directory's own"),
        ));
    }
    let ok = match kind {
        Kind::Dir => meta.is_dir(),
        Kind::File => meta.is_file(),
    };
    if !ok {
        return Err(Error::input(
            format!("{} is not {what}", path.display()),
            "move it out of the way; cosmo-bundle recreates what it needs",
        ));
    }
    check_not_shared(path, &meta)
}

/// Refuses a directory other users may write to (without the sticky bit): they could
/// plant a link or flip `current`.
pub fn check_not_shared(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let mode = meta.permissions().mode();
    if meta.is_dir() && mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Error::input(
            format!(
                "{} is writable by other users (mode {:04o})",
                path.display(),
                mode & 0o7777
            ),
            format!("run `chmod go-w {}`", path.display()),
        ));
    }
    Ok(())
}

/// Makes what this process creates writable by its owner only (mode 0755 directories and
/// 0644 files: the server may run as another user and read them), whatever the umask.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}
