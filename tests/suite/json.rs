//! The JSON contract: every command's `--json` output, success and failure (usage errors
//! too), validated against its published schema in docs/json/.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The published schemas, and what the runs so far have covered.
struct Contract {
    schemas: BTreeMap<String, jsonschema::Validator>,
    succeeded: BTreeSet<String>,
    kinds: BTreeSet<String>,
    usage_errors: BTreeSet<String>,
}

impl Contract {
    fn load() -> Contract {
        let mut schemas = BTreeMap::new();
        for entry in std::fs::read_dir(repo_root().join("docs/json")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let Some(stem) = name.strip_suffix(".schema.json") else {
                continue;
            };
            let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(schema["x-schema-version"], 1, "{name}");
            let validator = jsonschema::draft202012::new(&schema)
                .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"));
            schemas.insert(stem.to_string(), validator);
        }
        Contract {
            schemas,
            succeeded: BTreeSet::new(),
            kinds: BTreeSet::new(),
            usage_errors: BTreeSet::new(),
        }
    }

    /// The command stems that print JSON on success (every schema but the error's).
    fn commands(&self) -> Vec<String> {
        self.schemas
            .keys()
            .filter(|s| *s != "error")
            .cloned()
            .collect()
    }

    /// Runs `cmd` (which has `--json`), expects exit `code`, and validates stdout against
    /// the schema of `stem` (on success) or the error schema; returns the document.
    fn run(&mut self, stem: &str, mut cmd: Command, code: i32) -> Value {
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{stem} {:?}", cmd.get_args().collect::<Vec<_>>());
        assert_eq!(
            out.status.code(),
            Some(code),
            "{what}\nstdout: {stdout}\nstderr: {stderr}"
        );
        let doc: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON document ({e}): {stdout}"));
        assert!(!stdout.contains('\x1b'), "{what}: colour in JSON");
        let schema = if code == 0 { stem } else { "error" };
        let validator = &self.schemas[schema];
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: output does not match {schema}.schema.json: {errors:?}\n{doc:#}"
        );
        if code == 0 {
            self.succeeded.insert(stem.to_string());
        } else {
            assert_eq!(doc["error"]["exit_code"], code, "{what}");
            assert!(stderr.contains("error:"), "{what}: nothing on stderr");
            self.kinds
                .insert(doc["error"]["kind"].as_str().unwrap().to_string());
        }
        doc
    }

    fn ok(&mut self, env: &Env, stem: &str, args: &[&str]) -> Value {
        self.run(stem, json_cmd(env, args), 0)
    }

    fn fails(&mut self, env: &Env, args: &[&str], code: i32, kind: &str) -> Value {
        let doc = self.run("error", json_cmd(env, args), code);
        assert_eq!(doc["error"]["kind"], kind, "{args:?}: {doc:#}");
        doc
    }
}

fn json_cmd(env: &Env, args: &[&str]) -> Command {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    env.cmd(&all)
}

