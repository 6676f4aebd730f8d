//! Conflict checks: resolve a plugin set with `uv lock` in a temporary project generated
//! exactly as its bundle's would be, and keep the lock for the build of that exact set.
//!
//! Checked locks live in `<data-dir>/resolved/<hash>.lock`; temporary projects in
//! `<data-dir>/tmp/`, removed after use (and, after a kill, by the next mutating command).

use crate::error::Result;
use crate::fsutil;
use crate::report::Reporter;
use crate::store::{self, BundleSpec};
use crate::uv::Uv;
use fs_err as fs;
use std::path::{Path, PathBuf};

/// Where the checked lock of the set with this hash is kept.
pub fn checked_lock_path(data_dir: &Path, hash: &str) -> PathBuf {
    data_dir.join("resolved").join(format!("{hash}.lock"))
}

/// The checked lock of this hash, if a conflict check made one.
pub fn checked_lock(data_dir: &Path, hash: &str) -> Option<PathBuf> {
    Some(checked_lock_path(data_dir, hash)).filter(|p| p.is_file())
}

/// Resolves `spec` in a temporary project. `Ok` means uv found a solution, and its lock is
/// kept for the build; a conflict is `Error::Conflict` with uv's explanation.
pub fn check(spec: &BundleSpec, data_dir: &Path, uv: &Uv, reporter: &dyn Reporter) -> Result<()> {
    let hash = spec.hash_inputs().hash();
    let tmp_root = data_dir.join("tmp");
    fs::create_dir_all(&tmp_root)?;
    let project = tempfile::Builder::new()
        .prefix("resolve-")
        .tempdir_in(&tmp_root)
        .map_err(|e| fsutil::with_path(e, &tmp_root))?;
    fsutil::write_atomic(
        &project.path().join("pyproject.toml"),
        spec.server.bundle_pyproject(&spec.plugins).as_bytes(),
    )?;
    store::write_seed_lock(spec, project.path())?;
    reporter.step(&format!(
        "checking {} plugin(s) for conflicts with uv lock",
        spec.plugins.len()
    ));
    uv.lock(project.path(), &spec.python)?;
    let lock = fs::read(project.path().join("uv.lock"))?;
    let target = checked_lock_path(data_dir, &hash);
    fs::create_dir_all(target.parent().expect("has a parent"))?;
    fsutil::write_atomic(&target, &lock)
}

/// Removes temporary projects left by a killed command. Call with the lock held.
pub fn clear_leftovers(data_dir: &Path) -> Result<()> {
    let tmp_root = data_dir.join("tmp");
    if tmp_root.is_dir() {
        for entry in fs::read_dir(&tmp_root)? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}
