//! Activation, offline: a restart command of the tests' own
//! (`python/restart_standin.py`) stops the server it started last and starts a stand-in
//! server (`python/standin_server.py`) in the bundle `current` points to; the stand-in
//! loads the bundle's plugins with `cosmo_bundle.load_plugins` and answers `/health`,
//! `/plugins/active` and the plugins' routes as the reference server does.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The plugins the stand-in serves as `name==version`, sorted.
fn active(port: u16) -> Vec<String> {
    let (status, body) = get_json(port, "/plugins/active");
    assert_eq!(status, 200, "{body}");
    let mut names = specs(&body, "distribution");
    names.sort();
    names
}

/// `name==version` of each plugin of a JSON list, the name under `name_key`.
fn specs(plugins: &Value, name_key: &str) -> Vec<String> {
    plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}=={}",
                p[name_key].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// A plugin package for the stand-in: `router` routes under `/<short name>`.
fn plugin(root: &Path, name: &str, code: &str, prefix: bool) -> PathBuf {
    let module = name.replace('-', "_");
    let class = "Plugin";
    let prefix = if prefix {
        format!(r#", "url_prefix": "/{}""#, name.trim_end_matches("-plugin"))
    } else {
        String::new()
    };
    make_package(
        root,
        name,
        "1.0.0",
        &format!("{code}\n"),
        Some(&format!(
            r#"{{"name": "{name}", "version": "1.0.0", "plugin_class": "{module}.{class}", "description": "a test plugin"{prefix}}}"#
        )),
    )
}

/// Plugins made for these tests: one that works, and three ways to break the house.
fn plugins(root: &Path) -> Vec<PathBuf> {
    vec![
        plugin(
            root,
            "good-plugin",
            "class Plugin:\n    def __init__(self):\n        self.router = {'/status': {'plugin': 'good'}}",
            true,
        ),
        // Kills the server while it starts.
        plugin(
            root,
            "crash-plugin",
            "import os\n\nclass Plugin:\n    def __init__(self):\n        os._exit(3)",
            false,
        ),
        // Loads, and makes the server's /health answer 500.
        plugin(
            root,
            "sick-plugin",
            "import gc\n\nclass Plugin:\n    def __init__(self):\n        for app in [o for o in gc.get_objects() if type(o).__name__ == 'StandInApp']:\n            app.add_middleware(lambda path: (500, {'detail': 'sick'}) if path == '/health' else None)",
            false,
        ),
        // Fails to start: the server runs without it, its routes never appear.
        plugin(
            root,
            "routeless-plugin",
            "class Plugin:\n    def __init__(self):\n        raise RuntimeError('cannot reach the bridge')",
            true,
        ),
    ]
}

/// A data directory whose `restart` setting runs the stand-in on a port of its own.
pub struct House {
    pub env: Env,
    pub port: u16,
    pub state: tempfile::TempDir,
    _wheels: tempfile::TempDir,
}

impl House {
    /// With `health-timeout` `timeout` and `health-url` set to the stand-in's port.
    pub fn new(timeout: u32) -> House {
        let mut env = Env::new();
        let wheels = tempfile::tempdir().unwrap();
        let packages = plugins(&wheels.path().join("src"));
        env.add_wheels(&packages, &wheels.path().join("wheels"));
        let house = House {
            env,
            port: free_port(),
            state: tempfile::tempdir().unwrap(),
            _wheels: wheels,
        };
        house.restart_with(&[]);
        house.env.config("health-timeout", &[&timeout.to_string()]);
        house.env.config(
            "health-url",
            &[&format!("http://127.0.0.1:{}/health", house.port)],
        );
        house
    }

    /// Sets `restart` to the restart script with `extra` arguments.
    pub fn restart_with(&self, extra: &[&str]) {
        let script = repo_root().join("tests/suite/python/restart_standin.py");
        let port = self.port.to_string();
        // After `--`, arguments that start with `-` are the command's.
        let mut args = vec![
            "config",
            "set",
            "restart",
            "--",
            "python3",
            script.to_str().unwrap(),
            self.state.path().to_str().unwrap(),
            &port,
        ];
        args.extend_from_slice(extra);
        self.env.ok(&args);
    }

    /// The pid of the server the restart script started last.
    pub fn server_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.state.path().join("server.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// How many times the restart script ran.
    pub fn restarts(&self) -> usize {
        std::fs::read_to_string(self.state.path().join("restarts"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("server.log")).unwrap_or_default()
    }

    pub fn generation(&self, number: u64) -> Value {
        self.env
            .json(&["generations"])
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["number"] == number)
            .unwrap_or_else(|| panic!("no generation {number}"))
            .clone()
    }

    /// Runs `args` with `--json`, expects exit code 9, and returns the error object.
    pub fn activation_fails(&self, args: &[&str]) -> (Value, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.env.run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(9),
            "`{}`\nstdout: {}\nstderr: {stderr}\nserver log: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            self.log()
        );
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body["error"]["kind"], "activation_failed");
        assert_eq!(body["error"]["exit_code"], 9);
        (body["error"].clone(), stderr)
    }
}

