//! Checks each plugin of a freshly synced bundle before it is registered (store-layout.md,
//! build step 8). From its `RECORD`: it installs nothing that would shadow or alter the
//! server's code, its `cosmo.json` is valid, and its `plugin_class` is in one of its own
//! top-level modules. Then, in the bundle's own Python, every plugin class is imported
//! (in as few processes as possible, see `worker`), must be a class, and must be defined
//! in a file its distribution installs.

mod worker;

use super::bundle::BundlePlugin;
use crate::error::PluginFailure;
use crate::plugins::cosmo_json::{self as manifest, CosmoManifest};
use crate::report::Reporter;
use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use worker::{ImportJob, Workers};

/// Default seconds one plugin's import may take; `COSMO_IMPORT_TIMEOUT` overrides it.
pub const DEFAULT_IMPORT_TIMEOUT_SECS: u64 = 60;

/// The server's own top-level package, which no plugin may install.
const SERVER_PACKAGE: &str = "cosmoserver";

/// Modules that Python imports at every start-up when it finds them on the path.
const STARTUP_MODULES: &[&str] = &["sitecustomize", "usercustomize"];

/// Checks every plugin, filling in `manifest`; returns every failure (not only the first),
/// and what `meanwhile` returned.
///
/// The files of a plugin refused for what it installs are removed from the bundle (which
/// will not be registered), so that they cannot disturb the import checks of the others.
/// Then `meanwhile` runs on a thread of its own while the plugins are imported (the
/// import worker writes nothing; plugin code might, which `meanwhile`'s caller checks).
pub fn check_all<T: Send>(
    bundle: &Path,
    site: &Path,
    plugins: &mut [BundlePlugin],
    reporter: &dyn Reporter,
    meanwhile: impl FnOnce() -> T + Send,
) -> (Vec<PluginFailure>, T) {
    let mut reasons: Vec<Option<String>> = vec![None; plugins.len()];
    let mut manifests: Vec<Option<CosmoManifest>> = vec![None; plugins.len()];
    let mut jobs = Vec::new();
    let mut job_plugin = Vec::new();
    for (i, plugin) in plugins.iter().enumerate() {
        match check_installed(site, &plugin.name) {
            Ok((m, record)) => {
                let (module, class) = m.module_and_class();
                jobs.push(ImportJob {
                    dist: plugin.name.clone(),
                    module: module.to_string(),
                    class: class.to_string(),
                    record: record.to_string_lossy().into_owned(),
                });
                job_plugin.push(i);
                manifests[i] = Some(m);
            }
            Err(refusal) => {
                let mut reason = refusal.reason;
                if let Err(e) = set_aside(site, &refusal.set_aside) {
                    reason.push_str(&format!(
                        " (and it could not be removed from the bundle: {e})"
                    ));
                }
                reasons[i] = Some(reason);
            }
        }
    }
    let (results, other) = if jobs.is_empty() {
        (Vec::new(), meanwhile())
    } else {
        let workers = Workers {
            python: bundle.join(".venv/bin/python"),
            cwd: bundle.to_path_buf(),
            site: site.to_string_lossy().into_owned(),
            timeout: import_timeout().unwrap_or(Duration::from_secs(DEFAULT_IMPORT_TIMEOUT_SECS)),
        };
        std::thread::scope(|scope| {
            let other = scope.spawn(meanwhile);
            let results = workers.check(&jobs, reporter);
            let other = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (results, other)
        })
    };
    for (k, result) in results.into_iter().enumerate() {
        if let Err(reason) = result {
            reasons[job_plugin[k]] = Some(reason);
        }
    }
    let mut failures = Vec::new();
    for (i, plugin) in plugins.iter_mut().enumerate() {
        match reasons[i].take() {
            Some(reason) => failures.push(PluginFailure {
                name: plugin.name.clone(),
                reason,
            }),
            None => plugin.manifest = manifests[i].take(),
        }
    }
    (failures, other)
}

/// Why a plugin is refused before anything of it runs, and which top-level entries of
/// site-packages to remove so that nothing of it runs.
#[derive(Debug)]
struct Refusal {
    reason: String,
    set_aside: Vec<String>,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal {
            reason,
            set_aside: Vec::new(),
        }
    }
}

