"""The reference FastAPI server (fixtures/web-server) serving the plan's CRUD routes over
HTTP, run by ``cosmo-bundle start`` from a bundle built from its own pyproject.

Needs PyPI (FastAPI and its dependencies, uv): run with ``python3 -m pytest -m network``.
The server depends on the ``cosmo-bundle`` wheel: ``COSMO_BUNDLE_WHEEL`` names a built
wheel, else one is built here with ``maturin build`` (maturin must be installed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CLEARED, REPO, make_wheelhouse, processes_mentioning
from cosmo_bundle import Client

pytestmark = pytest.mark.network

WEB_SERVER = REPO / "fixtures" / "web-server"


@pytest.fixture(scope="module")
def cosmo_bundle_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explicit = os.environ.get("COSMO_BUNDLE_WHEEL")
    if explicit:
        return Path(explicit)
    out = tmp_path_factory.mktemp("cosmo-bundle-wheel")
    maturin = shutil.which("maturin")
    argv = [maturin] if maturin else [sys.executable, "-m", "maturin"]
    built = subprocess.run(
        [*argv, "build", "--out", str(out), "--manifest-path", str(REPO / "Cargo.toml")],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        pytest.fail(
            "building the cosmo-bundle wheel failed (install maturin, or set "
            f"COSMO_BUNDLE_WHEEL to a built wheel):\n{built.stderr}"
        )
    [wheel] = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def web_wheelhouse(tmp_path_factory: pytest.TempPathFactory, cosmo_bundle_wheel: Path) -> Path:
    """The web plugins, the offline fixture plugins and the cosmo-bundle wheel; the rest
    (FastAPI, uv, ...) comes from PyPI."""
    out = tmp_path_factory.mktemp("web-wheels")
    packages = sorted((REPO / "fixtures" / "web-plugins").iterdir())
    packages += sorted((REPO / "fixtures" / "packages").iterdir())
    make_wheelhouse(out, *packages)
    shutil.copy2(cosmo_bundle_wheel, out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def request(
    port: int, method: str, path: str, body: object = None, timeout: float = 120
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Server:
    """A server started by ``cosmo-bundle start``; ``stop`` ends its process group."""

    def __init__(self, binary: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(binary), "start", "--port", str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while True:
            try:
                if request(self.port, "GET", "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the server did not come up:\n{log.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Site:
    """A data directory with a built generation of the reference server, and its settings."""

    def __init__(self, binary: Path, data: Path, wheelhouse: Path) -> None:
        self.binary = binary
        self.data = data
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        for key in ("UV_OFFLINE", "UV_NO_INDEX", "COSMO_BUNDLE_BIN"):
            env.pop(key, None)
        env.update(
            COSMO_DATA_DIR=str(data),
            COSMO_SERVER_DIR=str(WEB_SERVER),
            UV_PYTHON_DOWNLOADS="never",
        )
        self.env = env
        self.client = Client(binary, env=dict(env))
        # PyPI, and the wheelhouse for what is not on it.
        self.client.config_set("find-links", str(wheelhouse))

    def start(self, **extra_env: str) -> Server:
        return Server(self.binary, {**self.env, **extra_env}, self.data.parent / "server.log")


@pytest.fixture(scope="module")
def site(binary: Path, web_wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(binary, tmp_path_factory.mktemp("site") / "data", web_wheelhouse)
    site.client.build()  # generation 1: the server alone, with its dependencies from PyPI
    return site


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[Server]:
    srv = site.start()
    yield srv
    srv.stop()


def test_create_list_get_delete(server: Server) -> None:
    status, created = request(
        server.port, "POST", "/plugins/", {"name": "cosmo-porch-light", "version": "1.0.0"}
    )
    assert status == 201, created
    assert created["name"] == "cosmo-porch-light"
    assert created["source_type"] == "PYPI"
    assert created["install_status"] == "PENDING"
    assert created["updated_version"] == "1.0.0"
    assert created["installed_version"] is None

    status, listed = request(server.port, "GET", "/plugins/")
    assert status == 200
    assert created in listed

    assert request(server.port, "GET", f"/plugins/{created['id']}") == (200, created)

    status, removed = request(server.port, "DELETE", f"/plugins/{created['id']}")
    assert (status, removed["id"]) == (200, created["id"])
    assert request(server.port, "GET", f"/plugins/{created['id']}")[0] == 404
    assert request(server.port, "DELETE", f"/plugins/{created['id']}")[0] == 404
    assert created not in request(server.port, "GET", "/plugins/")[1]


def test_unknown_id_is_404(server: Server) -> None:
    status, body = request(server.port, "GET", "/plugins/0123456789abcdef0123456789abcdef")
    assert status == 404
    assert body["detail"]["kind"] == "not_found"


def test_already_exists_is_409(server: Server) -> None:
    first = {"name": "cosmo-helpers", "version": "1.0.0"}
    assert request(server.port, "POST", "/plugins/", first)[0] == 201
    status, body = request(server.port, "POST", "/plugins/", {**first, "version": "2.0.0"})
    assert status == 409
    assert body["detail"]["kind"] == "already_exists"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "garage-door"},  # neither version nor git
        {"name": "garage-door", "version": ">=1.0"},  # not an exact version
        {"name": "not a name!", "version": "1.0.0"},
        {"name": "garage-door", "git": "ftp://example.org/x.git"},
        {"name": "garage-door", "version": "1.0.0", "install_status": "INSTALLED"},
        {"version": "1.0.0"},
    ],
)
def test_bad_input_is_422_and_records_nothing(server: Server, body: dict[str, str]) -> None:
    before = request(server.port, "GET", "/plugins/")[1]
    status, answer = request(server.port, "POST", "/plugins/", body)
    assert status == 422, answer
    assert request(server.port, "GET", "/plugins/")[1] == before


def test_a_real_conflict_is_409_with_uvs_explanation(server: Server) -> None:
    # pydantic<2 next to FastAPI, which requires pydantic 2: resolved against PyPI.
    status, body = request(
        server.port, "POST", "/plugins/", {"name": "cosmo-legacy-pydantic", "version": "1.0.0"}
    )
    assert status == 409, body
    detail = body["detail"]
    assert detail["kind"] == "conflict"
    assert "No solution found" in detail["explanation"]
    assert "pydantic" in detail["explanation"] and "fastapi" in detail["explanation"]
    record = detail["record"]
    assert record["name"] == "cosmo-legacy-pydantic"
    assert record["install_status"] == "FAILED"
    assert record["error_message"].strip() in detail["explanation"]
    assert request(server.port, "GET", f"/plugins/{record['id']}") == (200, record)


def test_put_changes_only_updated_version(server: Server) -> None:
    status, created = request(
        server.port, "POST", "/plugins/", {"name": "zigbee-switch", "version": "1.0.0"}
    )
    assert status == 201, created
    path = f"/plugins/{created['id']}"
    status, updated = request(server.port, "PUT", path, {"version": "1.1.0"})
    assert status == 200, updated
    assert updated["updated_version"] == "1.1.0"
    unchanged = ("id", "name", "source", "source_type", "installed_version", "created_at")
    assert {k: updated[k] for k in unchanged} == {k: created[k] for k in unchanged}

    # Nothing but the version can be changed; a bad version or id is refused.
    assert request(server.port, "PUT", path, {"install_status": "INSTALLED"})[0] == 422
    assert request(server.port, "PUT", path, {"version": "1.1.0", "name": "x"})[0] == 422
    assert request(server.port, "PUT", path, {"version": "not a version"})[0] == 422
    assert request(server.port, "PUT", "/plugins/nope", {"version": "1.1.0"})[0] == 404
    assert request(server.port, "GET", path) == (200, updated)

    # A version that does not exist: 422, nothing changed.
    status, body = request(server.port, "PUT", path, {"version": "9.9.9"})
    assert status == 422, body
    assert body["detail"]["kind"] == "package_not_found"
    assert request(server.port, "GET", path) == (200, updated)


def test_put_into_a_conflict_is_409_and_keeps_the_versions(server: Server) -> None:
    # hue-lights 2.0.0 needs cosmo-helpers>=2; zigbee-switch (recorded above) needs <2.
    status, hue = request(
        server.port, "POST", "/plugins/", {"name": "hue-lights", "version": "1.0.0"}
    )
    assert status == 201, hue
    status, body = request(server.port, "PUT", f"/plugins/{hue['id']}", {"version": "2.0.0"})
    assert status == 409, body
    detail = body["detail"]
    assert detail["kind"] == "conflict"
    assert "No solution found" in detail["explanation"]
    assert "cosmo-helpers" in detail["explanation"]
    record = detail["record"]
    assert (record["id"], record["updated_version"]) == (hue["id"], "1.0.0")
    assert record["error_message"].strip() in detail["explanation"]


def test_a_package_that_does_not_exist_is_422(server: Server) -> None:
    before = request(server.port, "GET", "/plugins/")[1]
    status, body = request(
        server.port, "POST", "/plugins/", {"name": "cosmo-no-such-plugin", "version": "1.0.0"}
    )
    assert status == 422, body
    assert body["detail"]["kind"] == "package_not_found"
    assert request(server.port, "GET", "/plugins/")[1] == before


def test_uvs_work_does_not_block_other_requests(site: Site) -> None:
    # Every cosmo-bundle the server runs pauses inside its write transaction for an hour.
    srv = site.start(COSMO_BUNDLE_PAUSE_AT="db-before-commit")
    paused = (f"--server={WEB_SERVER}", "plugin\0add", "garage-door")
    try:
        answers: list[int] = []

        def post() -> None:
            body = {"name": "garage-door", "version": "1.0.0"}
            try:
                answers.append(request(srv.port, "POST", "/plugins/", body)[0])
            except OSError:
                pass  # the server is stopped while this request waits

        posting = threading.Thread(target=post, daemon=True)
        posting.start()
        deadline = time.monotonic() + 60
        while not processes_mentioning(*paused) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert posting.is_alive()
        started = time.monotonic()
        assert request(srv.port, "GET", "/health", timeout=5)[0] == 200
        status, listed = request(srv.port, "GET", "/plugins/", timeout=5)
        assert status == 200 and "garage-door" not in [r["name"] for r in listed]
        assert time.monotonic() - started < 5
        assert posting.is_alive() and answers == []
    finally:
        srv.stop()
        # The paused command runs in its own process group: end it by its id.
        for pid in processes_mentioning(*paused):
            os.kill(pid, signal.SIGKILL)


def test_added_plugins_load_after_a_build_and_restart(site: Site, server: Server) -> None:
    status, created = request(
        server.port, "POST", "/plugins/", {"name": "cosmo-zigbee", "version": "1.0.0"}
    )
    assert status == 201, created
    # Only the web plugin and the server: drop what the other tests recorded.
    for record in request(server.port, "GET", "/plugins/")[1]:
        if record["name"] != "cosmo-zigbee":
            assert request(server.port, "DELETE", f"/plugins/{record['id']}")[0] == 200
    site.client.build()
    server.stop()
    restarted = site.start()
    try:
        assert request(restarted.port, "GET", "/zigbee/status")[1]["plugin"] == "cosmo-zigbee"
        [active] = request(restarted.port, "GET", "/plugins/active")[1]
        assert (active["distribution"], active["url_prefix"], active["mounted"]) == (
            "cosmo-zigbee",
            "/zigbee",
            True,
        )
        status, record = request(restarted.port, "GET", f"/plugins/{created['id']}")
        assert (status, record["install_status"], record["installed_version"]) == (
            200,
            "INSTALLED",
            "1.0.0",
        )
    finally:
        restarted.stop()
