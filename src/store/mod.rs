//! The content-addressed store: `store/<hash>/` bundles, built in place and registered
//! last.
//!
//! A bundle is valid only once its `bundle.json` exists and names its own hash: that file
//! is written atomically as the very last step of a build. A directory without it is a
//! leftover of an interrupted build and is removed before that hash is built again.

pub mod build;
pub mod bundle;
pub mod conflict_checks;
pub mod gc;
pub mod hash;
pub mod plugin_checks;
pub mod record;
pub mod server;
pub mod share;
pub mod snapshot;
pub mod stale;
pub mod venv;
pub mod verify;

use crate::error::{Error, Result};
use bundle::{BUNDLE_JSON, BundleManifest};
use fs_err as fs;
use std::path::{Path, PathBuf};

/// The store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    /// The store directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the bundle with this hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.root.join(hash)
    }

    /// The manifest of a registered bundle; `None` when `hash` is not registered.
    pub fn load(&self, hash: &str) -> Result<Option<BundleManifest>> {
        let path = self.path(hash).join(BUNDLE_JSON);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let manifest: BundleManifest = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: format!("unreadable bundle manifest: {e}"),
        })?;
        let format_matches = matches!(
            (manifest.format, &manifest.inputs),
            (bundle::FORMAT, hash::Inputs::V2(_)) | (bundle::FORMAT_V1, hash::Inputs::V1(_))
        );
        if !format_matches || manifest.hash != hash || manifest.inputs.hash() != hash {
            return Err(Error::Corrupt {
                path,
                reason: format!("bundle manifest does not describe bundle {hash}"),
            });
        }
        Ok(Some(manifest))
    }
}
