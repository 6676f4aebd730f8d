//! `gc`: retention (current, pinned, newest N, younger than a duration), what it frees
//! against what `--dry-run` said, the lock, running servers, and kills at every instant.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An env with its own uv cache (so that the blocks it uses can be counted exactly).
fn own_env() -> (Env, tempfile::TempDir) {
    let mut env = Env::new();
    let cache = tempfile::tempdir().unwrap();
    env.set("UV_CACHE_DIR", cache.path());
    (env, cache)
}

/// Makes the plugin records say `zigbee`, `hue` and `garage` (a version, or absent).
fn want(env: &Env, zigbee: Option<&str>, hue: Option<&str>, garage: bool) {
    let records = env.json(&["plugin", "list"]);
    let have = |name: &str| {
        records
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
    };
    let wanted = [
        ("zigbee-switch", zigbee),
        ("hue-lights", hue),
        ("garage-door", garage.then_some("1.0.0")),
    ];
    // Removals first: every set on the way must resolve (hue-lights 2.0.0 needs
    // cosmo-helpers 2, which zigbee-switch refuses).
    let (gone, kept): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|(_, v)| v.is_none());
    for (name, version) in gone.into_iter().chain(kept) {
        match (have(name), version) {
            (None, Some(v)) => {
                env.ok(&["plugin", "add", name, "--version", v]);
            }
            (Some(_), None) => {
                env.ok(&["plugin", "remove", name]);
            }
            (Some(r), Some(v)) => {
                let at = r["updated_version"]
                    .as_str()
                    .or(r["installed_version"].as_str());
                if at != Some(v) {
                    env.ok(&["plugin", "update", name, "--version", v]);
                }
            }
            (None, None) => {}
        }
    }
}

/// The sets of the first generations: each a bundle of its own.
const SETS: &[(Option<&str>, Option<&str>, bool)] = &[
    (None, None, false),
    (Some("1.0.0"), None, false),
    (Some("1.1.0"), None, false),
    (None, Some("1.0.0"), false),
    (None, Some("2.0.0"), false),
    (None, None, true),
    (Some("1.0.0"), Some("1.0.0"), false),
    (None, Some("2.0.0"), true),
    (Some("1.1.0"), None, true),
    (None, Some("1.0.0"), true),
    (Some("1.1.0"), Some("1.0.0"), false),
    (Some("1.0.0"), Some("1.0.0"), true),
];

/// Builds `distinct` generations of sets of their own, then alternates between the last
/// two sets (reused bundles) up to `total` generations.
fn history(env: &Env, distinct: usize, total: usize) {
    for i in 0..total {
        let (z, h, g) = if i < distinct {
            SETS[i]
        } else {
            SETS[distinct - 2 + (i - distinct) % 2]
        };
        want(env, z, h, g);
        env.ok(&["build"]);
    }
}

