"""The runtime loader: in a real bundle's own Python, and on hand-made bundles."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from cosmo_bundle import BundleError, Client, bundle_dir, current_bundle, load_plugins


class RecordingApp:
    """Stands in for a FastAPI app: records what would be mounted."""

    def __init__(self) -> None:
        self.mounted: list[tuple[Any, str]] = []

    def include_router(self, router: Any, *, prefix: str = "") -> None:
        self.mounted.append((router, prefix))


# Run in a bundle's own interpreter: load its plugins with this package, call each one.
PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from cosmo_bundle import load_plugins

    class App:
        def __init__(self):
            self.mounted = []
        def include_router(self, router, *, prefix=""):
            self.mounted.append(prefix)

    app = App()
    result = load_plugins(app)
    print(json.dumps({
        "bundle": str(result.bundle),
        "loaded": [p.to_json() for p in result.loaded],
        "status": [p.instance.status() for p in result.loaded],
        "failed": [f.to_json() for f in result.failed],
        "mounted": app.mounted,
    }))
    """
)


def probe(bundle: Path, **env: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(bundle / ".venv" / "bin" / "python"), "-c", PROBE, str(REPO / "python")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_loads_the_plugins_of_a_real_bundle_in_its_own_python(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")
    client.add("hue-lights", version="1.0.0")
    built = client.build()
    # Found from the interpreter's own venv (no COSMO_BUNDLE_DIR).
    found = probe(built.path)
    assert found["bundle"] == str(built.path)
    assert found["failed"] == []
    assert [p["distribution"] for p in found["loaded"]] == ["hue-lights", "zigbee-switch"]
    assert [p["url_prefix"] for p in found["loaded"]] == ["/hue", "/zigbee"]
    assert [s["plugin"] for s in found["status"]] == ["hue-lights", "zigbee-switch"]
    # The fixture plugins have no router: nothing to mount.
    assert found["mounted"] == []
    assert all(p["mounted"] is False for p in found["loaded"])


def test_a_switch_does_not_change_what_a_resolved_bundle_loads(
    client: Client, data_dir: Path
) -> None:
    client.add("zigbee-switch", version="1.0.0")
    first = client.build()
    client.add("hue-lights", version="1.0.0")
    client.build()
    client.switch(1)
    pinned = current_bundle(data_dir)
    assert pinned == first.path.resolve()
    client.switch(2)
    # COSMO_BUNDLE_DIR names the bundle resolved at start, whatever `current` is now.
    found = probe(first.path, COSMO_BUNDLE_DIR=str(pinned))
    assert [p["distribution"] for p in found["loaded"]] == ["zigbee-switch"]


def test_current_bundle_without_a_generation(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as caught:
        current_bundle(tmp_path)
    assert caught.value.hint and "cosmo-bundle build" in caught.value.hint


@pytest.fixture
def plugin_modules(tmp_path: Path) -> Iterator[Path]:
    """Importable plugin modules: good ones, one failing at import, one at construction."""
    root = tmp_path / "modules"
    pkg = root / "cbtest_plugins"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lights.py").write_text(
        textwrap.dedent(
            """
            class Router:
                pass

            class Lights:
                def __init__(self):
                    self.router = Router()

            class NoRoutes:
                pass

            class Exploding:
                def __init__(self):
                    raise RuntimeError("no bridge found")
            """
        )
    )
    (pkg / "broken.py").write_text("import cbtest_no_such_module\n")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("cbtest_plugins")]:
            del sys.modules[name]


def write_bundle(directory: Path, plugins: list[dict[str, Any]], fmt: int = 2) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    entries = [
        {
            "name": p["name"],
            "source_type": "PYPI",
            "source": p["name"],
            "version": "1.0.0",
            "requirement": f"{p['name']}==1.0.0",
            "resolved_version": "1.0.0",
            "commit": None,
            "manifest": p.get("manifest"),
        }
        for p in plugins
    ]
    (directory / "bundle.json").write_text(
        json.dumps({"format": fmt, "hash": directory.name, "plugins": entries, "future": 1})
    )
    return directory


def manifest(plugin_class: str, url_prefix: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": plugin_class.rsplit(".", 1)[1],
        "version": "1.0.0",
        "plugin_class": plugin_class,
        "description": "test plugin",
    }
    if url_prefix is not None:
        out["url_prefix"] = url_prefix
    return out


@pytest.mark.usefixtures("plugin_modules")
def test_mounts_routers_and_skips_failing_plugins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = write_bundle(
        tmp_path / "bundle",
        [
            {"name": "broken", "manifest": manifest("cbtest_plugins.broken.Plugin", "/b")},
            {"name": "exploding", "manifest": manifest("cbtest_plugins.lights.Exploding")},
            {"name": "lights", "manifest": manifest("cbtest_plugins.lights.Lights", "/lights")},
            {"name": "missing-class", "manifest": manifest("cbtest_plugins.lights.Nope")},
            {"name": "no-manifest"},
            {"name": "no-routes", "manifest": manifest("cbtest_plugins.lights.NoRoutes")},
            {"name": "root-routes", "manifest": manifest("cbtest_plugins.lights.Lights")},
        ],
    )
    app = RecordingApp()
    with caplog.at_level(logging.ERROR, logger="cosmo_bundle.loader"):
        result = load_plugins(app, bundle)

    assert result.bundle == bundle
    assert [p.distribution for p in result.loaded] == ["lights", "no-routes", "root-routes"]
    lights, no_routes, root_routes = result.loaded
    assert (lights.url_prefix, lights.mounted) == ("/lights", True)
    assert (no_routes.url_prefix, no_routes.mounted) == (None, False)
    assert root_routes.mounted
    assert [prefix for _, prefix in app.mounted] == ["/lights", ""]
    assert app.mounted[0][0] is lights.instance.router  # type: ignore[attr-defined]

    failed = {f.distribution: f.error for f in result.failed}
    assert set(failed) == {"broken", "exploding", "missing-class", "no-manifest"}
    assert "cbtest_no_such_module" in failed["broken"]
    assert failed["exploding"] == "RuntimeError: no bridge found"
    assert "Nope" in failed["missing-class"]
    logged = caplog.text
    for name in failed:
        assert f"failed to load plugin {name}" in logged


@pytest.mark.usefixtures("plugin_modules")
def test_bundles_of_format_1_load_too(tmp_path: Path) -> None:
    older = write_bundle(
        tmp_path / "older",
        [{"name": "lights", "manifest": manifest("cbtest_plugins.lights.Lights", "/x")}],
        fmt=1,
    )
    assert [p.distribution for p in load_plugins(RecordingApp(), older).loaded] == ["lights"]


def test_a_failing_mount_is_a_failed_plugin(plugin_modules: Path, tmp_path: Path) -> None:
    class RefusingApp:
        def include_router(self, router: Any, *, prefix: str = "") -> None:
            raise ValueError(f"prefix {prefix} is taken")

    bundle = write_bundle(
        tmp_path / "bundle",
        [{"name": "lights", "manifest": manifest("cbtest_plugins.lights.Lights", "/x")}],
    )
    result = load_plugins(RefusingApp(), bundle)
    assert result.loaded == []
    assert [f.error for f in result.failed] == ["ValueError: prefix /x is taken"]


def test_without_an_app_plugins_are_instantiated_only(
    plugin_modules: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(
        tmp_path / "bundle",
        [{"name": "lights", "manifest": manifest("cbtest_plugins.lights.Lights", "/x")}],
    )
    result = load_plugins(None, bundle)
    assert [p.mounted for p in result.loaded] == [False]


def test_bundle_dir(tmp_path: Path) -> None:
    venv = tmp_path / "bundle" / ".venv"
    venv.mkdir(parents=True)
    assert bundle_dir({}, prefix=str(venv)) is None  # clean mode
    write_bundle(tmp_path / "bundle", [])
    assert bundle_dir({}, prefix=str(venv)) == tmp_path / "bundle"
    assert bundle_dir({"COSMO_BUNDLE_DIR": "/srv/b"}, prefix=str(venv)) == Path("/srv/b")


def test_clean_mode_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSMO_BUNDLE_DIR", raising=False)
    app = RecordingApp()
    result = load_plugins(app)  # this interpreter's prefix has no bundle.json
    assert result.bundle is None and result.loaded == [] and app.mounted == []


def test_an_unreadable_or_unknown_bundle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        load_plugins(RecordingApp(), tmp_path / "nothing-here")
    newer = write_bundle(tmp_path / "newer", [], fmt=3)
    with pytest.raises(BundleError) as caught:
        load_plugins(RecordingApp(), newer)
    assert "format 3" in caught.value.message
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError):
        load_plugins(RecordingApp(), garbled)
