//! The operator's lifecycle: `status`, `diff`, stale and running marks, exact rollback in
//! snapshot mode, and `start --dev` watching the real source directory.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Runs the current generation's Python (no bytecode written) on `code`; returns stdout,
/// or stderr when it fails.
fn current_python(env: &Env, code: &str) -> Result<String, String> {
    let out = std::process::Command::new(env.dir().join("current/.venv/bin/python"))
        .args(["-B", "-c", code])
        .current_dir(env.dir())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Appends `dependency` to the server copy's `[project].dependencies`.
fn add_server_dependency(server: &Path, dependency: &str) {
    let path = server.join("pyproject.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace(
        "\"cosmo-fixture-base>=1.0\",  # the server's own dependency\n",
        &format!(
            "\"cosmo-fixture-base>=1.0\",  # the server's own dependency\n    \"{dependency}\",\n"
        ),
    );
    assert_ne!(edited, text, "the fixture server's dependencies moved");
    std::fs::write(path, edited).unwrap();
}

/// The source of the server module `cosmoserver.util` as the current generation imports it.
const UTIL_SOURCE: &str =
    "import cosmoserver.util as u, pathlib; print(pathlib.Path(u.__file__).read_text(), end='')";

/// Builds generation 1, then changes a module's content and adds a dependency in the server
/// repository and builds generation 2, then rolls back. Returns the rollback's stderr and
/// the module's text before the change.
fn change_the_server_and_roll_back(env: &Env, server: &Path) -> (String, String) {
    env.ok(&["build"]);
    let util = server.join("src/cosmoserver/util.py");
    let old = std::fs::read_to_string(&util).unwrap();
    std::fs::write(&util, format!("{old}CHANGED = True\n")).unwrap();
    add_server_dependency(server, "cosmo-helpers>=1");
    let built = env.json(&["build"]);
    assert_eq!(built["generation"], 2);
    assert_eq!(
        current_python(env, UTIL_SOURCE).unwrap(),
        format!("{old}CHANGED = True\n")
    );
    current_python(env, "import cosmo_helpers").expect("generation 2 has the new dependency");
    let out = env.run(&["rollback"]);
    assert!(out.status.success());
    (String::from_utf8(out.stderr).unwrap(), old)
}

#[test]
fn rollback_in_snapshot_mode_brings_back_the_old_server_code_with_its_dependencies() {
    let server = copy_of_fixture_server();
    let env = Env::with_server(server.path().to_path_buf());
    env.config("source", &["snapshot"]);
    let (stderr, old) = change_the_server_and_roll_back(&env, server.path());

    // Generation 1 runs exactly what it was built with: the old module and no new package.
    assert_eq!(current_python(&env, UTIL_SOURCE).unwrap(), old);
    let missing = current_python(&env, "import cosmo_helpers").unwrap_err();
    assert!(
        missing.contains("No module named 'cosmo_helpers'"),
        "{missing}"
    );
    assert!(!stderr.contains("stale"), "{stderr}");

    // Each generation links its own snapshot; the repository was never written.
    let gens = env.json(&["generations"]);
    let link = |g: &Value| {
        std::fs::read_link(Path::new(g["path"].as_str().unwrap()).join("src/cosmoserver")).unwrap()
    };
    let (l1, l2) = (link(&gens[0]), link(&gens[1]));
    assert_ne!(l1, l2);
    assert!(l1.starts_with("../../.sources"), "{}", l1.display());
    assert_eq!(gens[0]["source"], "snapshot");
    assert_eq!(gens[0]["stale"], true);
    assert_eq!(
        gens[0]["stale_files"],
        serde_json::json!(["pyproject.toml"])
    );
    assert_eq!(gens[1]["stale"], false);
    let sources: Vec<String> = std::fs::read_dir(env.dir().join("store/.sources"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(Path::new(gens[0]["path"].as_str().unwrap()).join("bundle.json")).unwrap(),
    )
    .unwrap();
    let digest = manifest["inputs"]["server_source"][0].as_str().unwrap();
    assert!(
        l1.to_str()
            .unwrap()
            .contains(digest.strip_prefix("snapshot ").unwrap())
    );
    assert!(!server.path().join("src/cosmoserver/__pycache__").exists());

    // Switching to generation 2 brings its code back in turn.
    env.ok(&["switch", "2"]);
    assert!(
        current_python(&env, UTIL_SOURCE)
            .unwrap()
            .ends_with("CHANGED = True\n")
    );
}

#[test]
fn rollback_in_link_mode_runs_todays_code_and_says_the_generation_is_stale() {
    let server = copy_of_fixture_server();
    let env = Env::with_server(server.path().to_path_buf());
    let (stderr, _) = change_the_server_and_roll_back(&env, server.path());

    // The old dependencies, but today's code: what the warning says.
    assert!(
        stderr.contains("generation 1 is stale") && stderr.contains("pyproject.toml"),
        "{stderr}"
    );
    assert!(
        current_python(&env, UTIL_SOURCE)
            .unwrap()
            .ends_with("CHANGED = True\n")
    );
    assert!(current_python(&env, "import cosmo_helpers").is_err());
    let text = env.ok(&["generations"]);
    let first = text.lines().find(|l| l.starts_with("*")).unwrap();
    assert!(first.contains("[stale: pyproject.toml changed]"), "{text}");
    let status = env.json(&["status"]);
    assert_eq!(status["repository"]["stale"], true);
    assert_eq!(status["current"]["source"], "link");
    assert!(env.ok(&["status"]).contains("STALE"));
    // switch and start say it too (start then refuses: the fixture has no fastapi).
    env.ok(&["switch", "2"]);
    let out = env.run(&["switch", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("generation 1 is stale"));
    let stderr = env.fails(&["start"], 2);
    assert!(stderr.contains("generation 1 is stale"), "{stderr}");
    // Without a server repository nothing is compared (and nothing said).
    let out = env
        .cmd(&["--json", "generations"])
        .env_remove("COSMO_SERVER_DIR")
        .output()
        .unwrap();
    let gens: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        gens[0]["stale"].is_null() && gens[1]["stale"].is_null(),
        "{gens:#}"
    );
    let out = env
        .cmd(&["switch", "2"])
        .env_remove("COSMO_SERVER_DIR")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("stale"));
}

#[test]
fn a_changed_uv_lock_is_stale_too_and_a_new_module_alone_is_not() {
    let server = copy_of_fixture_server();
    let env = Env::with_server(server.path().to_path_buf());
    env.config("source", &["snapshot"]);
    env.ok(&["build"]);
    std::fs::write(server.path().join("src/cosmoserver/extra.py"), "X = 1\n").unwrap();
    env.ok(&["build"]);
    let gens = env.json(&["generations"]);
    assert_eq!(
        gens.as_array().unwrap().len(),
        2,
        "a new module is a new snapshot"
    );
    assert_eq!(gens[0]["stale"], false);
    std::fs::write(server.path().join("uv.lock"), "version = 1\n").unwrap();
    let gens = env.json(&["generations"]);
    assert_eq!(gens[0]["stale_files"], serde_json::json!(["uv.lock"]));
    assert_eq!(gens[1]["stale"], true);
}

#[test]
fn a_snapshot_refuses_links_out_of_the_source_tree_and_writes_nothing() {
    let server = copy_of_fixture_server();
    let env = Env::with_server(server.path().to_path_buf());
    env.config("source", &["snapshot"]);
    std::os::unix::fs::symlink(
        "../../pyproject.toml",
        server.path().join("src/cosmoserver/p"),
    )
    .unwrap();
    let before = env.snapshot();
    let stderr = env.fails(&["build"], 2);
    assert!(
        stderr.contains("outside the server's src/cosmoserver"),
        "{stderr}"
    );
    assert_eq!(env.snapshot(), before);
    // In link mode the same link is just linked.
    env.ok(&["config", "unset", "source"]);
    env.ok(&["build"]);
}

#[test]
fn a_build_killed_while_making_a_snapshot_leaves_nothing_that_looks_complete() {
    let names = |env: &Env| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(env.dir().join("store/.sources"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    for point in ["before-snapshot-rename", "before-register"] {
        for group in [true, false] {
            let env = Env::new();
            env.config("source", &["snapshot"]);
            crate::crash::kill_at(&env, &["build"], point, group);
            let left = names(&env);
            if point == "before-snapshot-rename" {
                // Only the temporary copy: no snapshot that looks complete.
                assert!(left.iter().all(|n| n.starts_with(".tmp-")), "{left:?}");
            } else {
                // A complete snapshot, linked by a bundle that is not registered.
                assert_eq!(left.len(), 1, "{left:?}");
            }
            assert!(env.current_target().is_none());
            env.ok(&["build"]);
            let after = names(&env);
            assert_eq!(after.len(), 1, "{point}: {after:?}");
            assert!(!after[0].starts_with(".tmp-"));
            if point == "before-register" {
                assert_eq!(after, left, "the snapshot was reused");
            }
            current_python(&env, "import cosmoserver.util").unwrap();
        }
    }
    // A value the setting does not know is refused.
    let env = Env::new();
    let stderr = env.fails(&["config", "set", "source", "copy"], 2);
    assert!(stderr.contains("link, snapshot"), "{stderr}");
}

/// `[stat field 22]` of a process: its start time, as `run/<pid>.json` records it.
fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn write_run_record(env: &Env, pid: u32, ticks: u64, generation: u32, hash: &str) {
    let run = env.dir().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let record = serde_json::json!({
        "pid": pid, "start_ticks": ticks, "generation": generation, "hash": hash,
        "dir": env.dir().join("store").join(hash), "host": "127.0.0.1", "port": 8000,
        "started_at": "2026-11-25T15:00:00Z"
    });
    std::fs::write(run.join(format!("{pid}.json")), record.to_string()).unwrap();
}

#[test]
fn status_shows_the_current_generation_what_waits_what_failed_and_the_store() {
    let env = Env::new();
    // A fresh data directory: nothing to show, nothing written.
    let before = env.snapshot();
    let status = env.json(&["status"]);
    assert!(status["current"].is_null());
    assert_eq!(status["generations"], 0);
    assert_eq!(status["repository"]["checked"], false);
    assert_eq!(env.snapshot(), before);

    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build", "--label", "lights"]);
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    env.fails(
        &["plugin", "add", "legacy-thermostat", "--version", "1.0.0"],
        3,
    );
    let status = env.json(&["status"]);
    assert_eq!(status["current"]["number"], 1);
    assert_eq!(status["current"]["label"], "lights");
    assert_eq!(status["current"]["plugins"].as_array().unwrap().len(), 2);
    assert_eq!(status["generations"], 1);
    assert_eq!(status["pending"][0]["name"], "garage-door");
    assert_eq!(status["failed"][0]["name"], "legacy-thermostat");
    assert!(
        status["failed"][0]["error_message"]
            .as_str()
            .unwrap()
            .contains("No solution found")
    );
    assert_eq!(status["repository"]["stale"], false);
    let text = env.ok(&["status"]);
    assert!(text.contains("pending:     garage-door 1.0.0"), "{text}");
    // The line that says why, not uv's "No solution found" heading.
    assert!(
        text.contains("failed:      legacy-thermostat: Because all versions of legacy-thermostat depend on cosmo-helpers>=2"),
        "{text}"
    );
    assert!(text.contains("up to date"), "{text}");

    // The store's size, each inode once: what `du` says.
    let du = run_ok("du", &["-s", "-B1", "store"], env.dir());
    let du: u64 = du.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(status["store"]["bytes"], du);
    assert!(du > 0);

    // Without a repository: not checked, and said so.
    let out = env
        .cmd(&["status"])
        .env_remove("COSMO_SERVER_DIR")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("not checked for staleness"), "{text}");
}

#[test]
fn status_and_generations_show_only_servers_that_are_really_running() {
    let env = Env::new();
    env.ok(&["build"]);
    let first = env.json(&["generations"])[0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    // This test process stands for a server of generation 1; a dead pid and a reused pid
    // (another start time) do not.
    let me = std::process::id();
    write_run_record(&env, me, start_ticks(me), 1, &first);
    write_run_record(&env, u32::MAX - 7, 1, 1, &first);
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    write_run_record(&env, sleeper.id(), start_ticks(sleeper.id()) + 1, 2, "x");
    let status = env.json(&["status"]);
    let servers = status["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{status:#}");
    assert_eq!(servers[0]["pid"], me);
    assert_eq!(servers[0]["generation"], 1);
    assert_eq!(servers[0]["restart_needed"], true);
    assert!(
        env.ok(&["status"])
            .contains("restart needed (current is generation 2)")
    );
    let gens = env.json(&["generations"]);
    assert_eq!(gens[0]["running"], true);
    assert_eq!(gens[1]["running"], false);
    let text = env.ok(&["generations"]);
    assert!(text.lines().next().unwrap().contains("[running]"), "{text}");
    // Back on generation 1: no restart needed.
    env.ok(&["switch", "1"]);
    assert_eq!(env.json(&["status"])["servers"][0]["restart_needed"], false);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn diff_shows_plugins_and_every_locked_package_that_changed() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env.ok(&["build"]);
    // Only one generation: nothing to compare the current one with.
    let stderr = env.fails(&["diff"], 2);
    assert!(stderr.contains("diff A B"), "{stderr}");
    env.ok(&["plugin", "update", "zigbee-switch", "--version", "1.1.0"]);
    env.ok(&["plugin", "remove", "hue-lights"]);
    env.ok(&["plugin", "add", "garage-door", "--version", "1.0.0"]);
    env.ok(&["build"]);

    let diff = env.json(&["diff"]);
    assert_eq!(
        (diff["from"]["number"].clone(), diff["to"]["number"].clone()),
        (1.into(), 2.into())
    );
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&diff["added"]), ["garage-door"]);
    assert_eq!(names(&diff["removed"]), ["hue-lights"]);
    assert_eq!(names(&diff["changed"]), ["zigbee-switch"]);
    assert_eq!(diff["changed"][0]["from"]["version"], "1.0.0");
    assert_eq!(diff["changed"][0]["to"]["version"], "1.1.0");
    // Every locked package, as the two uv.lock files say.
    let locked = |n: u32| -> std::collections::BTreeMap<String, String> {
        let text = bundle_lock(&env.dir().join(format!("generations/{n}")));
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        doc["package"]
            .as_array_of_tables()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p.get("version")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    };
    let (a, b) = (locked(1), locked(2));
    let want_added: Vec<String> = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    let want_removed: Vec<String> = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
    let want_changed: Vec<String> = a
        .keys()
        .filter(|k| b.get(*k).is_some_and(|v| v != &a[*k]))
        .cloned()
        .collect();
    assert_eq!(names(&diff["packages"]["added"]), want_added);
    assert_eq!(names(&diff["packages"]["removed"]), want_removed);
    assert_eq!(names(&diff["packages"]["changed"]), want_changed);
    assert!(
        want_changed.contains(&"zigbee-switch".to_string()),
        "{want_changed:?}"
    );
    assert!(
        diff["inputs"]
            .as_array()
            .unwrap()
            .contains(&"plugins".into())
    );

    let text = env.ok(&["diff"]);
    assert!(text.contains("+ garage-door 1.0.0"), "{text}");
    assert!(text.contains("- hue-lights 1.0.0"), "{text}");
    assert!(text.contains("~ zigbee-switch 1.0.0 -> 1.1.0"), "{text}");
    assert!(
        text.contains("locked packages:\n  + garage-door 1.0.0"),
        "{text}"
    );
    // The other way round, and one generation against the current one.
    let back = env.json(&["diff", "2", "1"]);
    assert_eq!(names(&back["added"]), ["hue-lights"]);
    assert_eq!(env.json(&["diff", "1"])["to"]["number"], 2);
    let same = env.ok(&["diff", "2", "2"]);
    assert!(same.contains("no changes"), "{same}");
}

/// A stand-in `fastapi-cli` of `version`: its `fastapi` command writes its arguments and
/// directory to `$FAKE_FASTAPI_OUT`, then waits like a server until killed.
fn fake_fastapi_cli(root: &Path, version: &str) -> PathBuf {
    let dir = root.join(format!("fastapi-cli-{version}"));
    let scripts = dir.join(format!("src/fastapi_cli-{version}.data/scripts"));
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::create_dir_all(dir.join("src/fastapi_cli")).unwrap();
    std::fs::write(dir.join("src/fastapi_cli/__init__.py"), "").unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!("[project]\nname = \"fastapi-cli\"\nversion = \"{version}\"\ndependencies = []\n"),
    )
    .unwrap();
    std::fs::write(
        scripts.join("fastapi"),
        "#!python\nimport json, os, sys, time\n\
         out = os.environ['FAKE_FASTAPI_OUT']\n\
         with open(out + '.tmp', 'w') as f:\n    json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd()}, f)\n\
         os.rename(out + '.tmp', out)\n\
         time.sleep(120)\n",
    )
    .unwrap();
    dir
}

