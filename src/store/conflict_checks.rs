//! Conflict checks: resolve a plugin set with `uv lock` in a temporary project generated
//! exactly as its bundle's would be, and keep the lock for the build of that exact set.
//!
//! Checked locks live in `<data-dir>/resolved/<hash>.lock`; temporary projects in
//! `<data-dir>/tmp/`, removed after use (and, after a kill, by the next mutating command).

use super::build::{self, BundleSpec};
use crate::error::Result;
use crate::fs as cfs;
use crate::layout::DataDir;
use crate::report::Reporter;
use crate::uv::Uv;
use fs_err as fs;
use std::path::PathBuf;

/// The checked lock of this hash, if a conflict check made one.
pub fn checked_lock(dirs: &DataDir, hash: &str) -> Option<PathBuf> {
    Some(dirs.resolved_lock(hash)).filter(|p| p.is_file())
}

/// Resolves `spec` in a temporary project. `Ok` means uv found a solution, and its lock is
/// kept for the build; a conflict is `Error::Conflict` with uv's explanation.
pub fn check(spec: &BundleSpec, dirs: &DataDir, uv: &Uv, reporter: &dyn Reporter) -> Result<()> {
    let hash = spec.hash();
    let tmp_root = dirs.tmp();
    fs::create_dir_all(&tmp_root)?;
    let project = tempfile::Builder::new()
        .prefix("resolve-")
        .tempdir_in(&tmp_root)
        .map_err(|e| cfs::with_path(e, &tmp_root))?;
    cfs::write_atomic(
        &project.path().join("pyproject.toml"),
        spec.server.bundle_pyproject(&spec.plugins).as_bytes(),
    )?;
    build::write_seed_lock(spec, project.path())?;
    reporter.step(&format!(
        "checking {} plugin(s) for conflicts with uv lock",
        spec.plugins.len()
    ));
    uv.lock(project.path(), &spec.uv_options, reporter)?;
    let lock = fs::read(project.path().join("uv.lock"))?;
    let target = dirs.resolved_lock(hash);
    fs::create_dir_all(target.parent().expect("has a parent"))?;
    cfs::write_atomic(&target, &lock)
}

/// Removes temporary projects left by a killed command, and temporary files of an
/// interrupted atomic write of a checked lock. Call with the lock held.
pub fn clear_leftovers(dirs: &DataDir) -> Result<()> {
    crate::fs::remove_temporary_files(&dirs.resolved())?;
    let tmp_root = dirs.tmp();
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
