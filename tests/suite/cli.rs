//! The real binary on temporary data directories, with real uv running offline.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

fn names_versions(gen_: &Value) -> Vec<(String, String)> {
    gen_["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(n: &str, v: &str) -> (String, String) {
    (n.to_string(), v.to_string())
}

#[test]
fn add_build_rollback_switch_and_rows_follow_current() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["plugin", "add", "Hue_Lights", "--version", "1.0.0"]);
    let rec = env.plugin("zigbee-switch");
    assert_eq!(rec["install_status"], "PENDING");
    assert_eq!(rec["updated_version"], "1.0.0");
    assert!(rec["installed_version"].is_null());

    let b1 = env.json(&["build"]);
    assert_eq!(b1["generation"], 1);
    assert_eq!(b1["reused"], false);
    let gens = env.json(&["generations"]);
    assert_eq!(gens.as_array().unwrap().len(), 1);
    assert_eq!(gens[0]["current"], true);
    assert_eq!(
        names_versions(&gens[0]),
        [pair("hue-lights", "1.0.0"), pair("zigbee-switch", "1.0.0")]
    );
    let rec = env.plugin("zigbee-switch");
    assert_eq!(rec["install_status"], "INSTALLED");
    assert_eq!(rec["installed_version"], "1.0.0");
    assert!(rec["updated_version"].is_null());

    // The bundle: pyproject, symlinks for every entry, a working venv.
    let bundle = env.dir().join("current");
    let pyproject = std::fs::read_to_string(bundle.join("pyproject.toml")).unwrap();
    assert!(pyproject.contains("name = \"cosmo-server-bundled\""));
    assert!(pyproject.contains("\"cosmo-fixture-base>=1.0\",  # the server's own dependency\n    \"hue-lights==1.0.0\",\n    \"zigbee-switch==1.0.0\",\n]"));
    assert!(pyproject.contains("[tool.uv]\n# Keep the bundle reproducible.\nresolution = \"highest\"\n\n[tool.cosmo]\nanswer = 42\n"));
    let mut want: Vec<String> = std::fs::read_dir(fixture_server().join("src/cosmoserver"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "__pycache__")
        .collect();
    want.sort();
    let mut have: Vec<String> = std::fs::read_dir(bundle.join("src/cosmoserver"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, want);
    for name in &have {
        let link = bundle.join("src/cosmoserver").join(name);
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            fixture_server()
                .canonicalize()
                .unwrap()
                .join("src/cosmoserver")
                .join(name)
        );
    }
    let out = run_ok(
        bundle.join(".venv/bin/python"),
        &[
            "-c",
            "import cosmoserver.routes.crud, zigbee_switch, hue_lights, cosmo_helpers; print(zigbee_switch.VERSION, cosmo_helpers.helper_version(), cosmoserver.__file__)",
        ],
        env.dir(),
    );
    assert!(out.starts_with("1.0.0 1.0.0 "), "{out}");
    assert!(
        out.contains("/store/"),
        "cosmoserver must come from the bundle's source tree: {out}"
    );

    // A third plugin, a second generation.
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    let b2 = env.json(&["build"]);
    assert_eq!(b2["generation"], 2);
    assert_ne!(b2["hash"], b1["hash"]);
    assert_eq!(env.plugin("garage-door")["install_status"], "INSTALLED");

    // Rollback: generation 1 again, the third plugin is not installed any more.
    let out = env.ok(&["rollback"]);
    assert!(out.contains("generation 1"), "{out}");
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    let rec = env.plugin("garage-door");
    assert_eq!(rec["install_status"], "UNINSTALLED");
    assert!(rec["installed_version"].is_null());
    assert_eq!(env.plugin("zigbee-switch")["install_status"], "INSTALLED");

    // Switch forward again.
    env.ok(&["switch", "2"]);
    assert_eq!(env.current_target().unwrap(), Path::new("generations/2"));
    assert_eq!(env.plugin("garage-door")["installed_version"], "1.0.0");
    let gens = env.json(&["generations"]);
    assert_eq!(gens[1]["current"], true);
    assert_eq!(gens[0]["current"], false);

    // The same set again: nothing to do.
    let out = env.ok(&["build"]);
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(env.json(&["generations"]).as_array().unwrap().len(), 2);
}

