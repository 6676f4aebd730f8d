//! Activation of the reference FastAPI server (PyPI set): the restart command of the
//! tests' own (`python/restart_standin.py --start BIN`) stops the server it started last
//! and runs `cosmo-bundle start` again; the health URL is the default one, found in the
//! `run/` record that `start` writes.

use super::pypi_env;
use crate::common::*;
use crate::common::{free_port, get_json};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Web plugins made for this test: one with a route, and three that break the house.
fn web_plugins(root: &Path) -> Vec<PathBuf> {
    let manifest = |name: &str, prefix: &str| {
        format!(
            r#"{{"name": "{name}", "version": "1.0.0", "plugin_class": "{}.Plugin", "description": "a test plugin"{prefix}}}"#,
            name.replace('-', "_")
        )
    };
    vec![
        make_package(
            root,
            "act-good",
            "1.0.0",
            "from fastapi import APIRouter\n\nrouter = APIRouter()\n\n@router.get('/status')\ndef status():\n    return {'plugin': 'act-good'}\n\nclass Plugin:\n    def __init__(self):\n        self.router = router\n",
            Some(&manifest("act-good", r#", "url_prefix": "/good""#)),
        ),
        // Kills the server while it starts.
        make_package(
            root,
            "act-crash",
            "1.0.0",
            "import os\n\nclass Plugin:\n    def __init__(self):\n        os._exit(3)\n",
            Some(&manifest("act-crash", "")),
        ),
        // Reaches into the app and makes every /health answer 500.
        make_package(
            root,
            "act-sick",
            "1.0.0",
            "import gc\nfrom fastapi import FastAPI\nfrom starlette.responses import JSONResponse\n\nclass Broken:\n    def __init__(self, app):\n        self.app = app\n\n    async def __call__(self, scope, receive, send):\n        if scope['type'] == 'http' and scope['path'] == '/health':\n            await JSONResponse({'detail': 'sick'}, status_code=500)(scope, receive, send)\n        else:\n            await self.app(scope, receive, send)\n\nclass Plugin:\n    def __init__(self):\n        for app in [o for o in gc.get_objects() if isinstance(o, FastAPI)]:\n            app.add_middleware(Broken)\n",
            Some(&manifest("act-sick", "")),
        ),
        // Cannot start: the loader skips it, and its routes never appear.
        make_package(
            root,
            "act-routeless",
            "1.0.0",
            "class Plugin:\n    def __init__(self):\n        raise RuntimeError('cannot reach the bridge')\n",
            Some(&manifest("act-routeless", r#", "url_prefix": "/ghost""#)),
        ),
    ]
}

/// Stops the last server the restart script started.
struct Stop(PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("server.pid"))
            && let Ok(pid) = pid.trim().parse::<u32>()
        {
            signal_process(pid, Signal::KILL);
        }
    }
}

#[test]
#[ignore = "needs PyPI: cargo test --test suite -- --ignored pypi::"]
fn the_reference_server_is_restarted_checked_and_rolled_back() {
    let scratch = tempfile::tempdir().unwrap();
    let env = pypi_env(scratch.path());
    let wheels = scratch.path().join("act-wheels");
    let packages = web_plugins(&scratch.path().join("act-src"));
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("fixtures/make_wheelhouse.py"))
        .arg(&wheels)
        .args(&packages)
        .status()
        .unwrap();
    assert!(status.success());
    let links = env.json(&["config", "get", "find-links"]);
    let mut find_links: Vec<String> = links["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    find_links.push(wheels.to_str().unwrap().to_string());
    let refs: Vec<&str> = find_links.iter().map(String::as_str).collect();
    env.config("find-links", &refs);

    let port = free_port();
    let state = scratch.path().join("state");
    let _stop = Stop(state.clone());
    let script = repo_root().join("tests/suite/python/restart_standin.py");
    let port_text = port.to_string();
    env.ok(&[
        "config",
        "set",
        "restart",
        "--",
        "python3",
        script.to_str().unwrap(),
        state.to_str().unwrap(),
        &port_text,
        "--start",
        BIN,
    ]);
    env.config("health-timeout", &["90"]);

    // The clean generation, then the good plugin: restarted, found, confirmed.
    let out = env.json(&["build"]);
    assert_eq!(out["activation"]["confirmed"], true, "{out}");
    let url = format!("http://127.0.0.1:{port}/health");
    assert_eq!(out["activation"]["attempts"][0]["health"]["url"], url);
    env.ok(&["plugin", "add", "act-good", "--version", "1.0.0"]);
    let out = env.json(&["build"]);
    assert_eq!(out["activation"]["confirmed"], true, "{out}");
    assert_eq!(
        out["activation"]["attempts"][0]["health"]["plugins"]["checked"],
        true
    );
    assert_eq!(get_json(port, "/good/status").1["plugin"], "act-good");
    let good = get_json(port, "/plugins/active").1;

    env.config("health-timeout", &["25"]);
    for (plugin, kind) in [
        ("act-crash", "timeout"),
        ("act-sick", "http_status"),
        ("act-routeless", "plugins"),
    ] {
        env.ok(&["plugin", "add", plugin, "--version", "1.0.0"]);
        let out = env.run(&["--json", "build"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(9), "{plugin}: {stderr}");
        let error: Value = serde_json::from_slice(&out.stdout).unwrap();
        let report = &error["error"]["activation"];
        assert_eq!(report["attempts"][0]["failure"]["kind"], kind, "{report}");
        assert_eq!(report["previous_healthy"], true, "{report}");
        assert!(
            stderr.contains("the server answers healthy again"),
            "{stderr}"
        );
        // The old server answers again, with the good plugin alone.
        assert_eq!(env.current_target().unwrap(), Path::new("generations/2"));
        assert_eq!(get_json(port, "/plugins/active").1, good);
        assert_eq!(get_json(port, "/good/status").0, 200);
        env.ok(&["plugin", "remove", plugin]);
    }
    let gens = env.json(&["generations"]);
    let failed: Vec<&Value> = gens
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["activation"]["result"] == "failed")
        .collect();
    assert_eq!(failed.len(), 3, "{gens}");
}
