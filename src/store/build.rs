//! Building a bundle in place at `store/<hash>`, step by step as store-layout.md lists
//! them, and registering it last.

use super::Store;
use super::bundle::{BUNDLE_JSON, BundleManifest, BundlePlugin, FORMAT, PythonInfo, RecordRef};
use super::hash::{HashInputs, Inputs, digest};
use super::server::ServerRepo;
use crate::error::{Error, Result};
use crate::fs as cfs;
use crate::plugins::{PluginSource, Requirement, SourceType};
use crate::report::Reporter;
use crate::settings::Settings;
use crate::uv::{PythonRequest, Uv};
use fs_err as fs;
use std::path::{Path, PathBuf};

/// The `.pth` file that puts the bundle's `src/` on the venv's path.
pub const PTH_FILE: &str = "00-cosmo-bundle.pth";

/// Everything that decides a bundle, with its hash computed once.
#[derive(Debug)]
pub struct BundleSpec<'a> {
    pub server: &'a ServerRepo,
    pub plugins: Vec<Requirement>,
    /// The settings as uv options (indexes, find-links, Python, ...).
    pub uv_options: Vec<String>,
    /// The digest of the server's source snapshot (`source = snapshot`), else `None`.
    pub snapshot: Option<String>,
    inputs: HashInputs,
    hash: String,
}

impl<'a> BundleSpec<'a> {
    /// The spec of `plugins` on `server` with the data directory's `settings`.
    pub fn new(
        server: &'a ServerRepo,
        plugins: Vec<Requirement>,
        settings: &Settings,
    ) -> Result<BundleSpec<'a>> {
        let python = PythonRequest::from_setting(settings.text("python").as_deref())?;
        let (server_source, snapshot) = super::snapshot::server_source(server, settings)?;
        let inputs = HashInputs {
            server_path: server.root.to_string_lossy().into_owned(),
            server_pyproject: server.pyproject.clone(),
            server_uv_lock: server.uv_lock.as_deref().map(|l| digest(l.as_bytes())),
            server_source,
            settings: settings.hashed(),
            python_path: python.path.clone(),
            plugins: plugins.iter().map(Requirement::pep508).collect(),
        };
        let hash = inputs.hash();
        Ok(BundleSpec {
            server,
            plugins,
            uv_options: settings.uv_args(),
            snapshot,
            inputs,
            hash,
        })
    }

    /// The hash inputs, exactly as store-layout.md documents them.
    pub fn inputs(&self) -> &HashInputs {
        &self.inputs
    }

    /// The bundle's hash: its store path name.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// Removes a partly built bundle unless the build was committed (registered).
struct PartialBundle {
    dir: PathBuf,
    committed: bool,
}

