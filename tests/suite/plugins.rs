//! Conflict detection, git sources, cosmo.json manifests, load checks and discovery.

use crate::common::*;
use serde_json::Value;

fn others(env: &Env, except: &str) -> Vec<Value> {
    env.json(&["plugin", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] != except)
        .cloned()
        .collect()
}

#[test]
fn a_conflicting_add_is_recorded_failed_with_uvs_explanation_and_nothing_else_changes() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let rows_before = env.json(&["plugin", "list"]);
    let gens_before = env.json(&["generations"]);
    let store_before: Vec<_> = std::fs::read_dir(env.dir().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();

    let stderr = env.fails(
        &["plugin", "add", "legacy-thermostat", "--version", "1.0.0"],
        3,
    );
    assert!(stderr.contains("dependency conflict"), "{stderr}");
    let rec = env.plugin("legacy-thermostat");
    assert_eq!(rec["install_status"], "FAILED");
    let message = rec["error_message"].as_str().unwrap();
    assert!(
        message.starts_with("error: No solution found when resolving dependencies"),
        "{message}"
    );
    assert!(
        message.contains("legacy-thermostat") && message.contains("cosmo-helpers"),
        "{message}"
    );
    assert!(!message.contains('\u{1b}'), "colour codes in {message:?}");
    assert_eq!(Value::Array(others(&env, "legacy-thermostat")), rows_before);
    assert_eq!(env.json(&["generations"]), gens_before);
    let store_after: Vec<_> = std::fs::read_dir(env.dir().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(store_after, store_before);
    // A FAILED record is not wanted: the next build has nothing to do.
    assert!(env.ok(&["build"]).contains("nothing to do"));
}

#[test]
fn a_conflicting_update_keeps_versions_and_status_and_records_the_explanation() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let hue_before = env.plugin("hue-lights");
    let zigbee_before = env.plugin("zigbee-switch");
    let stderr = env.fails(&["plugin", "update", "hue-lights", "--version", "2.0.0"], 3);
    assert!(stderr.contains("No solution found"), "{stderr}");
    let hue = env.plugin("hue-lights");
    for col in [
        "install_status",
        "installed_version",
        "updated_version",
        "source",
        "name",
        "created_at",
    ] {
        assert_eq!(hue[col], hue_before[col], "{col} changed");
    }
    assert!(
        hue["error_message"]
            .as_str()
            .unwrap()
            .contains("hue-lights==2.0.0")
    );
    assert_eq!(env.plugin("zigbee-switch"), zigbee_before);
}

#[test]
fn a_registry_failure_is_not_a_conflict_and_writes_nothing() {
    let mut env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    // An index nobody listens on, network allowed: uv cannot reach the registry.
    env.ok(&["config", "unset", "no-index"]);
    env.ok(&["config", "unset", "find-links"]);
    env.config("index-url", &["http://127.0.0.1:9/simple"]);
    env.vars.remove("UV_OFFLINE");
    env.set("UV_HTTP_RETRIES", "0");
    env.set("UV_NO_CACHE", "1");
    let before = env.snapshot();
    let stderr = env.fails(&["plugin", "add", "hue-lights", "--version", "1.0.0"], 6);
    assert!(!stderr.contains("dependency conflict"), "{stderr}");
    assert!(stderr.contains("failed with exit code"), "{stderr}");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn the_lock_of_a_successful_check_is_used_by_the_build() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let out = env.run(&["build"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        stderr.contains("using the lock of the plugin set's conflict check"),
        "{stderr}"
    );
    assert!(!stderr.contains("resolving"), "{stderr}");
    let hash = env.json(&["generations"])[0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let checked = std::fs::read(env.dir().join("resolved").join(format!("{hash}.lock"))).unwrap();
    assert_eq!(
        bundle_lock(&env.dir().join("current")).into_bytes(),
        checked
    );
}

#[test]
fn a_git_plugin_at_a_tag_builds_and_shows_its_commit_and_a_moving_branch_changes_nothing() {
    let repo = git_repo_of("hue-lights-1.0.0");
    let tag_commit = git(repo.path(), &["rev-parse", "v1.0.0^{commit}"]);
    let url = format!("file://{}", repo.path().display());
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&[
        "plugin",
        "add",
        "hue-lights",
        "--git",
        &url,
        "--rev",
        "v1.0.0",
    ]);
    let rec = env.plugin("hue-lights");
    assert_eq!(
        (
            rec["source_type"].as_str(),
            rec["source"].as_str(),
            rec["updated_version"].as_str()
        ),
        (Some("GIT"), Some(url.as_str()), Some("v1.0.0"))
    );
    env.ok(&["build"]);
    let gens = env.json(&["generations"]);
    let hue = plugin_in(&gens[0], "hue-lights");
    assert_eq!(hue["commit"], tag_commit.as_str());
    assert_eq!(hue["source_type"], "GIT");
    assert_eq!(hue["resolved_version"], "1.0.0");
    assert!(
        env.ok(&["generations"])
            .contains(&format!("hue-lights v1.0.0@{}", &tag_commit[..12]))
    );
    assert_eq!(env.plugin("hue-lights")["installed_version"], "v1.0.0");

    // A branch at the same commit as the tag: the same bundle, and the record follows
    // it under its new ref.
    env.ok(&["plugin", "update", "hue-lights", "--version", "main"]);
    let pinned = git(repo.path(), &["rev-parse", "main"]);
    assert_eq!(pinned, tag_commit);
    let out = env.json(&["build"]);
    assert_eq!(out["generation"], serde_json::Value::Null, "{out}");
    let rec = env.plugin("hue-lights");
    assert_eq!(
        (
            rec["install_status"].as_str(),
            rec["installed_version"].as_str()
        ),
        (Some("INSTALLED"), Some("main"))
    );

    // The branch moves: nothing changes until the operator asks for the new commit.
    std::fs::write(repo.path().join("src/hue_lights/extra.py"), "X = 1\n").unwrap();
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "moves the branch"]);
    let moved = git(repo.path(), &["rev-parse", "main"]);
    assert_ne!(moved, pinned);
    let out = env.json(&["build"]);
    assert_eq!(
        out["generation"],
        serde_json::Value::Null,
        "a moved branch changed a bundle"
    );
    assert_eq!(plugin_in(&out, "hue-lights")["commit"], pinned.as_str());
    // `plugin update NAME` pins the branch's newest commit; the next build has it.
    let rec = env.json(&["plugin", "update", "hue-lights"]);
    assert_eq!(rec["install_status"], "PENDING");
    let out = env.json(&["build"]);
    assert_eq!(out["generation"], 2);
    assert_eq!(plugin_in(&out, "hue-lights")["commit"], moved.as_str());
    run_ok(
        env.dir().join("current/.venv/bin/python"),
        &["-c", "import hue_lights.extra"],
        env.dir(),
    );
    // Rollback brings the old commit back, and the next build keeps it there.
    env.ok(&["rollback"]);
    let out = env.json(&["build"]);
    assert_eq!(out["generation"], serde_json::Value::Null);
    assert_eq!(plugin_in(&out, "hue-lights")["commit"], pinned.as_str());
}

