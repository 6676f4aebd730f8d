//! The content-addressed store: `store/<hash>/` bundles, built in place and registered last.
//!
//! A bundle is valid only once its `bundle.json` exists and names its own hash: that file
//! is written atomically as the very last step of a build. A directory without it is a
//! leftover of an interrupted build and is removed before that hash is built again.

use crate::error::{Error, Result};
use crate::fsutil;
use crate::hash::HashInputs;
use crate::plugin::{PluginSource, Requirement, SourceType};
use crate::python::PythonRequest;
use crate::report::Reporter;
use crate::server::ServerRepo;
use crate::uv::Uv;
use fs_err as fs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The bundle manifest's file name: its presence registers the bundle.
pub const MANIFEST: &str = "bundle.json";
/// The manifest format this version writes and understands.
pub const MANIFEST_FORMAT: u32 = 1;
/// The `.pth` file that puts the bundle's `src/` on the venv's path.
pub const PTH_FILE: &str = "cosmo-bundle.pth";

/// Everything that decides a bundle.
#[derive(Debug)]
pub struct BundleSpec<'a> {
    pub server: &'a ServerRepo,
    pub plugins: Vec<Requirement>,
    pub python: PythonRequest,
    pub env: BTreeMap<String, String>,
}

impl BundleSpec<'_> {
    /// The hash inputs, exactly as store-layout.md documents them.
    pub fn hash_inputs(&self) -> HashInputs {
        HashInputs {
            server_path: self.server.root.to_string_lossy().into_owned(),
            server_pyproject: self.server.pyproject.clone(),
            server_uv_lock: self.server.uv_lock.clone(),
            python_request: self.python.request.clone(),
            python_path: self.python.path.clone(),
            env: self.env.clone(),
            plugins: self.plugins.iter().map(Requirement::pep508).collect(),
        }
    }
}

/// `bundle.json`: what was built, from what, with what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: u32,
    pub hash: String,
    pub created_at: String,
    pub tool_version: String,
    pub uv_version: String,
    pub inputs: HashInputs,
    pub python: PythonInfo,
    pub plugins: Vec<BundlePlugin>,
    /// Keys written by newer versions, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The interpreter uv put in the bundle's `.venv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `home` from `.venv/pyvenv.cfg`: the directory of the base interpreter.
    pub home: String,
    /// `version_info` from `.venv/pyvenv.cfg`.
    pub version: String,
}

/// One plugin of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundlePlugin {
    /// Normalised distribution name.
    pub name: String,
    pub source_type: SourceType,
    /// The PyPI distribution or the git URL.
    pub source: String,
    /// The version column value: the PyPI pin or the git ref.
    pub version: String,
    pub requirement: String,
    /// The version uv resolved (from uv.lock).
    pub resolved_version: Option<String>,
    /// The commit uv pinned, for git sources.
    pub commit: Option<String>,
    /// The plugin's validated `cosmo.json`: what the server loads at start-up.
    pub manifest: Option<crate::manifest::CosmoManifest>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// Removes a partly built bundle unless the build was committed (registered).
struct PartialBundle {
    dir: PathBuf,
    committed: bool,
}

impl Drop for PartialBundle {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    /// Where the bundle with this hash lives.
    pub fn path(&self, hash: &str) -> PathBuf {
        self.root.join(hash)
    }

