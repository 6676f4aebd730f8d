//! The server repository: read-only source of the pyproject and the `src/cosmoserver` tree.

use crate::error::{Error, Result};
use crate::plugins::Requirement;
use fs_err as fs;
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Value};

/// The project name every bundle's pyproject gets.
pub const BUNDLE_PROJECT_NAME: &str = "cosmo-server-bundled";

/// A validated server repository. It is only ever read.
#[derive(Debug)]
pub struct ServerRepo {
    /// Canonical absolute path of the repository.
    pub root: PathBuf,
    /// The exact bytes of `pyproject.toml`.
    pub pyproject: String,
    /// The exact bytes of `uv.lock`, when the repository has one.
    pub uv_lock: Option<String>,
    /// The entries of `src/cosmoserver` a bundle links (`__pycache__` skipped), sorted.
    pub entries: Vec<SourceEntry>,
    doc: DocumentMut,
}

/// One top-level entry of the server's `src/cosmoserver`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub name: String,
    /// `dir`, `file` or `link` (the entry itself, not what a link points to).
    pub kind: &'static str,
}

impl ServerRepo {
    /// Opens and validates a server repository: `pyproject.toml` with a `[project]`
    /// table, and a `src/cosmoserver` directory.
    pub fn open(dir: &Path) -> Result<ServerRepo> {
        let hint = "point --server (or COSMO_SERVER_DIR) at the CosmoServer repository: the directory holding pyproject.toml and src/cosmoserver/";
        let root = dir
            .canonicalize()
            .map_err(|e| Error::input(format!("server directory {}: {e}", dir.display()), hint))?;
        let pyproject_path = root.join("pyproject.toml");
        if !pyproject_path.is_file() {
            // A FIFO, a directory, a socket: never opened (a FIFO would block).
            if fs_err::symlink_metadata(&pyproject_path).is_ok() {
                return Err(Error::input(
                    format!("{} is not a regular file", pyproject_path.display()),
                    hint,
                ));
            }
            return Err(Error::input(
                format!("{} has no pyproject.toml", root.display()),
                hint,
            ));
        }
        // A pyproject.toml that is a link out of the repository is not the server's: it
        // is refused unread (its contents never reach an error message).
        let real = fs::canonicalize(&pyproject_path)?;
        if !real.starts_with(&root) {
            return Err(Error::input(
                format!(
                    "{} is a symlink to a file outside the server repository",
                    pyproject_path.display()
                ),
                "make pyproject.toml a regular file of the server repository",
            ));
        }
        if !root.join("src/cosmoserver").is_dir() {
            return Err(Error::input(
                format!("{} has no src/cosmoserver directory", root.display()),
                hint,
            ));
        }
        let bytes = fs::read(&pyproject_path)?;
        let pyproject = String::from_utf8(bytes).map_err(|_| {
            Error::input(
                format!("{} is not UTF-8", pyproject_path.display()),
                "save it as UTF-8",
            )
        })?;
        let doc: DocumentMut = pyproject.parse().map_err(|e: toml_edit::TomlError| {
            // Say where, not what: the error names the line, never echoes the file.
            let line = e
                .span()
                .map(|span| pyproject[..span.start.min(pyproject.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            Error::input(
                format!(
                    "{} is not valid TOML{at}: {}",
                    pyproject_path.display(),
                    e.message()
                ),
                "fix the server's pyproject.toml (`uv lock` in the repository shows the same error)",
            )
        })?;
        check_project_table(&doc, &pyproject_path)?;
        let lock_path = root.join("uv.lock");
        let uv_lock = match fs::read_to_string(&lock_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let entries = read_entries(&root.join("src/cosmoserver"))?;
        Ok(ServerRepo {
            root,
            pyproject,
            uv_lock,
            entries,
            doc,
        })
    }

    /// The server's `src/cosmoserver` directory.
    pub fn source_dir(&self) -> PathBuf {
        self.root.join("src/cosmoserver")
    }

    /// The source listing the hash covers: `KIND NAME` per entry.
    pub fn source_listing(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| format!("{} {}", e.kind, e.name))
            .collect()
    }

    /// The bundle's pyproject: the server's, renamed to `cosmo-server-bundled`, with the
    /// plugin requirements appended to `[project].dependencies`. Everything else,
    /// comments and `[tool.uv]` included, is kept byte for byte.
    pub fn bundle_pyproject(&self, plugins: &[Requirement]) -> String {
        let mut doc = self.doc.clone();
        let project = doc["project"].as_table_like_mut().expect("checked in open");
        if let Some(name) = project.get_mut("name").and_then(Item::as_value_mut) {
            let decor = name.decor().clone();
            *name = Value::from(BUNDLE_PROJECT_NAME);
            *name.decor_mut() = decor;
        }
        if project.get("dependencies").is_none() {
            project.insert("dependencies", Item::Value(Value::Array(Array::new())));
        }
        let deps = project
            .get_mut("dependencies")
            .and_then(Item::as_array_mut)
            .expect("checked in open");
        append_keeping_layout(deps, plugins.iter().map(Requirement::pep508));
        // uv looks for settings in the nearest pyproject.toml with a [tool.uv] table, and
        // past one without it into the directories above the bundle: an empty table
        // keeps uv from reading anything outside the bundle.
        let tool = doc.entry("tool").or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        if let Some(tool) = tool.as_table_like_mut()
            && tool.get("uv").is_none()
        {
            tool.insert("uv", Item::Table(toml_edit::Table::new()));
        }
        doc.to_string()
    }

    /// Creates `<bundle>/src/cosmoserver/` with one symlink per entry of the server's
    /// `src/cosmoserver/` (whatever is there; `__pycache__` skipped).
    pub fn link_sources(&self, bundle: &Path) -> Result<()> {
        let source = self.root.join("src/cosmoserver");
        let dest = bundle.join("src/cosmoserver");
        fs::create_dir_all(&dest)?;
        for entry in &self.entries {
            fs_err::os::unix::fs::symlink(source.join(&entry.name), dest.join(&entry.name))?;
        }
        Ok(())
    }
}

/// The entries of the server's `src/cosmoserver`, sorted by name.
fn read_entries(source: &Path) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(source)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::input(
                format!("{}: entry {:?} is not UTF-8", source.display(), name),
                "rename it",
            ));
        };
        if name == "__pycache__" {
            continue;
        }
        let ft = entry.file_type()?;
        let kind = if ft.is_symlink() {
            "link"
        } else if ft.is_dir() {
            "dir"
        } else {
            "file"
        };
        entries.push(SourceEntry {
            name: name.to_string(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn check_project_table(doc: &DocumentMut, path: &Path) -> Result<()> {
    let fix =
        "the server's pyproject.toml needs a [project] table with a name and a dependencies array";
    let Some(project) = doc.get("project").and_then(Item::as_table_like) else {
        return Err(Error::input(
            format!("{} has no [project] table", path.display()),
            fix,
        ));
    };
    if project.get("name").and_then(Item::as_str).is_none() {
        return Err(Error::input(
            format!(
                "{}: [project].name is missing or not a string",
                path.display()
            ),
            fix,
        ));
    }
    match project.get("dependencies") {
        None => {}
        Some(item) if item.as_array().is_some() => {}
        Some(_) => {
            return Err(Error::input(
                format!("{}: [project].dependencies is not an array", path.display()),
                fix,
            ));
        }
    }
    let dynamic = project
        .get("dynamic")
        .and_then(Item::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("dependencies")));
    if dynamic {
        return Err(Error::input(
            format!(
                "{}: dependencies are dynamic, so plugins cannot be added to them",
                path.display()
            ),
            fix,
        ));
    }
    Ok(())
}

/// Appends strings to a TOML array in the array's own style: a multi-line array gets one
/// item per line with the same indentation, and a comment after the last item stays there.
fn append_keeping_layout(array: &mut Array, items: impl Iterator<Item = String>) {
    let multiline = array.iter().any(|v| {
        v.decor()
            .prefix()
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.contains('\n'))
    });
    if !multiline {
        for item in items {
            array.push(item);
        }
        return;
    }
    let indent = array
        .iter()
        .last()
        .and_then(|v| v.decor().prefix().and_then(|p| p.as_str()))
        .and_then(|p| p.rsplit('\n').next())
        .unwrap_or("    ")
        .to_string();
    let trailing = array.trailing().as_str().unwrap_or("").to_string();
    let (head, tail) = match trailing.rfind('\n') {
        Some(i) => (trailing[..=i].to_string(), trailing[i + 1..].to_string()),
        None => (String::new(), trailing.clone()),
    };
    let mut first = true;
    for item in items {
        let mut value = Value::from(item);
        let prefix = if first && !head.is_empty() {
            format!("{head}{indent}")
        } else {
            format!("\n{indent}")
        };
        value.decor_mut().set_prefix(prefix);
        value.decor_mut().set_suffix("");
        array.push_formatted(value);
        first = false;
    }
    if !first {
        array.set_trailing(format!("\n{tail}"));
        array.set_trailing_comma(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::{DistName, PluginSource};

    fn req(name: &str, version: &str) -> Requirement {
        Requirement {
            dist: DistName::parse(name).unwrap(),
            source: PluginSource::Pypi {
                version: version.into(),
            },
        }
    }

    fn repo_with(pyproject: &str) -> (tempfile::TempDir, ServerRepo) {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("src/cosmoserver")).unwrap();
        fs_err::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        let repo = ServerRepo::open(dir.path()).unwrap();
        (dir, repo)
    }

    #[test]
    fn bundle_pyproject_changes_only_name_and_dependencies() {
        let server = "# top comment\n[project]\nname = \"cosmo-server\"  # keep me\nversion = \"1\"\ndependencies = [\n    \"fastapi>=0.1\",  # web\n]\n\n[tool.uv]\n# uv settings\nresolution = \"highest\"\n";
        let (_d, repo) = repo_with(server);
        let out = repo.bundle_pyproject(&[req("hue-lights", "1.0.0"), req("zigbee-switch", "2.0")]);
        let want = "# top comment\n[project]\nname = \"cosmo-server-bundled\"  # keep me\nversion = \"1\"\ndependencies = [\n    \"fastapi>=0.1\",  # web\n    \"hue-lights==1.0.0\",\n    \"zigbee-switch==2.0\",\n]\n\n[tool.uv]\n# uv settings\nresolution = \"highest\"\n";
        assert_eq!(out, want);
    }

    #[test]
    fn single_line_and_missing_dependencies_are_handled() {
        let (_d, repo) = repo_with("[project]\nname = \"s\"\ndependencies = [\"a\"]\n");
        let out = repo.bundle_pyproject(&[req("b", "1")]);
        assert_eq!(
            out,
            "[project]\nname = \"cosmo-server-bundled\"\ndependencies = [\"a\", \"b==1\"]\n\n[tool.uv]\n"
        );
        let (_d, repo) = repo_with("[project]\nname = \"s\"\n");
        let out: DocumentMut = repo.bundle_pyproject(&[req("b", "1")]).parse().unwrap();
        assert_eq!(out["project"]["dependencies"][0].as_str(), Some("b==1"));
    }

    #[test]
    fn malformed_or_incomplete_servers_are_bad_input() {
        for bad in [
            "[project\nname=",
            "[tool.x]\na=1\n",
            "[project]\nversion=\"1\"\n",
            "[project]\nname=\"s\"\ndependencies=\"a\"\n",
            "[project]\nname=\"s\"\ndynamic=[\"dependencies\"]\n",
        ] {
            let dir = tempfile::tempdir().unwrap();
            fs_err::create_dir_all(dir.path().join("src/cosmoserver")).unwrap();
            fs_err::write(dir.path().join("pyproject.toml"), bad).unwrap();
            assert!(
                matches!(ServerRepo::open(dir.path()), Err(Error::BadInput { .. })),
                "{bad:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("pyproject.toml"), "[project]\nname=\"s\"\n").unwrap();
        assert!(matches!(
            ServerRepo::open(dir.path()),
            Err(Error::BadInput { .. })
        ));
    }
}
