"""Shared fixtures: the real cosmo-bundle binary on temporary data directories, with uv
offline against a wheelhouse built from ``fixtures/packages`` by ``fixtures/make_wheelhouse.py``
(the data directory's settings: ``no-index``, ``find-links``).

The binary is ``COSMO_BUNDLE_BIN``, else ``target/debug/cosmo-bundle`` of this repository
(``cargo build`` or ``cargo test`` makes it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

from cosmo_bundle import Client  # noqa: E402

FIXTURE_SERVER = REPO / "fixtures" / "server"

# Variables of the caller's environment that would change what the tests do.
CLEARED = (
    "COSMO_PYTHON",
    "UV_PYTHON",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_EXCLUDE_NEWER",
    "UV_RESOLUTION",
    "UV_PRERELEASE",
    "COSMO_BUNDLE_PAUSE_AT",
    "COSMO_LOCK_TIMEOUT",
    "COSMO_DATA_DIR",
    "COSMO_SERVER_DIR",
    "VIRTUAL_ENV",
)


def binary_path() -> Path:
    explicit = os.environ.get("COSMO_BUNDLE_BIN")
    path = Path(explicit) if explicit else REPO / "target" / "debug" / "cosmo-bundle"
    if not path.is_file():
        pytest.exit(
            f"{path} does not exist: run `cargo build` first, or set COSMO_BUNDLE_BIN",
            returncode=2,
        )
    return path


@pytest.fixture(scope="session")
def binary() -> Path:
    return binary_path()


def make_wheelhouse(out: Path, *packages: Path) -> Path:
    subprocess.run(
        [sys.executable, str(REPO / "fixtures" / "make_wheelhouse.py"), str(out), *map(str, packages)],
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def offline_env() -> dict[str, str | None]:
    """The environment of an offline run (no index, no Python downloads)."""
    env: dict[str, str | None] = {name: None for name in CLEARED}
    env.update(UV_OFFLINE="1", UV_PYTHON_DOWNLOADS="never")
    return env


def configure_offline(client: Client, wheelhouse: Path) -> None:
    """Points the data directory's resolution settings at ``wheelhouse`` alone."""
    client.config_set("no-index", "true")
    client.config_set("find-links", str(wheelhouse))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(binary: Path, wheelhouse: Path, data_dir: Path) -> Client:
    c = Client(binary, data_dir=data_dir, server_dir=FIXTURE_SERVER, env=offline_env())
    configure_offline(c, wheelhouse)
    return c


def processes_mentioning(*texts: str) -> list[int]:
    """Ids of the running processes whose command line contains every one of ``texts``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if all(t.encode() in cmdline for t in texts) and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture
def no_leftover_processes(data_dir: Path) -> Iterator[None]:
    yield
    assert processes_mentioning(str(data_dir)) == []
