//! The store over months: bundles share what they have in common, every bundle records
//! its files, `verify` finds what changed, and `start` refuses a changed bundle.

use crate::common::*;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An env whose uv cache is its own (tests here write into bundles: never through a hard
/// link into a cache other tests use).
fn own_cache_env() -> (Env, tempfile::TempDir) {
    let mut env = Env::new();
    let cache = tempfile::tempdir().unwrap();
    env.set("UV_CACHE_DIR", cache.path());
    (env, cache)
}

fn site_packages(bundle: &Path) -> PathBuf {
    bundle.join(".venv/lib/python3.11/site-packages")
}

fn bundle_of(env: &Env, generation: u32) -> PathBuf {
    std::fs::canonicalize(env.dir().join("generations").join(generation.to_string())).unwrap()
}

/// Replaces `path` by a new file (never writing through a hard link): `contents`, `mode`.
fn replace_file(path: &Path, contents: &[u8], mode: u32) {
    let tmp = path.with_extension("tmp-test");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn bundles_share_package_trees_scripts_and_files_and_python_imports_through_the_links() {
    let (env, _cache) = own_cache_env();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let (one, two) = (bundle_of(&env, 1), bundle_of(&env, 2));
    for name in [
        "zigbee_switch",
        "zigbee_switch-1.0.0.dist-info",
        "cosmo_helpers",
    ] {
        let link = std::fs::read_link(site_packages(&one).join(name)).unwrap();
        assert!(link.starts_with("../../../../../.trees"), "{link:?}");
        assert!(
            link.as_os_str().len() < 60,
            "{link:?} is not stored in the inode"
        );
        assert_eq!(
            link,
            std::fs::read_link(site_packages(&two).join(name)).unwrap()
        );
    }
    let src = std::fs::read_link(one.join("src")).unwrap();
    assert_eq!(src, std::fs::read_link(two.join("src")).unwrap());
    // Scripts of a relocatable venv are the same file in both bundles.
    let ino = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
    assert_eq!(
        ino(one.join(".venv/bin/activate")),
        ino(two.join(".venv/bin/activate"))
    );
    let cfg = std::fs::read_to_string(one.join(".venv/pyvenv.cfg")).unwrap();
    assert!(cfg.contains("relocatable = true"), "{cfg}");
    assert!(one.join("uv.lock.gz").is_file() && !one.join("uv.lock").exists());
    // Python imports through the links: modules, metadata, and the server's sources. Run
    // as an operator would, with bytecode writing on: nothing is written into the store.
    let out = std::process::Command::new(two.join(".venv/bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m, zigbee_switch, hue_lights, cosmoserver; \
             print(m.version('zigbee-switch'), m.version('hue-lights'), len(m.files('hue-lights')), zigbee_switch.__file__, cosmoserver.__file__)",
        ])
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env_remove("PYTHONPYCACHEPREFIX")
        .current_dir(env.dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = String::from_utf8(out.stdout).unwrap();
    let written: Vec<_> = snapshot(&env.dir().join("store"))
        .into_keys()
        .filter(|p| p.ends_with("__pycache__"))
        .collect();
    assert!(
        written.is_empty(),
        "bytecode written into the store: {written:?}"
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&words[..2], ["1.0.0", "1.0.0"], "{out}");
    assert!(words[2].parse::<u32>().unwrap() > 2, "{out}");
    assert!(words[3].starts_with(two.to_str().unwrap()), "{out}");
    assert!(words[4].starts_with(two.to_str().unwrap()), "{out}");
    // Each tree's name is the digest of its listing, kept beside it.
    let trees = env.dir().join("store/.trees");
    for entry in std::fs::read_dir(&trees).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(digest) = name.strip_suffix(".record") {
            let listing = std::fs::read(entry.path()).unwrap();
            assert_eq!(&blake3::hash(&listing).to_hex()[..32], digest);
            assert!(trees.join(digest).is_dir());
        }
    }
    let verified = env.json(&["verify", "--all"]);
    assert_eq!(verified["ok"], true, "{verified:#}");
    assert!(verified["bundles"][1]["trees"].as_u64().unwrap() >= 6);
}

#[test]
fn bundle_json_and_the_record_carry_digests_that_verify_checks() {
    let (env, _cache) = own_cache_env();
    env.ok(&["build"]);
    let bundle = bundle_of(&env, 1);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("bundle.json")).unwrap()).unwrap();
    let record = std::fs::read(bundle.join("bundle.record")).unwrap();
    assert_eq!(
        manifest["record"]["blake3"],
        blake3::hash(&record).to_hex().to_string()
    );
    // The self-digest: the manifest without `digest`, compact, keys sorted.
    let mut without = manifest.clone();
    without.as_object_mut().unwrap().remove("digest");
    let canonical = serde_json::to_vec(&sort(&without)).unwrap();
    assert_eq!(
        manifest["digest"],
        blake3::hash(&canonical).to_hex().to_string()
    );
    let lines = String::from_utf8(record).unwrap();
    assert!(lines.starts_with("cosmo-bundle-record-v1\n"), "{lines}");
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("f 644 ") && l.ends_with(" pyproject.toml"))
    );
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("l ../.trees/") && l.ends_with(" src"))
    );
}

