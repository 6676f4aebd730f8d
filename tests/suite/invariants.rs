//! What must hold in a data directory whatever happened to it: seeded randomness for the
//! trials that look for counter-examples, a read of the state that changes nothing, and
//! the invariant checks (links resolve to registered bundles, the database is sound, no
//! process is left working in the directory, rows follow `current`).

use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A small seeded generator (splitmix64): the same seed gives the same trials.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A duration between zero and `max`.
    pub fn upto(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next_u64() % (micros + 1))
    }
}

/// The seed of a randomized test: `COSMO_TEST_SEED` when set (decimal or 0x-hex), else a
/// fresh one. Printed either way, with how to run the same trials again.
pub fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var("COSMO_TEST_SEED") {
        Ok(v) => parse_seed(&v).unwrap_or_else(|| panic!("COSMO_TEST_SEED={v:?} is not a number")),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            Rng::new(nanos ^ (u64::from(std::process::id()) << 32)).next_u64()
        }
    };
    eprintln!("{test}: seed {seed} (run again with COSMO_TEST_SEED={seed})");
    seed
}

pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A number from the environment, else `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One row of the `plugins` table, without what differs between two runs of one command
/// (id, timestamps).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub name: String,
    pub source: String,
    pub source_type: String,
    pub installed_version: Option<String>,
    pub updated_version: Option<String>,
    pub install_status: String,
    pub error_message: Option<String>,
    pub id: String,
}

impl Row {
    /// The distribution the row stands for (store-layout.md: `source` of a PyPI row,
    /// `name` of a git row), normalised.
    pub fn distribution(&self) -> String {
        normalize(if self.source_type == "GIT" {
            &self.name
        } else {
            &self.source
        })
    }

    /// The row without its id, for comparing two runs.
    fn content(&self) -> Row {
        Row {
            id: String::new(),
            ..self.clone()
        }
    }
}

pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// One entry of the generation index: number, hash, label, pinned.
pub type IndexEntry = (u32, String, Option<String>, bool);

/// The state of a data directory, read without changing anything in it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub current: Option<u32>,
    /// Generation number → link target, as written.
    pub generations: BTreeMap<u32, String>,
    pub rows: Vec<Row>,
    /// Git pins: record id → commit.
    pub pins: BTreeMap<String, String>,
    pub settings: Option<String>,
    /// `profile.json`'s entries, when there is one.
    pub index: Option<Vec<IndexEntry>>,
    /// Registered bundles (hash → their files but the venv: content hash or link target).
    pub bundles: BTreeMap<String, BTreeMap<PathBuf, String>>,
}

impl Observed {
    /// The rows as a sorted list without ids: equal for two runs of the same command.
    pub fn row_contents(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self.rows.iter().map(Row::content).collect();
        rows.sort();
        rows
    }
}

/// Reads the state of `dir`. The database is read from a copy (with its journal), so that a
/// hot journal left by a killed writer is left for cosmo-bundle to roll back; the copy is
/// checked with `PRAGMA integrity_check` first.
pub fn observe(dir: &Path, with_bundles: bool) -> Result<Observed, String> {
    let mut obs = Observed {
        current: read_current(dir)?,
        settings: std::fs::read_to_string(dir.join("settings.toml")).ok(),
        ..Default::default()
    };
    if let Ok(entries) = std::fs::read_dir(dir.join("generations")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(n) = name.parse::<u32>() {
                let target = std::fs::read_link(e.path())
                    .map_err(|err| format!("generations/{name} is not a link: {err}"))?;
                obs.generations
                    .insert(n, target.to_string_lossy().into_owned());
            }
        }
    }
    obs.index = read_index(dir)?;
    (obs.rows, obs.pins) = read_db(dir)?;
    if with_bundles && let Ok(entries) = std::fs::read_dir(dir.join("store")) {
        for e in entries.flatten() {
            // Bundles only: not `.trees`, `.links`, `.sources` or `.tmp-gc-*`.
            if !e.file_name().to_string_lossy().starts_with('.')
                && e.path().join("bundle.json").is_file()
            {
                obs.bundles.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    files_but_venv(&e.path()),
                );
            }
        }
        // The complete snapshots of the server's source (snapshot mode), as one entry.
        let sources: BTreeMap<PathBuf, String> = snapshot(&dir.join("store").join(SOURCES))
            .into_iter()
            .filter(|(p, _)| {
                !p.components()
                    .next()
                    .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with(".tmp-"))
            })
            .collect();
        if !sources.is_empty() {
            obs.bundles.insert(SOURCES.to_string(), sources);
        }
    }
    Ok(obs)
}

fn read_current(dir: &Path) -> Result<Option<u32>, String> {
    match std::fs::read_link(dir.join("current")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("current is not a link: {e}")),
        Ok(t) => t
            .strip_prefix("generations")
            .ok()
            .and_then(|n| n.to_str()?.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("current points to {}", t.display())),
    }
}

/// The entries of `profile.json` (the generation index), when there is one; an index that
/// does not parse is an error (it is only ever replaced by rename).
fn read_index(dir: &Path) -> Result<Option<Vec<IndexEntry>>, String> {
    let text = match std::fs::read_to_string(dir.join("profile.json")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("profile.json: {e}")),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("profile.json does not parse: {e}"))?;
    let entries = json["generations"]
        .as_array()
        .ok_or_else(|| format!("profile.json has no generations: {text}"))?;
    Ok(Some(
        entries
            .iter()
            .map(|g| {
                (
                    g["number"].as_u64().unwrap_or_default() as u32,
                    g["hash"].as_str().unwrap_or_default().to_string(),
                    g["label"].as_str().map(str::to_string),
                    g["pinned"] == true,
                )
            })
            .collect(),
    ))
}

/// The rows and pins of `dir/cosmo.db`, read from a checked copy.
pub fn read_db(dir: &Path) -> Result<(Vec<Row>, BTreeMap<String, String>), String> {
    let db = dir.join("cosmo.db");
    if !db.exists() {
        return Ok(Default::default());
    }
    let scratch = tempfile::tempdir().unwrap();
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let from = dir.join(format!("cosmo.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, scratch.path().join(format!("cosmo.db{suffix}")))
                .map_err(|e| format!("copying {}: {e}", from.display()))?;
        }
    }
    let conn = rusqlite::Connection::open(scratch.path().join("cosmo.db"))
        .map_err(|e| format!("cosmo.db does not open: {e}"))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("PRAGMA integrity_check of cosmo.db failed: {e}"))?;
    if check != "ok" {
        return Err(format!("PRAGMA integrity_check of cosmo.db: {check}"));
    }
    let has = |table: &str| -> bool {
        conn.query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |_| Ok(()),
        )
        .is_ok()
    };
    let mut rows = Vec::new();
    if has("plugins") {
        let mut stmt = conn
            .prepare(
                "SELECT name, source, source_type, installed_version, updated_version, \
                 install_status, error_message, id FROM plugins",
            )
            .unwrap();
        rows = stmt
            .query_map([], |r| {
                Ok(Row {
                    name: r.get(0)?,
                    source: r.get(1)?,
                    source_type: r.get(2)?,
                    installed_version: r.get(3)?,
                    updated_version: r.get(4)?,
                    install_status: r.get(5)?,
                    error_message: r.get(6)?,
                    id: r.get(7)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("reading plugins: {e}"))?;
    }
    let mut pins = BTreeMap::new();
    if has("cosmo_bundle_git_pins") {
        let mut stmt = conn
            .prepare("SELECT plugin_id, commit_id FROM cosmo_bundle_git_pins")
            .unwrap();
        pins = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(|e| format!("reading pins: {e}"))?;
    }
    Ok((rows, pins))
}

/// `store/.sources`: the snapshots of the server's source (snapshot mode).
pub const SOURCES: &str = ".sources";

/// Every file of a bundle but its `.venv`: content hash, or link target.
pub fn files_but_venv(bundle: &Path) -> BTreeMap<PathBuf, String> {
    snapshot(bundle)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".venv"))
        .collect()
}

/// The registered bundle a generation link target names (`../store/<hash>`), if any.
fn hash_of_target(target: &str) -> Option<&str> {
    let hash = target.strip_prefix("../store/")?;
    (hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// Processes (other than this one) with their working directory or an open file inside
/// `dir`.
pub fn users_of(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let mut paths: Vec<PathBuf> = std::fs::read_link(p.path().join("cwd"))
            .into_iter()
            .collect();
        if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
            paths.extend(
                fds.flatten()
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok()),
            );
        }
        if let Some(path) = paths.iter().find(|path| path.starts_with(&dir)) {
            let cmdline = std::fs::read(p.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            out.push(format!(
                "pid {pid} ({}) uses {}",
                cmdline.trim(),
                path.display()
            ));
        }
    }
    out
}

/// Waits (up to `timeout`) until no process uses `dir`; says which ones still do.
pub fn wait_unused(dir: &Path, timeout: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let users = users_of(dir);
        if users.is_empty() {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "processes still work in the data directory {:?} after the kill: {users:?}",
                timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Structural soundness: `current` (if any) and every generation link resolve to
/// registered bundles, so does every entry of the generation index, the binary agrees
/// (`generations --json`: every generation valid and undamaged, the current one marked),
/// no link leads through a `.tmp-` name, the database passes its integrity check. Returns
/// the state read.
pub fn check_sound(env: &Env) -> Result<Observed, String> {
    check(env, false)
}

/// [`check_sound`] for the instant after a kill: an index entry may still lack its link (a
/// generation killed between the two, or a `delete` killed before it rewrote the index);
/// the next mutating command restores it (store-layout.md, "Reconciliation").
pub fn check_sound_after_kill(env: &Env) -> Result<Observed, String> {
    check(env, true)
}

fn check(env: &Env, killed: bool) -> Result<Observed, String> {
    let dir = env.dir();
    let obs = observe(dir, true)?;
    for (n, target) in &obs.generations {
        if target.contains(".tmp-") {
            return Err(format!(
                "generations/{n} points at a temporary name {target}"
            ));
        }
        let hash = hash_of_target(target)
            .ok_or_else(|| format!("generations/{n} points to {target}, not ../store/<hash>"))?;
        if !obs.bundles.contains_key(hash) {
            return Err(format!(
                "generations/{n} points to {target}, which is not a registered bundle"
            ));
        }
        let text = std::fs::read_to_string(dir.join("store").join(hash).join("bundle.json"))
            .map_err(|e| format!("bundle.json of {hash}: {e}"))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("bundle.json of {hash} does not parse: {e}"))?;
        if json["hash"] != hash {
            return Err(format!("bundle.json of {hash} names {}", json["hash"]));
        }
    }
    if let Some(c) = obs.current
        && !obs.generations.contains_key(&c)
    {
        return Err(format!(
            "current points to generation {c}, which does not exist"
        ));
    }
    let mut listed: std::collections::BTreeSet<u32> = obs.generations.keys().copied().collect();
    if let Some(index) = &obs.index {
        for (n, hash, _, _) in index {
            if !obs.bundles.contains_key(hash) {
                return Err(format!(
                    "profile.json lists generation {n} with {hash}, which is not a registered bundle"
                ));
            }
            match obs.generations.get(n) {
                Some(target) if hash_of_target(target) != Some(hash.as_str()) => {
                    return Err(format!(
                        "profile.json has generation {n} at {hash}, its link {target}"
                    ));
                }
                None if !killed => {
                    return Err(format!(
                        "profile.json lists generation {n}, which has no link"
                    ));
                }
                _ => {}
            }
            listed.insert(*n);
        }
        if let Some(n) = obs
            .generations
            .keys()
            .find(|n| !index.iter().any(|e| e.0 == **n))
        {
            return Err(format!("generations/{n} has no entry in profile.json"));
        }
    }
    // The binary's own view.
    let out = env.run(&["--json", "generations"]);
    if !out.status.success() {
        return Err(format!(
            "`generations` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let gens: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`generations --json` is not JSON: {e}"))?;
    let gens = gens
        .as_array()
        .or_else(|| gens["generations"].as_array())
        .cloned()
        .unwrap_or_default();
    let numbers: std::collections::BTreeSet<u32> = gens
        .iter()
        .filter_map(|g| g["number"].as_u64())
        .map(|n| n as u32)
        .collect();
    if numbers != listed {
        return Err(format!(
            "`generations` lists {numbers:?}; the directory and its index have {listed:?}"
        ));
    }
    for g in &gens {
        if g["valid"] != true {
            return Err(format!(
                "`generations` says generation {} is not valid: {g}",
                g["number"]
            ));
        }
        let damage: Vec<&str> = g["damage"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        let allowed = damage.is_empty() || (killed && damage == ["link_missing"]);
        if !allowed {
            return Err(format!(
                "`generations` says generation {} is damaged: {g}",
                g["number"]
            ));
        }
        let is_current = g["current"] == true;
        if is_current != (obs.current == g["number"].as_u64().map(|n| n as u32)) {
            return Err(format!(
                "`generations` disagrees about the current generation: {g}"
            ));
        }
    }
    Ok(obs)
}

/// After the kill: what was registered is untouched (or, never for a generation's bundle,
/// no longer registered at all).
pub fn check_bundles_kept(before: &Observed, after: &Observed) -> Result<(), String> {
    for (hash, files) in &before.bundles {
        if hash == SOURCES {
            // A snapshot is never changed (`gc` may remove one no kept bundle uses).
            let now = after.bundles.get(hash).cloned().unwrap_or_default();
            let changed: Vec<_> = files
                .iter()
                .filter(|(p, v)| now.get(*p).is_some_and(|n| n != *v))
                .map(|(p, _)| p.display().to_string())
                .collect();
            if !changed.is_empty() {
                return Err(format!(
                    "snapshots of the server's source changed: {changed:?}"
                ));
            }
            continue;
        }
        match after.bundles.get(hash) {
            Some(now) if now == files => {}
            Some(now) => {
                let changed: Vec<_> = files
                    .iter()
                    .filter(|(p, v)| now.get(*p) != Some(*v))
                    .map(|(p, _)| p.display().to_string())
                    .chain(
                        now.keys()
                            .filter(|p| !files.contains_key(*p))
                            .map(|p| format!("{} (new)", p.display())),
                    )
                    .collect();
                return Err(format!("registered bundle {hash} changed: {changed:?}"));
            }
            None => {
                if after
                    .generations
                    .values()
                    .any(|t| hash_of_target(t) == Some(hash))
                {
                    return Err(format!(
                        "bundle {hash} is no longer registered, yet a generation points to it"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The rows follow `current`: every plugin of the current bundle has an INSTALLED row at
/// its version (a git row: at its ref, or pinned to the bundle's commit), and no other
/// row is INSTALLED. No two rows stand for one distribution and source type.
pub fn check_rows_follow(env: &Env, obs: &Observed) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for r in &obs.rows {
        if !seen.insert((r.distribution(), r.source_type.clone())) {
            return Err(format!(
                "two rows of {} ({})",
                r.distribution(),
                r.source_type
            ));
        }
    }
    let plugins: Vec<serde_json::Value> = match obs.current {
        None => Vec::new(),
        Some(_) => {
            let text = std::fs::read_to_string(env.dir().join("current/bundle.json"))
                .map_err(|e| format!("current/bundle.json: {e}"))?;
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            json["plugins"].as_array().cloned().unwrap_or_default()
        }
    };
    let mut matched = Vec::new();
    for p in &plugins {
        let name = normalize(p["name"].as_str().unwrap_or_default());
        let st = p["source_type"].as_str().unwrap_or_default();
        let row = obs
            .rows
            .iter()
            .find(|r| r.distribution() == name && r.source_type == st)
            .ok_or_else(|| format!("plugin {name} ({st}) of the current bundle has no row"))?;
        let at_version = row.installed_version.as_deref() == p["version"].as_str();
        let at_commit = st == "GIT"
            && row.installed_version.is_some()
            && obs.pins.get(&row.id).map(String::as_str) == p["commit"].as_str();
        if row.install_status != "INSTALLED" || !(at_version || at_commit) {
            return Err(format!(
                "row of {name} is {} at {:?}; the current bundle has it at {}",
                row.install_status, row.installed_version, p["version"]
            ));
        }
        matched.push(row.id.clone());
    }
    if let Some(r) = obs
        .rows
        .iter()
        .find(|r| r.install_status == "INSTALLED" && !matched.contains(&r.id))
    {
        return Err(format!(
            "row of {} is INSTALLED but not in the current bundle",
            r.distribution()
        ));
    }
    Ok(())
}

/// `.tmp-*` names left in the data directory outside `store/` (where a killed build's or
/// `gc`'s leftovers wait for the next build of that bundle or the next `gc`).
pub fn temporary_leftovers(dir: &Path) -> Vec<PathBuf> {
    all_temporary_leftovers(dir)
        .into_iter()
        .filter(|p| !p.starts_with("store"))
        .collect()
}

/// `.tmp-*` names anywhere in the data directory: none after a `gc` (it removes them in
/// the store, `.sources`, `.trees`, `.links`, the data directory, `generations/`,
/// `resolved/` and `run/`), except inside an unregistered bundle directory, gone with it.
pub fn all_temporary_leftovers(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_keys()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
        })
        .filter(|p| {
            let mut parts = p.components();
            match (parts.next(), parts.next()) {
                (Some(a), Some(hash))
                    if a.as_os_str() == "store"
                        && hash_of_target(&format!(
                            "../store/{}",
                            hash.as_os_str().to_string_lossy()
                        ))
                        .is_some() =>
                {
                    dir.join("store").join(hash).join("bundle.json").is_file()
                }
                _ => true,
            }
        })
        .collect()
}

/// The current bundle's Python imports the server and every plugin module.
pub fn check_current_imports(env: &Env) -> Result<(), String> {
    let bundle = env.dir().join("current");
    if !bundle.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(bundle.join("bundle.json")).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut modules = vec!["cosmoserver".to_string()];
    for p in json["plugins"].as_array().cloned().unwrap_or_default() {
        if let Some(class) = p["manifest"]["plugin_class"].as_str() {
            modules.push(class.rsplit_once('.').unwrap().0.to_string());
        }
    }
    let out = std::process::Command::new(bundle.join(".venv/bin/python"))
        .args([
            "-I",
            "-B",
            "-c",
            "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)",
        ])
        .args(&modules)
        .output()
        .map_err(|e| format!("running the current bundle's python: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the current bundle cannot import {modules:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
