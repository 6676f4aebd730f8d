//! Nothing stored twice: a finished bundle's package directories move into
//! `store/.trees/<digest>` (content-addressed, shared by every bundle with the same tree)
//! and its other files are hard-linked to `store/.links/<digest>`, as `nix-store
//! --optimise` does. store-layout.md, "Sharing between bundles", is the contract.

use super::record::{self, Recorded};
use crate::error::Result;
use crate::fs::tree::{Entry, Kind};
use fs_err as fs;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use crate::layout::{LINKS, TREE_RECORD, TREES, is_shared_name};

/// The name of a tree: the first 32 hex digits of the BLAKE3 of its listing.
pub fn tree_digest(listing: &str) -> String {
    blake3::hash(listing.as_bytes()).to_hex()[..32].to_string()
}

/// The listing of a tree (a record whose paths are relative to the tree's root) from the
/// entries of a walk that start with `root`.
pub fn tree_listing(root: &Path, members: &[Entry]) -> String {
    let recorded: Vec<Recorded> = members
        .iter()
        .map(|e| Recorded {
            path: e.path.strip_prefix(root).unwrap_or(&e.path).to_path_buf(),
            ..Recorded::from(e)
        })
        .collect();
    record::render(&recorded)
}

/// The name of a shared file: its mode and contents (hard links share both).
pub fn link_digest(mode: u32, contents: &blake3::Hash) -> String {
    let text = format!("cosmo-bundle-link-v1 {mode:o} {}", contents.to_hex());
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

/// What [`optimise`] did: the bundle's file record, and the files and directories it
/// created or changed, to be synced (with [`sync_all`]) before the bundle is registered.
#[derive(Debug)]
pub struct Shared {
    pub record: Vec<Recorded>,
    pub unsynced: Vec<PathBuf>,
}

/// Syncs `paths` (files and directories), spread over the machine's cores.
pub fn sync_all(paths: &[PathBuf]) -> Result<()> {
    crate::fs::tree::parallel(paths, |p| {
        fs::File::open(p)?.sync_all()?;
        Ok(())
    })
    .map(drop)
}

/// Moves the bundle's shared parts out and links them back in; returns the bundle's file
/// record and what must be synced before the bundle is registered. `entries` is the sealed walk of `bundle` (a directory of `store`); `site` is
/// site-packages relative to the bundle. Each top-level directory of site-packages and
/// the `src` directory become a relative link into `store/.trees` (an identical tree there
/// is used, ours removed), unless the tree holds a symlink (only `src`, linked at the same
/// depth, may); every other file that no other inode shares (uv's cache hard-links the
/// packages' files) is hard-linked to `store/.links`. Call with the lock held, before the
/// bundle is registered: a kill leaves an unregistered bundle and unreferenced shared
/// entries, which the next build or `gc` removes.
pub fn optimise(store: &Path, bundle: &Path, site: &Path, entries: Vec<Entry>) -> Result<Shared> {
    let trees = store.join(TREES);
    let links = store.join(LINKS);
    fs::create_dir_all(&trees)?;
    fs::create_dir_all(&links)?;
    let roots: BTreeSet<PathBuf> = entries
        .iter()
        .filter(|e| e.kind == Kind::Dir)
        .filter(|e| e.path.parent() == Some(site) || e.path == Path::new("src"))
        .map(|e| e.path.clone())
        .collect();
    let mut record: Vec<Recorded> = Vec::with_capacity(entries.len());
    let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
    let mut unsynced: Vec<PathBuf> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let entry = &entries[i];
        if !roots.contains(&entry.path) {
            if entry.kind == Kind::File
                && entry.nlink == 1
                && let Some(digest) = entry.digest
            {
                let path = bundle.join(&entry.path);
                share_file(&links, &path, &link_digest(entry.mode, &digest))?;
                touched.insert(parent_of(&path));
            }
            record.push(Recorded::from(entry));
            i += 1;
            continue;
        }
        let root = entry.path.clone();
        let end = entries[i..]
            .iter()
            .position(|e| !e.path.starts_with(&root))
            .map_or(entries.len(), |n| i + n);
        let members = &entries[i..end];
        let movable = root == Path::new("src") || members.iter().all(|e| e.kind != Kind::Symlink);
        if !movable {
            record.extend(members.iter().map(Recorded::from));
            i = end;
            continue;
        }
        let listing = tree_listing(&root, members);
        let digest = tree_digest(&listing);
        let shared = trees.join(&digest);
        let here = bundle.join(&root);
        if fs::symlink_metadata(&shared).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&here)?;
        } else {
            // Written plainly, synced below all at once: a listing torn by a crash no
            // longer hashes to its name, and is never trusted.
            let path = trees.join(format!("{digest}{TREE_RECORD}"));
            fs::write(&path, listing.as_bytes())?;
            unsynced.push(path);
            fs::rename(&here, &shared)?;
            crate::fault::point("share-after-tree-move");
        }
        let depth = root.components().count();
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push(TREES);
        target.push(&digest);
        fs_err::os::unix::fs::symlink(&target, &here)?;
        touched.insert(parent_of(&here));
        record.push(Recorded {
            path: root,
            kind: Kind::Symlink,
            mode: 0,
            size: 0,
            digest: None,
            target: Some(target),
        });
        i = end;
    }
    unsynced.push(trees);
    unsynced.push(links);
    unsynced.extend(touched);
    Ok(Shared { record, unsynced })
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Makes `path` a hard link of `links/<name>`: links ours there when there is none yet,
/// else replaces ours with a link to it (by rename: `path` never stops existing).
fn share_file(links: &Path, path: &Path, name: &str) -> Result<()> {
    let shared = links.join(name);
    match fs::hard_link(path, &shared) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let tmp = parent_of(path).join(format!(
        "{}link-{}",
        crate::layout::TMP_PREFIX,
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    fs::hard_link(&shared, &tmp)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Where uv keeps its cache, as uv finds it (without running uv): `UV_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/uv`, else `~/.cache/uv`. `None` when uv runs without a cache
/// (`UV_NO_CACHE`) or no home directory is known.
pub fn uv_cache_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if set("UV_NO_CACHE").is_some_and(|v| v != "0" && v != "false") {
        return None;
    }
    if let Some(dir) = set("UV_CACHE_DIR") {
        return std::path::absolute(PathBuf::from(dir)).ok();
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("uv"));
    }
    directories::BaseDirs::new().map(|d| d.home_dir().join(".cache/uv"))
}

/// Whether the store and uv's cache are on one file system (`st_dev`), so that uv
/// hard-links packages into bundles instead of copying them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSharing {
    pub cache: PathBuf,
    pub same_file_system: bool,
}