/// Bytes of every inode under `roots` (each once, links not followed).
fn used_bytes(roots: &[&Path]) -> u64 {
    let mut seen: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for root in roots {
        for entry in walk(root) {
            let meta = std::fs::symlink_metadata(&entry).unwrap();
            seen.insert((meta.dev(), meta.ino()), meta.blocks() * 512);
        }
    }
    seen.values().sum()
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

fn numbers(env: &Env) -> Vec<u64> {
    env.json(&["generations"])
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect()
}

/// Every generation's bundle is registered and verified (a link a killed `delete` removed
/// before writing the index is the one damage allowed: the next command puts it back).
fn assert_sound(env: &Env) {
    let gens = env.json(&["generations"]);
    for g in gens.as_array().unwrap() {
        assert_eq!(g["valid"], true, "{g:#}");
        for d in g["damage"].as_array().unwrap() {
            assert_eq!(d["kind"], "link_missing", "{g:#}");
        }
    }
    let verified = env.json(&["verify", "--all"]);
    assert_eq!(verified["ok"], true, "{verified:#}");
}

/// Names in the store that are bundle directories.
fn bundle_dirs(env: &Env) -> BTreeSet<String> {
    std::fs::read_dir(env.dir().join("store"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Entries of the store whose names are temporary (a killed gc's or build's).
fn temporary(env: &Env) -> Vec<PathBuf> {
    walk(&env.dir().join("store"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect()
}

#[test]
fn gc_keeps_the_current_pinned_and_newest_generations_and_frees_what_dry_run_said() {
    let (env, cache) = own_env();
    history(&env, 12, 30);
    env.ok(&["pin", "3"]);
    env.ok(&["pin", "8"]);
    env.ok(&["label", "4", "before the garage"]);
    env.ok(&["label", "27", "latest"]);
    env.ok(&["switch", "29"]);
    assert_eq!(numbers(&env).len(), 30);
    // A stale record of a server that has exited, and a leftover of a killed command.
    std::fs::create_dir_all(env.dir().join("run")).unwrap();
    std::fs::write(
        env.dir().join("run/999999.json"),
        r#"{"pid": 999999, "start_ticks": 1, "generation": 1, "hash": null, "dir": "/", "host": "h", "port": 1, "started_at": "x"}"#,
    )
    .unwrap();
    std::fs::write(env.dir().join("store/.tmp-x"), "left over").unwrap();

    let roots = [env.dir(), cache.path()];
    let before = used_bytes(&roots);
    let dry = env.json(&["gc", "--keep", "5", "--older-than", "0d", "--dry-run"]);
    assert_eq!(used_bytes(&roots), before, "--dry-run changed nothing");
    assert_eq!(numbers(&env).len(), 30);
    let out = env.json(&["gc", "--keep", "5", "--older-than", "0d"]);
    let after = used_bytes(&roots);

    let kept: Vec<u64> = vec![3, 8, 26, 27, 28, 29, 30];
    assert_eq!(numbers(&env), kept);
    let deleted: Vec<u64> = out["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(deleted.len(), 23);
    assert_eq!(dry["generations"], out["generations"]);
    assert_eq!(dry["bundles"], out["bundles"]);
    // Generations 1, 2, 4, 5, 6, 7, 9, 10 had bundles of their own.
    assert_eq!(out["bundles"].as_array().unwrap().len(), 8, "{out:#}");
    assert_eq!(bundle_dirs(&env).len(), 4);
    assert!(
        out["leftovers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "run/999999.json")
    );
    assert!(!env.dir().join("run/999999.json").exists());
    assert!(!env.dir().join("store/.tmp-x").exists());
    let said = dry["freed_bytes"].as_u64().unwrap();
    let freed = before - after;
    assert!(said > 100_000, "{said}");
    let off = (said as f64 - freed as f64).abs() / freed as f64;
    eprintln!(
        "gc --dry-run said {said} bytes; gc freed {freed} bytes ({:.3}% off)",
        off * 100.0
    );
    assert!(off <= 0.01, "--dry-run said {said} bytes, gc freed {freed}");
    assert_eq!(out["freed_bytes"], dry["freed_bytes"]);

    assert_sound(&env);
    let text = env.ok(&["gc", "--dry-run"]);
    assert!(
        text.contains("would free 0 B"),
        "nothing left to collect: {text}"
    );
    // Rollback and switch keep working.
    let back = env.json(&["rollback"]);
    assert_eq!(back["current"], 28);
    env.json(&["switch", "3"]);
    env.json(&["switch", "30"]);
    let labelled = env.json(&["generations"]);
    assert_eq!(labelled[3]["label"], "latest");
    // A new build after the collection shares the trees that were kept.
    want(&env, Some("1.0.0"), None, false);
    env.ok(&["build"]);
    assert_sound(&env);
}

#[test]
fn without_retention_options_gc_deletes_no_generation_only_unused_bundles() {
    let (env, _cache) = own_env();
    history(&env, 3, 3);
    env.ok(&["delete", "1"]);
    let out = env.json(&["gc"]);
    assert!(out["generations"].as_array().unwrap().is_empty());
    assert_eq!(out["bundles"].as_array().unwrap().len(), 1, "{out:#}");
    assert_eq!(numbers(&env), [2, 3]);
    assert_sound(&env);
    // Nothing left: a second run frees nothing.
    let again = env.json(&["gc"]);
    assert_eq!(again["freed_bytes"], 0);
    assert!(
        env.fails(&["gc", "--older-than", "3 days"], 2)
            .contains("not a duration")
    );
}

#[test]
fn the_bundle_of_a_running_server_is_kept_until_it_exits() {
    let (env, _cache) = own_env();
    history(&env, 3, 3);
    let first = std::fs::canonicalize(env.dir().join("generations/1")).unwrap();
    let hash = first.file_name().unwrap().to_string_lossy().into_owned();
    // A live server's record, as `start` writes it: this test process stands for it.
    let pid = std::process::id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ticks: u64 = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    std::fs::create_dir_all(env.dir().join("run")).unwrap();
    let record = serde_json::json!({
        "pid": pid, "start_ticks": ticks, "generation": 1, "hash": hash,
        "dir": first, "host": "127.0.0.1", "port": 8000, "started_at": "2026-01-01T00:00:00Z"
    });
    let run = env.dir().join(format!("run/{pid}.json"));
    std::fs::write(&run, record.to_string()).unwrap();
    let out = env.json(&["gc", "--keep", "1", "--older-than", "0d"]);
    assert_eq!(numbers(&env), [3]);
    assert_eq!(out["kept_running"][0]["hash"], hash.as_str());
    assert_eq!(out["kept_running"][0]["pids"][0], pid);
    assert!(
        first.join("bundle.json").is_file(),
        "the running server's bundle stays"
    );
    let text = env.ok(&["gc"]);
    assert!(
        text.contains("kept bundle") && text.contains(&hash),
        "{text}"
    );
    // Its server has exited: the next gc deletes it.
    std::fs::remove_file(&run).unwrap();
    let out = env.json(&["gc"]);
    assert_eq!(out["bundles"][0]["hash"], hash.as_str());
    assert!(!first.exists());
    assert_sound(&env);
}

#[test]
fn a_gc_holds_the_lock_and_a_build_of_a_new_set_waits_for_it() {
    let (mut env, _cache) = own_env();
    history(&env, 3, 3);
    env.ok(&["delete", "1", "2"]);
    env.set("COSMO_LOCK_TIMEOUT", "60");
    want(&env, Some("1.0.0"), None, true);
    let mut gc = env.paused_at(&["gc"], "gc-after-unregister");
    let mut build = env
        .cmd(&["build"])
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(build.stderr.take().unwrap(), "waiting for lock");
    std::thread::sleep(Duration::from_millis(300));
    assert!(build.try_wait().unwrap().is_none(), "the build waits");
    signal_group(gc.id(), Signal::KILL);
    gc.wait().unwrap();
    let status = build.wait().unwrap();
    assert!(status.success());
    assert_sound(&env);
    env.json(&["gc"]);
    assert!(temporary(&env).is_empty(), "{:?}", temporary(&env));
    assert_sound(&env);
}

/// A data directory ready for a collection that deletes generations, bundles, trees and
/// shared files (3 generations of 3 sets; `GC` keeps the newest): a copy (`cp -a`, links
/// and hard links kept) of one built once.
fn ready_for_gc() -> Env {
    static TEMPLATE: std::sync::OnceLock<(Env, tempfile::TempDir)> = std::sync::OnceLock::new();
    let (template, _) = TEMPLATE.get_or_init(|| {
        let (env, cache) = own_env();
        history(&env, 3, 3);
        (env, cache)
    });
    let data = tempfile::tempdir().unwrap();
    let mut from = template.dir().as_os_str().to_owned();
    from.push("/.");
    run_ok(
        "cp",
        &["-a", from.to_str().unwrap(), data.path().to_str().unwrap()],
        data.path(),
    );
    Env {
        data,
        server: template.server.clone(),
        vars: template.vars.clone(),
    }
}

const GC: &[&str] = &["gc", "--keep", "1", "--older-than", "0d"];

/// What an uninterrupted collection leaves: generations and bundle directories.
fn finished(env: &Env) -> (Vec<u64>, BTreeSet<String>) {
    (numbers(env), bundle_dirs(env))
}

#[test]
fn gc_killed_at_each_step_leaves_sound_generations_and_the_next_gc_finishes() {
    let reference = ready_for_gc();
    reference.json(GC);
    let want = finished(&reference);
    for point in [
        "gc-after-generations",
        "gc-after-unregister",
        "gc-after-first-bundle",
        "gc-during-trees",
        "gc-after-links",
        "delete-after-unlink",
    ] {
        for group in [true, false] {
            let env = ready_for_gc();
            let child = env.paused_at(GC, point);
            if group {
                signal_group(child.id(), Signal::KILL);
            } else {
                signal_process(child.id(), Signal::KILL);
            }
            let mut child = child;
            child.wait().unwrap();
            assert_sound(&env);
            env.json(GC);
            assert_eq!(finished(&env), want, "killed at {point} (group: {group})");
            assert!(temporary(&env).is_empty(), "{point}: {:?}", temporary(&env));
            assert_sound(&env);
            let again = env.json(&["gc"]);
            assert_eq!(again["freed_bytes"], 0, "{point}: {again:#}");
        }
    }
}

#[test]
fn gc_killed_at_random_instants_never_leaves_a_broken_generation() {
    let reference = ready_for_gc();
    reference.json(GC);
    let want = finished(&reference);
    // A simple deterministic sequence of delays (no randomness crate): 0..~40 ms.
    let mut seed: u64 = 0x5eed_1234;
    for round in 0..8 {
        let env = ready_for_gc();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_micros((seed >> 33) % 40_000);
        let mut child = env
            .cmd(GC)
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if round % 2 == 0 {
            signal_group(child.id(), Signal::KILL);
        } else {
            signal_process(child.id(), Signal::KILL);
        }
        child.wait().unwrap();
        assert_sound(&env);
        env.json(GC);
        assert_eq!(finished(&env), want, "killed after {delay:?}");
        assert!(temporary(&env).is_empty());
    }
}

#[test]
fn a_build_killed_after_moving_a_tree_leaves_only_what_gc_removes() {
    let (env, _cache) = own_env();
    history(&env, 1, 1);
    want(&env, Some("1.0.0"), None, false);
    let mut child = env.paused_at(&["build"], "share-after-tree-move");
    signal_group(child.id(), Signal::KILL);
    child.wait().unwrap();
    assert_sound(&env);
    let out = env.json(&["gc"]);
    let bundles: Vec<&Value> = out["bundles"].as_array().unwrap().iter().collect();
    assert_eq!(bundles.len(), 1, "{out:#}");
    assert_eq!(bundles[0]["registered"], false);
    assert!(out["trees"].as_u64().unwrap() >= 1, "{out:#}");
    env.ok(&["build"]);
    assert_sound(&env);
}

#[test]
fn the_generations_of_an_interrupted_activation_are_kept() {
    let (env, _cache) = own_env();
    history(&env, 4, 4);
    // As a killed activation of generation 3 (after 2) leaves the index.
    let path = env.dir().join("profile.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    index["activating"] = serde_json::json!({
        "generation": 3, "previous": 2, "command": "switch",
        "started_at": "2026-01-01T00:00:00Z", "pid": 999999, "start_ticks": 1
    });
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
    let out = env.json(GC);
    let deleted: Vec<u64> = out["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(deleted, [1]);
    assert_eq!(numbers(&env), [2, 3, 4]);
    assert_sound(&env);
}

#[test]
fn gc_removes_the_snapshots_of_the_server_no_kept_bundle_links() {
    let server = copy_of_fixture_server();
    let mut env = Env::with_server(server.path().to_path_buf());
    let cache = tempfile::tempdir().unwrap();
    env.set("UV_CACHE_DIR", cache.path());
    env.config("source", &["snapshot"]);
    env.ok(&["build"]);
    let util = server.path().join("src/cosmoserver/util.py");
    let mut text = std::fs::read_to_string(&util).unwrap();
    text.push_str("\nCHANGED = True\n");
    std::fs::write(&util, text).unwrap();
    env.ok(&["build"]);
    let sources = env.dir().join("store/.sources");
    let count = || std::fs::read_dir(&sources).unwrap().count();
    assert_eq!(count(), 2);
    // Both generations are kept: both snapshots stay.
    assert!(env.json(&["gc"])["sources"].as_array().unwrap().is_empty());
    assert_eq!(count(), 2);
    let out = env.json(&["gc", "--keep", "1", "--older-than", "0d"]);
    assert_eq!(out["sources"].as_array().unwrap().len(), 1, "{out:#}");
    assert_eq!(count(), 1);
    // The snapshot left is the current generation's: its code is there.
    let code = std::fs::read_to_string(env.dir().join("current/src/cosmoserver/util.py")).unwrap();
    assert!(code.contains("CHANGED = True"), "{code}");
    assert_sound(&env);
}