    /// The manifest of a registered bundle; `None` when `hash` is not registered.
    pub fn load(&self, hash: &str) -> Result<Option<BundleManifest>> {
        let path = self.path(hash).join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let manifest: BundleManifest = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: format!("unreadable bundle manifest: {e}"),
        })?;
        if manifest.format != MANIFEST_FORMAT
            || manifest.hash != hash
            || manifest.inputs.hash() != hash
        {
            return Err(Error::Corrupt {
                path,
                reason: format!("bundle manifest does not describe bundle {hash}"),
            });
        }
        Ok(Some(manifest))
    }

    /// Builds the bundle for `spec` in place at `store/<hash>` and registers it.
    /// Call only with the data directory's lock held.
    /// `checked_lock` is the lock of a successful conflict check of this exact set: it is
    /// used as is, and the set is not resolved again.
    pub fn build(
        &self,
        spec: &BundleSpec,
        checked_lock: Option<&Path>,
        uv: &Uv,
        reporter: &dyn Reporter,
    ) -> Result<BundleManifest> {
        let inputs = spec.hash_inputs();
        let hash = inputs.hash();
        let dir = self.path(&hash);
        fs::create_dir_all(&self.root)?;
        if dir.exists() {
            reporter.step(&format!("removing unregistered leftover {}", dir.display()));
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir(&dir)?;
        let mut partial = PartialBundle {
            dir: dir.clone(),
            committed: false,
        };

        fsutil::write_atomic(
            &dir.join("pyproject.toml"),
            spec.server.bundle_pyproject(&spec.plugins).as_bytes(),
        )?;
        spec.server.link_sources(&dir)?;
        match checked_lock {
            Some(lock) => {
                reporter.step("using the lock of the plugin set's conflict check");
                fsutil::write_atomic(&dir.join("uv.lock"), &fs::read(lock)?)?;
            }
            None => {
                write_seed_lock(spec, &dir)?;
                reporter.step(&format!(
                    "resolving {} plugin(s) with uv lock",
                    spec.plugins.len()
                ));
                uv.lock(&dir, &spec.python)?;
            }
        }
        reporter.step("installing into the bundle's .venv with uv sync");
        uv.sync(&dir, &spec.python)?;
        let site = site_packages(&dir)?;
        write_pth(&dir, &site)?;
        let python = venv_python(&dir)?;
        let mut plugins = resolved_plugins(&dir, &spec.plugins)?;
        let failures = crate::loadcheck::check_all(&dir, &site, &mut plugins, reporter);
        if !failures.is_empty() {
            return Err(Error::PluginCheck { failures });
        }

        let manifest = BundleManifest {
            format: MANIFEST_FORMAT,
            hash: hash.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            uv_version: uv.version()?,
            inputs,
            python,
            plugins,
            other: Default::default(),
        };
        crate::fault::point("before-register");
        fsutil::sync_filesystem(&dir)?;
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        fsutil::write_atomic(&dir.join(MANIFEST), &json)?;
        partial.committed = true;
        Ok(manifest)
    }
}

/// Writes the server's `uv.lock`, if it has one, into a project about to be locked: it
/// seeds uv's preferences, so the bundle keeps the server's own pins where it can.
pub fn write_seed_lock(spec: &BundleSpec, project: &Path) -> Result<()> {
    if let Some(lock) = &spec.server.uv_lock {
        fsutil::write_atomic(&project.join("uv.lock"), lock.as_bytes())?;
    }
    Ok(())
}

/// The `site-packages` directory of a bundle's `.venv`.
pub fn site_packages(bundle: &Path) -> Result<PathBuf> {
    let lib = bundle.join(".venv/lib");
    fs::read_dir(&lib)?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .ok_or_else(|| Error::Corrupt {
            path: lib.clone(),
            reason: "no site-packages directory in the bundle's venv".into(),
        })
}

/// The interpreter uv put in the bundle's venv, from `.venv/pyvenv.cfg`.
fn venv_python(bundle: &Path) -> Result<PythonInfo> {
    let cfg_path = bundle.join(".venv/pyvenv.cfg");
    let cfg = fs::read_to_string(&cfg_path)?;
    let value = |key: &str| {
        cfg.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let missing = |key: &str| Error::Corrupt {
        path: cfg_path.clone(),
        reason: format!("no `{key}` in the venv's configuration"),
    };
    Ok(PythonInfo {
        home: value("home").ok_or_else(|| missing("home"))?,
        version: value("version_info")
            .or_else(|| value("version"))
            .ok_or_else(|| missing("version_info"))?,
    })
}

/// Writes the `.pth` that puts `<bundle>/src` (the linked server sources) on the path.
fn write_pth(bundle: &Path, site: &Path) -> Result<()> {
    let src = bundle.join("src");
    fsutil::write_atomic(
        &site.join(PTH_FILE),
        format!("{}\n", src.display()).as_bytes(),
    )
}

/// The plugin entries of the manifest, with what uv.lock pinned for each.
fn resolved_plugins(bundle: &Path, plugins: &[Requirement]) -> Result<Vec<BundlePlugin>> {
    let lock = crate::uvlock::read(&bundle.join("uv.lock"))?;
    Ok(plugins
        .iter()
        .map(|req| {
            let resolved = lock.get(req.dist.as_str());
            let (source_type, source) = match &req.source {
                PluginSource::Pypi { .. } => (SourceType::Pypi, req.dist.as_str().to_string()),
                PluginSource::Git { url, .. } => (SourceType::Git, url.clone()),
            };
            BundlePlugin {
                name: req.dist.as_str().to_string(),
                source_type,
                source,
                version: req.version().to_string(),
                requirement: req.pep508(),
                resolved_version: resolved.and_then(|r| r.version.clone()),
                commit: resolved.and_then(|r| r.commit.clone()),
                manifest: None,
                other: Default::default(),
            }
        })
        .collect())
}
