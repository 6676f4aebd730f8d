//! Checking a registered bundle against its file record: `bundle.json`'s own digest, the
//! record's digest, every recorded entry, and every shared tree the bundle links (its
//! content hashed again and compared with its name). `start` runs the cheap part.

use super::Store;
use super::bundle::{BUNDLE_JSON, canonical_digest};
use super::record::{self, RECORD_FILE, Recorded};
use super::share::{self, TREE_RECORD, TREES};
use crate::error::Result;
use crate::fs::tree::{self, Kind, Walk};
use fs_err as fs;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What differs from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// `bundle.json` is missing or does not parse.
    Unregistered,
    /// `bundle.json` differs from its own digest, or does not describe the bundle.
    ManifestEdited,
    /// The record file is missing, differs from the digest in `bundle.json`, or is unreadable.
    RecordEdited,
    Added,
    Removed,
    KindChanged,
    ModeChanged,
    SizeChanged,
    ContentChanged,
    TargetChanged,
    /// A linked shared tree is missing.
    TreeMissing,
    /// A linked shared tree's content no longer hashes to its name.
    TreeChanged,
}

impl Change {
    /// A stable machine-readable name.
    pub fn kind(self) -> &'static str {
        match self {
            Change::Unregistered => "unregistered",
            Change::ManifestEdited => "manifest_edited",
            Change::RecordEdited => "record_edited",
            Change::Added => "added",
            Change::Removed => "removed",
            Change::KindChanged => "kind_changed",
            Change::ModeChanged => "mode_changed",
            Change::SizeChanged => "size_changed",
            Change::ContentChanged => "content_changed",
            Change::TargetChanged => "target_changed",
            Change::TreeMissing => "tree_missing",
            Change::TreeChanged => "tree_changed",
        }
    }
}

/// One difference, by path (relative to the bundle, or `.trees/<digest>/…` in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub change: Change,
    pub detail: String,
}

impl Problem {
    fn new(path: impl Into<PathBuf>, change: Change, detail: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            change,
            detail: detail.into(),
        }
    }
}

/// The result of checking one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything as recorded: how many entries and linked trees were checked.
    Verified { entries: usize, trees: usize },
    /// Registered by an earlier version, without a file record: nothing to compare with.
    NoRecord,
    /// What differs, and how many recorded entries and linked trees were checked (none
    /// when `bundle.json` or the record could not be read).
    Changed {
        problems: Vec<Problem>,
        entries: usize,
        trees: usize,
    },
}

/// The record of a bundle, once `bundle.json` and the record file passed their digests.
enum Loaded {
    Record(Vec<Recorded>),
    NoRecord,
}

