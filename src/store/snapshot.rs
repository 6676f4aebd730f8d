//! Snapshot mode (`source = snapshot`): the server's `src/cosmoserver` copied into the store
//! once per distinct content, so that a generation keeps the server code it was built with.
//!
//! A snapshot is `store/.sources/<digest>/cosmoserver/`, where `<digest>` is the tree
//! digest below (relative paths, kinds, modes and contents; `__pycache__` skipped). It is
//! made under a temporary name, checked against its digest, made durable and renamed into
//! place, so that a `.sources/<digest>` that exists is complete. A bundle built in
//! snapshot mode has `server_source = ["snapshot <digest>"]` as hash input, and its
//! `src/cosmoserver` is one relative symlink to `../../.sources/<digest>/cosmoserver`.
//! store-layout.md ("Snapshots of the server's source") is the contract.

use super::hash::{HashInputs, Inputs};
use super::server::ServerRepo;
use crate::error::{Error, Result};
use crate::fs as cfs;
use crate::layout::{SOURCES_DIR, TMP_PREFIX};
use crate::settings::Settings;
use fs_err as fs;
use fs_err::os::unix::fs::OpenOptionsExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The version tag the tree digest starts with.
pub const TREE_FORMAT: &str = "cosmo-bundle-tree-v1";

/// The `server_source` entry of a snapshot bundle is this word, a space and the digest.
pub const SNAPSHOT_KIND: &str = "snapshot";

/// The directory the snapshot holds the package in: the import name of the server.
const PACKAGE: &str = "cosmoserver";

/// What a bundle's `src/cosmoserver` is (the `source` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceMode {
    /// Symlinks into the live server repository (the default).
    Link,
    /// A link to a snapshot of the server's source in the store.
    Snapshot,
}

impl SourceMode {
    /// The mode the settings ask for (`link` when `source` is not set).
    pub fn of(settings: &Settings) -> SourceMode {
        match settings.text("source").as_deref() {
            Some("snapshot") => SourceMode::Snapshot,
            _ => SourceMode::Link,
        }
    }

    /// The setting's word.
    pub fn name(self) -> &'static str {
        match self {
            SourceMode::Link => "link",
            SourceMode::Snapshot => "snapshot",
        }
    }

    /// The mode a bundle was built in, from its recorded hash inputs.
    pub fn of_inputs(inputs: &Inputs) -> SourceMode {
        match inputs {
            Inputs::V2(i) if digest_of(i).is_some() => SourceMode::Snapshot,
            _ => SourceMode::Link,
        }
    }
}

/// The snapshot digest a bundle's inputs name, when it was built in snapshot mode.
pub fn digest_of(inputs: &HashInputs) -> Option<&str> {
    match inputs.server_source.as_slice() {
        [one] => one
            .strip_prefix(SNAPSHOT_KIND)
            .and_then(|rest| rest.strip_prefix(' '))
            .filter(|d| is_digest(d)),
        _ => None,
    }
}

fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `server_source` hash input of `server` in the settings' mode, and the snapshot
/// digest in snapshot mode.
pub fn server_source(
    server: &ServerRepo,
    settings: &Settings,
) -> Result<(Vec<String>, Option<String>)> {
    match SourceMode::of(settings) {
        SourceMode::Link => Ok((server.source_listing(), None)),
        SourceMode::Snapshot => {
            let digest = tree_digest(&read_tree(&server.source_dir())?);
            Ok((vec![format!("{SNAPSHOT_KIND} {digest}")], Some(digest)))
        }
    }
}

/// One entry of a source tree, below its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
    },
    File {
        path: String,
        /// Whether the owner may execute it (mode `755`, else `644`).
        executable: bool,
        /// BLAKE3 (hex) of the contents.
        blake3: String,
    },
    Link {
        path: String,
        target: String,
    },
}

/// Reads the tree under `root`: every entry below it (`__pycache__` directories skipped),
/// each directory's entries sorted by name, a directory before its contents. Refuses what
/// a snapshot cannot hold: a name that is not UTF-8, a symlink that is absolute or leads
/// out of the tree, a special file.
pub fn read_tree(root: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    walk(root, "", &mut entries)?;
    Ok(entries)
}