/// The checks that need no Python: what distribution `dist` installs, its manifest, and
/// its plugin class's top-level module. Returns the manifest and the RECORD's path.
fn check_installed(site: &Path, dist: &str) -> Result<(CosmoManifest, PathBuf), Refusal> {
    let installed = Installed::find(site, dist)?;
    let top = TopLevel::of(&installed.paths);
    if let Some(refusal) = top.refusal() {
        return Err(refusal);
    }
    let (path, dir) = installed.manifest(site)?;
    let m = manifest::load(&path, &dir).map_err(|e| {
        // Named relative to site-packages: a failed bundle's directory is removed.
        let text = e.to_string();
        let rel = path.strip_prefix(site).unwrap_or(&path);
        match text.strip_prefix(&format!("{}: ", path.display())) {
            Some(reason) => format!("{}: {reason}", rel.display()),
            None => text,
        }
    })?;
    let (module, _) = m.module_and_class();
    let first = module.split('.').next().unwrap_or(module);
    if !top.modules.contains_key(first) {
        let own: Vec<&str> = top.modules.keys().map(String::as_str).collect();
        return Err(format!(
            "plugin_class `{}` is not in the plugin's own distribution: its top-level module `{first}` is not one that {dist} installs ({}); plugin_class must name a class of the plugin's own distribution",
            m.plugin_class,
            if own.is_empty() {
                "it installs no module".to_string()
            } else {
                format!("it installs {}", own.join(", "))
            }
        )
        .into());
    }
    Ok((m, installed.record))
}

/// A distribution as installed in site-packages: its `.dist-info` and the paths its
/// `RECORD` lists (relative to site-packages).
#[derive(Debug)]
struct Installed {
    dist_info: String,
    record: PathBuf,
    paths: Vec<String>,
}

impl Installed {
    /// The installed distribution `dist` (a normalised name).
    fn find(site: &Path, dist: &str) -> Result<Installed, String> {
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
        let record = site.join(&dist_info).join("RECORD");
        let text = fs::read_to_string(&record).map_err(|e| e.to_string())?;
        let paths = text
            .lines()
            .map(record_path_field)
            .filter(|p| !p.is_empty())
            .collect();
        Ok(Installed {
            dist_info,
            record,
            paths,
        })
    }