#[test]
fn update_then_build_moves_updated_to_installed() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env.ok(&["plugin", "update", "zigbee-switch", "--version", "1.1.0"]);
    let rec = env.plugin("zigbee-switch");
    assert_eq!(rec["install_status"], "PENDING");
    assert_eq!(rec["installed_version"], "1.0.0");
    assert_eq!(rec["updated_version"], "1.1.0");
    env.ok(&["build"]);
    let rec = env.plugin("zigbee-switch");
    assert_eq!(
        (
            rec["install_status"].as_str(),
            rec["installed_version"].as_str()
        ),
        (Some("INSTALLED"), Some("1.1.0"))
    );
    assert!(rec["updated_version"].is_null());
    // Rolling back to 1.0.0 keeps the record, at the version of generation 1.
    env.ok(&["rollback"]);
    assert_eq!(env.plugin("zigbee-switch")["installed_version"], "1.0.0");
}

#[test]
fn same_set_in_any_order_has_one_hash_and_a_cache_hit_needs_no_uv() {
    let a = Env::new();
    a.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    a.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    let ha = a.json(&["build"])["hash"].clone();
    let b = Env::new();
    b.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    b.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let hb = b.json(&["build"])["hash"].clone();
    assert_eq!(ha, hb);

    // Generation 2 adds a plugin; removing it again wants generation 1's set, whose bundle
    // is in the store: the build must succeed with uv absent from PATH.
    a.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    a.ok(&["build"]);
    a.ok(&["plugin", "remove", "garage-door"]);
    let empty_path = tempfile::tempdir().unwrap();
    let out = a
        .cmd(&["--json", "build"])
        .env("PATH", empty_path.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reused"], true);
    assert_eq!(v["hash"], ha);
    assert_eq!(v["generation"], 3);
}

#[test]
fn uv_missing_is_reported_with_how_to_install_and_writes_nothing() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let before = env.snapshot();
    let empty_path = tempfile::tempdir().unwrap();
    let out = env
        .cmd(&["build"])
        .env("PATH", empty_path.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("uv was not found next to cosmo-bundle or on PATH")
            && stderr.contains("pip install uv"),
        "{stderr}"
    );
    assert_eq!(env.snapshot(), before);
}

#[test]
fn bad_input_gets_exit_2_a_clear_message_and_writes_nothing() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let before = env.snapshot();
    let cases: &[(&[&str], &str)] = &[
        (
            &["plugin", "add", "bad name", "--version", "1.0"],
            "not a valid Python distribution name",
        ),
        (&["plugin", "add", "-dash", "--version", "1.0"], ""),
        (
            &["plugin", "add", "hue-lights", "--version", "latest"],
            "not a PEP 440 version",
        ),
        (
            &["plugin", "add", "hue-lights", "--version", "1.0; rm -rf /"],
            "not a PEP 440 version",
        ),
        (
            &[
                "plugin",
                "add",
                "hue-lights",
                "--git",
                "http://example.org/x.git",
            ],
            "not allowed",
        ),
        (
            &[
                "plugin",
                "add",
                "hue-lights",
                "--git",
                "ext::sh -c touch% /tmp/pwned",
            ],
            "git URL",
        ),
        (
            &[
                "plugin",
                "add",
                "hue-lights",
                "--git",
                "git@example.org:x.git",
            ],
            "no scheme",
        ),
        (
            &[
                "plugin",
                "add",
                "hue-lights",
                "--git",
                "file:///tmp/x",
                "--rev",
                "--upload-pack=touch",
            ],
            "",
        ),
        (
            &["plugin", "add", "zigbee-switch", "--version", "1.1.0"],
            "already recorded",
        ),
        (
            &[
                "plugin",
                "update",
                "zigbee-switch",
                "--version",
                "not-a-version",
            ],
            "not a PEP 440 version",
        ),
        (
            &["plugin", "update", "no-such-plugin", "--version", "1.0"],
            "no plugin record matches",
        ),
        (
            &["plugin", "remove", "no-such-plugin"],
            "no plugin record matches",
        ),
        (&["switch", "42"], "generation 42 does not exist"),
        (&["rollback"], "nothing to roll back to"),
    ];
    for (args, message) in cases {
        let stderr = env.fails(args, 2);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert_eq!(env.snapshot(), before, "{args:?} wrote something");
    }
}

