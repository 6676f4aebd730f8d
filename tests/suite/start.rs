//! `start` refusals, offline. (Starting real servers is in pypi.rs.)

use crate::common::*;

#[test]
fn start_without_a_current_generation_says_how_to_build_one() {
    let env = Env::new();
    let before = env.snapshot();
    let stderr = env.fails(&["start"], 2);
    assert!(
        stderr.contains("no current generation") && stderr.contains("cosmo-bundle build"),
        "{stderr}"
    );
    assert_eq!(env.snapshot(), before, "start wrote something");
}

#[test]
fn invalid_ports_and_hosts_are_refused() {
    let env = Env::new();
    for port in ["0", "65536", "http", "-1"] {
        let stderr = env.fails(&["start", &format!("--port={port}")], 2);
        assert!(stderr.contains("--port"), "{port}: {stderr}");
    }
    env.ok(&["build"]);
    let stderr = env.fails(&["start", "--host", "local host"], 2);
    assert!(stderr.contains("--host"), "{stderr}");
}

#[test]
fn a_bundle_without_fastapi_is_refused_with_what_to_add() {
    let env = Env::new();
    env.ok(&["build"]);
    let stderr = env.fails(&["start"], 2);
    assert!(
        stderr.contains("no `fastapi` command") && stderr.contains("fastapi-cli"),
        "{stderr}"
    );
}

#[test]
fn a_bundle_whose_interpreter_vanished_says_to_rebuild() {
    let env = Env::new();
    let interpreters = tempfile::tempdir().unwrap();
    let real = run_ok(
        "python3",
        &["-c", "import sys; print(sys.executable)"],
        env.dir(),
    );
    let link = interpreters.path().join("python3");
    std::os::unix::fs::symlink(real.trim(), &link).unwrap();
    env.config("python", &[link.to_str().unwrap()]);
    env.ok(&["build"]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir().join("current/bundle.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["inputs"]["settings"]["python"],
        serde_json::to_string(link.to_str().unwrap()).unwrap()
    );
    drop(interpreters);
    let stderr = env.fails(&["start"], 2);
    assert!(
        stderr.contains("no longer exists") && stderr.contains("rebuild"),
        "{stderr}"
    );
    // Building for an interpreter that exists gives a new bundle and generation.
    env.config("python", &[real.trim()]);
    env.ok(&["build"]);
    assert_eq!(env.json(&["generations"]).as_array().unwrap().len(), 2);
    let stderr = env.fails(&["start"], 2);
    assert!(stderr.contains("no `fastapi` command"), "{stderr}");
}

#[test]
fn clean_mode_needs_the_server_repository() {
    let env = Env::new();
    let out = env
        .cmd(&["start", "--clean"])
        .env_remove("COSMO_SERVER_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no server repository given"));
}
