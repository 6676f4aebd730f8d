//! The hash means what it says: settings from the data directory, never from the shell or
//! uv's own configuration files; everything the bundle links is an input.

use crate::common::*;
use std::path::Path;

fn lock_versions(bundle: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(bundle.join("uv.lock")).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let mut out: Vec<(String, String)> = doc["package"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p.get("version")?.as_str()?.to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn config_validates_persists_and_lists_settings() {
    let env = Env::new();
    let before = env.snapshot();
    for (args, want) in [
        (
            &["config", "set", "no-index", "yes"][..],
            "not true or false",
        ),
        (
            &["config", "set", "find-links", "relative/wheels"],
            "not a URL",
        ),
        (&["config", "set", "colour", "red"], "unknown setting"),
        (
            &["config", "set", "index-url", "https://u:pw@host/simple"],
            "credentials",
        ),
        (&["config", "set", "python", "python3"], "absolute path"),
        (&["config", "set", "exclude-newer", "last week"], "RFC 3339"),
        (&["config", "unset", "colour"], "unknown setting"),
    ] {
        let stderr = env.fails(args, 2);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(env.snapshot(), before, "{args:?} wrote something");
    }
    assert_eq!(env.ok(&["config", "get", "no-index"]).trim(), "true");
    env.ok(&["config", "set", "resolution", "lowest-direct"]);
    let list = env.json(&["config", "list"]);
    let keys: Vec<&str> = list["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["find-links", "no-index", "resolution"]);
    assert_eq!(
        env.json(&["config", "get", "resolution"])["value"],
        "lowest-direct"
    );
    env.ok(&["config", "unset", "resolution"]);
    assert_eq!(
        env.json(&["config", "get", "resolution"])["value"],
        serde_json::Value::Null
    );
    // A hand-broken file is reported with the key, and nothing else runs on it.
    std::fs::write(env.dir().join("settings.toml"), "no-index = \"maybe\"\n").unwrap();
    let stderr = env.fails(&["build"], 2);
    assert!(
        stderr.contains("settings.toml") && stderr.contains("no-index"),
        "{stderr}"
    );
}

#[test]
fn resolution_variables_of_the_shell_are_ignored_and_said_so() {
    let mut env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let hash = env.json(&["build"])["hash"].clone();
    // A shell that would send uv elsewhere: same set, same hash, nothing to do.
    env.set("UV_FIND_LINKS", "/nonexistent");
    env.set("UV_INDEX_URL", "http://127.0.0.1:9/simple");
    env.set("UV_EXCLUDE_NEWER", "2000-01-01T00:00:00Z");
    env.set("UV_RESOLUTION", "lowest");
    let out = env.run(&["--json", "build"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ignoring UV_EXCLUDE_NEWER, UV_FIND_LINKS, UV_INDEX_URL, UV_RESOLUTION")
            && stderr.contains("settings.toml"),
        "{stderr}"
    );
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["hash"], hash);
    assert_eq!(again["generation"], serde_json::Value::Null);
    // And a new set still builds with the data directory's settings.
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    assert_eq!(env.plugin("hue-lights")["install_status"], "INSTALLED");
}

#[test]
fn uv_configuration_files_of_the_user_and_the_system_are_not_read() {
    let env = Env::new();
    let evil = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(evil.path().join("uv")).unwrap();
    std::fs::write(evil.path().join("uv/uv.toml"), "no-binary = true\n").unwrap();
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    std::fs::remove_dir_all(env.dir().join("resolved")).unwrap();
    // The file is potent: plain uv, reading it, cannot lock the very same project.
    let probe = tempfile::tempdir().unwrap();
    let bundle = env.json(&["build", "--no-switch"])["path"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::copy(
        Path::new(&bundle).join("pyproject.toml"),
        probe.path().join("pyproject.toml"),
    )
    .unwrap();
    let plain = std::process::Command::new("uv")
        .args(["lock", "--offline", "--no-index", "--find-links"])
        .arg(wheelhouse())
        .current_dir(probe.path())
        .env("XDG_CONFIG_HOME", evil.path())
        .output()
        .unwrap();
    assert!(
        !plain.status.success(),
        "the hostile uv.toml had no effect on uv"
    );
    // cosmo-bundle, run from a shell whose user and system uv.toml are the hostile one,
    // builds the same bundle.
    let versions = lock_versions(Path::new(&bundle));
    let other = Env::new();
    other.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    std::fs::remove_dir_all(other.dir().join("resolved")).unwrap();
    let mut hostile = other;
    hostile.set("XDG_CONFIG_HOME", evil.path());
    hostile.set("XDG_CONFIG_DIRS", evil.path());
    hostile.set("UV_CONFIG_FILE", evil.path().join("uv/uv.toml"));
    let out = hostile.json(&["build"]);
    assert_eq!(
        lock_versions(Path::new(out["path"].as_str().unwrap())),
        versions
    );
    assert!(versions.contains(&("cosmo-helpers".into(), "2.0.0".into())));
}

#[test]
fn a_new_module_of_the_server_reaches_the_next_bundle() {
    let server = copy_of_fixture_server();
    let env = Env::with_server(server.path().to_path_buf());
    let first = env.json(&["build"]);
    std::fs::write(
        server.path().join("src/cosmoserver/newmod.py"),
        "ANSWER = 42\n",
    )
    .unwrap();
    let second = env.json(&["build"]);
    assert_ne!(second["hash"], first["hash"]);
    assert_eq!(second["generation"], 2);
    let out = run_ok(
        env.dir().join("current/.venv/bin/python"),
        &["-c", "import cosmoserver.newmod as m; print(m.ANSWER)"],
        env.dir(),
    );
    assert_eq!(out.trim(), "42");
}