#[test]
fn bad_input_on_a_fresh_data_directory_creates_nothing() {
    let env = Env::new();
    let fresh = env.snapshot();
    assert!(!env.dir().join("cosmo.db").exists(), "{fresh:?}");
    for args in [
        &["plugin", "add", "bad name", "--version", "1.0"][..],
        &["plugin", "update", "zigbee-switch", "--version", "1.0"],
        &["plugin", "remove", "zigbee-switch"],
        &["plugin", "show", "zigbee-switch"],
        &["switch", "1"],
        &["rollback"],
    ] {
        env.fails(args, 2);
        assert_eq!(env.snapshot(), fresh, "{args:?} wrote something");
    }
    env.ok(&["plugin", "list"]);
    env.ok(&["generations"]);
    assert_eq!(env.snapshot(), fresh);
}

#[test]
fn bad_server_repositories_are_refused_before_anything_is_written() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let before = env.snapshot();
    let check = |server: &Path, message: &str| {
        let stderr = env.fails(&["--server", server.to_str().unwrap(), "build"], 2);
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(env.snapshot(), before);
    };
    let no_pyproject = copy_of_fixture_server();
    std::fs::remove_file(no_pyproject.path().join("pyproject.toml")).unwrap();
    check(no_pyproject.path(), "has no pyproject.toml");
    let no_src = copy_of_fixture_server();
    std::fs::remove_dir_all(no_src.path().join("src/cosmoserver")).unwrap();
    check(no_src.path(), "has no src/cosmoserver");
    let malformed = copy_of_fixture_server();
    std::fs::write(
        malformed.path().join("pyproject.toml"),
        "[project\nname = 'x'\n",
    )
    .unwrap();
    check(malformed.path(), "is not valid TOML");
    check(Path::new("/nonexistent/server"), "server directory");
}

#[test]
fn uv_failures_show_uv_stderr_and_leave_no_bundle() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);

    // A version the index does not have, in a row written by the server (which checks
    // nothing): the build says it does not exist (exit 2, not a conflict) and records
    // that on the row, as `plugin add` would have refused it.
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    conn.execute(
        "UPDATE plugins SET updated_version = '9.9.9', install_status = 'PENDING'",
        [],
    )
    .unwrap();
    drop(conn);
    let stderr = env.fails(&["build"], 2);
    assert!(
        stderr.contains("zigbee-switch 9.9.9 does not exist")
            && stderr.contains("there is no version of zigbee-switch==9.9.9"),
        "{stderr}"
    );
    let row = env.plugin("zigbee-switch");
    assert_eq!(row["install_status"], "FAILED");
    assert!(
        row["error_message"]
            .as_str()
            .unwrap()
            .contains("no version of zigbee-switch==9.9.9")
    );
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    env.ok(&["plugin", "update", "zigbee-switch", "--version", "1.0.0"]);

    assert_eq!(env.plugin("zigbee-switch")["install_status"], "INSTALLED");

    // An invalid requirement in the server's pyproject: uv fails, and it is not a
    // conflict (exit 6, not 3).
    let server = copy_of_fixture_server();
    let pyproject = std::fs::read_to_string(server.path().join("pyproject.toml")).unwrap();
    std::fs::write(
        server.path().join("pyproject.toml"),
        pyproject.replace(
            "\"cosmo-fixture-base>=1.0\"",
            "\"cosmo-fixture-base>>>1.0\"",
        ),
    )
    .unwrap();
    let before_uv = env.snapshot();
    let stderr = env.fails(&["--server", server.path().to_str().unwrap(), "build"], 6);
    assert!(
        stderr.contains("failed with exit code") && stderr.contains("cause:"),
        "{stderr}"
    );
    assert_eq!(env.snapshot(), before_uv);
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
}