/// Reads `bundle.json` and the record, checking their digests; what fails is pushed to
/// `problems`. `Ok(None)` when there is nothing more to compare.
fn load(store: &Store, hash: &str, problems: &mut Vec<Problem>) -> Result<Option<Loaded>> {
    let dir = store.path(hash);
    let text = match fs::read_to_string(dir.join(BUNDLE_JSON)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(Problem::new(
                BUNDLE_JSON,
                Change::Unregistered,
                "bundle.json is missing: the bundle is not registered",
            ));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem::new(
                BUNDLE_JSON,
                Change::ManifestEdited,
                format!("bundle.json does not parse: {e}"),
            ));
            return Ok(None);
        }
    };
    let digest = value.get("digest").and_then(|d| d.as_str());
    let record_ref = value.get("record");
    match (digest, record_ref) {
        (None, None) => return Ok(Some(Loaded::NoRecord)),
        (None, Some(_)) => problems.push(Problem::new(
            BUNDLE_JSON,
            Change::ManifestEdited,
            "bundle.json names a file record but carries no digest of its own",
        )),
        (Some(d), _) => {
            let actual = canonical_digest(&value);
            if d != actual {
                problems.push(Problem::new(
                    BUNDLE_JSON,
                    Change::ManifestEdited,
                    format!("bundle.json was edited: its content hashes to {actual}, not to its digest {d}"),
                ));
            }
        }
    }
    if let Err(e) = store.load(hash) {
        problems.push(Problem::new(
            BUNDLE_JSON,
            Change::ManifestEdited,
            e.to_string(),
        ));
    }
    let Some(record_ref) = record_ref else {
        problems.push(Problem::new(
            RECORD_FILE,
            Change::RecordEdited,
            "bundle.json names no file record",
        ));
        return Ok(None);
    };
    let file = record_ref
        .get("file")
        .and_then(|f| f.as_str())
        .unwrap_or(RECORD_FILE);
    let want = record_ref
        .get("blake3")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    if file.contains('/') || file == BUNDLE_JSON {
        problems.push(Problem::new(
            RECORD_FILE,
            Change::RecordEdited,
            format!("bundle.json names {file:?} as its record"),
        ));
        return Ok(None);
    }
    let path = dir.join(file);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(Problem::new(
                file,
                Change::RecordEdited,
                "the file record is missing",
            ));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let actual = blake3::hash(&text).to_hex().to_string();
    if actual != want {
        problems.push(Problem::new(
            file,
            Change::RecordEdited,
            format!("the file record was edited: it hashes to {actual}, bundle.json says {want}"),
        ));
    }
    let parsed = std::str::from_utf8(&text)
        .map_err(|e| e.to_string())
        .and_then(|t| record::parse(t, &path).map_err(|e| e.to_string()));
    match parsed {
        Ok(entries) => Ok(Some(Loaded::Record(entries))),
        Err(e) => {
            problems.push(Problem::new(file, Change::RecordEdited, e));
            Ok(None)
        }
    }
}

/// Checks bundle `hash` completely: `bundle.json`, the record, every entry's kind, mode,
/// size, contents and link target, entries added since, and every linked shared tree
/// (`trees` keeps what was found for each tree, across bundles).
pub fn verify(
    store: &Store,
    hash: &str,
    trees: &mut HashMap<String, Vec<Problem>>,
) -> Result<Outcome> {
    let dir = store.path(hash);
    if fs::symlink_metadata(&dir).is_err() {
        return Ok(Outcome::Changed {
            problems: vec![Problem::new(
                "",
                Change::Unregistered,
                format!("{} does not exist", dir.display()),
            )],
            entries: 0,
            trees: 0,
        });
    }
    let mut problems = Vec::new();
    let recorded = match load(store, hash, &mut problems)? {
        Some(Loaded::Record(r)) => r,
        Some(Loaded::NoRecord) => return Ok(Outcome::NoRecord),
        None => {
            return Ok(Outcome::Changed {
                problems,
                entries: 0,
                trees: 0,
            });
        }
    };
    let found: BTreeMap<PathBuf, tree::Entry> = tree::walk(&dir, Walk::Read)?
        .into_iter()
        .filter(|e| e.path != Path::new(BUNDLE_JSON) && e.path != Path::new(RECORD_FILE))
        .map(|e| (e.path.clone(), e))
        .collect();
    let mut linked = Vec::new();
    for want in &recorded {
        if let Some(t) = want.target.as_deref().and_then(record::tree_of) {
            linked.push(t.to_string());
        }
        match found.get(&want.path) {
            None => problems.push(Problem::new(
                &want.path,
                Change::Removed,
                "recorded, no longer there",
            )),
            Some(have) => compare(want, &Recorded::from(have), &mut problems),
        }
    }
    let known: std::collections::HashSet<&Path> =
        recorded.iter().map(|r| r.path.as_path()).collect();
    for path in found.keys().filter(|p| !known.contains(p.as_path())) {
        problems.push(Problem::new(path, Change::Added, "not in the record"));
    }
    linked.sort();
    linked.dedup();
    for digest in &linked {
        if !trees.contains_key(digest) {
            let found = verify_tree(store, digest)?;
            trees.insert(digest.clone(), found);
        }
        problems.extend(trees[digest].iter().cloned());
    }
    Ok(if problems.is_empty() {
        Outcome::Verified {
            entries: recorded.len(),
            trees: linked.len(),
        }
    } else {
        Outcome::Changed {
            problems: topmost(problems),
            entries: recorded.len(),
            trees: linked.len(),
        }
    })
}

