//! Stale bundles: built for another `pyproject.toml` or `uv.lock` than the server
//! repository holds now (store-layout.md, "Stale generations").
//!
//! One read of the repository's two files, compared with each bundle's recorded hash
//! inputs; nothing else of the repository is read.

use super::hash::{Inputs, digest};
use crate::error::{Error, Result};
use fs_err as fs;
use std::path::{Path, PathBuf};

/// The file names a stale bundle was built for another version of.
pub const PYPROJECT: &str = "pyproject.toml";
pub const UV_LOCK: &str = "uv.lock";

/// The server repository's `pyproject.toml` and `uv.lock`, as they are now.
#[derive(Debug, Clone)]
pub struct RepoFiles {
    /// The repository (canonical path).
    pub root: PathBuf,
    pyproject: String,
    uv_lock: Option<String>,
    uv_lock_digest: Option<String>,
}

impl RepoFiles {
    /// Reads the two files of the repository at `dir`.
    pub fn read(dir: &Path) -> Result<RepoFiles> {
        let hint = "point --server (or COSMO_SERVER_DIR) at the CosmoServer repository: the directory holding pyproject.toml and src/cosmoserver/";
        let root = dir
            .canonicalize()
            .map_err(|e| Error::input(format!("server directory {}: {e}", dir.display()), hint))?;
        let pyproject = fs::read_to_string(root.join(PYPROJECT))
            .map_err(|e| Error::input(format!("{}: {e}", root.join(PYPROJECT).display()), hint))?;
        let uv_lock = match fs::read_to_string(root.join(UV_LOCK)) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let uv_lock_digest = uv_lock.as_deref().map(|l| digest(l.as_bytes()));
        Ok(RepoFiles {
            root,
            pyproject,
            uv_lock,
            uv_lock_digest,
        })
    }

    /// The files that differ from what a bundle with these inputs was built for: none when
    /// it is not stale.
    pub fn changed(&self, inputs: &Inputs) -> Vec<&'static str> {
        let (pyproject, lock_differs) = match inputs {
            Inputs::V2(i) => (&i.server_pyproject, i.server_uv_lock != self.uv_lock_digest),
            Inputs::V1(i) => (&i.server_pyproject, i.server_uv_lock != self.uv_lock),
        };
        let mut changed = Vec::new();
        if *pyproject != self.pyproject {
            changed.push(PYPROJECT);
        }
        if lock_differs {
            changed.push(UV_LOCK);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::hash::HashInputs;

    #[test]
    fn a_bundle_is_stale_for_each_file_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PYPROJECT), "[project]\nname = \"s\"\n").unwrap();
        let inputs = |pyproject: &str, lock: Option<&str>| {
            Inputs::V2(HashInputs {
                server_path: "/srv".into(),
                server_pyproject: pyproject.into(),
                server_uv_lock: lock.map(|l| digest(l.as_bytes())),
                server_source: Vec::new(),
                settings: Default::default(),
                python_path: None,
                plugins: Vec::new(),
            })
        };
        let repo = RepoFiles::read(dir.path()).unwrap();
        let built = inputs("[project]\nname = \"s\"\n", None);
        assert!(repo.changed(&built).is_empty());
        fs::write(dir.path().join(UV_LOCK), "version = 1\n").unwrap();
        let repo = RepoFiles::read(dir.path()).unwrap();
        assert_eq!(repo.changed(&built), [UV_LOCK]);
        assert!(
            repo.changed(&inputs("[project]\nname = \"s\"\n", Some("version = 1\n")))
                .is_empty()
        );
        assert_eq!(
            repo.changed(&inputs("[project]\nname = \"t\"\n", Some("version = 2\n"))),
            [PYPROJECT, UV_LOCK]
        );
        assert!(RepoFiles::read(&dir.path().join("nowhere")).is_err());
    }
}
