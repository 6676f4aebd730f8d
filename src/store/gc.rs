//! Garbage collection of the store: which bundle directories, shared trees and shared
//! files nothing kept uses any more, what deleting them frees (each inode once), and
//! deleting them so that a kill at any instant leaves nothing that looks valid and is not.

use super::Store;
use super::record;
use super::share::{self, LINKS, TREE_RECORD, TREES};
use crate::error::Result;
use crate::layout::{SOURCES_DIR, TMP_PREFIX};
use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The prefix a bundle or tree gets when it is unregistered for deletion.
pub const GC_PREFIX: &str = ".tmp-gc-";

/// What a collection of the store deletes.
#[derive(Debug, Clone, Default)]
pub struct StorePlan {
    /// Bundle directories (hashes) to delete, with whether each is registered.
    pub bundles: Vec<(String, bool)>,
    /// Shared trees to delete (digests).
    pub trees: Vec<String>,
    /// Shared files to delete (digests).
    pub links: Vec<String>,
    /// Snapshots of the server's source (`.sources/<digest>`) to delete.
    pub sources: Vec<String>,
    /// Other paths in the store to delete: temporary names, listings without their tree.
    pub leftovers: Vec<PathBuf>,
}

/// Whether `name` is a bundle directory's name: 32 lower-case hex digits.
pub fn is_hash(name: &str) -> bool {
    share::is_shared_name(name)
}

/// The shared trees a bundle directory links: its `src` and the top-level entries of its
/// site-packages, read from the links themselves (so a bundle without a record, or a
/// damaged one, keeps what it uses).
pub fn linked_trees(bundle: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut candidates = vec![bundle.join("src")];
    if let Ok(lib) = fs::read_dir(bundle.join(".venv/lib")) {
        for py in lib.flatten() {
            if let Ok(site) = fs::read_dir(py.path().join("site-packages")) {
                candidates.extend(site.flatten().map(|e| e.path()));
            }
        }
    }
    for path in candidates {
        if let Ok(target) = fs::read_link(&path)
            && let Some(tree) = record::tree_of(&target)
        {
            out.insert(tree.to_string());
        }
    }
    out
}

/// The snapshot of the server's source (`.sources/<digest>`) a kept bundle links: the one
/// its `bundle.json` names (`inputs.server_source` is `["snapshot <digest>"]`), and the one
/// its `src/cosmoserver` link leads to (a bundle that cannot be read keeps what it links).
fn linked_snapshot(store: &Store, hash: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(manifest)) = store.load(hash)
        && let super::hash::Inputs::V2(inputs) = &manifest.inputs
        && let [one] = inputs.server_source.as_slice()
        && let Some(digest) = one.strip_prefix("snapshot ")
    {
        out.push(digest.to_string());
    }
    if let Ok(target) = fs::read_link(store.path(hash).join("src/cosmoserver")) {
        let parts: Vec<String> = target
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if let Some(i) = parts.iter().position(|p| p == SOURCES_DIR)
            && let Some(digest) = parts.get(i + 1)
        {
            out.push(digest.clone());
        }
    }
    out
}

/// Plans the collection of `store`: every bundle directory whose hash is not in `keep`
/// goes (registered or not), every `.tmp-*` entry, every shared tree no kept bundle links,
/// every listing without its tree, and every shared file whose only other links are in
/// bundles that go.
pub fn plan(store: &Store, keep: &BTreeSet<String>) -> Result<StorePlan> {
    let root = store.root();
    let mut plan = StorePlan::default();
    let mut linked: BTreeSet<String> = BTreeSet::new();
    let mut snapshots: BTreeSet<String> = BTreeSet::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(plan),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(TMP_PREFIX) {
            plan.leftovers.push(path);
        } else if is_hash(&name) {
            if keep.contains(&name) {
                linked.extend(linked_trees(&path));
                snapshots.extend(linked_snapshot(store, &name));
            } else {
                let registered = path.join(super::bundle::BUNDLE_JSON).exists();
                plan.bundles.push((name, registered));
            }
        }
    }
    plan.bundles.sort();
    if let Ok(entries) = fs::read_dir(root.join(SOURCES_DIR)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                plan.leftovers.push(entry.path());
            } else if !snapshots.contains(&name) {
                plan.sources.push(name);
            }
        }
    }
    plan.sources.sort();
    let trees = root.join(TREES);
    if let Ok(entries) = fs::read_dir(&trees) {
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut listings: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                plan.leftovers.push(entry.path());
            } else if let Some(digest) = name.strip_suffix(TREE_RECORD) {
                listings.push((digest.to_string(), entry.path()));
            } else if share::is_shared_name(&name) {
                names.insert(name);
            }
        }
        for name in &names {
            if !linked.contains(name) {
                plan.trees.push(name.clone());
            }
        }
        for (digest, path) in listings {
            if !names.contains(&digest) {
                plan.leftovers.push(path);
            }
        }
    }
    // A shared file goes when every link to it but its own name is in a bundle that goes.
    let links = root.join(LINKS);
    if let Ok(entries) = fs::read_dir(&links) {
        let mut in_deleted: HashMap<(u64, u64), u64> = HashMap::new();
        for (hash, _) in &plan.bundles {
            count_links(&store.path(hash), &mut in_deleted);
        }
        for leftover in &plan.leftovers {
            count_links(leftover, &mut in_deleted);
        }
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                plan.leftovers.push(entry.path());
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let elsewhere = in_deleted
                .get(&(meta.dev(), meta.ino()))
                .copied()
                .unwrap_or(0);
            if meta.is_file() && meta.nlink() <= 1 + elsewhere {
                plan.links.push(name);
            }
        }
    }
    plan.links.sort();
    plan.leftovers.sort();
    Ok(plan)
}

