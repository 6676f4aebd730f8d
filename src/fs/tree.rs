//! Walking a tree of files: sealing a finished bundle (every file and directory made
//! durable and not writable by other users, without flushing other programs' data as
//! `syncfs` would), and reading what it holds (kind, mode, size, BLAKE3 of the contents,
//! link targets) in the same parallel pass.

use crate::error::Result;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What an entry of a tree is (symlinks are never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

impl Kind {
    /// The kind of a file type that is a file, a directory or a symlink.
    pub fn of(ft: std::fs::FileType) -> Option<Kind> {
        if ft.is_symlink() {
            Some(Kind::Symlink)
        } else if ft.is_dir() {
            Some(Kind::Dir)
        } else if ft.is_file() {
            Some(Kind::File)
        } else {
            None
        }
    }
}

/// One entry of a walked tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the walked root (`""` is the root itself).
    pub path: PathBuf,
    pub kind: Kind,
    /// Permission bits (`0o7777`); 0 for symlinks.
    pub mode: u32,
    /// Bytes of a file; 0 otherwise.
    pub size: u64,
    /// BLAKE3 of a file's contents.
    pub digest: Option<blake3::Hash>,
    /// A symlink's target, as written.
    pub target: Option<PathBuf>,
    /// Hard links to the inode (files).
    pub nlink: u64,
    /// What the entry looked like when it was read (see [`unchanged`]).
    pub stamp: Stamp,
}

pub use super::stamp::Stamp;

/// Whether a walk also seals what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Clear group and other write bits, and `fsync` every file and directory.
    Seal,
    /// Only read.
    Read,
}

/// Clears the group and other write bits of every file and directory under `root`
/// (symlinks are left as they are, never followed), then syncs every file and directory
/// (all are durable when it returns). Work is spread over the machine's cores. Returns
/// every entry, each file's contents hashed while it is open for its sync.
pub fn seal(root: &Path) -> Result<Vec<Entry>> {
    walk(root, Walk::Seal)
}

/// Every entry under `root` (the root first, then in path order), with each file's
/// BLAKE3, read in parallel; with [`Walk::Seal`], sealed as [`seal`] says.
pub fn walk(root: &Path, how: Walk) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    for item in walkdir::WalkDir::new(root)
        .follow_links(false)
        .contents_first(true)
        .sort_by_file_name()
    {
        let item = item.map_err(|e| {
            let path = e.path().map(Path::to_path_buf).unwrap_or_default();
            crate::fs::with_path(e.into(), &path)
        })?;
        let Some(kind) = Kind::of(item.file_type()) else {
            continue; // sockets, fifos, devices: no bundle holds them
        };
        let rel = item
            .path()
            .strip_prefix(root)
            .unwrap_or(item.path())
            .to_path_buf();
        let mut meta = item
            .metadata()
            .map_err(|e| crate::fs::with_path(e.into(), item.path()))?;
        let mut mode = meta.permissions().mode() & 0o7777;
        if kind == Kind::Symlink {
            let target = fs_err::read_link(item.path())?;
            entries.push(Entry {
                path: rel,
                kind,
                mode: 0,
                size: 0,
                digest: None,
                target: Some(target),
                nlink: meta.nlink(),
                stamp: Stamp::of(&meta),
            });
            continue;
        }
        if how == Walk::Seal && mode & 0o022 != 0 {
            mode &= !0o022;
            fs_err::set_permissions(item.path(), std::fs::Permissions::from_mode(mode))?;
            meta = fs_err::symlink_metadata(item.path())?;
        }
        entries.push(Entry {
            path: rel,
            kind,
            mode,
            size: if kind == Kind::File { meta.len() } else { 0 },
            digest: None,
            target: None,
            nlink: meta.nlink(),
            stamp: Stamp::of(&meta),
        });
    }
    // Files are read (and synced when sealing); directories synced when sealing. Every
    // sync is done before this returns, so their order does not matter.
    let work: Vec<usize> = (0..entries.len())
        .filter(|i| match entries[*i].kind {
            Kind::File => true,
            Kind::Dir => how == Walk::Seal,
            Kind::Symlink => false,
        })
        .collect();
    let digests = parallel(&work, |i| {
        let path = root.join(&entries[*i].path);
        match entries[*i].kind {
            Kind::File => read_file(&path, how).map(Some),
            _ => sync(&path).map(|()| None),
        }
    })?;
    for (i, digest) in work.into_iter().zip(digests) {
        entries[i].digest = digest;
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Whether every entry of a walk of `root` is still as the walk saw it: same stamp (one
/// `lstat` each; a directory's stamp changes when an entry is added to or removed from
/// it, so nothing was added either).
pub fn unchanged(root: &Path, entries: &[Entry]) -> Result<bool> {
    let same = parallel(entries, |e| {
        Ok(fs_err::symlink_metadata(root.join(&e.path)).is_ok_and(|m| Stamp::of(&m) == e.stamp))
    })?;
    Ok(same.into_iter().all(|s| s))
}

/// Runs `work` on every item, spread over the machine's cores (at most 8 threads), and
/// returns the results in order.
pub fn parallel<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = items.len().div_ceil(workers).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().expect("a walk thread does not panic")?);
        }
        Ok(out)
    })
}

/// BLAKE3 of a file's contents, read once; synced too when sealing.
fn read_file(path: &Path, how: Walk) -> Result<blake3::Hash> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(&mut file)
        .map_err(|e| crate::fs::with_path(e, path))?;
    if how == Walk::Seal {
        file.sync_all()?;
    }
    Ok(hasher.finalize())
}

fn sync(path: &Path) -> Result<()> {
    fs_err::File::open(path)?.sync_all()?;
    Ok(())
}

/// A path or link target as one line-safe word: bytes outside printable ASCII, and `\`,
/// are written `\xHH`.
pub fn escape(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The path [`escape`] wrote; `None` when the text is no such escape.
pub fn unescape(text: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let hex = text.get(i + 2..i + 4)?;
            if bytes.get(i + 1) != Some(&b'x') {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_clears_group_write_and_hashes_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::create_dir_all(root.join("a/b")).unwrap();
        fs_err::write(root.join("a/b/x.py"), b"print(1)\n").unwrap();
        fs_err::set_permissions(
            root.join("a/b/x.py"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        fs_err::os::unix::fs::symlink("b/x.py", root.join("a/link")).unwrap();
        let entries = seal(root).unwrap();
        let paths: Vec<String> = entries
            .iter()
            .map(|e| e.path.display().to_string())
            .collect();
        assert_eq!(paths, ["", "a", "a/b", "a/b/x.py", "a/link"]);
        let file = &entries[3];
        assert_eq!(file.mode, 0o644);
        assert_eq!(file.size, 9);
        assert_eq!(file.digest, Some(blake3::hash(b"print(1)\n")));
        assert_eq!(entries[4].target.as_deref(), Some(Path::new("b/x.py")));
        let mode = fs_err::metadata(root.join("a/b/x.py"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn escaped_paths_read_back_and_stay_one_word() {
        let odd = Path::new("dir with space/é\\x\n");
        let text = escape(odd);
        assert!(!text.contains(char::is_whitespace), "{text}");
        assert_eq!(unescape(&text).unwrap(), odd);
        assert_eq!(unescape("a\\q00"), None);
    }
}