/// Checks `store` against uv's cache (each, or its nearest existing parent); `None` when
/// uv has no cache directory to compare with.
pub fn cache_sharing(store: &Path) -> Option<CacheSharing> {
    let cache = uv_cache_dir()?;
    let dev = |p: &Path| {
        p.ancestors()
            .find_map(|a| fs::metadata(a).ok())
            .map(|m| m.dev())
    };
    Some(CacheSharing {
        same_file_system: dev(store)? == dev(&cache)?,
        cache,
    })
}

/// The warning a build gives when the store and uv's cache are on different file systems.
pub fn cache_warning(store: &Path) -> Option<String> {
    let sharing = cache_sharing(store)?;
    (!sharing.same_file_system).then(|| {
        format!(
            "the store ({}) and uv's cache ({}) are on different file systems: uv copies every package into each bundle instead of hard-linking it; put both on one file system (UV_CACHE_DIR) to save disk",
            store.display(),
            sharing.cache.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(dir: &Path) -> Vec<Entry> {
        crate::fs::tree::seal(dir).unwrap()
    }

    /// Shares `bundle` and syncs what that changed, as a build does.
    fn optimise(
        store: &Path,
        bundle: &Path,
        site: &Path,
        entries: Vec<Entry>,
    ) -> Result<Vec<Recorded>> {
        let shared = super::optimise(store, bundle, site, entries)?;
        sync_all(&shared.unsynced)?;
        Ok(shared.record)
    }

    /// A bundle-like tree: one package and one script, uv's cache simulated by a second
    /// hard link of the package's module.
    fn bundle(store: &Path, name: &str, script: &str) -> PathBuf {
        let b = store.join(name);
        let site = b.join(".venv/lib/python3.11/site-packages");
        fs::create_dir_all(site.join("pkg/sub")).unwrap();
        fs::write(site.join("pkg/__init__.py"), "X = 1\n").unwrap();
        fs::write(site.join("pkg/sub/m.py"), "Y = 2\n").unwrap();
        fs::create_dir_all(b.join(".venv/bin")).unwrap();
        fs::write(b.join(".venv/bin/tool"), script).unwrap();
        fs::create_dir_all(b.join("src/cosmoserver")).unwrap();
        fs_err::os::unix::fs::symlink(
            "/srv/server/src/cosmoserver/main.py",
            b.join("src/cosmoserver/main.py"),
        )
        .unwrap();
        b
    }

    #[test]
    fn identical_trees_and_files_are_stored_once_and_linked_relatively() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let site = Path::new(".venv/lib/python3.11/site-packages");
        let a = bundle(&store, "a", "same\n");
        let b = bundle(&store, "b", "same\n");
        let ra = optimise(&store, &a, site, sealed(&a)).unwrap();
        let rb = optimise(&store, &b, site, sealed(&b)).unwrap();
        let trees: Vec<_> = fs::read_dir(store.join(TREES)).unwrap().collect();
        assert_eq!(
            trees.len(),
            4,
            "two trees (pkg, src), each with its listing"
        );
        let link = fs::read_link(a.join(site).join("pkg")).unwrap();
        assert!(
            link.as_os_str().len() < 60,
            "{link:?} is stored in the inode"
        );
        assert_eq!(link, fs::read_link(b.join(site).join("pkg")).unwrap());
        assert_eq!(
            fs::read_to_string(a.join(site).join("pkg/sub/m.py")).unwrap(),
            "Y = 2\n"
        );
        assert!(a.join("src/cosmoserver/main.py").is_symlink());
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&a.join(".venv/bin/tool")),
            ino(&b.join(".venv/bin/tool"))
        );
        assert_eq!(ra, rb, "the same record");
        let linked = ra.iter().find(|r| r.path == site.join("pkg")).unwrap();
        let tree = record::tree_of(linked.target.as_deref().unwrap()).unwrap();
        let listing =
            fs::read_to_string(store.join(TREES).join(format!("{tree}{TREE_RECORD}"))).unwrap();
        assert_eq!(tree_digest(&listing), tree);
    }

    #[test]
    fn a_package_holding_a_symlink_stays_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let site = Path::new(".venv/lib/python3.11/site-packages");
        let a = bundle(&store, "a", "x\n");
        fs_err::os::unix::fs::symlink("../elsewhere", a.join(site).join("pkg/up")).unwrap();
        let record = optimise(&store, &a, site, sealed(&a)).unwrap();
        assert!(!a.join(site).join("pkg").is_symlink());
        assert!(record.iter().any(|r| r.path == site.join("pkg/sub/m.py")));
    }
}