/// A server started by `cosmo-bundle start`, killed when dropped.
struct Started(Option<Child>);

impl Started {
    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Kills it; returns what it printed.
    fn stop(mut self) -> std::process::Output {
        let mut child = self.0.take().unwrap();
        let _ = child.kill();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `start ARGS` with the stand-in fastapi and waits for what it was given.
fn start_fake(env: &Env, args: &[&str], out: &Path) -> (Started, Value) {
    let child = env
        .cmd(args)
        .env("FAKE_FASTAPI_OUT", out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Started(Some(child));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.exists() {
        assert!(Instant::now() < deadline, "the stand-in fastapi never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let given: Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    (started, given)
}

/// An environment whose server depends on the stand-in fastapi-cli of `version`.
fn env_with_fake_fastapi(scratch: &Path, server: &Path, version: &str) -> Env {
    add_server_dependency(server, &format!("fastapi-cli=={version}"));
    let mut env = Env::with_server(server.to_path_buf());
    let package = fake_fastapi_cli(scratch, version);
    env.add_wheels(&[package], &scratch.join("wheels"));
    env
}

#[test]
fn start_dev_watches_the_real_source_directory_and_status_sees_the_server() {
    let scratch = tempfile::tempdir().unwrap();
    let server = copy_of_fixture_server();
    let env = env_with_fake_fastapi(scratch.path(), server.path(), "0.0.34");
    env.ok(&["build"]);
    let out = scratch.path().join("argv.json");
    let (started, given) = start_fake(&env, &["start", "--dev", "--port", "8123"], &out);
    let argv: Vec<&str> = given["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let real = server
        .path()
        .canonicalize()
        .unwrap()
        .join("src/cosmoserver");
    assert_eq!(argv[..2], ["dev", "src/cosmoserver/main.py"]);
    let at = argv
        .iter()
        .position(|a| *a == "--reload-dir")
        .expect("--reload-dir given");
    assert_eq!(argv[at + 1], real.to_str().unwrap());
    let bundle = env.dir().join("current").canonicalize().unwrap();
    assert_eq!(given["cwd"], bundle.to_str().unwrap());

    // status sees the server started by `start` (the same process, after exec).
    let pid = started.pid();
    let status = env.json(&["status"]);
    assert_eq!(status["servers"][0]["pid"], pid, "{status:#}");
    assert_eq!(status["servers"][0]["generation"], 1);
    assert_eq!(status["servers"][0]["restart_needed"], false);
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    assert_eq!(env.json(&["status"])["servers"][0]["restart_needed"], true);
    assert_eq!(env.json(&["generations"])[0]["running"], true);
    started.stop();
    assert!(
        env.json(&["status"])["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Arguments of the operator's own choosing win.
    std::fs::remove_file(&out).unwrap();
    let (_s, given) = start_fake(
        &env,
        &[
            "start",
            "--dev",
            "--port",
            "8124",
            "--",
            "--reload-dir",
            "/elsewhere",
        ],
        &out,
    );
    let reload: Vec<&Value> = given["argv"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| *a == "--reload-dir")
        .collect();
    assert_eq!(reload.len(), 1, "{given}");
}

#[test]
fn start_dev_says_when_it_cannot_watch_the_sources() {
    // fastapi-cli before 0.0.20 has no --reload-dir: not given, and said so.
    let scratch = tempfile::tempdir().unwrap();
    let server = copy_of_fixture_server();
    let env = env_with_fake_fastapi(scratch.path(), server.path(), "0.0.19");
    env.ok(&["build"]);
    let out = scratch.path().join("argv.json");
    let (started, given) = start_fake(&env, &["start", "--dev"], &out);
    assert!(!given.to_string().contains("--reload-dir"), "{given}");
    let output = started.stop();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fastapi-cli 0.0.19") && stderr.contains("0.0.20"),
        "{stderr}"
    );

    // A snapshot never changes: nothing to watch, and said so.
    let scratch = tempfile::tempdir().unwrap();
    let server = copy_of_fixture_server();
    let env = env_with_fake_fastapi(scratch.path(), server.path(), "0.0.34");
    env.config("source", &["snapshot"]);
    env.ok(&["build"]);
    let out = scratch.path().join("argv.json");
    let (started, given) = start_fake(&env, &["start", "--dev"], &out);
    assert!(!given.to_string().contains("--reload-dir"), "{given}");
    let output = started.stop();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("own snapshot"), "{stderr}");
}

#[test]
fn status_shows_the_activation_verdict_and_an_activation_that_was_interrupted() {
    let house = crate::activation::good_house(20);
    let status = house.env.json(&["status"]);
    assert_eq!(
        status["current"]["activation"]["result"], "confirmed",
        "{status:#}"
    );
    assert!(status["unfinished_activation"].is_null());
    let text = house.env.ok(&["status"]);
    assert!(text.contains("activation:  confirmed healthy at"), "{text}");

    // A build whose activation is killed after `current` moved: never confirmed.
    house.env.ok(&["plugin", "remove", "good-plugin"]);
    crate::crash::kill_at(&house.env, &["build"], "after-flip", true);
    let status = house.env.json(&["status"]);
    let unfinished = &status["unfinished_activation"];
    assert_eq!(unfinished["generation"], 2, "{status:#}");
    assert_eq!(unfinished["command"], "build");
    assert_eq!(unfinished["running"], false);
    assert!(status["current"]["activation"].is_null());
    let text = house.env.ok(&["status"]);
    assert!(
        text.contains("was interrupted and never confirmed")
            && text.contains("cosmo-bundle activate"),
        "{text}"
    );
    // `activate` finishes it; status says so.
    house.env.ok(&["activate"]);
    let status = house.env.json(&["status"]);
    assert!(status["unfinished_activation"].is_null());
    assert_eq!(status["current"]["activation"]["result"], "confirmed");
}

/// Changes one byte of the current generation's bundle.json (a digit of its creation time).
fn damage_current_bundle_json(env: &Env) {
    use std::os::unix::fs::PermissionsExt;
    let path = env
        .dir()
        .join("current")
        .canonicalize()
        .unwrap()
        .join("bundle.json");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.iter().position(u8::is_ascii_digit).unwrap();
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_damaged_current_generation_shows_unknown_plugins_and_switch_to_it_gives_a_hint_that_works() {
    let env = Env::new();
    env.ok(&["build"]);
    damage_current_bundle_json(&env);
    let status = env.ok(&["status"]);
    assert!(
        status.contains("plugins:     (plugins unknown)"),
        "{status}"
    );
    assert!(status.contains("DAMAGED"), "{status}");
    let json = env.json(&["status"]);
    assert!(
        !json["current"]["damage"].as_array().unwrap().is_empty(),
        "{json}"
    );
    // `delete 1` refuses the current generation: the hint must not send the operator there.
    let stderr = env.fails(&["switch", "1"], 1);
    let hint = stderr.lines().find(|l| l.starts_with("hint:")).unwrap();
    assert!(hint.contains("cosmo-bundle switch N"), "{stderr}");
    assert!(hint.contains("cosmo-bundle build"), "{stderr}");
    assert!(
        !hint.starts_with(
            "hint: switch to another generation (see `cosmo-bundle generations`), or delete"
        ),
        "{stderr}"
    );
    env.fails(&["delete", "1"], 2);
}
