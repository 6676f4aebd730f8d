//! The data directory: the one place that knows where each of its files lives.
//!
//! Every path below is written down in store-layout.md ("The data directory").

use crate::fs::safe::Kind;
use std::path::{Path, PathBuf};

/// Prefix of temporary names (atomic writes and flips); leftovers are removed by the next
/// mutating command.
pub const TMP_PREFIX: &str = ".tmp-";

/// The directory of the store that holds snapshots of the server's source
/// (`store/.sources/<digest>`, `source = snapshot`).
pub const SOURCES_DIR: &str = ".sources";

/// `store/.trees/`: shared directory trees.
pub const TREES: &str = ".trees";
/// `store/.links/`: shared files, hard-linked into bundles.
pub const LINKS: &str = ".links";
/// The suffix of a tree's listing beside it: `.trees/<digest>.record`.
pub const TREE_RECORD: &str = ".record";

/// Whether `name` names an entry of `.trees` or `.links`: 32 lower-case hex digits.
pub fn is_shared_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The paths of one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// `root` must already be absolute (see `state::data_dir`).
    pub fn new(root: PathBuf) -> DataDir {
        DataDir { root }
    }

    /// The data directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `cosmo.db`: the server's database, holding the shared `plugins` table.
    pub fn db(&self) -> PathBuf {
        self.root.join("cosmo.db")
    }

    /// `settings.toml`: the persistent settings (`cosmo-bundle config`).
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.toml")
    }

    /// `uv-config/`: the configuration home uv runs with; its `uv/uv.toml` is empty.
    pub fn uv_config(&self) -> PathBuf {
        self.root.join("uv-config")
    }

    /// `lock`: held by every mutating command.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// `store/`: one directory per bundle.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// `store/.sources/`: snapshots of the server's source, one per distinct content.
    pub fn sources(&self) -> PathBuf {
        self.store().join(SOURCES_DIR)
    }

    /// `resolved/`: locks of successful conflict checks.
    pub fn resolved(&self) -> PathBuf {
        self.root.join("resolved")
    }

    /// `resolved/<hash>.lock`.
    pub fn resolved_lock(&self, hash: &str) -> PathBuf {
        self.resolved().join(format!("{hash}.lock"))
    }

    /// `tmp/`: temporary projects of conflict checks.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// `pycache/`: bytecode of servers run by `start`.
    pub fn pycache(&self) -> PathBuf {
        self.root.join("pycache")
    }

    /// `run/`: one record per server started by `start` (`<pid>.json`).
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `plugins/`: plugin directories scanned by `discover`.
    pub fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// `generations/`: one link per generation.
    pub fn generations(&self) -> PathBuf {
        self.root.join("generations")
    }

    /// Every entry of the data directory that cosmo-bundle writes or deletes in, with the
    /// kind it must be (none may be a symlink; `current` and the generation links are
    /// checked by the profile).
    pub fn own_entries(&self) -> Vec<(PathBuf, Kind)> {
        vec![
            (self.db(), Kind::File),
            (self.lock(), Kind::File),
            (self.store(), Kind::Dir),
            (self.resolved(), Kind::Dir),
            (self.tmp(), Kind::Dir),
            (self.pycache(), Kind::Dir),
            (self.generations(), Kind::Dir),
            (self.profile_index(), Kind::File),
            (self.uv_config(), Kind::Dir),
            (self.run(), Kind::Dir),
            (self.sources(), Kind::Dir),
        ]
    }

    /// Whether `name`, an entry of the data directory itself, is one cosmo-bundle makes
    /// (the server's `cosmo.db` and its SQLite side files included) or a `.tmp-*` leftover.
    pub fn is_own_name(&self, name: &str) -> bool {
        let own = [
            self.db(),
            self.settings(),
            self.uv_config(),
            self.lock(),
            self.store(),
            self.resolved(),
            self.tmp(),
            self.pycache(),
            self.run(),
            self.plugins(),
            self.generations(),
            self.current(),
            self.profile_index(),
            self.profile_seen(),
        ];
        let db = self.db();
        let db = db.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.starts_with(TMP_PREFIX)
            || ["-wal", "-shm", "-journal"]
                .iter()
                .any(|s| name == format!("{db}{s}"))
            || own.iter().any(|p| p.file_name().is_some_and(|n| n == name))
    }

    /// The entries any data directory in use holds one of: a directory holding none of
    /// them and something cosmo-bundle does not make is not a data directory.
    pub fn markers(&self) -> [PathBuf; 5] {
        [
            self.db(),
            self.settings(),
            self.profile_index(),
            self.store(),
            self.generations(),
        ]
    }

    /// `current`: the link to the current generation.
    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }

    /// `profile.json`: the generation index (numbers, hashes, labels, pins).
    pub fn profile_index(&self) -> PathBuf {
        self.root.join("profile.json")
    }

    /// `profile.seen`: what the last locked command left in `generations/` and
    /// `profile.json` (a cache: see `profile::seen`).
    pub fn profile_seen(&self) -> PathBuf {
        self.root.join("profile.seen")
    }
}