fn manifest(package: &str, module: &str) -> String {
    repo_root()
        .join("fixtures/packages")
        .join(package)
        .join("src")
        .join(module)
        .join("cosmo.json")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_command_prints_json_that_matches_its_published_schema() {
    let mut c = Contract::load();
    let env = Env::new();

    // Read-only commands on a fresh data directory, and their failures.
    let list = c.ok(&env, "plugin-list", &["plugin", "list"]);
    assert_eq!(list, Value::Array(vec![]));
    c.ok(&env, "generations", &["generations"]);
    c.ok(&env, "status", &["status"]);
    c.fails(&env, &["diff"], 2, "bad_input");
    c.fails(&env, &["rollback"], 2, "bad_input");
    c.fails(&env, &["start"], 2, "bad_input");
    c.fails(&env, &["plugin", "show", "nope"], 2, "not_found");
    let script = c.ok(&env, "completions", &["completions", "bash"]);
    assert!(script["script"].as_str().unwrap().contains("cosmo-bundle"));
    let m = c.ok(
        &env,
        "manifest-check",
        &[
            "manifest",
            "check",
            &manifest("hue-lights-1.0.0", "hue_lights"),
        ],
    );
    assert_eq!(m["valid"], true);
    c.fails(
        &env,
        &["manifest", "check", "/nonexistent/cosmo.json"],
        2,
        "bad_input",
    );

    // Settings, in a data directory of their own.
    let conf = Env::new();
    c.ok(&conf, "config-list", &["config", "list"]);
    let set = c.ok(
        &conf,
        "config-set",
        &["config", "set", "find-links", "/srv/a", "/srv/b"],
    );
    assert_eq!(
        set["settings"][0]["value"],
        serde_json::json!(["/srv/a", "/srv/b"])
    );
    c.ok(&conf, "config-set", &["config", "set", "no-index", "true"]);
    let got = c.ok(&conf, "config-get", &["config", "get", "no-index"]);
    assert_eq!(got["value"], true);
    c.ok(&conf, "config-unset", &["config", "unset", "no-index"]);
    let unset = c.ok(&conf, "config-get", &["config", "get", "no-index"]);
    assert!(unset["value"].is_null());
    c.fails(&conf, &["config", "get", "nope"], 2, "bad_input");
    c.fails(
        &conf,
        &["config", "set", "no-index", "maybe"],
        2,
        "bad_input",
    );

    // Records.
    let added = c.ok(
        &env,
        "plugin-add",
        &["plugin", "add", "zigbee-switch", "--version", "1.0.0"],
    );
    assert_eq!(added["install_status"], "PENDING");
    c.fails(
        &env,
        &["plugin", "add", "zigbee-switch", "--version", "1.1.0"],
        2,
        "already_exists",
    );
    c.fails(
        &env,
        &["plugin", "add", "hue-lights", "--version", "latest"],
        2,
        "bad_input",
    );
    c.ok(&env, "plugin-show", &["plugin", "show", "zigbee-switch"]);
    c.ok(
        &env,
        "plugin-update",
        &["plugin", "update", "zigbee-switch", "--version", "1.1.0"],
    );
    c.fails(
        &env,
        &["plugin", "update", "nope", "--version", "1.0"],
        2,
        "not_found",
    );

    // Generations.
    let b1 = c.ok(&env, "build", &["build"]);
    assert_eq!(b1["generation"], 1);
    assert!(b1["plugins"][0]["manifest"].is_object());
    c.ok(
        &env,
        "plugin-add",
        &["plugin", "add", "hue-lights", "--version", "1.0.0"],
    );
    let b2 = c.ok(&env, "build", &["build"]);
    assert_eq!(b2["generation"], 2);
    let nothing = c.ok(&env, "build", &["build"]);
    assert!(nothing["generation"].is_null());
    let gens = c.ok(&env, "generations", &["generations"]);
    assert_eq!(gens.as_array().unwrap().len(), 2);
    let status = c.ok(&env, "status", &["status"]);
    assert_eq!(status["current"]["number"], 2);
    let diff = c.ok(&env, "diff", &["diff"]);
    assert_eq!(diff["added"][0]["name"], "hue-lights");
    c.fails(&env, &["diff", "1", "9"], 2, "not_found");
    c.ok(&env, "plugin-list", &["plugin", "list"]);
    c.ok(&env, "rollback", &["rollback"]);
    c.ok(&env, "switch", &["switch", "2"]);
    c.fails(&env, &["switch", "42"], 2, "not_found");
    let labelled = c.ok(&env, "label", &["label", "1", "before hue"]);
    assert_eq!(labelled["label"], "before hue");
    c.ok(&env, "pin", &["pin", "1"]);
    c.fails(&env, &["delete", "1"], 2, "bad_input");
    c.ok(&env, "unpin", &["unpin", "1"]);
    c.fails(&env, &["label", "1", "two\nlines"], 2, "bad_input");
    let gens = c.ok(&env, "generations", &["generations"]);
    assert_eq!(gens[0]["label"], "before hue");
    std::fs::create_dir(env.dir().join("generations/7")).unwrap();
    c.fails(&env, &["switch", "7"], 1, "damaged");
    let deleted = c.ok(&env, "delete", &["delete", "7", "1"]);
    assert_eq!(deleted["deleted"].as_array().unwrap().len(), 2);

    // verify and gc, and a bundle that differs from its record.
    let verified = c.ok(&env, "verify", &["verify", "--all"]);
    assert_eq!(verified["ok"], true);
    let dry = c.ok(&env, "gc", &["gc", "--dry-run", "--keep", "1"]);
    assert_eq!(dry["dry_run"], true);
    c.fails(&env, &["gc", "--older-than", "soon"], 2, "bad_input");
    let pyproject = std::fs::canonicalize(env.dir().join("current/pyproject.toml")).unwrap();
    let text = std::fs::read(&pyproject).unwrap();
    std::fs::write(&pyproject, "# changed\n").unwrap();
    let failed = c.fails(&env, &["verify"], 8, "verify_failed");
    assert_eq!(failed["error"]["verify"]["bundles"][0]["status"], "changed");
    std::fs::write(&pyproject, text).unwrap();

    // A row the server wrote with a value the contract does not know.
    let conn = rusqlite::Connection::open(env.dir().join("cosmo.db")).unwrap();
    conn.execute(
        "INSERT INTO plugins VALUES ('garage-door', 'garage-door', 'PYPI', NULL, '1.0.0',
         'pending', NULL, 'abcdef012345467889abcdef01234567',
         '2026-11-24 23:04:58.000001', '2026-11-24 23:04:58.000001')",
        [],
    )
    .unwrap();
    drop(conn);
    let listed = c.ok(&env, "plugin-list", &["plugin", "list"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["damaged"] == true)
    );
    c.ok(&env, "plugin-show", &["plugin", "show", "garage-door"]);
    c.fails(
        &env,
        &["plugin", "update", "garage-door", "--version", "1.0.0"],
        1,
        "damaged",
    );
    let removed = c.ok(&env, "plugin-remove", &["plugin", "remove", "garage-door"]);
    assert_eq!(removed["damaged"], true);
    c.ok(&env, "plugin-remove", &["plugin", "remove", "hue-lights"]);
    c.fails(&env, &["plugin", "remove", "hue-lights"], 2, "not_found");

    // Discovery: one plugin found and added, one manifest rejected.
    let plugins = env.dir().join("plugins");
    let scratch = tempfile::tempdir().unwrap();
    let porch = make_package(
        scratch.path(),
        "porch-light",
        "1.0.0",
        "",
        Some(
            r#"{"name": "P", "version": "1.0.0", "plugin_class": "porch_light.Light", "description": "d"}"#,
        ),
    );
    git(&porch, &["init", "-q"]);
    git(&porch, &["add", "-A"]);
    git(&porch, &["commit", "-q", "-m", "first"]);
    copy_dir(&porch, &plugins.join("porch_light"));
    std::fs::create_dir_all(plugins.join("broken")).unwrap();
    std::fs::write(plugins.join("broken/cosmo.json"), "{").unwrap();
    let found = c.ok(&env, "discover", &["discover"]);
    assert_eq!(found["added"].as_array().unwrap().len(), 1);
    assert_eq!(found["rejected"].as_array().unwrap().len(), 1);

    // uv's failures, a failed plugin check, a missing uv.
    c.fails(
        &env,
        &["plugin", "add", "garage-door", "--version", "9.9.9"],
        2,
        "package_not_found",
    );
    c.fails(
        &env,
        &["plugin", "add", "legacy-thermostat", "--version", "1.0.0"],
        3,
        "conflict",
    );
    c.ok(
        &env,
        "plugin-remove",
        &["plugin", "remove", "legacy-thermostat"],
    );
    let missing_repo = tempfile::tempdir().unwrap();
    let url = format!("file://{}/none.git", missing_repo.path().display());
    c.fails(
        &env,
        &["plugin", "add", "hue-lights", "--git", &url],
        6,
        "git_failed",
    );
    c.ok(
        &env,
        "plugin-add",
        &["plugin", "add", "broken-import", "--version", "1.0.0"],
    );
    let failed = c.fails(&env, &["build"], 4, "plugin_check");
    assert_eq!(failed["error"]["failures"][0]["name"], "broken-import");
    c.ok(
        &env,
        "plugin-remove",
        &["plugin", "remove", "broken-import"],
    );
    c.ok(
        &env,
        "plugin-update",
        &["plugin", "update", "zigbee-switch", "--version", "1.0.0"],
    );
    let empty_path = tempfile::tempdir().unwrap();
    let mut no_uv = json_cmd(&env, &["build"]);
    no_uv.env("PATH", empty_path.path());
    let doc = c.run("error", no_uv, 7);
    assert_eq!(doc["error"]["kind"], "uv_missing");
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
    let server_arg = server.path().to_str().unwrap();
    c.fails(&env, &["--server", server_arg, "build"], 6, "uv_failed");

    // Another command holds the lock.
    let mut held = Env::new();
    held.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    let mut holder = held.paused_at(&["build"], "before-register");
    held.set("COSMO_LOCK_TIMEOUT", "1");
    c.fails(
        &held,
        &["plugin", "add", "hue-lights", "--version", "1.0.0"],
        5,
        "lock_timeout",
    );
    holder.kill().unwrap();
    holder.wait().unwrap();

    // An internal error: the data directory's `generations` is a file.
    let broken = Env::new();
    std::fs::write(broken.dir().join("generations"), "not a directory").unwrap();
    c.fails(&broken, &["generations"], 1, "internal");

    // A usage error for every command (and for no command at all).
    let mut leaves = c.commands();
    leaves.push("start".into());
    for stem in &leaves {
        let mut args: Vec<&str> = stem.split('-').collect();
        args.push("--no-such-flag");
        let doc = c.fails(&env, &args, 2, "bad_input");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains("--no-such-flag"), "{message}");
        c.usage_errors.insert(stem.clone());
    }
    c.fails(&env, &["completions", "tcsh"], 2, "bad_input");
    c.fails(&env, &["switch", "first"], 2, "bad_input");
    c.fails(&env, &["plugin", "add", "x"], 2, "bad_input");
    c.fails(&env, &["plugin"], 2, "bad_input");
    c.fails(&env, &[], 2, "bad_input");

    // Activation (activation.rs's stand-in server): confirmed, then nothing answers.
    let house = crate::activation::good_house(3);
    let doc = c.ok(&house.env, "activate", &["activate"]);
    assert_eq!(doc["activation"]["confirmed"], true);
    signal_process(house.server_pid().unwrap(), Signal::KILL);
    let doc = c.fails(
        &house.env,
        &["activate", "--no-restart"],
        9,
        "activation_failed",
    );
    assert_eq!(
        doc["error"]["activation"]["attempts"][0]["failure"]["kind"],
        "timeout"
    );

    // Every schema was exercised, and every published error kind was seen.
    let commands: BTreeSet<String> = c.commands().into_iter().collect();
    assert_eq!(c.succeeded, commands, "a command never succeeded here");
    let error_schema: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("docs/json/error.schema.json")).unwrap(),
    )
    .unwrap();
    let kinds: BTreeSet<String> = error_schema["$defs"]["ErrorBody"]["properties"]["kind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(c.kinds, kinds, "an error kind was never produced here");
}

#[test]
fn usage_errors_without_json_stay_clap_text_and_help_and_version_work() {
    let env = Env::new();
    let out = env.run(&["plugin", "list", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: unexpected argument '--no-such-flag' found"),
        "{stderr}"
    );

    // Under --json, clap's text still goes to stderr.
    let out = env.run(&["--json", "plugin", "list", "--no-such-flag"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: cosmo-bundle plugin list"));

    for args in [
        &["--json", "--help"][..],
        &["--help"],
        &["plugin", "--json", "-h"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: cosmo-bundle"));
    }
    let version = env.ok(&["--json", "--version"]);
    assert_eq!(
        version,
        format!(
            "cosmo-bundle {} (JSON schema 1)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // `--json` after `--` is an argument for the server, not this tool's option.
    let out = env.run(&["start", "--port", "0", "--", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_schemas_say_what_the_readme_promises() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(readme.contains("docs/json/"));
    for stem in Contract::load().commands() {
        assert!(
            readme.contains(&format!("`{stem}`")),
            "README's JSON output section does not name {stem}"
        );
    }
}
