//! End-to-end against real PyPI: the reference FastAPI server and its plugins get fastapi,
//! uvicorn and their dependency trees from PyPI, as an operator's would.
//!
//! Needs network access to PyPI. Run alone with:
//!     cargo test --test suite -- --ignored pypi::

mod activation;
mod lifecycle;

use crate::common::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// The web plugins' wheels (the plugins themselves; their dependencies come from PyPI).
fn web_wheelhouse(dir: &Path) -> PathBuf {
    let out = dir.join("web-wheels");
    let plugins: Vec<PathBuf> = std::fs::read_dir(repo_root().join("fixtures/web-plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("fixtures/make_wheelhouse.py"))
        .arg(&out)
        .args(&plugins)
        .status()
        .unwrap();
    assert!(status.success());
    let wheel = cosmo_bundle_wheel();
    std::fs::copy(wheel, out.join(wheel.file_name().unwrap())).unwrap();
    out
}

/// The `cosmo-bundle` wheel the reference server depends on (for its client and loader):
/// `COSMO_BUNDLE_WHEEL`, else built once per test process with `maturin build`.
fn cosmo_bundle_wheel() -> &'static Path {
    static WHEEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    WHEEL.get_or_init(|| {
        if let Some(wheel) = std::env::var_os("COSMO_BUNDLE_WHEEL") {
            return PathBuf::from(wheel);
        }
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cosmo-bundle-wheel-{}", std::process::id()));
        let status = std::process::Command::new("maturin")
            .args(["build", "--quiet", "--out"])
            .arg(&out)
            .arg("--manifest-path")
            .arg(repo_root().join("Cargo.toml"))
            .status()
            .expect(
                "maturin runs: `pip install maturin`, or set COSMO_BUNDLE_WHEEL to a built wheel",
            );
        assert!(status.success(), "maturin build failed");
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .expect("maturin built a wheel")
    })
}

fn pypi_env(scratch: &Path) -> Env {
    let mut env = Env::with_server(repo_root().join("fixtures/web-server"));
    env.vars.remove("UV_OFFLINE");
    env.ok(&["config", "unset", "no-index"]);
    env.config("find-links", &[web_wheelhouse(scratch).to_str().unwrap()]);
    env
}

/// A server started by `cosmo-bundle start`, stopped when dropped (even on panic).
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(env: &Env, extra_path: Option<&Path>) -> Server {
        let port = free_port();
        let log = env.dir().join(format!("server-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = env.cmd(&["start", "--port", &port.to_string()]);
        if let Some(path) = extra_path {
            cmd.env("PATH", path);
        }
        let child = cmd
            .process_group(0)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut server = Server { child, port, log };
        server.wait_ready();
        server
    }

    /// Polls until `/health` answers 200.
    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some((200, _)) = get(self.port, "/health") {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "server exited with {status}:\n{}",
                    std::fs::read_to_string(&self.log).unwrap()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "server not ready:\n{}",
                std::fs::read_to_string(&self.log).unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        signal_group(self.child.id(), Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.child.id(), Signal::KILL);
        let _ = self.child.wait();
    }
}

fn status_of(port: u16, path: &str) -> u16 {
    get(port, path)
        .unwrap_or_else(|| panic!("nothing answers {path}"))
        .0
}

#[test]
#[ignore = "needs PyPI: cargo test --test suite -- --ignored pypi::"]
fn the_whole_loop_on_a_real_fastapi_server() {
    let scratch = tempfile::tempdir().unwrap();
    let env = pypi_env(scratch.path());
    let server_repo = repo_root().join("fixtures/web-server");
    let repo_before = snapshot(&server_repo);

    env.ok(&["build"]); // generation 1: the clean one

    // 1. The zigbee plugin.
    env.ok(&["plugin", "add", "cosmo-zigbee", "--version", "1.0.0"]);
    env.ok(&["build"]);
    {
        let srv = Server::start(&env, None);
        let (status, body) = get_json(srv.port, "/zigbee/status");
        assert_eq!(status, 200);
        assert_eq!(body["version"], "1.0.0");
        assert_eq!(body["plugin"], "cosmo-zigbee");
        let (_, active) = get_json(srv.port, "/plugins/active");
        assert_eq!(active[0]["distribution"], "cosmo-zigbee");
        assert_eq!(active[0]["version"], "1.0.0");
    }

    // 2. A second plugin: both answer.
    env.ok(&["plugin", "add", "cosmo-porch-light", "--version", "1.0.0"]);
    env.ok(&["build"]);
    {
        let srv = Server::start(&env, None);
        assert_eq!(status_of(srv.port, "/zigbee/status"), 200);
        assert_eq!(
            get_json(srv.port, "/porch/status").1["plugin"],
            "cosmo-porch-light"
        );
        assert_eq!(
            get_json(srv.port, "/plugins/active")
                .1
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    // 3. Rollback: the second plugin is gone, the first still answers.
    env.ok(&["rollback"]);
    {
        let srv = Server::start(&env, None);
        assert_eq!(status_of(srv.port, "/porch/status"), 404);
        assert_eq!(status_of(srv.port, "/zigbee/status"), 200);
    }

    // 4. The clean generation: no plugin route, the server answers.
    env.ok(&["switch", "1"]);
    {
        let srv = Server::start(&env, None);
        assert_eq!(status_of(srv.port, "/zigbee/status"), 404);
        assert_eq!(status_of(srv.port, "/porch/status"), 404);
        assert_eq!(status_of(srv.port, "/health"), 200);
        assert_eq!(
            get_json(srv.port, "/plugins/active").1,
            serde_json::json!([])
        );
    }

    // 5. Back to both, started with no uv on PATH (nothing is resolved or installed).
    env.ok(&["switch", "3"]);
    let no_tools = tempfile::tempdir().unwrap();
    let srv = Server::start(&env, Some(no_tools.path()));
    assert_eq!(status_of(srv.port, "/zigbee/status"), 200);
    assert_eq!(status_of(srv.port, "/porch/status"), 200);
    // The running server is pinned to its bundle: a switch does not move its files.
    let gens = env.json(&["generations"]);
    let gen3 = std::fs::canonicalize(gens[2]["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", srv.pid())).unwrap(),
        gen3
    );
    env.ok(&["switch", "2"]);
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", srv.pid())).unwrap(),
        gen3
    );
    assert_eq!(status_of(srv.port, "/porch/status"), 200);
    env.ok(&["switch", "3"]);

    // 6. A real conflict from PyPI: pydantic<2 next to FastAPI, which requires pydantic 2.
    let gens_before = env.json(&["generations"]);
    let current_before = env.current_target();
    let stderr = env.fails(
        &[
            "plugin",
            "add",
            "cosmo-legacy-pydantic",
            "--version",
            "1.0.0",
        ],
        3,
    );
    assert!(stderr.contains("No solution found"), "{stderr}");
    let rec = env.plugin("cosmo-legacy-pydantic");
    assert_eq!(rec["install_status"], "FAILED");
    let message = rec["error_message"].as_str().unwrap();
    assert!(
        message.contains("pydantic") && message.contains("fastapi"),
        "{message}"
    );
    assert_eq!(env.json(&["generations"]), gens_before);
    assert_eq!(env.current_target(), current_before);
    assert_eq!(status_of(srv.port, "/zigbee/status"), 200);
    assert_eq!(status_of(srv.port, "/porch/status"), 200);
    drop(srv);

    // The server repository was only read.
    assert_eq!(snapshot(&server_repo), repo_before);
}

#[test]
#[ignore = "needs PyPI: cargo test --test suite -- --ignored pypi::"]
fn clean_mode_runs_the_server_repository_without_plugins() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("cosmo-server");
    copy_dir(&repo_root().join("fixtures/web-server"), &repo);
    let mut env = pypi_env(scratch.path());
    env.server = repo.clone();
    env.ok(&["plugin", "add", "cosmo-zigbee", "--version", "1.0.0"]);
    env.ok(&["build"]);
    // Without an environment of its own, clean mode says how to make one, and writes
    // nothing into the repository.
    let pristine = snapshot(&repo);
    let stderr = env.fails(&["start", "--clean"], 2);
    assert!(stderr.contains("uv sync"), "{stderr}");
    assert_eq!(snapshot(&repo), pristine);
    // The operator makes it (the server depends on the cosmo-bundle wheel, found through
    // find-links); from then on clean mode runs it and leaves the repository
    // byte-identical.
    let wheels = scratch.path().join("web-wheels");
    let find_links = ["sync", "--quiet", "--find-links", wheels.to_str().unwrap()];
    run_ok("uv", &find_links, &repo);
    let synced = snapshot(&repo);
    let port = free_port();
    let log = std::fs::File::create(scratch.path().join("clean.log")).unwrap();
    let child = env
        .cmd(&["start", "--clean", "--port", &port.to_string()])
        .process_group(0)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut srv = Server {
        child,
        port,
        log: scratch.path().join("clean.log"),
    };
    srv.wait_ready();
    assert_eq!(get_json(port, "/plugins/active").1, serde_json::json!([]));
    assert_eq!(status_of(port, "/zigbee/status"), 404);
    drop(srv);
    assert_eq!(
        snapshot(&repo),
        synced,
        "start --clean wrote into the repository"
    );
}

#[test]
#[ignore = "needs PyPI: cargo test --test suite -- --ignored pypi::"]
fn rows_load_through_the_servers_sqlalchemy_model_and_back() {
    let scratch = tempfile::tempdir().unwrap();
    let env = pypi_env(scratch.path());
    env.ok(&["plugin", "add", "cosmo-zigbee", "--version", "1.0.0"]);
    env.ok(&["build"]);
    let model = repo_root().join("tests/suite/python/sqlalchemy_model.py");
    let db = env.dir().join("cosmo.db");
    let python = |args: &[&str]| -> Value {
        let out = std::process::Command::new("uv")
            .args([
                "run",
                "--no-project",
                "--quiet",
                "--with",
                "sqlalchemy>=2.0,<3",
                "python",
            ])
            .arg(&model)
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Rows written by cosmo-bundle load in the server's model, with the same values.
    let rows = python(&["read"]);
    let ours = env.json(&["plugin", "list"]);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    for col in [
        "id",
        "name",
        "source",
        "source_type",
        "install_status",
        "installed_version",
        "updated_version",
    ] {
        assert_eq!(rows[0][col], ours[0][col], "{col}");
    }
    assert_eq!(rows[0]["install_status"], "INSTALLED");
    // A row written by the model is listed by cosmo-bundle and built.
    let rows = python(&["write", "Porch Light", "cosmo-porch-light", "1.0.0"]);
    let theirs = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Porch Light")
        .unwrap()
        .clone();
    let listed = env.plugin(theirs["id"].as_str().unwrap());
    assert_eq!(listed["install_status"], "PENDING");
    assert_eq!(listed["source_type"], "PYPI");
    env.ok(&["build"]);
    let rows = python(&["read"]);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["install_status"] == "INSTALLED"),
        "{rows}"
    );
}