/// Drops problems below a path that is itself added or changed kind (one line for a
/// directory that appeared, not one per file in it).
fn topmost(problems: Vec<Problem>) -> Vec<Problem> {
    let roots: Vec<PathBuf> = problems
        .iter()
        .filter(|p| matches!(p.change, Change::Added | Change::KindChanged))
        .map(|p| p.path.clone())
        .collect();
    problems
        .into_iter()
        .filter(|p| {
            !roots
                .iter()
                .any(|r| p.path != *r && p.path.starts_with(r) && !r.as_os_str().is_empty())
        })
        .collect()
}

/// What differs between a recorded entry and the entry found.
fn compare(want: &Recorded, have: &Recorded, problems: &mut Vec<Problem>) {
    let path = &want.path;
    if want.kind != have.kind {
        let name = |k: Kind| match k {
            Kind::File => "a file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symlink",
        };
        problems.push(Problem::new(
            path,
            Change::KindChanged,
            format!("was {}, is {}", name(want.kind), name(have.kind)),
        ));
        return;
    }
    if want.mode != have.mode {
        problems.push(Problem::new(
            path,
            Change::ModeChanged,
            format!("mode {:o}, recorded {:o}", have.mode, want.mode),
        ));
    }
    if want.size != have.size {
        problems.push(Problem::new(
            path,
            Change::SizeChanged,
            format!("{} bytes, recorded {}", have.size, want.size),
        ));
    } else if want.digest != have.digest {
        problems.push(Problem::new(
            path,
            Change::ContentChanged,
            "same size, other contents (BLAKE3 differs)",
        ));
    }
    if want.target != have.target {
        problems.push(Problem::new(
            path,
            Change::TargetChanged,
            format!(
                "points to {}, recorded {}",
                have.target.as_deref().unwrap_or(Path::new("")).display(),
                want.target.as_deref().unwrap_or(Path::new("")).display()
            ),
        ));
    }
}

/// Hashes the shared tree `digest` again and compares it with its name; when its listing
/// (`.trees/<digest>.record`) is intact, names each file that differs.
pub fn verify_tree(store: &Store, digest: &str) -> Result<Vec<Problem>> {
    let rel = Path::new(TREES).join(digest);
    let root = store.root().join(&rel);
    match fs::symlink_metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Ok(vec![Problem::new(
                &rel,
                Change::TreeChanged,
                "not a directory",
            )]);
        }
        Err(_) => {
            return Ok(vec![Problem::new(
                &rel,
                Change::TreeMissing,
                "the shared tree is missing",
            )]);
        }
    }
    let entries = tree::walk(&root, Walk::Read)?;
    let listing = share::tree_listing(Path::new(""), &entries);
    if share::tree_digest(&listing) == digest {
        return Ok(Vec::new());
    }
    let list_path = store
        .root()
        .join(TREES)
        .join(format!("{digest}{TREE_RECORD}"));
    let recorded = fs::read_to_string(&list_path)
        .ok()
        .filter(|text| share::tree_digest(text) == digest)
        .and_then(|text| record::parse(&text, &list_path).ok());
    let Some(recorded) = recorded else {
        return Ok(vec![Problem::new(
            &rel,
            Change::TreeChanged,
            "its content no longer hashes to its name (its listing is gone or damaged too)",
        )]);
    };
    let mut problems = Vec::new();
    let found: BTreeMap<PathBuf, Recorded> = entries
        .iter()
        .map(|e| (e.path.clone(), Recorded::from(e)))
        .collect();
    for want in &recorded {
        match found.get(&want.path) {
            None => problems.push(Problem::new(
                rel.join(&want.path),
                Change::Removed,
                "recorded in the shared tree, no longer there",
            )),
            Some(have) => {
                let mut own = Vec::new();
                compare(want, have, &mut own);
                problems.extend(own.into_iter().map(|p| Problem {
                    path: rel.join(&p.path),
                    ..p
                }));
            }
        }
    }
    let known: std::collections::HashSet<&Path> =
        recorded.iter().map(|r| r.path.as_path()).collect();
    for path in found.keys().filter(|p| !known.contains(p.as_path())) {
        problems.push(Problem::new(
            rel.join(path),
            Change::Added,
            "not in the shared tree's listing",
        ));
    }
    if problems.is_empty() {
        problems.push(Problem::new(
            &rel,
            Change::TreeChanged,
            "its content no longer hashes to its name",
        ));
    }
    Ok(topmost(problems))
}

