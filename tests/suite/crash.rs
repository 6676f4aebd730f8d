//! Kill real builds with SIGKILL and check that nothing that looks valid is left behind.
//!
//! The build runs in its own process group and the whole group is killed, as a service
//! manager or a power cut would: uv dies with it.

use crate::common::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

fn spawn_build(env: &Env) -> Child {
    env.cmd(&["build"])
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill_group(mut child: Child) {
    signal_group(child.id(), Signal::KILL);
    child.wait().unwrap();
}

/// Command lines of `pid`'s direct children.
fn children(pid: u32) -> Vec<String> {
    let list =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace()
        .filter_map(|c| std::fs::read(format!("/proc/{c}/cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .collect()
}

/// Waits until the build runs `uv <verb>`, then kills it there.
fn kill_during_uv(env: &Env, verb: &str) {
    kill_command_during_uv(spawn_build(env), verb);
}

fn kill_command_during_uv(child: Child, verb: &str) {
    let started = Instant::now();
    let needle = format!(" {verb} --project ");
    loop {
        if children(child.id()).iter().any(|c| c.contains(&needle)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never saw uv {verb}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    kill_group(child);
}

/// A data directory with generation 1 current and one more plugin waiting.
fn prepared() -> Env {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    env
}

/// The registered bundles' files (everything but the venv, which is large) and `current`.
fn registered_state(env: &Env) -> (Option<PathBuf>, Vec<(PathBuf, String)>) {
    let snap = env.snapshot();
    let registered: Vec<PathBuf> = snap
        .keys()
        .filter(|p| p.ends_with("bundle.json"))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    let files = snap
        .into_iter()
        .filter(|(p, _)| {
            registered.iter().any(|r| p.starts_with(r))
                && !p.components().any(|c| c.as_os_str() == ".venv")
        })
        .collect();
    (env.current_target(), files)
}

/// After a kill: `current` is the old generation or the new one, every generation's bundle
/// is registered, registered bundles are untouched, and the same set then builds.
fn check_after_kill(env: &Env, before: &(Option<PathBuf>, Vec<(PathBuf, String)>)) {
    let current = env.current_target().expect("current still exists");
    assert!(
        current == Path::new("generations/1") || current == Path::new("generations/2"),
        "current points to {current:?}"
    );
    let gens = env.json(&["generations"]);
    for g in gens.as_array().unwrap() {
        assert_eq!(
            g["valid"], true,
            "generation {} points at an unregistered bundle",
            g["number"]
        );
    }
    let (_, files_after) = registered_state(env);
    for entry in &before.1 {
        assert!(
            files_after.contains(entry),
            "registered bundle file changed: {entry:?}"
        );
    }
    // The same set builds afterwards, and its bundle works.
    let out = env.json(&["build"]);
    let hash = out["hash"].as_str().unwrap();
    let gens = env.json(&["generations"]);
    let current = gens
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["current"] == true)
        .unwrap();
    assert_eq!(current["hash"], hash);
    assert_eq!(current["plugins"].as_array().unwrap().len(), 2);
    run_ok(
        env.dir().join("current/.venv/bin/python"),
        &["-c", "import hue_lights, zigbee_switch"],
        env.dir(),
    );
    assert_eq!(env.plugin("hue-lights")["install_status"], "INSTALLED");
}

#[test]
fn killed_while_uv_resolves() {
    let env = prepared();
    // Without the conflict check's lock, the build resolves the set itself, in the
    // `uv sync` that installs it.
    std::fs::remove_dir_all(env.dir().join("resolved")).unwrap();
    let before = registered_state(&env);
    kill_during_uv(&env, "sync");
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    check_after_kill(&env, &before);
}

#[test]
fn killed_during_uv_sync() {
    let env = prepared();
    let before = registered_state(&env);
    kill_during_uv(&env, "sync");
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    check_after_kill(&env, &before);
}

/// Runs `args` paused at fault point `point`, then kills it there: the whole process group
/// (as a service manager or a power cut would) or the main process alone.
pub(crate) fn kill_at(env: &Env, args: &[&str], point: &str, group: bool) {
    let mut child = env.paused_at(args, point);
    if group {
        kill_group(child);
    } else {
        signal_process(child.id(), Signal::KILL);
        child.wait().unwrap();
    }
}

#[test]
fn killed_after_sync_before_registration() {
    let env = prepared();
    let before = registered_state(&env);
    kill_at(&env, &["build"], "before-register", true);
    // The half-built bundle is complete except for its registration: it must not be used.
    let leftovers: Vec<_> = std::fs::read_dir(env.dir().join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .filter(|p| !p.join("bundle.json").exists())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "the unregistered build directory is there"
    );
    assert!(leftovers[0].join(".venv").exists());
    assert_eq!(env.current_target().unwrap(), Path::new("generations/1"));
    assert_eq!(env.json(&["generations"]).as_array().unwrap().len(), 1);
    check_after_kill(&env, &before);
}

#[test]
fn killed_at_every_named_point_of_a_build() {
    for point in [
        "after-uv-lock",
        "after-uv-sync",
        "before-register",
        "after-register",
        "before-index-write",
        "after-index-entry",
        "after-generation-link",
        "before-seen-write",
        "after-flip",
        "db-before-commit",
    ] {
        for group in [true, false] {
            let env = prepared();
            std::fs::remove_dir_all(env.dir().join("resolved")).unwrap();
            let before = registered_state(&env);
            kill_at(&env, &["build"], point, group);
            check_after_kill(&env, &before);
        }
    }
}

#[test]
fn a_hot_journal_left_by_a_killed_writer_breaks_no_command() {
    for first in [
        &["plugin", "list"][..],
        &["plugin", "show", "hue-lights"],
        &["build"],
        &["discover"],
    ] {
        let env = prepared();
        let before = env.json(&["plugin", "list"]);
        run_ok(
            "python3",
            &[
                repo_root()
                    .join("tests/suite/python/kill_mid_commit.py")
                    .to_str()
                    .unwrap(),
                env.dir().join("cosmo.db").to_str().unwrap(),
            ],
            env.dir(),
        );
        assert!(env.dir().join("cosmo.db-journal").exists());
        // The first command after the crash opens the database for reading first.
        env.ok(first);
        if first[0] == "plugin" {
            assert_eq!(
                env.json(&["plugin", "list"]),
                before,
                "the half commit is gone"
            );
        }
        env.ok(&["build"]);
        assert_eq!(env.plugin("hue-lights")["install_status"], "INSTALLED");
    }
}

#[test]
fn killed_during_the_conflict_check_of_plugin_add() {
    let env = Env::new();
    env.ok(&["plugin", "add", "zigbee-switch", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let before = env.json(&["plugin", "list"]);
    let child = env
        .cmd(&["plugin", "add", "hue-lights", "--version", "1.0.0"])
        .process_group(0)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    kill_command_during_uv(child, "lock");
    assert_eq!(
        env.json(&["plugin", "list"]),
        before,
        "no record for a killed add"
    );
    // The next mutating command clears the temporary project and works.
    env.ok(&["plugin", "add", "hue-lights", "--version", "1.0.0"]);
    assert_eq!(std::fs::read_dir(env.dir().join("tmp")).unwrap().count(), 0);
    assert_eq!(env.plugin("hue-lights")["install_status"], "PENDING");
}
