//! `manifest check`: validate one `cosmo.json`.

use crate::error::Result;
use crate::output::ManifestOutput;
use crate::plugins::cosmo_json;
use std::path::Path;

/// Validates the manifest at `path` (its directory is the plugin directory it may not
/// lead out of).
pub fn check(path: &Path) -> Result<ManifestOutput> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(ManifestOutput {
        path: path.to_path_buf(),
        valid: true,
        manifest: cosmo_json::load(path, dir)?,
    })
}