    /// The `cosmo.json` in the package root, and that package's directory.
    fn manifest(&self, site: &Path) -> Result<(PathBuf, PathBuf), String> {
        let found: Vec<&String> = self
            .paths
            .iter()
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
                "no {} in its package root (none listed in {}/RECORD); a CosmoServer plugin must ship one",
                manifest::FILE_NAME,
                self.dist_info
            )),
            many => Err(format!(
                "several package roots carry a {}: {}",
                manifest::FILE_NAME,
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// What a distribution installs at the top of site-packages, from its RECORD paths.
#[derive(Debug, Default, PartialEq, Eq)]
struct TopLevel {
    /// Top-level module or package names (`pkg/__init__.py` gives `pkg`, `mod.py` or
    /// `mod.cpython-311-x86_64-linux-gnu.so` gives `mod`), each with the top-level entries
    /// (`pkg/`, `mod.py`) that give it.
    modules: BTreeMap<String, BTreeSet<String>>,
    /// `.pth` files at the top of site-packages.
    pth: BTreeSet<String>,
}

impl TopLevel {
    fn of(paths: &[String]) -> TopLevel {
        let mut top = TopLevel::default();
        for path in paths {
            let parts: Vec<&str> = path.split('/').collect();
            // Files outside site-packages (scripts: `../../../bin/x`) or oddly spelled.
            if path.starts_with('/') || parts.iter().any(|p| matches!(*p, "" | "." | "..")) {
                continue;
            }
            let first = parts[0];
            if parts.len() > 1 {
                if !(first.ends_with(".dist-info")
                    || first.ends_with(".data")
                    || first == "__pycache__")
                {
                    top.modules
                        .entry(first.to_string())
                        .or_default()
                        .insert(format!("{first}/"));
                }
            } else if first.ends_with(".pth") {
                top.pth.insert(first.to_string());
            } else if let Some((stem, _)) = first.split_once('.') {
                let ext = first.rsplit('.').next().unwrap_or("");
                if matches!(ext, "py" | "pyc" | "so" | "pyd") && !stem.is_empty() {
                    top.modules
                        .entry(stem.to_string())
                        .or_default()
                        .insert(first.to_string());
                }
            }
        }
        top
    }

    /// Why what this distribution installs is refused, if it is.
    fn refusal(&self) -> Option<Refusal> {
        let entries = |name: &str| -> Vec<String> {
            self.modules
                .get(name)
                .map(|e| e.iter().cloned().collect())
                .unwrap_or_default()
        };
        let kind = |entries: &[String]| {
            if entries.iter().any(|e| e.ends_with('/')) {
                "package"
            } else {
                "module"
            }
        };
        let shadow = entries(SERVER_PACKAGE);
        if !shadow.is_empty() {
            return Some(Refusal {
                reason: format!(
                    "installs a top-level `{SERVER_PACKAGE}` {} ({}), which would shadow the server's own code (site-packages comes before the bundle's src on sys.path); a plugin may not ship one",
                    kind(&shadow),
                    shadow.join(", ")
                ),
                set_aside: shadow,
            });
        }
        for name in STARTUP_MODULES {
            let found = entries(name);
            if !found.is_empty() {
                return Some(Refusal {
                    reason: format!(
                        "installs a top-level `{name}` {} ({}), which Python runs at every start-up, before the server's code; a plugin may not ship one",
                        kind(&found),
                        found.join(", ")
                    ),
                    set_aside: found,
                });
            }
        }
        if !self.pth.is_empty() {
            let pth: Vec<String> = self.pth.iter().cloned().collect();
            return Some(Refusal {
                reason: format!(
                    "installs {} (a .pth file runs at every start-up of Python, before the server's code, and can change it); a plugin may not ship one",
                    pth.join(", ")
                ),
                set_aside: pth,
            });
        }
        None
    }
}

/// Removes top-level `entries` of site-packages (`pkg/` or `name.ext`) from a bundle that
/// will not be registered. A symlink is removed, never followed.
fn set_aside(site: &Path, entries: &[String]) -> std::io::Result<()> {
    for entry in entries {
        let name = entry.trim_end_matches('/');
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            continue;
        }
        let path = site.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path)?,
            Ok(_) => fs::remove_file(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

/// `COSMO_IMPORT_TIMEOUT` (whole seconds, at least 1), else the default; anything else is
/// refused, as `COSMO_LOCK_TIMEOUT` is.
pub fn import_timeout() -> crate::error::Result<Duration> {
    match std::env::var("COSMO_IMPORT_TIMEOUT") {
        Err(_) => Ok(Duration::from_secs(DEFAULT_IMPORT_TIMEOUT_SECS)),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            _ => Err(crate::error::Error::input(
                format!("COSMO_IMPORT_TIMEOUT={v:?} is not a number of seconds"),
                "set it to a whole number of seconds such as 60, or unset it",
            )),
        },
    }
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

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn top_level_modules_come_from_record_paths() {
        let top = TopLevel::of(&paths(&[
            "zig_switch/__init__.py",
            "zig_switch/sub/x.py",
            "helper.py",
            "fast.cpython-311-x86_64-linux-gnu.so",
            "old.pyc",
            "README.md",
            "zig_switch-1.0.dist-info/RECORD",
            "zig_switch-1.0.data/purelib/x.py",
            "__pycache__/helper.cpython-311.pyc",
            "../../../bin/zig-tool",
            "/etc/evil",
            "a/../b/c.py",
            "extra.pth",
        ]));
        let names: Vec<&str> = top.modules.keys().map(String::as_str).collect();
        assert_eq!(names, ["fast", "helper", "old", "zig_switch"]);
        assert_eq!(
            top.modules["zig_switch"].iter().collect::<Vec<_>>(),
            ["zig_switch/"]
        );
        assert_eq!(top.pth.iter().collect::<Vec<_>>(), ["extra.pth"]);
    }

    #[test]
    fn what_would_shadow_or_alter_the_server_is_refused() {
        let refusal = |list: &[&str]| TopLevel::of(&paths(list)).refusal();
        assert!(refusal(&["zig_switch/__init__.py", "zig_switch/cosmo.json"]).is_none());
        // A package or module named like the server's own package, but not the same name.
        assert!(refusal(&["cosmoserver_extra/__init__.py", "my_cosmoserver.py"]).is_none());

        let r = refusal(&[
            "zig_switch/__init__.py",
            "cosmoserver/__init__.py",
            "cosmoserver/main.py",
        ])
        .unwrap();
        assert!(
            r.reason
                .starts_with("installs a top-level `cosmoserver` package (cosmoserver/), which would shadow the server's own code"),
            "{}",
            r.reason
        );
        assert_eq!(r.set_aside, ["cosmoserver/"]);
        let r = refusal(&["cosmoserver.py"]).unwrap();
        assert!(
            r.reason.contains("`cosmoserver` module (cosmoserver.py)"),
            "{}",
            r.reason
        );
        let r = refusal(&["cosmoserver.cpython-311-x86_64-linux-gnu.so"]).unwrap();
        assert!(r.reason.contains("`cosmoserver` module"), "{}", r.reason);
        let r = refusal(&["zig_switch/__init__.py", "zz.pth"]).unwrap();
        assert!(
            r.reason.starts_with("installs zz.pth (a .pth file"),
            "{}",
            r.reason
        );
        assert_eq!(r.set_aside, ["zz.pth"]);
        let r = refusal(&["sitecustomize.py"]).unwrap();
        assert!(r.reason.contains("`sitecustomize` module"), "{}", r.reason);
    }

    #[test]
    fn refused_entries_are_removed_without_following_symlinks() {
        let site = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let s = site.path();
        fs_err::create_dir_all(s.join("cosmoserver/sub")).unwrap();
        fs_err::write(s.join("cosmoserver/sub/x.py"), "").unwrap();
        fs_err::write(outside.path().join("keep.py"), "").unwrap();
        fs_err::os::unix::fs::symlink(outside.path(), s.join("cosmoserver/link")).unwrap();
        fs_err::os::unix::fs::symlink(outside.path().join("keep.py"), s.join("evil.pth")).unwrap();
        fs_err::write(s.join("other.py"), "").unwrap();
        let entries = paths(&["cosmoserver/", "evil.pth", "missing.pth", "../other.py"]);
        set_aside(s, &entries).unwrap();
        assert!(!s.join("cosmoserver").exists());
        assert!(fs_err::symlink_metadata(s.join("evil.pth")).is_err());
        assert!(outside.path().join("keep.py").exists());
        assert!(s.join("other.py").exists());
    }

    fn site_with(record: &str) -> tempfile::TempDir {
        let site = tempfile::tempdir().unwrap();
        let s = site.path();
        fs_err::create_dir_all(s.join("zig_switch-1.0.dist-info")).unwrap();
        fs_err::create_dir_all(s.join("zig_switch")).unwrap();
        fs_err::write(
            s.join("zig_switch/cosmo.json"),
            r#"{"name": "Z", "version": "1.0", "plugin_class": "zig_switch.P", "description": "d"}"#,
        )
        .unwrap();
        fs_err::write(s.join("zig_switch-1.0.dist-info/RECORD"), record).unwrap();
        site
    }

    #[test]
    fn manifests_are_found_through_record() {
        let site = site_with(
            "zig_switch/__init__.py,,\nzig_switch/cosmo.json,,\nzig_switch/sub/cosmo.json,,\n",
        );
        let s = site.path();
        let installed = Installed::find(s, "zig-switch").unwrap();
        assert_eq!(installed.record, s.join("zig_switch-1.0.dist-info/RECORD"));
        let (path, dir) = installed.manifest(s).unwrap();
        assert_eq!(path, s.join("zig_switch/cosmo.json"));
        assert_eq!(dir, s.join("zig_switch"));
        assert!(
            Installed::find(s, "other")
                .unwrap_err()
                .contains("no installed distribution")
        );
        fs_err::write(
            s.join("zig_switch-1.0.dist-info/RECORD"),
            "zig_switch/__init__.py,,\n",
        )
        .unwrap();
        assert!(
            Installed::find(s, "zig-switch")
                .unwrap()
                .manifest(s)
                .unwrap_err()
                .contains("no cosmo.json")
        );
    }

    #[test]
    fn plugin_class_must_be_in_a_top_level_module_of_the_distribution() {
        let site = site_with("zig_switch/__init__.py,,\nzig_switch/cosmo.json,,\nextra.py,,\n");
        let s = site.path();
        let (m, _) = check_installed(s, "zig-switch").unwrap();
        assert_eq!(m.plugin_class, "zig_switch.P");
        for (class, top) in [
            ("subprocess.Popen", "subprocess"),
            ("collections.OrderedDict", "collections"),
            ("zig.P", "zig"),
        ] {
            fs_err::write(
                s.join("zig_switch/cosmo.json"),
                format!(r#"{{"name": "Z", "version": "1.0", "plugin_class": "{class}", "description": "d"}}"#),
            )
            .unwrap();
            let reason = check_installed(s, "zig-switch").unwrap_err().reason;
            assert!(
                reason.starts_with(&format!(
                    "plugin_class `{class}` is not in the plugin's own distribution: its top-level module `{top}` is not one that zig-switch installs (it installs extra, zig_switch)"
                )),
                "{reason}"
            );
        }
        fs_err::write(
            s.join("zig_switch/cosmo.json"),
            r#"{"name": "Z", "version": "1.0", "plugin_class": "extra.P", "description": "d"}"#,
        )
        .unwrap();
        assert!(check_installed(s, "zig-switch").is_ok());
    }
}
