//! `discover`: record the plugins found in `<data-dir>/plugins/*/cosmo.json`.
//!
//! A plugin directory's distribution name is its `pyproject.toml`'s `[project].name`, else
//! the directory's name. A directory that is a git repository becomes a git source
//! (`file://` URL); any other a PyPI source. New plugins are recorded UNINSTALLED with no
//! versions; existing records are never changed; invalid manifests are reported and the
//! scan goes on.

use crate::db::table::Table;
use crate::error::{Error, Result};
use crate::output::{DiscoverOutput, Found, Rejected};
use crate::plugins::cosmo_json;
use crate::plugins::{DistName, PluginRecord, SourceType, Status};
use crate::state::Context;
use fs_err as fs;
use std::path::{Path, PathBuf};

/// The id of the record a found plugin already has.
fn known(records: &[PluginRecord], f: &Found) -> Option<String> {
    records
        .iter()
        .find(|r| r.key() == f.distribution)
        .map(|r| r.id.clone())
}

/// Scans the plugins directory and records the plugins that have no record yet.
pub fn discover(ctx: &Context) -> Result<DiscoverOutput> {
    let (mut found, rejected) = scan(&ctx.dirs.plugins())?;
    let state = ctx.read()?;
    let mut report = DiscoverOutput {
        rejected,
        ..Default::default()
    };
    if found.iter().all(|f| known(&state.records, f).is_some()) {
        for f in &mut found {
            f.record_id = known(&state.records, f);
        }
        report.found = found;
        return Ok(report);
    }
    let mut session = ctx.lock()?;
    report.added = session.db.write(|t| record_new(t, &mut found))?;
    report.found = found;
    Ok(report)
}

/// Inserts an UNINSTALLED record for each found plugin that has none; returns them.
fn record_new(t: &Table, found: &mut [Found]) -> Result<Vec<PluginRecord>> {
    let records = t.all()?;
    let mut added = Vec::new();
    for f in found {
        if let Some(id) = known(&records, f) {
            f.record_id = Some(id);
            continue;
        }
        let record = PluginRecord::new(
            &f.distribution,
            f.source_type,
            &f.source,
            Status::Uninstalled,
            None,
        );
        t.insert(&record)?;
        f.record_id = Some(record.id.clone());
        added.push(record);
    }
    Ok(added)
}

/// Reads every `*/cosmo.json` under `dir` (read-only).
fn scan(dir: &Path) -> Result<(Vec<Found>, Vec<Rejected>)> {
    let mut found = Vec::new();
    let mut rejected = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, rejected)),
        Err(e) => return Err(e.into()),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for plugin_dir in dirs {
        let path = plugin_dir.join(cosmo_json::FILE_NAME);
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        match inspect(&plugin_dir, &path) {
            Ok(f) => found.push(f),
            Err(reason) => rejected.push(Rejected { path, reason }),
        }
    }
    Ok((found, rejected))
}

fn inspect(plugin_dir: &Path, path: &Path) -> std::result::Result<Found, String> {
    let manifest = cosmo_json::load(path, plugin_dir).map_err(|e| match e {
        Error::BadInput { message, .. } => message,
        other => other.to_string(),
    })?;
    let distribution = distribution_name(plugin_dir)?;
    let (source_type, source) = if plugin_dir.join(".git").exists() {
        let real = plugin_dir.canonicalize().map_err(|e| e.to_string())?;
        (SourceType::Git, format!("file://{}", real.display()))
    } else {
        (SourceType::Pypi, distribution.clone())
    };
    Ok(Found {
        path: plugin_dir.to_path_buf(),
        distribution,
        source_type,
        source,
        manifest,
        record_id: None,
    })
}

/// `[project].name` of the directory's pyproject.toml, else the directory's own name.
fn distribution_name(plugin_dir: &Path) -> std::result::Result<String, String> {
    let pyproject = plugin_dir.join("pyproject.toml");
    let from_pyproject = fs::read_to_string(&pyproject).ok().and_then(|text| {
        let doc: toml_edit::DocumentMut = text.parse().ok()?;
        doc.get("project")?
            .get("name")?
            .as_str()
            .map(str::to_string)
    });
    let candidate = match from_pyproject {
        Some(name) => name,
        None => plugin_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    DistName::parse(&candidate)
        .map(|d| d.as_str().to_string())
        .map_err(|e| format!("cannot tell the plugin's distribution name: {e}"))
}