fn walk(root: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<()> {
    let dir = root.join(prefix);
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let Some(name) = name.to_str() else {
            return Err(refuse(
                &dir,
                format!("entry {name:?} is not UTF-8"),
                "rename it",
            ));
        };
        if name == "__pycache__" {
            continue;
        }
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let full = root.join(&path);
        let meta = fs::symlink_metadata(&full)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(&full)?;
            let target = check_link(root, &path, &target)?;
            out.push(Entry::Link { path, target });
        } else if ft.is_dir() {
            out.push(Entry::Dir { path: path.clone() });
            walk(root, &path, out)?;
        } else if ft.is_file() {
            let mut hasher = blake3::Hasher::new();
            hasher
                .update_reader(fs::File::open(&full)?)
                .map_err(|e| cfs::with_path(e, &full))?;
            out.push(Entry::File {
                path,
                executable: meta.permissions().mode() & 0o100 != 0,
                blake3: hasher.finalize().to_hex().to_string(),
            });
        } else {
            return Err(refuse(
                &full,
                "is neither a file, a directory nor a symlink".into(),
                "remove it from the server's src/cosmoserver",
            ));
        }
    }
    Ok(())
}

/// A symlink's target, when it is relative and stays inside the tree.
fn check_link(root: &Path, path: &str, target: &Path) -> Result<String> {
    let full = root.join(path);
    let fix = "replace the link with the file or directory it points to, or keep `source = link` (`cosmo-bundle config unset source`)";
    let text = target.to_str().ok_or_else(|| {
        refuse(
            &full,
            "is a symlink whose target is not UTF-8".into(),
            "rename its target",
        )
    })?;
    // Depth of the link's directory below the root, then each component of the target.
    let mut depth = path.matches('/').count() as i64;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(
                    &full,
                    format!(
                        "is a symlink to the absolute path {text}, outside what a snapshot copies"
                    ),
                    fix,
                ));
            }
        }
        if depth < 0 {
            return Err(refuse(
                &full,
                format!("is a symlink to {text}, outside the server's src/cosmoserver"),
                fix,
            ));
        }
    }
    Ok(text.to_string())
}

fn refuse(path: &Path, what: String, hint: &str) -> Error {
    Error::input(
        format!("source = snapshot: {} {what}", path.display()),
        hint,
    )
}

/// The canonical encoding: one field per entry, `NAME NUL LEN NUL VALUE LF`, as the bundle
/// hash encodes its fields.
fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(value.len().to_string().as_bytes());
    out.push(0);
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The tree's encoding (store-layout.md, "Snapshots of the server's source").
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    field(&mut out, "format", TREE_FORMAT.as_bytes());
    for entry in entries {
        match entry {
            Entry::Dir { path } => field(&mut out, "dir", path.as_bytes()),
            Entry::File {
                path,
                executable,
                blake3,
            } => {
                let mode = if *executable { "755" } else { "644" };
                field(
                    &mut out,
                    "file",
                    format!("{path}\0{mode}\0{blake3}").as_bytes(),
                );
            }
            Entry::Link { path, target } => {
                field(&mut out, "link", format!("{path}\0{target}").as_bytes());
            }
        }
    }
    out
}

/// The tree digest: BLAKE3 (64 hex digits) of [`encode`].
pub fn tree_digest(entries: &[Entry]) -> String {
    blake3::hash(&encode(entries)).to_hex().to_string()
}

/// Makes sure the snapshot `digest` of the server's source exists in the store at
/// `store_root`, and links the bundle's `src/cosmoserver` to it. Call with the lock held.
pub fn link(store_root: &Path, server: &ServerRepo, digest: &str, bundle: &Path) -> Result<()> {
    let snapshot = ensure(store_root, &server.source_dir(), digest)?;
    let src = bundle.join("src");
    fs::create_dir_all(&src)?;
    let target = Path::new("../..")
        .join(SOURCES_DIR)
        .join(snapshot.file_name().expect("a digest name"))
        .join(PACKAGE);
    fs_err::os::unix::fs::symlink(target, src.join(PACKAGE))?;
    Ok(())
}

/// The snapshot `digest` of `source`: found in the store, or copied there now. Call with
/// the lock held.
fn ensure(store_root: &Path, source: &Path, digest: &str) -> Result<PathBuf> {
    let sources = store_root.join(SOURCES_DIR);
    let target = sources.join(digest);
    crate::fs::safe::check_entry(&sources, crate::fs::safe::Kind::Dir)?;
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Ok(target);
    }
    fs::create_dir_all(&sources)?;
    clear_leftovers(&sources)?;
    let previous = newest(&sources)?;
    let tmp = sources.join(format!(
        "{TMP_PREFIX}{}-{}",
        &digest[..16],
        std::process::id()
    ));
    let result = copy_tree(source, &tmp.join(PACKAGE), previous.as_deref())
        .and_then(|()| check_copy(&tmp, digest))
        .and_then(|()| {
            crate::fault::point("before-snapshot-rename");
            fs::rename(&tmp, &target)?;
            cfs::atomic::sync_dir(&sources)
        });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result.map(|()| target)
}