impl Drop for House {
    fn drop(&mut self) {
        for file in ["server.pid", "hang.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.state.path().join(file))
                && let Ok(pid) = pid.trim().parse::<u32>()
            {
                signal_process(pid, Signal::KILL);
            }
        }
    }
}

fn current(env: &Env) -> PathBuf {
    env.current_target().expect("current exists")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// A house whose generation 1 (the good plugin) is current, confirmed and being served.
pub fn good_house(timeout: u32) -> House {
    let house = House::new(timeout);
    house
        .env
        .ok(&["plugin", "add", "good-plugin", "--version", "1.0.0"]);
    let out = house.env.json(&["build"]);
    assert_eq!(
        out["activation"]["confirmed"],
        true,
        "{out}\n{}",
        house.log()
    );
    assert_eq!(active(house.port), ["good-plugin==1.0.0"]);
    house
}

#[test]
fn a_good_plugin_activates_and_is_confirmed() {
    let house = House::new(20);
    // The clean generation first: the restart script starts the stand-in on it.
    let out = house.env.json(&["build"]);
    let report = &out["activation"];
    assert_eq!(report["confirmed"], true, "{out}");
    assert_eq!(report["reverted"], false);
    let attempt = &report["attempts"][0];
    assert_eq!(attempt["restart"]["exit_code"], 0);
    assert_eq!(attempt["health"]["status"], 200);
    assert_eq!(attempt["health"]["plugins"]["checked"], true);
    assert_eq!(active(house.port), Vec::<String>::new());
    let first_pid = house.server_pid().unwrap();

    house
        .env
        .ok(&["plugin", "add", "good-plugin", "--version", "1.0.0"]);
    let text = house.env.ok(&["build"]);
    assert!(
        text.contains("generation 2 confirmed") && text.contains("with its plugins"),
        "{text}"
    );
    assert_eq!(active(house.port), ["good-plugin==1.0.0"]);
    assert_eq!(get(house.port, "/good/status").unwrap().0, 200);
    assert_ne!(house.server_pid().unwrap(), first_pid, "restarted");
    assert!(!alive(first_pid), "the old server was stopped");
    assert_eq!(
        house.env.plugin("good-plugin")["install_status"],
        "INSTALLED"
    );

    // Both generations are confirmed in profile.json and in `generations`.
    for n in [1, 2] {
        let g = house.generation(n);
        assert_eq!(g["activation"]["result"], "confirmed", "{g}");
        assert!(g["activation"]["at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(g["unfinished"], Value::Null);
    }
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(house.env.dir().join("profile.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(index["generations"][1]["activation"]["result"], "confirmed");
    assert!(index.get("activating").is_none(), "{index}");
    let listing = house.env.ok(&["generations"]);
    assert_eq!(listing.matches("[confirmed]").count(), 2, "{listing}");

    // Switching back activates too; --no-activate moves `current` and restarts nothing.
    let restarts = house.restarts();
    let out = house.env.json(&["switch", "1"]);
    assert_eq!(out["activation"]["confirmed"], true);
    assert_eq!(house.restarts(), restarts + 1);
    assert_eq!(active(house.port), Vec::<String>::new());
    let out = house.env.json(&["switch", "2", "--no-activate"]);
    assert_eq!(out["activation"], Value::Null);
    assert_eq!(house.restarts(), restarts + 1);
    assert_eq!(active(house.port), Vec::<String>::new(), "not restarted");
}

/// Adds `plugin` to the good house and builds: the activation fails, `current` goes back
/// to generation 1, and the old server answers again.
fn rolled_back(plugin: &str, kind: &str, reason: &str) {
    let house = good_house(8);
    let pid = house.server_pid().unwrap();
    house
        .env
        .ok(&["plugin", "add", plugin, "--version", "1.0.0"]);
    let (error, stderr) = house.activation_fails(&["build"]);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("generation 2 did not come back healthy"),
        "{error}"
    );
    assert!(
        stderr.contains("back on generation 1, and the server answers healthy again"),
        "{stderr}"
    );
    assert!(stderr.contains("cosmo-bundle switch 2"), "{stderr}");
    let report = &error["activation"];
    assert_eq!(report["generation"], 2);
    assert_eq!(report["previous"], 1);
    assert_eq!(report["reverted"], true);
    assert_eq!(report["previous_healthy"], true);
    assert_eq!(report["attempts"][0]["failure"]["kind"], kind, "{report}");
    let message = report["attempts"][0]["failure"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains(reason), "{plugin}: {message}");
    assert_eq!(report["attempts"][1]["healthy"], true);

    // `current` is back, the old generation's server answers, restarted twice.
    assert_eq!(current(&house.env), Path::new("generations/1"));
    assert_eq!(active(house.port), ["good-plugin==1.0.0"]);
    assert_eq!(get(house.port, "/health").unwrap().0, 200);
    assert_ne!(house.server_pid().unwrap(), pid);
    assert_eq!(house.restarts(), 3);
    let failed = house.generation(2);
    assert_eq!(failed["activation"]["result"], "failed", "{failed}");
    assert_eq!(failed["activation"]["kind"], kind);
    assert_eq!(house.generation(1)["activation"]["result"], "confirmed");
    assert!(house.env.ok(&["generations"]).contains("ACTIVATION FAILED"));
    // The rows follow generation 1 again.
    assert_ne!(house.env.plugin(plugin)["install_status"], "INSTALLED");
    assert_eq!(
        house.env.plugin("good-plugin")["install_status"],
        "INSTALLED"
    );
}

#[test]
fn a_plugin_that_kills_the_server_at_start_up_is_rolled_back() {
    rolled_back("crash-plugin", "timeout", "nothing answered");
}

#[test]
fn a_plugin_that_makes_health_fail_is_rolled_back() {
    rolled_back("sick-plugin", "http_status", "answered HTTP 500");
}

#[test]
fn a_plugin_whose_routes_never_appear_is_rolled_back() {
    rolled_back(
        "routeless-plugin",
        "plugins",
        "missing: routeless-plugin==1.0.0",
    );
}

#[test]
fn rollback_passes_over_a_failed_generation_but_switch_names_it() {
    let house = good_house(6);
    house
        .env
        .ok(&["plugin", "add", "crash-plugin", "--version", "1.0.0"]);
    house.activation_fails(&["build"]);
    // Generation 3: the good plugin alone again is generation 1's bundle, so remove it and
    // build the clean set.
    house.env.ok(&["plugin", "remove", "crash-plugin"]);
    house.env.ok(&["plugin", "remove", "good-plugin"]);
    let out = house.env.json(&["build"]);
    assert_eq!(out["generation"], 3);
    assert_eq!(out["activation"]["confirmed"], true);
    let out = house.env.json(&["rollback"]);
    assert_eq!(out["current"], 1, "{out}");
    assert_eq!(out["skipped"][0]["number"], 2);
    assert!(
        out["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("activation failed"),
        "{out}"
    );
    assert_eq!(active(house.port), ["good-plugin==1.0.0"]);
    // Named, it is tried again (and fails again, going back to 1).
    let (error, _) = house.activation_fails(&["switch", "2"]);
    assert_eq!(error["activation"]["previous"], 1);
    assert_eq!(current(&house.env), Path::new("generations/1"));
    // Only generation 1 is left below it: a rollback from 1 has nothing.
    house.env.fails(&["rollback"], 2);
}

#[test]
fn switch_to_the_current_generation_says_so_and_restarts_nothing() {
    let house = good_house(6);
    let restarts = house.restarts();
    let text = house.env.ok(&["switch", "1"]);
    assert!(text.contains("generation 1 was already current"), "{text}");
    assert!(!text.contains("is now current"), "{text}");
    let out = house.env.json(&["switch", "1"]);
    assert_eq!(out["previous"], 1);
    assert_eq!(out["activation"], Value::Null);
    assert_eq!(house.restarts(), restarts, "nothing restarted");
}

#[test]
fn rollback_over_failed_activations_only_is_bad_input_naming_switch() {
    let house = House::new(6);
    house
        .env
        .ok(&["plugin", "add", "crash-plugin", "--version", "1.0.0"]);
    house.activation_fails(&["build"]);
    house.env.ok(&["plugin", "remove", "crash-plugin"]);
    let out = house.env.json(&["build"]);
    assert_eq!(out["generation"], 2);
    assert_eq!(out["activation"]["confirmed"], true, "{out}");
    let before = house.env.snapshot();
    let out = house.env.run(&["--json", "rollback"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = &body["error"];
    assert_eq!(error["kind"], "bad_input", "{body}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("generation 1 failed its activation"),
        "{body}"
    );
    assert!(
        error["hint"].as_str().unwrap().contains("switch 1"),
        "{body}"
    );
    assert_eq!(house.env.snapshot(), before);
}

#[test]
fn a_restart_command_that_fails_is_reported_with_its_stderr_and_the_old_one_loudly() {
    let house = good_house(5);
    house.restart_with(&["--exit", "3"]);
    house
        .env
        .ok(&["plugin", "add", "crash-plugin", "--version", "1.0.0"]);
    let (error, stderr) = house.activation_fails(&["build"]);
    let attempt = &error["activation"]["attempts"][0];
    assert_eq!(attempt["failure"]["kind"], "restart_failed");
    assert_eq!(attempt["restart"]["exit_code"], 3);
    assert!(
        attempt["restart"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("Unit cosmoserver.service not found"),
        "{attempt}"
    );
    assert_eq!(attempt["health"], Value::Null, "nothing polled");
    assert!(stderr.contains("exited with 3"), "{stderr}");
    // Going back restarts again, which fails too: said loudly, same exit code.
    assert_eq!(error["activation"]["previous_healthy"], false);
    assert!(
        stderr.contains("did NOT come back healthy either")
            && stderr.contains("THE SERVER MAY BE DOWN"),
        "{stderr}"
    );
    assert_eq!(current(&house.env), Path::new("generations/1"));
    assert_eq!(house.generation(1)["activation"]["result"], "failed");
    // Once the restart command works again, `activate` confirms generation 1.
    house.restart_with(&[]);
    let out = house.env.json(&["activate"]);
    assert_eq!(out["current"], 1);
    assert_eq!(out["activation"]["confirmed"], true);
    assert_eq!(house.generation(1)["activation"]["result"], "confirmed");
}

#[test]
fn a_restart_command_that_hangs_is_killed_at_the_timeout() {
    let house = good_house(2);
    house.restart_with(&["--hang"]);
    house
        .env
        .ok(&["plugin", "add", "crash-plugin", "--version", "1.0.0"]);
    let started = Instant::now();
    let (error, stderr) = house.activation_fails(&["build"]);
    let took = started.elapsed();
    // Two attempts (the generation, then going back), each bounded by 2 s.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let attempt = &error["activation"]["attempts"][0];
    assert_eq!(attempt["failure"]["kind"], "restart_timeout", "{attempt}");
    assert_eq!(attempt["restart"]["timed_out"], true);
    assert!(attempt["restart"]["seconds"].as_f64().unwrap() >= 1.9);
    assert!(stderr.contains("did not finish within 2 s"), "{stderr}");
    let hung: u32 = std::fs::read_to_string(house.state.path().join("hang.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(hung), "the hanging restart command was killed");
    assert_eq!(current(&house.env), Path::new("generations/1"));
}

#[test]
fn the_default_health_url_is_that_of_the_server_start_records() {
    let house = House::new(20);
    house.env.ok(&["config", "unset", "health-url"]);
    // The stand-in records itself in run/<pid>.json, listening on 0.0.0.0, as `start` does.
    house.restart_with(&["--record"]);
    let out = house.env.json(&["build"]);
    let health = &out["activation"]["attempts"][0]["health"];
    assert_eq!(
        out["activation"]["confirmed"],
        true,
        "{out}\n{}",
        house.log()
    );
    assert_eq!(
        health["url"],
        format!("http://127.0.0.1:{}/health", house.port)
    );
}

#[test]
fn activation_flags_and_the_activate_command_refuse_what_cannot_work() {
    let env = Env::new();
    env.ok(&["build"]);
    let before = env.snapshot();
    let stderr = env.fails(&["switch", "1", "--activate"], 2);
    assert!(stderr.contains("`restart` setting is not set"), "{stderr}");
    let stderr = env.fails(&["build", "--activate"], 2);
    assert!(stderr.contains("config set restart"), "{stderr}");
    let stderr = env.fails(&["activate"], 2);
    assert!(stderr.contains("--no-restart"), "{stderr}");
    env.fails(&["build", "--activate", "--no-switch"], 2);
    env.fails(&["rollback", "--activate", "--no-activate"], 2);
    assert_eq!(env.snapshot(), before, "a refusal wrote something");
    // Without `restart`, nothing is activated by default.
    let out = env.json(&["switch", "1"]);
    assert_eq!(out["activation"], Value::Null);
}

#[test]
fn activate_without_restart_checks_the_running_server() {
    let house = good_house(3);
    let restarts = house.restarts();
    let out = house.env.json(&["activate", "--no-restart"]);
    assert_eq!(out["activation"]["confirmed"], true, "{out}");
    assert_eq!(out["activation"]["attempts"][0]["restart"], Value::Null);
    assert_eq!(house.restarts(), restarts);
    // The server stopped: the check fails, and there is nothing to go back to.
    signal_process(house.server_pid().unwrap(), Signal::KILL);
    let (error, stderr) = house.activation_fails(&["activate", "--no-restart"]);
    assert_eq!(error["activation"]["reverted"], false);
    assert!(stderr.contains("no generation to go back to"), "{stderr}");
    assert_eq!(current(&house.env), Path::new("generations/1"));
}

/// Kills `build` at `point` (the whole process group, or the main process alone), then
/// checks that `current` is `expected`, that `generations` shows the activation of
/// generation 2 as interrupted with the commands that finish or revert it, and that
/// `activate` finishes it: with exit code `code`, `current` ending on `settled`, and the
/// server answering with that generation's plugins.
fn killed_activation(
    house: &House,
    point: &str,
    group: bool,
    expected: &str,
    code: i32,
    settled: &str,
) {
    crate::crash::kill_at(&house.env, &["build"], point, group);
    let what = format!("killed at {point} (group: {group})");
    assert_eq!(current(&house.env), Path::new(expected), "{what}");
    let out = house.env.run(&["--json", "generations"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted and never confirmed")
            && stderr.contains("cosmo-bundle activate"),
        "{what}: {stderr}"
    );
    let gens: Value = serde_json::from_slice(&out.stdout).unwrap();
    let two = &gens[1];
    assert_eq!(two["unfinished"]["running"], false, "{what}: {two}");
    assert_eq!(two["unfinished"]["previous"], 1);
    assert_eq!(two["unfinished"]["command"], "build");
    let listing = house.env.ok(&["generations"]);
    assert!(listing.contains("[UNCONFIRMED"), "{what}: {listing}");

    let out = house.env.run(&["--json", "activate"]);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(current(&house.env), Path::new(settled), "{what}");
    let gens = house.env.json(&["generations"]);
    for g in gens.as_array().unwrap() {
        assert_eq!(g["unfinished"], Value::Null, "{what}: {g}");
    }
    let n: u64 = settled.trim_start_matches("generations/").parse().unwrap();
    let now = &gens[n as usize - 1];
    assert_eq!(now["activation"]["result"], "confirmed", "{what}: {now}");
    let want = specs(&now["plugins"], "name");
    assert_eq!(active(house.port), want, "{what}");
}

/// A house whose clean generation 1 is current and confirmed.
fn clean_house(timeout: u32) -> House {
    let house = House::new(timeout);
    let out = house.env.json(&["build"]);
    assert_eq!(out["activation"]["confirmed"], true, "{out}");
    house
}

#[test]
fn killed_at_every_point_of_an_activation_that_would_succeed() {
    for (point, expected) in [
        ("activation-recorded", "generations/1"),
        ("after-flip", "generations/2"),
        ("before-restart", "generations/2"),
        ("before-health", "generations/2"),
    ] {
        for group in [true, false] {
            let house = clean_house(20);
            house
                .env
                .ok(&["plugin", "add", "good-plugin", "--version", "1.0.0"]);
            killed_activation(&house, point, group, expected, 0, expected);
        }
    }
}

#[test]
fn killed_while_going_back_from_a_failed_activation() {
    for (point, expected, code) in [
        ("activation-failed-recorded", "generations/2", 9),
        ("after-revert-flip", "generations/1", 0),
    ] {
        for group in [true, false] {
            let house = clean_house(3);
            house
                .env
                .ok(&["plugin", "add", "crash-plugin", "--version", "1.0.0"]);
            killed_activation(&house, point, group, expected, code, "generations/1");
            // Generation 2 stays marked failed, whichever command found it so.
            assert_eq!(house.generation(2)["activation"]["result"], "failed");
        }
    }
}