/// Counts, per inode, the links to regular files under `dir` (not following symlinks).
fn count_links(dir: &Path, counts: &mut HashMap<(u64, u64), u64>) {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_file()
            && let Ok(meta) = entry.metadata()
            && meta.nlink() > 1
        {
            *counts.entry((meta.dev(), meta.ino())).or_default() += 1;
        }
    }
}

/// The paths `plan` deletes in `store`.
pub fn paths(store: &Store, plan: &StorePlan) -> Vec<PathBuf> {
    let root = store.root();
    let mut out: Vec<PathBuf> = plan.bundles.iter().map(|(h, _)| store.path(h)).collect();
    for t in &plan.trees {
        out.push(root.join(TREES).join(t));
        let listing = root.join(TREES).join(format!("{t}{TREE_RECORD}"));
        if fs::symlink_metadata(&listing).is_ok() {
            out.push(listing);
        }
    }
    out.extend(plan.links.iter().map(|l| root.join(LINKS).join(l)));
    out.extend(plan.sources.iter().map(|d| root.join(SOURCES_DIR).join(d)));
    out.extend(plan.leftovers.iter().cloned());
    out
}

/// The bytes deleting `paths` frees: the blocks of every directory under them, and of
/// every other inode all of whose links are under them, each inode once.
pub fn freed_bytes(paths: &[PathBuf]) -> u64 {
    // (dev, ino) -> (bytes, nlink, links seen, is a directory)
    let mut seen: BTreeMap<(u64, u64), (u64, u64, u64, bool)> = BTreeMap::new();
    for path in paths {
        for entry in walkdir::WalkDir::new(path)
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            let Ok(meta) = entry.metadata() else { continue };
            let slot = seen.entry((meta.dev(), meta.ino())).or_insert((
                meta.blocks() * 512,
                meta.nlink(),
                0,
                meta.is_dir(),
            ));
            slot.2 += 1;
        }
    }
    seen.values()
        .filter(|(_, nlink, links, dir)| *dir || links >= nlink)
        .map(|(bytes, ..)| bytes)
        .sum()
}

/// Deletes what `plan` names: each bundle directory and tree is first renamed to a
/// `.tmp-gc-` name (unregistered: nothing uses such a name), the store synced, then
/// removed; a kill leaves `.tmp-gc-*` entries that the next `gc` removes. Symlinks are
/// removed, never followed. Call with the lock held, after the generations that used the
/// bundles are deleted.
pub fn execute(store: &Store, plan: &StorePlan) -> Result<()> {
    let root = store.root();
    let mut doomed: Vec<PathBuf> = Vec::new();
    for (hash, _) in &plan.bundles {
        let tmp = root.join(format!("{GC_PREFIX}{hash}"));
        rename_if_there(&store.path(hash), &tmp)?;
        doomed.push(tmp);
    }
    if !plan.bundles.is_empty() {
        crate::fs::atomic::sync_dir(root)?;
    }
    crate::fault::point("gc-after-unregister");
    for (i, path) in doomed.iter().enumerate() {
        remove(path)?;
        if i == 0 {
            crate::fault::point("gc-after-first-bundle");
        }
    }
    let trees = root.join(TREES);
    let mut doomed_trees = Vec::new();
    for t in &plan.trees {
        let tmp = trees.join(format!("{GC_PREFIX}{t}"));
        rename_if_there(&trees.join(t), &tmp)?;
        remove(&trees.join(format!("{t}{TREE_RECORD}")))?;
        doomed_trees.push(tmp);
    }
    if !plan.trees.is_empty() {
        crate::fs::atomic::sync_dir(&trees)?;
    }
    crate::fault::point("gc-during-trees");
    for path in &doomed_trees {
        remove(path)?;
    }
    let sources = root.join(SOURCES_DIR);
    for d in &plan.sources {
        let tmp = sources.join(format!("{GC_PREFIX}{d}"));
        rename_if_there(&sources.join(d), &tmp)?;
        remove(&tmp)?;
    }
    for path in &plan.leftovers {
        remove(path)?;
    }
    let links = root.join(LINKS);
    for l in &plan.links {
        let path = links.join(l);
        // Only when nothing links it any more (the bundles that did are gone now).
        if fs::symlink_metadata(&path).is_ok_and(|m| m.nlink() <= 1) {
            remove(&path)?;
        }
    }
    crate::fault::point("gc-after-links");
    Ok(())
}

fn rename_if_there(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes `path` whatever it is; a directory with its contents (links inside are
/// removed, not followed); nothing when it is gone already.
pub fn remove(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if meta.is_dir() {
        fs::remove_dir_all(path)?;
    } else {
        fs::remove_file(path)?;
    }
    Ok(())
}