/// Checks that the copy in `tmp` has the digest the bundle was hashed with (the repository
/// may have changed since), then makes its directories durable.
fn check_copy(tmp: &Path, digest: &str) -> Result<()> {
    let copied = tree_digest(&read_tree(&tmp.join(PACKAGE))?);
    if copied != digest {
        return Err(Error::input(
            "the server's src/cosmoserver changed while the bundle was being built",
            "run the command again once the server repository is quiet",
        ));
    }
    // Each directory after its entries (the walk lists contents first).
    for entry in walkdir::WalkDir::new(tmp).contents_first(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_default();
            cfs::with_path(e.into(), &path)
        })?;
        if entry.file_type().is_dir() {
            cfs::atomic::sync_dir(entry.path())?;
        }
    }
    Ok(())
}

/// Removes `.tmp-*` entries of `.sources/` left by killed builds.
fn clear_leftovers(sources: &Path) -> Result<()> {
    for entry in fs::read_dir(sources)? {
        let entry = entry?;
        if entry
            .file_name()
            .as_bytes()
            .starts_with(TMP_PREFIX.as_bytes())
        {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

/// The package directory of the most recently made snapshot, whose unchanged files a new
/// snapshot hardlinks.
fn newest(sources: &Path) -> Result<Option<PathBuf>> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(sources)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_digest) || !entry.file_type()?.is_dir() {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        if best.as_ref().is_none_or(|(t, _)| modified > *t) {
            best = Some((modified, entry.path().join(PACKAGE)));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Copies the tree at `from` to `to` (which must not exist): directories made, symlinks
/// recreated, files hardlinked to the same file of `previous` when identical, else
/// reflinked where the file system can, else copied; modes `644`/`755`; each file synced.
fn copy_tree(from: &Path, to: &Path, previous: Option<&Path>) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in read_tree(from)? {
        match entry {
            Entry::Dir { path } => fs::create_dir(to.join(path))?,
            Entry::Link { path, target } => {
                fs_err::os::unix::fs::symlink(target, to.join(path))?;
            }
            Entry::File {
                path,
                executable,
                blake3,
            } => {
                let dest = to.join(&path);
                let same = previous
                    .map(|p| p.join(&path))
                    .filter(|p| identical(p, executable, &blake3).unwrap_or(false));
                match same {
                    Some(existing) => fs::hard_link(existing, &dest)?,
                    None => copy_file(&from.join(&path), &dest, executable)?,
                }
            }
        }
    }
    Ok(())
}

/// Whether `path` is a regular file with this mode and these contents.
fn identical(path: &Path, executable: bool, blake3: &str) -> Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => m,
        _ => return Ok(false),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode != file_mode(executable) {
        return Ok(false);
    }
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(fs::File::open(path)?)
        .map_err(|e| cfs::with_path(e, path))?;
    Ok(hasher.finalize().to_hex().as_str() == blake3)
}

fn file_mode(executable: bool) -> u32 {
    if executable { 0o755 } else { 0o644 }
}

/// Copies one file: a reflink (shared extents, copy on write) where the file system can
/// make one, else its bytes; then syncs it.
fn copy_file(from: &Path, to: &Path, executable: bool) -> Result<()> {
    let mut src = fs::File::open(from)?;
    let mut dest = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file_mode(executable))
        .open(to)?;
    if rustix::fs::ioctl_ficlone(dest.file(), src.file()).is_err() {
        std::io::copy(&mut src, &mut dest).map_err(|e| cfs::with_path(e, to))?;
    }
    dest.set_permissions(std::fs::Permissions::from_mode(file_mode(executable)))?;
    dest.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    #[test]
    fn the_digest_covers_paths_kinds_modes_and_contents_and_skips_pycache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root, &[("__init__.py", ""), ("routes/a.py", "A = 1\n")]);
        let base = tree_digest(&read_tree(root).unwrap());
        // Bytecode does not count.
        tree(
            root,
            &[
                ("__pycache__/x.pyc", "b"),
                ("routes/__pycache__/a.pyc", "c"),
            ],
        );
        assert_eq!(tree_digest(&read_tree(root).unwrap()), base);
        let mut seen = vec![base.clone()];
        let mut changed = |what: &str| {
            let d = tree_digest(&read_tree(root).unwrap());
            assert!(!seen.contains(&d), "{what} did not change the digest");
            seen.push(d);
        };
        fs::write(root.join("routes/a.py"), "A = 2\n").unwrap();
        changed("contents");
        fs::set_permissions(
            root.join("routes/a.py"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        changed("mode");
        fs::create_dir(root.join("empty")).unwrap();
        changed("an empty directory");
        fs_err::os::unix::fs::symlink("routes/a.py", root.join("alias.py")).unwrap();
        changed("a link");
        fs::rename(root.join("routes"), root.join("routing")).unwrap();
        changed("a path");
    }

    #[test]
    fn links_out_of_the_tree_and_special_files_are_refused() {
        for target in ["/etc/passwd", "../../outside", "x/../../../y"] {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("sub")).unwrap();
            fs_err::os::unix::fs::symlink(target, dir.path().join("sub/link")).unwrap();
            let err = read_tree(dir.path()).unwrap_err();
            assert!(matches!(err, Error::BadInput { .. }), "{target}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs_err::os::unix::fs::symlink("../main.py", dir.path().join("sub/ok")).unwrap();
        assert!(read_tree(dir.path()).is_ok());
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(read_tree(dir.path()).is_err());
    }

    #[test]
    fn a_snapshot_is_made_once_checked_and_shares_unchanged_files() {
        let store = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        tree(repo.path(), &[("__init__.py", ""), ("util.py", "X = 1\n")]);
        let first = tree_digest(&read_tree(repo.path()).unwrap());
        let a = ensure(store.path(), repo.path(), &first).unwrap();
        assert_eq!(tree_digest(&read_tree(&a.join(PACKAGE)).unwrap()), first);
        // The repository changes: a second snapshot, the unchanged file shared.
        fs::write(repo.path().join("util.py"), "X = 2\n").unwrap();
        let second = tree_digest(&read_tree(repo.path()).unwrap());
        let b = ensure(store.path(), repo.path(), &second).unwrap();
        use std::os::unix::fs::MetadataExt;
        let ino = |p: PathBuf| fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(a.join("cosmoserver/__init__.py")),
            ino(b.join("cosmoserver/__init__.py"))
        );
        assert_ne!(
            ino(a.join("cosmoserver/util.py")),
            ino(b.join("cosmoserver/util.py"))
        );
        assert_eq!(
            fs::read_to_string(a.join("cosmoserver/util.py")).unwrap(),
            "X = 1\n"
        );
        // Asked for a digest the repository no longer has: refused, nothing left behind.
        let err = ensure(store.path(), repo.path(), &first.replace('a', "b")).unwrap_err();
        assert!(err.to_string().contains("changed while"), "{err}");
        let names: Vec<_> = fs::read_dir(store.path().join(SOURCES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// The vectors in store-layout.md are the contract: this test keeps the document exact.
    #[test]
    fn store_layout_tree_vectors_hold() {
        let doc = include_str!("../../store-layout.md");
        let start = doc
            .find("```json tree-vectors\n")
            .expect("tree-vectors block");
        let body = &doc[start..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let body = &body[..body.find("```").unwrap()];
        #[derive(Deserialize)]
        struct Vector {
            entries: Vec<Vec<String>>,
            digest: String,
        }
        let vectors: Vec<Vector> = serde_json::from_str(body).expect("vectors parse");
        assert!(vectors.len() >= 2);
        for (i, v) in vectors.iter().enumerate() {
            let entries: Vec<Entry> = v
                .entries
                .iter()
                .map(|e| match e.as_slice() {
                    [k, p] if k == "dir" => Entry::Dir { path: p.clone() },
                    [k, p, mode, contents] if k == "file" => Entry::File {
                        path: p.clone(),
                        executable: mode == "755",
                        blake3: blake3::hash(contents.as_bytes()).to_hex().to_string(),
                    },
                    [k, p, t] if k == "link" => Entry::Link {
                        path: p.clone(),
                        target: t.clone(),
                    },
                    other => panic!("bad entry {other:?}"),
                })
                .collect();
            assert_eq!(tree_digest(&entries), v.digest, "tree vector {i}");
            // The same tree on disk, read back, gives the same digest.
            let dir = tempfile::tempdir().unwrap();
            for e in &v.entries {
                let p = dir.path().join(&e[1]);
                match e[0].as_str() {
                    "dir" => fs::create_dir(&p).unwrap(),
                    "file" => {
                        fs::write(&p, &e[3]).unwrap();
                        let mode = u32::from_str_radix(&e[2], 8).unwrap();
                        fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
                    }
                    _ => fs_err::os::unix::fs::symlink(&e[2], &p).unwrap(),
                }
            }
            let read = read_tree(dir.path()).unwrap();
            assert_eq!(read, entries, "tree vector {i} on disk");
        }
    }
}
