//! `discover`: record the plugins found in `<data-dir>/plugins/*/`.
//!
//! A plugin directory is a git clone of a plugin repository: its `cosmo.json` sits where
//! plugin repositories keep it (the root, `src/<package>/` or `<package>/`; more than one
//! is refused with their paths), its `pyproject.toml` at the root names the distribution,
//! and it is recorded as a git source, the `file://` URL of the clone, to be built at the
//! branch it is on (or, with a detached HEAD, at its commit) once the operator gives that
//! ref. Nothing is recorded that could not be built from what was found: a directory that
//! is not a git repository is refused with how to make it one (a PyPI package of the same
//! name may be other code), and so is a clone whose manifest is not committed. New plugins
//! are recorded UNINSTALLED with no versions; existing records are never changed; refused
//! directories are reported and the scan goes on.

use crate::db::table::Table;
use crate::error::{Error, Result};
use crate::output::{DiscoverOutput, Found, Rejected};
use crate::plugins::requirement::{check_git_rev, check_git_url};
use crate::plugins::{DistName, PluginRecord, SourceType, Status, cosmo_json, git};
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
    let dir = ctx.dirs.plugins();
    if fs_err::symlink_metadata(&dir).is_err() {
        ctx.reporter.warn(&format!(
            "{} does not exist: clone plugin repositories into it (`mkdir -p {0}`, then `git -C {0} clone URL`)",
            dir.display()
        ));
    }
    let (mut found, rejected) = scan(&dir)?;
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

/// Reads every plugin directory under `dir` (read-only).
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
        let manifests = manifests(&plugin_dir)?;
        let path = match manifests.as_slice() {
            [] => continue,
            [one] => one.clone(),
            several => {
                let paths: Vec<String> = several.iter().map(|p| p.display().to_string()).collect();
                rejected.push(Rejected {
                    path: plugin_dir.clone(),
                    reason: format!(
                        "more than one cosmo.json: {}; a plugin has one, in its package",
                        paths.join(", ")
                    ),
                });
                continue;
            }
        };
        match inspect(&plugin_dir, &path) {
            Ok(f) => found.push(f),
            Err(reason) => rejected.push(Rejected { path, reason }),
        }
    }
    Ok((found, rejected))
}

/// The `cosmo.json` files where plugin repositories keep them: at the root, in
/// `src/*/` and in `*/` (hidden directories and `__pycache__` skipped), sorted.
fn manifests(plugin_dir: &Path) -> Result<Vec<PathBuf>> {
    let present = |p: &Path| fs::symlink_metadata(p).is_ok();
    let mut out = Vec::new();
    let root = plugin_dir.join(cosmo_json::FILE_NAME);
    if present(&root) {
        out.push(root);
    }
    for base in [plugin_dir.join("src"), plugin_dir.to_path_buf()] {
        let Ok(entries) = fs::read_dir(&base) else {
            continue;
        };
        let mut subdirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                !name.starts_with('.') && name != "__pycache__"
            })
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        for sub in subdirs {
            let candidate = sub.join(cosmo_json::FILE_NAME);
            if present(&candidate) && !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    Ok(out)
}

fn inspect(plugin_dir: &Path, path: &Path) -> std::result::Result<Found, String> {
    let manifest = cosmo_json::load(path, plugin_dir).map_err(message)?;
    let shown = plugin_dir.display();
    if fs::symlink_metadata(plugin_dir.join(".git")).is_err() {
        return Err(format!(
            "{shown} is not a git repository, so nothing could build this plugin as found (a package of the same name on the index may be other code); make it one (`git -C {shown} init && git -C {shown} add -A && git -C {shown} commit -m plugin`, or clone the plugin's repository there), or add the published package with `cosmo-bundle plugin add NAME --version V`"
        ));
    }
    let distribution = distribution_name(plugin_dir)?;
    let real = plugin_dir.canonicalize().map_err(|e| e.to_string())?;
    let url = check_git_url(&format!("file://{}", real.display())).map_err(message)?;
    let commit = git_output(plugin_dir, &["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        .map_err(|stderr| match stderr {
            Some(stderr) => format!("git cannot read {shown}: {stderr}"),
            None => format!(
                "{shown} has no commit yet: commit the plugin (a build takes a commit, not the working tree)"
            ),
        })?;
    // The branch it is on, pinned the way a build pins it; a detached HEAD: its commit.
    let rev = match git_output(plugin_dir, &["symbolic-ref", "-q", "--short", "HEAD"]) {
        Ok(branch) => {
            let branch = check_git_rev(&branch).map_err(message)?;
            git::pin(&url, Some(&branch)).map_err(message)?.rev
        }
        Err(_) => commit.clone(),
    };
    let relative = path.strip_prefix(plugin_dir).unwrap_or(path);
    let in_commit = format!("{commit}:{}", relative.display());
    if git_output(plugin_dir, &["cat-file", "-t", &in_commit])
        .ok()
        .as_deref()
        != Some("blob")
    {
        return Err(format!(
            "{} is not in the commit {} of {shown}: a build takes the commit, not the working tree; commit it",
            relative.display(),
            &commit[..commit.len().min(12)]
        ));
    }
    Ok(Found {
        path: plugin_dir.to_path_buf(),
        distribution,
        source_type: SourceType::Git,
        source: url,
        manifest,
        record_id: None,
        manifest_path: path.to_path_buf(),
        rev,
        commit,
    })
}

fn message(e: Error) -> String {
    match e {
        Error::BadInput { message, .. } | Error::NotFound { message, .. } => message,
        other => other.to_string(),
    }
}

/// The trimmed stdout of `git -C DIR ARGS...` when it succeeds and prints something, else
/// its stderr (`None` when empty). It only reads the repository (no command that runs
/// hooks or the file-system monitor).
fn git_output(dir: &Path, args: &[&str]) -> std::result::Result<String, Option<String>> {
    let out = crate::process::child("git")
        .args(["-c", "core.fsmonitor=false", "-C"])
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Some(format!("git could not be started: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !stdout.is_empty() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Some(stderr).filter(|s| !s.is_empty()))
}

/// `[project].name` of the repository's `pyproject.toml` (which uv builds it from).
fn distribution_name(plugin_dir: &Path) -> std::result::Result<String, String> {
    let pyproject = plugin_dir.join("pyproject.toml");
    let text = fs::read_to_string(&pyproject).map_err(|_| {
        format!(
            "{} has no pyproject.toml at its root, so uv cannot build it from git",
            plugin_dir.display()
        )
    })?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{}: not valid TOML: {e}", pyproject.display()))?;
    let name = doc
        .get("project")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| format!("{}: no [project].name", pyproject.display()))?;
    DistName::parse(name)
        .map(|d| d.as_str().to_string())
        .map_err(|e| format!("cannot tell the plugin's distribution name: {e}"))
}
