//! Checks each plugin of a freshly synced bundle before it is registered: its `cosmo.json`
//! is found through the installed distribution's RECORD and validated, and its
//! `plugin_class` is imported in the bundle's own Python and must be a class.

use super::bundle::BundlePlugin;
use crate::error::PluginFailure;
use crate::plugins::cosmo_json as manifest;
use crate::report::Reporter;
use fs_err as fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default seconds one import check may take; `COSMO_IMPORT_TIMEOUT` overrides it.
pub const DEFAULT_IMPORT_TIMEOUT_SECS: u64 = 60;

/// The import check. Module and class arrive as arguments; nothing is pasted into code.
const IMPORT_CHECK: &str = r#"
import importlib, inspect, sys
module, name = sys.argv[1], sys.argv[2]
try:
    obj = getattr(importlib.import_module(module), name)
except BaseException as e:
    print(f"cannot import {module}.{name}: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
if not inspect.isclass(obj):
    print(f"{module}.{name} is not a class (it is a {type(obj).__name__})", file=sys.stderr)
    sys.exit(1)
"#;

/// Checks every plugin, filling in `manifest`; returns every failure (not only the first).
pub fn check_all(
    bundle: &Path,
    site: &Path,
    plugins: &mut [BundlePlugin],
    reporter: &dyn Reporter,
) -> Vec<PluginFailure> {
    let python = bundle.join(".venv/bin/python");
    let timeout = import_timeout();
    let mut failures = Vec::new();
    for plugin in plugins.iter_mut() {
        reporter.plugin_check(&plugin.name);
        let result = find_manifest(site, &plugin.name).and_then(|(path, dir)| {
            let m = manifest::load(&path, &dir).map_err(|e| e.to_string())?;
            let (module, class) = m.module_and_class();
            import_check(&python, module, class, timeout)?;
            Ok(m)
        });
        match result {
            Ok(m) => plugin.manifest = Some(m),
            Err(reason) => failures.push(PluginFailure {
                name: plugin.name.clone(),
                reason,
            }),
        }
    }
    failures
}

/// The `cosmo.json` in the package root of distribution `dist`, and that package's directory.
fn find_manifest(site: &Path, dist: &str) -> Result<(PathBuf, PathBuf), String> {
    let dist_info = fs::read_dir(site)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| {
            n.strip_suffix(".dist-info")
                .and_then(|stem| stem.rsplit_once('-'))
                .is_some_and(|(name, _)| crate::plugins::normalize(name) == dist)
        })
        .ok_or_else(|| format!("no installed distribution {dist} in the bundle"))?;
    let record_path = site.join(&dist_info).join("RECORD");
    let record = fs::read_to_string(&record_path).map_err(|e| e.to_string())?;
    let found: Vec<String> = record
        .lines()
        .map(record_path_field)
        .filter(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            parts.len() == 2
                && parts[1] == manifest::FILE_NAME
                && !parts[0].ends_with(".dist-info")
                && !parts[0].ends_with(".data")
        })
        .collect();
    match found.as_slice() {
        [one] => {
            let path = site.join(one);
            let dir = path.parent().expect("two components").to_path_buf();
            Ok((path, dir))
        }
        [] => Err(format!(
            "no {} in its package root (none listed in {dist_info}/RECORD); a CosmoServer plugin must ship one",
            manifest::FILE_NAME
        )),
        many => Err(format!(
            "several package roots carry a {}: {}",
            manifest::FILE_NAME,
            many.join(", ")
        )),
    }
}

/// The path field of a RECORD line (CSV; the path may be quoted).
fn record_path_field(line: &str) -> String {
    if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    out.push('"');
                    chars.next();
                }
                '"' => break,
                c => out.push(c),
            }
        }
        out
    } else {
        line.split(',').next().unwrap_or("").to_string()
    }
}

/// Imports `module` and gets `class` in `python` (isolated mode, no bytecode written).
fn import_check(python: &Path, module: &str, class: &str, timeout: Duration) -> Result<(), String> {
    let mut stderr = tempfile::tempfile().map_err(|e| e.to_string())?;
    let mut child = Command::new(python)
        .args(["-I", "-B", "-c", IMPORT_CHECK, module, class])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr.try_clone().map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "importing {module}.{class} did not finish within {}s (COSMO_IMPORT_TIMEOUT)",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = stderr.rewind();
    let _ = stderr.read_to_string(&mut text);
    let text = text.trim();
    Err(if text.is_empty() {
        format!("importing {module}.{class} failed with {status}")
    } else {
        text.to_string()
    })
}

fn import_timeout() -> Duration {
    std::env::var("COSMO_IMPORT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(
            Duration::from_secs(DEFAULT_IMPORT_TIMEOUT_SECS),
            Duration::from_secs,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_are_read_with_quotes() {
        assert_eq!(
            record_path_field("pkg/cosmo.json,sha256=x,12"),
            "pkg/cosmo.json"
        );
        assert_eq!(record_path_field("\"pkg/a,b.py\",sha256=x,1"), "pkg/a,b.py");
        assert_eq!(record_path_field("\"a\"\"b\",,"), "a\"b");
    }

    #[test]
    fn manifests_are_found_through_record() {
        let site = tempfile::tempdir().unwrap();
        let s = site.path();
        fs_err::create_dir_all(s.join("zig_switch-1.0.dist-info")).unwrap();
        fs_err::create_dir_all(s.join("zig_switch")).unwrap();
        fs_err::write(s.join("zig_switch/cosmo.json"), "{}").unwrap();
        fs_err::write(
            s.join("zig_switch-1.0.dist-info/RECORD"),
            "zig_switch/__init__.py,,\nzig_switch/cosmo.json,,\nzig_switch/sub/cosmo.json,,\n",
        )
        .unwrap();
        let (path, dir) = find_manifest(s, "zig-switch").unwrap();
        assert_eq!(path, s.join("zig_switch/cosmo.json"));
        assert_eq!(dir, s.join("zig_switch"));
        assert!(
            find_manifest(s, "other")
                .unwrap_err()
                .contains("no installed distribution")
        );
        fs_err::write(
            s.join("zig_switch-1.0.dist-info/RECORD"),
            "zig_switch/__init__.py,,\n",
        )
        .unwrap();
        assert!(
            find_manifest(s, "zig-switch")
                .unwrap_err()
                .contains("no cosmo.json")
        );
    }
}