#[test]
fn a_second_server_repository_with_another_tree_builds_and_switches() {
    let dir = tempfile::tempdir().unwrap();
    let server = dir.path().join("other-server");
    std::fs::create_dir_all(server.join("src/cosmoserver/plugins_api")).unwrap();
    std::fs::write(
        server.join("pyproject.toml"),
        "[project]\nname = \"other-cosmo\"\nversion = \"2.0\"\nrequires-python = \">=3.10\"\ndependencies = [\"cosmo-helpers==2.0.0\"]\n",
    )
    .unwrap();
    std::fs::write(server.join("src/cosmoserver/__init__.py"), "").unwrap();
    std::fs::write(server.join("src/cosmoserver/app.py"), "APP = 'other'\n").unwrap();
    std::fs::write(server.join("src/cosmoserver/plugins_api/__init__.py"), "").unwrap();
    std::fs::write(server.join("src/cosmoserver/.hidden.cfg"), "x=1\n").unwrap();
    std::fs::create_dir_all(server.join("src/cosmoserver/__pycache__")).unwrap();
    let env = Env::with_server(server.clone());
    env.ok(&["build"]); // the clean generation
    env.ok(&["plugin", "add", "legacy-thermostat", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let bundle = env.dir().join("current");
    let mut entries: Vec<String> = std::fs::read_dir(bundle.join("src/cosmoserver"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [".hidden.cfg", "__init__.py", "app.py", "plugins_api"]
    );
    let out = run_ok(
        bundle.join(".venv/bin/python"),
        &[
            "-c",
            "import cosmoserver.app as a, legacy_thermostat as t, cosmo_helpers as h; print(a.APP, t.VERSION, h.helper_version())",
        ],
        env.dir(),
    );
    assert_eq!(out.trim(), "other 1.0.0 2.0.0");
    env.ok(&["switch", "1"]);
    let gens = env.json(&["generations"]);
    assert_eq!(gens[0]["current"], true);
    assert!(gens[0]["plugins"].as_array().unwrap().is_empty());
    let rec = env.plugin("legacy-thermostat");
    assert_eq!(rec["install_status"], "UNINSTALLED");
    assert!(rec["installed_version"].is_null());
    env.ok(&["switch", "2"]);
    assert_eq!(
        env.plugin("legacy-thermostat")["install_status"],
        "INSTALLED"
    );
}

#[test]
fn rows_follow_the_database_contract() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    let (id, st, status, created): (String, String, String, String) = conn
        .query_row(
            "SELECT id, source_type, install_status, created_at FROM plugins",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!((st.as_str(), status.as_str()), ("PYPI", "INSTALLED"));
    assert!(
        chrono::NaiveDateTime::parse_from_str(&created, "%Y-%m-%d %H:%M:%S%.6f").is_ok()
            && created.len() == 26,
        "{created}"
    );
    let ddl: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'plugins'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        ddl.contains("install_status VARCHAR(11) NOT NULL") && ddl.contains("PRIMARY KEY (id)")
    );
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn rows_written_by_the_server_are_listed_and_built() {
    let env = Env::new();
    let fresh = env.snapshot();
    env.ok(&["generations"]); // read-only: must not create anything
    assert_eq!(env.snapshot(), fresh);
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE other_server_table (x INTEGER);
         CREATE TABLE plugins (
	name VARCHAR(255) NOT NULL,
	source TEXT NOT NULL,
	source_type VARCHAR(4) NOT NULL,
	installed_version VARCHAR(50),
	updated_version VARCHAR(50),
	install_status VARCHAR(11) NOT NULL,
	error_message TEXT,
	id CHAR(32) NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);
         INSERT INTO plugins VALUES ('Smart Switch', 'zigbee-switch', 'PYPI', NULL, '1.0.0', 'PENDING', NULL,
           'ee34739aa64641d680cbec8cb428bbb0', '2026-11-24 23:04:58.634718', '2026-11-24 23:04:58.634723');
         INSERT INTO other_server_table VALUES (7);",
    )
    .unwrap();
    drop(conn);
    let list = env.json(&["plugin", "list"]);
    assert_eq!(list[0]["name"], "Smart Switch");
    assert_eq!(list[0]["id"], "ee34739aa64641d680cbec8cb428bbb0");
    let out = env.ok(&["plugin", "show", "ee34739a-a646-41d6-80cb-ec8cb428bbb0"]);
    assert!(out.contains("Smart Switch"));
    env.ok(&["build"]);
    let rec = env.plugin("Smart Switch");
    assert_eq!(rec["install_status"], "INSTALLED");
    assert_eq!(rec["name"], "Smart Switch");
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    let x: i64 = conn
        .query_row("SELECT x FROM other_server_table", [], |r| r.get(0))
        .unwrap();
    assert_eq!(x, 7);
}

#[test]
fn a_second_mutating_command_waits_for_the_lock_then_gives_up() {
    let mut env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let mut holder = env.paused_at(&["build"], "before-register");
    env.set("COSMO_LOCK_TIMEOUT", "1");
    let before = env.snapshot();
    let stderr = env.fails(&["plugin", "add", "hue-lights", "--version", "1.0.0"], 5);
    assert!(stderr.contains("waiting for lock on"), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert_eq!(env.snapshot(), before);
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Reading needs no lock.
    env.ok(&["plugin", "list"]);
}