/// The largest file `start` hashes again (larger ones, binaries such as `uv` that uv links
/// from its cache, get their size and mode checked; `verify` hashes every file).
pub const QUICK_HASH_MAX: u64 = 256 * 1024;

/// The cheap check `start` runs: `bundle.json` and record digests, then one `lstat` (and
/// `readlink` for links) per recorded entry: kinds, sizes, modes and link targets, that
/// each linked tree exists, and one listing per recorded directory (nothing added); the
/// bundle's own files up to [`QUICK_HASH_MAX`] (scripts and small files, not the shared
/// trees) are hashed again. Empty when all is as recorded (or the bundle has no record).
pub fn quick_check(store: &Store, hash: &str) -> Result<Vec<Problem>> {
    use std::os::unix::fs::PermissionsExt;
    let dir = store.path(hash);
    let mut problems = Vec::new();
    let recorded = match load(store, hash, &mut problems)? {
        Some(Loaded::Record(r)) => r,
        Some(Loaded::NoRecord) | None => return Ok(problems),
    };
    for want in &recorded {
        let path = dir.join(&want.path);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            problems.push(Problem::new(
                &want.path,
                Change::Removed,
                "recorded, no longer there",
            ));
            continue;
        };
        let kind = Kind::of(meta.file_type());
        let have = Recorded {
            path: want.path.clone(),
            kind: kind.unwrap_or(Kind::File),
            mode: if kind == Some(Kind::Symlink) {
                0
            } else {
                meta.permissions().mode() & 0o7777
            },
            size: if kind == Some(Kind::File) {
                meta.len()
            } else {
                0
            },
            digest: match kind {
                Some(Kind::File) if meta.len() == want.size && meta.len() <= QUICK_HASH_MAX => {
                    Some(file_digest(&path)?)
                }
                _ => want.digest.clone(),
            },
            target: if kind == Some(Kind::Symlink) {
                fs::read_link(&path).ok()
            } else {
                None
            },
        };
        compare(want, &have, &mut problems);
        if let Some(t) = want.target.as_deref().and_then(record::tree_of)
            && !fs::symlink_metadata(store.root().join(TREES).join(t)).is_ok_and(|m| m.is_dir())
        {
            problems.push(Problem::new(
                Path::new(TREES).join(t),
                Change::TreeMissing,
                format!("linked as {}", want.path.display()),
            ));
        }
    }
    let known: std::collections::HashSet<&Path> =
        recorded.iter().map(|r| r.path.as_path()).collect();
    for dir_entry in recorded.iter().filter(|r| r.kind == Kind::Dir) {
        let Ok(children) = fs::read_dir(dir.join(&dir_entry.path)) else {
            continue;
        };
        for child in children.flatten() {
            let path = dir_entry.path.join(child.file_name());
            let top = path == Path::new(BUNDLE_JSON) || path == Path::new(RECORD_FILE);
            if !top && !known.contains(path.as_path()) {
                problems.push(Problem::new(path, Change::Added, "not in the record"));
            }
        }
    }
    Ok(problems)
}

/// BLAKE3 of a file's contents (64 hex digits).
fn file_digest(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(fs::File::open(path)?)
        .map_err(|e| crate::fs::with_path(e, path))?;
    Ok(hasher.finalize().to_hex().to_string())
}