fn sort(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
        other => other.clone(),
    }
}

/// One way of changing a bundle, and how to undo it.
struct Tampering {
    name: &'static str,
    /// The path and change `verify` must report.
    path: &'static str,
    change: &'static str,
    apply: fn(&Path, &Path),
    undo: fn(&Path, &Path, &Saved),
}

/// What a tampering changed, to put back.
#[derive(Default)]
struct Saved {
    bytes: Vec<u8>,
    path: PathBuf,
}

fn tree_file(bundle: &Path) -> PathBuf {
    site_packages(bundle).join("zigbee_switch/__init__.py")
}

fn flip_byte(path: &Path) -> Vec<u8> {
    let before = std::fs::read(path).unwrap();
    let mut after = before.clone();
    after[0] ^= 0x20;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    replace_file(path, &after, mode);
    before
}

fn tamperings() -> Vec<Tampering> {
    vec![
        Tampering {
            name: "one changed byte in a bundle file",
            path: "pyproject.toml",
            change: "content_changed",
            apply: |b, _| {
                flip_byte(&b.join("pyproject.toml"));
            },
            undo: |b, _, _| {
                flip_byte(&b.join("pyproject.toml"));
            },
        },
        Tampering {
            name: "one changed byte in a shared tree",
            path: "__init__.py",
            change: "content_changed",
            apply: |b, _| {
                flip_byte(&tree_file(b));
            },
            undo: |b, _, _| {
                flip_byte(&tree_file(b));
            },
        },
        Tampering {
            name: "a removed file",
            path: ".venv/bin/activate.fish",
            change: "removed",
            apply: |b, _| std::fs::remove_file(b.join(".venv/bin/activate.fish")).unwrap(),
            undo: |b, _, s| replace_file(&b.join(".venv/bin/activate.fish"), &s.bytes, 0o644),
        },
        Tampering {
            name: "an added file",
            path: ".venv/lib/python3.11/site-packages/evil.pth",
            change: "added",
            apply: |b, _| std::fs::write(site_packages(b).join("evil.pth"), "import os\n").unwrap(),
            undo: |b, _, _| std::fs::remove_file(site_packages(b).join("evil.pth")).unwrap(),
        },
        Tampering {
            name: "an edited bundle.json",
            path: "bundle.json",
            change: "manifest_edited",
            apply: |b, _| {
                let path = b.join("bundle.json");
                let text = std::fs::read_to_string(&path).unwrap();
                let edited = text.replacen("\"created_at\": \"", "\"created_at\": \"1", 1);
                assert_ne!(text, edited);
                std::fs::write(&path, edited).unwrap();
            },
            undo: |b, _, s| std::fs::write(b.join("bundle.json"), &s.bytes).unwrap(),
        },
        Tampering {
            name: "a replaced symlink",
            path: ".venv/lib/python3.11/site-packages/hue_lights",
            change: "target_changed",
            apply: |b, _| {
                let link = site_packages(b).join("hue_lights");
                let other = std::fs::read_link(site_packages(b).join("zigbee_switch")).unwrap();
                std::fs::remove_file(&link).unwrap();
                std::os::unix::fs::symlink(other, &link).unwrap();
            },
            undo: |b, _, s| {
                let link = site_packages(b).join("hue_lights");
                std::fs::remove_file(&link).unwrap();
                std::os::unix::fs::symlink(&s.path, &link).unwrap();
            },
        },
        Tampering {
            name: "a chmod",
            path: "uv.lock.gz",
            change: "mode_changed",
            apply: |b, _| {
                std::fs::set_permissions(
                    b.join("uv.lock.gz"),
                    std::fs::Permissions::from_mode(0o666),
                )
                .unwrap()
            },
            undo: |b, _, _| {
                std::fs::set_permissions(
                    b.join("uv.lock.gz"),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap()
            },
        },
    ]
}

#[test]
fn verify_finds_each_change_and_start_refuses_it_unless_told_not_to_verify() {
    let (env, _cache) = own_cache_env();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let bundle = bundle_of(&env, 1);
    let sound = env.json(&["verify"])["bundles"][0].clone();
    assert_eq!(sound["status"], "ok");
    assert!(sound["entries"].as_u64().unwrap() > 0, "{sound}");
    // The fixture server has no `fastapi`: a verified start gets that far (exit 2).
    assert!(env.fails(&["start"], 2).contains("no `fastapi` command"));
    for t in tamperings() {
        let saved = Saved {
            bytes: std::fs::read(bundle.join(match t.path {
                "bundle.json" => "bundle.json",
                _ => ".venv/bin/activate.fish",
            }))
            .unwrap(),
            path: std::fs::read_link(site_packages(&bundle).join("hue_lights")).unwrap(),
        };
        (t.apply)(&bundle, env.dir());
        let out = env.run(&["--json", "verify"]);
        assert_eq!(out.status.code(), Some(8), "{}: {out:?}", t.name);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"]["kind"], "verify_failed", "{}", t.name);
        let problems = doc["error"]["verify"]["bundles"][0]["problems"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            problems
                .iter()
                .any(|p| p["change"] == t.change && p["path"].as_str().unwrap().ends_with(t.path)),
            "{}: {problems:#?}",
            t.name
        );
        // A changed file is found by checking every recorded entry and tree: the counts
        // say so (an unreadable bundle.json or record leaves nothing to count).
        let checked = &doc["error"]["verify"]["bundles"][0];
        if !["manifest_edited", "record_edited", "unregistered"].contains(&t.change) {
            assert_eq!(
                checked["entries"], sound["entries"],
                "{}: {checked}",
                t.name
            );
            assert_eq!(checked["trees"], sound["trees"], "{}: {checked}", t.name);
        }
        // The hint's recipe clears uv's cache first: a shared file is a hard link into it.
        let hint = doc["error"]["hint"].as_str().unwrap();
        assert!(hint.contains("uv cache clean"), "{}: {hint}", t.name);
        let text = env.fails(&["verify"], 8);
        assert!(
            text.contains(t.change) && text.contains(t.path),
            "{}: {text}",
            t.name
        );
        // A same-size change inside a shared tree is found by verify; start reads only the
        // bundle's own files.
        if t.name != "one changed byte in a shared tree" {
            let refused = env.fails(&["start"], 8);
            assert!(refused.contains("--no-verify"), "{}: {refused}", t.name);
        }
        let accepted = env.fails(&["start", "--no-verify"], 2);
        assert!(
            accepted.contains("no `fastapi` command"),
            "{}: {accepted}",
            t.name
        );
        (t.undo)(&bundle, env.dir(), &saved);
        let again = env.json(&["verify"]);
        assert_eq!(again["ok"], true, "{}: not undone: {again:#}", t.name);
    }
}

#[test]
fn a_bundle_without_a_record_is_reported_as_such_not_as_damaged() {
    let (env, _cache) = own_cache_env();
    env.ok(&["build"]);
    let bundle = bundle_of(&env, 1);
    // As an earlier version wrote it: no record, no digests.
    let path = bundle.join("bundle.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let map = manifest.as_object_mut().unwrap();
    map.remove("record");
    map.remove("digest");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    std::fs::remove_file(bundle.join("bundle.record")).unwrap();
    let out = env.json(&["verify"]);
    assert_eq!(out["ok"], true);
    assert_eq!(out["bundles"][0]["status"], "no_record");
    assert!(env.ok(&["verify"]).contains("no record"));
    assert!(env.fails(&["start"], 2).contains("no `fastapi` command"));
}

#[test]
fn verify_names_unknown_generations_and_needs_a_current_one_by_default() {
    let env = Env::new();
    let stderr = env.fails(&["verify"], 2);
    assert!(stderr.contains("no current generation"), "{stderr}");
    env.ok(&["build"]);
    assert!(
        env.fails(&["verify", "9"], 2)
            .contains("generation 9 does not exist")
    );
    assert!(!env.fails(&["verify", "--all", "1"], 2).is_empty());
}

#[test]
fn the_warning_about_a_cache_on_another_file_system_names_both() {
    // /dev/shm is a tmpfs on Linux: another file system than the data directory's.
    let shm = Path::new("/dev/shm");
    let data_dev = std::fs::metadata(std::env::temp_dir()).unwrap().dev();
    if !shm.is_dir() || std::fs::metadata(shm).unwrap().dev() == data_dev {
        eprintln!("skipped: no second file system here");
        return;
    }
    let mut env = Env::new();
    let cache = tempfile::tempdir_in(shm).unwrap();
    env.set("UV_CACHE_DIR", cache.path());
    let out = env.run(&["build"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("different file systems")
            && stderr.contains(cache.path().to_str().unwrap()),
        "{stderr}"
    );
    let mut same = Env::new();
    let near = tempfile::tempdir().unwrap();
    same.set("UV_CACHE_DIR", near.path());
    let out = same.run(&["build"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("different file systems"));
}

/// The names and bytes of the activation scripts in `bin` (`activate*`, `deactivate*`).
fn activation_scripts(bin: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(bin)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("activate") || n.starts_with("deactivate"))
        .map(|n| (n.clone(), std::fs::read(bin.join(&n)).unwrap()))
        .collect()
}

#[test]
fn activation_scripts_are_a_relocatable_venvs_and_bash_activate_works_through_current() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let bundle = bundle_of(&env, 1);
    // The same scripts, byte for byte, as `uv venv --relocatable` writes (the prompt is the
    // bundle project's name).
    let reference = tempfile::tempdir().unwrap();
    let venv = reference.path().join("v");
    let out = std::process::Command::new("uv")
        .args(["venv", "--quiet", "--relocatable", "--offline"])
        .args(["--prompt", "cosmo-server-bundled", "--python"])
        .arg(bundle.join(".venv/bin/python"))
        .arg(&venv)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ours = activation_scripts(&bundle.join(".venv/bin"));
    assert!(ours.contains_key("activate") && ours.len() > 4, "{ours:?}");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        activation_scripts(&venv.join("bin"))
            .keys()
            .collect::<Vec<_>>()
    );
    assert_eq!(ours, activation_scripts(&venv.join("bin")));
    let cfg = std::fs::read_to_string(bundle.join(".venv/pyvenv.cfg")).unwrap();
    assert!(cfg.contains("relocatable = true\n"), "{cfg}");

    // An operator sources `current`'s activate in bash: the bundle's venv comes first on
    // PATH, and `deactivate` undoes it. (bash runs here, in the test, never in product code.)
    let script = r#"set -eu
PATH=/usr/bin:/bin
source "$1/current/.venv/bin/activate"
printf '%s\n' "$VIRTUAL_ENV"
command -v python
python -c 'import sys, zigbee_switch; print(sys.prefix)'
deactivate
printf '%s\n' "${VIRTUAL_ENV:-none}" "$PATH"
"#;
    let out = std::process::Command::new("bash")
        .args(["-c", script, "bash"])
        .arg(env.dir())
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let venv_dir = bundle.join(".venv");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            venv_dir.to_str().unwrap(),
            venv_dir.join("bin/python").to_str().unwrap(),
            venv_dir.to_str().unwrap(),
            "none",
            "/usr/bin:/bin",
        ],
        "{text}"
    );
}