#[test]
fn a_git_plugin_without_a_ref_follows_the_default_branch() {
    let repo = git_repo_of("hue-lights-1.0.0");
    git(repo.path(), &["branch", "-m", "trunk"]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let url = format!("file://{}/", repo.path().display());
    let env = Env::new();
    let rec = env.json(&["plugin", "add", "hue-lights", "--git", &url]);
    assert_eq!(rec["updated_version"], "trunk");
    assert_eq!(
        rec["source"],
        url.trim_end_matches('/'),
        "the URL is normalised"
    );
    let out = env.json(&["build"]);
    assert_eq!(plugin_in(&out, "hue-lights")["commit"], head.as_str());
    // A ref that does not exist is refused, and nothing is written.
    let before = env.snapshot();
    let stderr = env.fails(&["plugin", "update", "hue-lights", "--rev", "nope"], 2);
    assert!(stderr.contains("no branch or tag \"nope\""), "{stderr}");
    let stderr = env.fails(
        &[
            "plugin",
            "add",
            "garage-door",
            "--version",
            "1.0.0",
            "--rev",
            "v1",
        ],
        2,
    );
    assert!(stderr.contains("--rev"), "{stderr}");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn a_plugin_class_that_does_not_import_fails_the_build_with_4_and_current_stays() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let zigbee_before = env.plugin("zigbee-switch");
    let current_before = env.current_target();
    env.ok(&["plugin", "add", "broken-import", "--version", "1.0.0"]);
    let stderr = env.fails(&["build"], 4);
    assert!(
        stderr.contains("broken-import") && stderr.contains("ModuleNotFoundError"),
        "{stderr}"
    );
    let rec = env.plugin("broken-import");
    assert_eq!(rec["install_status"], "FAILED");
    assert!(
        rec["error_message"]
            .as_str()
            .unwrap()
            .contains("cannot import broken_import.missing.NoSuchPlugin: ModuleNotFoundError"),
        "{rec}"
    );
    assert_eq!(env.current_target(), current_before);
    assert_eq!(env.plugin("zigbee-switch"), zigbee_before);
    assert_eq!(env.json(&["generations"]).as_array().unwrap().len(), 1);
    // The failed bundle's directory is not registered, and not even left behind.
    let dirs: Vec<_> = std::fs::read_dir(env.dir().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0].join("bundle.json").exists());
}