impl Drop for PartialBundle {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Store {
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
        let hash = spec.hash().to_string();
        let inputs = spec.inputs().clone();
        let dir = self.path(&hash);
        fs::create_dir_all(self.root())?;
        if dir.exists() {
            reporter.step(&format!("removing unregistered leftover {}", dir.display()));
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir(&dir)?;
        let mut partial = PartialBundle {
            dir: dir.clone(),
            committed: false,
        };

        // Files of the bundle are written plainly: the seal walk syncs every one of them
        // before the bundle is registered, and an unregistered bundle is never used.
        fs::write(
            dir.join("pyproject.toml"),
            spec.server.bundle_pyproject(&spec.plugins),
        )?;
        match &spec.snapshot {
            Some(digest) => super::snapshot::link(self.root(), spec.server, digest, &dir)?,
            None => spec.server.link_sources(&dir)?,
        }
        if let Some(warning) = super::share::cache_warning(self.root()) {
            reporter.warn(&warning);
        }
        match checked_lock {
            Some(lock) => {
                reporter.step("using the lock of the plugin set's conflict check");
                fs::copy(lock, dir.join("uv.lock"))?;
                crate::fault::point("after-uv-lock");
                reporter.step("installing into the bundle's .venv with uv sync");
                uv.sync(&dir, &spec.uv_options, reporter)?;
            }
            None => {
                write_seed_lock(spec, &dir)?;
                reporter.step(&format!(
                    "resolving {} plugin(s) and installing into the bundle's .venv with uv sync",
                    spec.plugins.len()
                ));
                uv.lock_and_sync(&dir, &spec.uv_options, reporter)?;
                crate::fault::point("after-uv-lock");
            }
        }
        crate::fault::point("after-uv-sync");
        let site = site_packages(&dir)?;
        super::venv::make_bundle_independent(&dir, &site)?;
        write_pth(&dir, &site)?;
        let (python, uv_version) = venv_python(&dir)?;
        let mut plugins = resolved_plugins(&dir, &spec.plugins)?;
        // The bundle is compressed, sealed, synced and hashed while the plugins are imported
        // (two processes, and the import writes nothing); plugin code that wrote into the
        // bundle meanwhile is caught by the stamps, and the walk is done again.
        let (failures, sealed) =
            super::plugin_checks::check_all(&dir, &site, &mut plugins, reporter, || {
                // Read above; kept compressed (a bundle's own largest file).
                crate::uv::lock_file::compress(&dir.join("uv.lock"))?;
                cfs::tree::seal(&dir)
            });
        if !failures.is_empty() {
            return Err(Error::PluginCheck { failures });
        }
        let mut entries = sealed?;
        if !cfs::tree::unchanged(&dir, &entries)? {
            entries = cfs::tree::seal(&dir)?;
        }

        let mut manifest = BundleManifest {
            format: FORMAT,
            hash: hash.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            uv_version,

            inputs: Inputs::V2(inputs),
            python,
            plugins,
            record: None,
            digest: None,
            other: Default::default(),
        };
        crate::fault::point("before-register");
        reporter.step("sharing files with the other bundles and recording the bundle");
        let site_rel = site.strip_prefix(&dir).unwrap_or(&site).to_path_buf();
        let shared = super::share::optimise(self.root(), &dir, &site_rel, entries)?;
        let record_text = super::record::render(&shared.record);
        let record_path = dir.join(super::record::RECORD_FILE);
        fs::write(&record_path, record_text.as_bytes())?;
        // Everything sharing changed, the record, and the store's entry of the bundle, made
        // durable at once.
        let mut unsynced = shared.unsynced;
        unsynced.push(record_path);
        unsynced.push(dir.clone());
        unsynced.push(self.root().to_path_buf());
        super::share::sync_all(&unsynced)?;
        manifest.record = Some(RecordRef {
            file: super::record::RECORD_FILE.to_string(),
            blake3: blake3::hash(record_text.as_bytes()).to_hex().to_string(),
            entries: shared.record.len(),
        });
        crate::fault::point("before-bundle-json");
        let json = manifest.render_with_digest();
        cfs::write_atomic(&dir.join(BUNDLE_JSON), &json)?;
        partial.committed = true;
        crate::fault::point("after-register");
        Ok(manifest)
    }
}

/// Writes the server's `uv.lock`, if it has one, into a project about to be locked: it
/// seeds uv's preferences, so the bundle keeps the server's own pins where it can.
pub fn write_seed_lock(spec: &BundleSpec, project: &Path) -> Result<()> {
    if let Some(lock) = &spec.server.uv_lock {
        fs::write(project.join("uv.lock"), lock.as_bytes())?;
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
/// The interpreter, and the uv version that made the venv (its `uv = X` line; no uv call).
fn venv_python(bundle: &Path) -> Result<(PythonInfo, String)> {
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
    let python = PythonInfo {
        home: value("home").ok_or_else(|| missing("home"))?,
        version: value("version_info")
            .or_else(|| value("version"))
            .ok_or_else(|| missing("version_info"))?,
    };
    let uv = value("uv").map_or_else(|| "uv (unknown version)".to_string(), |v| format!("uv {v}"));
    Ok((python, uv))
}

/// Writes the `.pth` that puts `<bundle>/src` (the linked server sources) on the path.
fn write_pth(bundle: &Path, site: &Path) -> Result<()> {
    let src = bundle.join("src");
    fs::write(
        site.join(PTH_FILE),
        format!("{NO_BYTECODE_IN_STORE}\n{}\n", src.display()),
    )?;
    Ok(())
}

/// The `.pth` line that keeps a Python run from a bundle from writing bytecode into the
/// store (which would change the bundle): bytecode goes where `PYTHONPYCACHEPREFIX` says
/// (`start` sets it to `<data-dir>/pycache`), or nowhere. The file's name sorts first, so
/// it runs before any other `.pth` imports a module from site-packages.
const NO_BYTECODE_IN_STORE: &str =
    "import sys; sys.dont_write_bytecode = sys.dont_write_bytecode or not sys.pycache_prefix";

/// The plugin entries of the manifest, with what uv.lock pinned for each.
fn resolved_plugins(bundle: &Path, plugins: &[Requirement]) -> Result<Vec<BundlePlugin>> {
    let lock = crate::uv::lock_file::read(&bundle.join("uv.lock"))?;
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
