//! The hash means what it says: settings from the data directory, never from the shell or
//! uv's own configuration files; everything the bundle links is an input.

use crate::common::*;
use std::path::Path;

fn lock_versions(bundle: &Path) -> Vec<(String, String)> {
    let text = bundle_lock(bundle);
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

#[test]
fn a_plugin_that_does_not_exist_is_not_a_conflict_and_a_failed_record_can_be_added_again() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let before = env.snapshot();
    for args in [
        &["plugin", "add", "no-such-plugin", "--version", "1.0.0"][..],
        &["plugin", "add", "hue-lights", "--version", "7.0.0"],
    ] {
        let out = env.run(&[&["--json"], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["error"]["kind"], "package_not_found", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not exist"),
            "{body}"
        );
        assert_eq!(env.snapshot(), before, "{args:?} wrote something");
    }
    // A real conflict is recorded FAILED; once its cause is gone, adding it again
    // replaces that record (same id).
    let out = env.run(&[
        "--json",
        "plugin",
        "add",
        "legacy-thermostat",
        "--version",
        "1.0.0",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["error"]["kind"], "conflict");
    let failed = env.plugin("legacy-thermostat");
    assert_eq!(failed["install_status"], "FAILED");
    assert_eq!(
        body["error"]["record"], failed,
        "the error carries the record it saved"
    );
    env.ok(&["plugin", "remove", "zigbee-switch"]);
    let again = env.json(&["plugin", "add", "legacy-thermostat", "--version", "1.0.0"]);
    assert_eq!(again["install_status"], "PENDING");
    assert_eq!(again["id"], failed["id"]);
    assert_eq!(again["error_message"], serde_json::Value::Null);
    assert_eq!(env.json(&["plugin", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_build_records_the_conflict_on_the_rows_the_server_wrote() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    // The server inserts two PENDING rows without any check: one fits, one conflicts
    // with zigbee-switch (cosmo-helpers <2 against >=2).
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    for (id, name) in [
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "garage-door"),
        ("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "legacy-thermostat"),
    ] {
        conn.execute(
            "INSERT INTO plugins VALUES (?1, ?1, 'PYPI', NULL, '1.0.0', 'PENDING', NULL, ?2, \
             '2026-11-25 10:00:00.000000', '2026-11-25 10:00:00.000000')",
            [name, id],
        )
        .unwrap();
    }
    drop(conn);
    let stderr = env.fails(&["build"], 3);
    assert!(stderr.contains("No solution found"), "{stderr}");
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    let legacy = env.plugin("legacy-thermostat");
    assert_eq!(legacy["install_status"], "FAILED");
    assert!(
        legacy["error_message"]
            .as_str()
            .unwrap()
            .contains("No solution found"),
        "{legacy}"
    );
    assert_eq!(env.plugin("garage-door")["install_status"], "PENDING");
    // The next build leaves the failed row out and installs the other.
    env.ok(&["build"]);
    assert_eq!(env.plugin("garage-door")["install_status"], "INSTALLED");
}

#[test]
fn a_command_that_moved_current_succeeds_even_when_the_rows_cannot_follow_yet() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    // The server holds a write transaction on cosmo.db for longer than the busy timeout.
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = env.run(&["--json", "rollback"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (body["current"].as_u64(), body["rows_pending"].as_bool()),
        (Some(1), Some(true))
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not follow it yet"));
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    assert_eq!(env.plugin("hue-lights")["install_status"], "INSTALLED");
    // The next mutating command catches the rows up before anything else.
    env.ok(&["plugin", "remove", "zigbee-switch"]);
    assert_eq!(env.plugin("hue-lights")["install_status"], "UNINSTALLED");
}

#[test]
fn a_data_directory_or_database_of_the_wrong_kind_is_named() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let mut env = Env::new();
    let real = env.dir().to_path_buf();
    env.set("COSMO_DATA_DIR", &file);
    for args in [
        &["plugin", "list"][..],
        &["build"],
        &["config", "set", "no-index", "true"],
    ] {
        let stderr = env.fails(args, 2);
        assert!(stderr.contains("is not a directory"), "{args:?}: {stderr}");
    }
    env.set("COSMO_DATA_DIR", &real);
    std::fs::create_dir(real.join("cosmo.db")).unwrap();
    for args in [&["plugin", "list"][..], &["build"]] {
        let stderr = env.fails(args, 2);
        assert!(
            stderr.contains("cosmo.db is not a file") || stderr.contains("not a file"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_database_the_server_keeps_busy_times_out_with_its_own_message() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let stderr = env.fails(&["plugin", "remove", "zigbee-switch"], 5);
    assert!(
        stderr.contains("waiting for the database") && stderr.contains("cosmo.db"),
        "{stderr}"
    );
}

#[test]
fn uv_does_not_outlive_a_command_killed_alone() {
    let mut env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    std::fs::remove_dir_all(env.dir().join("resolved")).unwrap();
    // An index that accepts connections and never answers keeps uv busy for as long as
    // it lives.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    env.config(
        "find-links",
        &[
            wheelhouse().to_str().unwrap(),
            &format!("http://127.0.0.1:{port}/wheels/"),
        ],
    );
    env.vars.remove("UV_OFFLINE");
    let mut child = env
        .cmd(&["build"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let uv = loop {
        let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id()))
            .unwrap_or_default();
        if let Some(pid) = kids.split_whitespace().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("--project"))
        }) {
            break pid.to_string();
        }
        assert!(started.elapsed().as_secs() < 60, "never saw uv");
        std::thread::sleep(std::time::Duration::from_micros(200));
    };
    signal_process(child.id(), Signal::KILL);
    child.wait().unwrap();
    let gone = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{uv}/cmdline")).exists()
        && std::fs::read(format!("/proc/{uv}/cmdline")).is_ok_and(|c| !c.is_empty())
    {
        assert!(gone.elapsed().as_secs() < 5, "uv outlived the command");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // An immediate retry has the data directory to itself.
    env.config("find-links", &[wheelhouse().to_str().unwrap()]);
    env.set("UV_OFFLINE", "1");
    env.ok(&["build"]);

    assert_eq!(env.plugin("zigbee-switch")["install_status"], "INSTALLED");
}

#[test]
fn links_in_the_data_directory_are_never_followed_to_write_or_delete() {
    for entry in [
        "tmp",
        "resolved",
        "generations",
        "store",
        "lock",
        "cosmo.db",
    ] {
        let env = Env::new();
        env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious.txt"), "keep me").unwrap();
        let link = env.dir().join(entry);
        let target = if entry.contains('.') || entry == "lock" {
            let copy = outside.path().join(entry);
            if link.exists() {
                std::fs::copy(&link, &copy).unwrap();
            }
            copy
        } else {
            outside.path().to_path_buf()
        };
        let _ = std::fs::remove_dir_all(&link);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();

        let before = env.snapshot();
        let outside_before = snapshot(outside.path());
        for args in [
            &["plugin", "add", "hue-lights", "--version", "1.0.0"][..],
            &["build"],
            &["plugin", "remove", "zigbee-switch"],
        ] {
            let stderr = env.fails(args, 2);
            assert!(
                stderr.contains("is a symlink") && stderr.contains(entry),
                "{entry} {args:?}: {stderr}"
            );
        }
        assert_eq!(
            snapshot(outside.path()),
            outside_before,
            "{entry}: wrote outside"
        );
        assert_eq!(env.snapshot(), before, "{entry}");
    }
}

#[test]
fn what_cosmo_bundle_creates_is_not_writable_by_others_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    for args in [
        &["plugin", "add", "zigbee-switch", "--version", "1.0.0"][..],
        &["build"],
    ] {
        let out = env
            .cmd(&[])
            .get_envs()
            .fold(std::process::Command::new("bash"), |mut c, (k, v)| {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
                c
            })
            .args(["-c", "umask 000 && exec \"$0\" \"$@\"", BIN])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut checked = 0;

    for entry in walk(env.dir()) {
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        assert_eq!(mode & 0o022, 0, "{} has mode {:o}", entry.display(), mode);
        checked += 1;
    }
    assert!(checked > 50, "only {checked} entries");
    // A data directory other users may write to is refused.
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let stderr = env.fails(&["plugin", "remove", "zigbee-switch"], 2);
    assert!(
        stderr.contains("writable by other users") && stderr.contains("chmod go-w"),
        "{stderr}"
    );
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn an_invalid_import_timeout_is_refused_before_anything_is_written() {
    let mut env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let before = env.snapshot();
    for bad in ["abc", "0", "-5", "1.5"] {
        env.set("COSMO_IMPORT_TIMEOUT", bad);
        let stderr = env.fails(&["build"], 2);
        assert!(stderr.contains("COSMO_IMPORT_TIMEOUT"), "{bad}: {stderr}");
        assert_eq!(env.snapshot(), before, "{bad}");
    }
}