#[test]
fn a_plugin_without_manifest_or_class_or_in_time_fails_the_build() {
    let wheels = tempfile::tempdir().unwrap();
    let pkgs = tempfile::tempdir().unwrap();
    let manifest = |module: &str, class: &str| {
        format!(
            r#"{{"name": "{module}", "version": "1.0.0", "plugin_class": "{module}.{class}", "description": "test"}}"#
        )
    };
    let packages = vec![
        make_package(pkgs.path(), "no-manifest", "1.0.0", "class P: pass\n", None),
        make_package(
            pkgs.path(),
            "not-a-class",
            "1.0.0",
            "def P():\n    pass\n",
            Some(&manifest("not_a_class", "P")),
        ),
        make_package(
            pkgs.path(),
            "sleepy-sensor",
            "1.0.0",
            "import time\ntime.sleep(60)\nclass P: pass\n",
            Some(&manifest("sleepy_sensor", "P")),
        ),
        make_package(
            pkgs.path(),
            "bad-manifest",
            "1.0.0",
            "class P: pass\n",
            Some(r#"{"name": "x", "version": "1", "plugin_class": "P", "description": "d"}"#),
        ),
    ];
    let mut env = Env::new();
    env.add_wheels(&packages, wheels.path());
    env.set("COSMO_IMPORT_TIMEOUT", "2");
    for (name, want) in [
        ("no-manifest", "no cosmo.json in its package root"),
        (
            "not-a-class",
            "not_a_class.P is not a class (it is a function)",
        ),
        ("sleepy-sensor", "did not finish within 2s"),
        (
            "bad-manifest",
            "field `plugin_class`: \"P\" has no module part",
        ),
    ] {
        env.ok(&["plugin", "add", name, "--version", "1.0.0"]);
        let stderr = env.fails(&["build"], 4);
        assert!(stderr.contains(want), "{name}: {stderr}");
        let rec = env.plugin(name);
        assert_eq!(rec["install_status"], "FAILED", "{name}");
        assert!(
            rec["error_message"].as_str().unwrap().contains(want),
            "{name}: {rec}"
        );
        assert!(env.current_target().is_none());
        env.ok(&["plugin", "remove", name]);
    }
}

#[test]
fn the_active_bundle_manifest_lists_every_plugin_class_and_prefix() {
    let env = Env::new();
    for p in ["zigbee-switch", "hue-lights", "garage-door"] {
        env.ok(&["plugin", "add", p, "--version", "1.0.0"]);
    }
    env.ok(&["build"]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(env.dir().join("current/bundle.json")).unwrap())
            .unwrap();
    let mut got: Vec<(String, String, String, String)> = manifest["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["resolved_version"].as_str().unwrap().to_string(),
                p["manifest"]["plugin_class"].as_str().unwrap().to_string(),
                p["manifest"]["url_prefix"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want = [
        (
            "garage-door",
            "1.0.0",
            "garage_door.GarageDoorPlugin",
            "/garage",
        ),
        ("hue-lights", "1.0.0", "hue_lights.HueLightsPlugin", "/hue"),
        (
            "zigbee-switch",
            "1.0.0",
            "zigbee_switch.SmartSwitchPlugin",
            "/zigbee",
        ),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()));
    assert_eq!(got, want);
    // Every listed class really loads in the bundle's Python, as the server will do it.
    let script = "import json, importlib, sys\nm = json.load(open(sys.argv[1]))\nfor p in m['plugins']:\n    mod, cls = p['manifest']['plugin_class'].rsplit('.', 1)\n    print(getattr(importlib.import_module(mod), cls)().status()['version'])\n";
    let out = run_ok(
        env.dir().join("current/.venv/bin/python"),
        &["-c", script, "bundle.json"],
        &env.dir().join("current"),
    );
    assert_eq!(out, "1.0.0\n1.0.0\n1.0.0\n");
}

#[test]
fn manifest_check_refuses_bad_manifests_with_exit_2() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cosmo.json");
    let p = path.to_str().unwrap();
    for (text, want) in [
        (
            r#"{"name": "N", "version": "1", "plugin_class": "C", "description": "d"}"#,
            "no module part",
        ),
        (
            r#"{"name": "N", "version": "1", "plugin_class": "m.C", "description": "", "url_prefix": "/x"}"#,
            "field `description` is empty",
        ),
        (
            r#"{"name": "N", "version": "1", "plugin_class": "m.C", "description": "d", "url_prefix": "/a/../b"}"#,
            "'..'",
        ),
        (
            r#"{"name": "N", "version": 1, "plugin_class": "m.C", "description": "d"}"#,
            "invalid type: integer `1`, expected a string",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let stderr = env.fails(&["manifest", "check", p], 2);
        assert!(stderr.contains(want) && stderr.contains(p), "{stderr}");
    }
    std::fs::write(&path, r#"{"name": "N", "version": "1", "plugin_class": "m.sub.C", "description": "d", "url_prefix": "/n"}"#).unwrap();
    assert!(env.ok(&["manifest", "check", p]).contains("valid"));
}
