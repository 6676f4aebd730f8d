//! PyPI set, the operator's lifecycle: `start --dev` on the reference FastAPI server reloads
//! when a route in the server repository changes.

use super::*;

#[test]
#[ignore = "needs PyPI: cargo test --test suite -- --ignored pypi::"]
fn dev_mode_serves_a_route_edited_in_the_server_repository() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("fixtures/web-server"), repo.path());
    let mut env = pypi_env(scratch.path());
    env.server = repo.path().to_path_buf();
    env.ok(&["build"]);

    let port = free_port();
    let log = env.dir().join(format!("server-{port}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = env
        .cmd(&["start", "--dev", "--port", &port.to_string()])
        .process_group(0)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut srv = Server { child, port, log };
    srv.wait_ready();
    assert_eq!(status_of(port, "/edited-route"), 404);

    // A route added to main.py, which the bundle only links: a watcher of the bundle's
    // directory sees no change there (the link itself does not change).
    let main = repo.path().join("src/cosmoserver/main.py");
    let mut text = std::fs::read_to_string(&main).unwrap();
    text.push_str(
        "\n\n@app.get(\"/edited-route\")\ndef edited() -> dict:\n    return {\"edited\": True}\n",
    );
    std::fs::write(&main, text).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, body)) = get(port, "/edited-route") {
            assert!(body.contains("\"edited\":true"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit was never served:\n{}",
            std::fs::read_to_string(&srv.log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The server that reloaded is still the one `start` recorded.
    let status = env.json(&["status"]);
    assert_eq!(status["servers"][0]["pid"], srv.pid());
    // Bytecode went to the data directory, not into the repository.
    assert!(
        !repo
            .path()
            .join("src/cosmoserver/routes/__pycache__")
            .exists()
    );
}
