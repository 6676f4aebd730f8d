"""The synchronous client against the real binary and real uv, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_SERVER, REPO, configure_offline, offline_env, processes_mentioning
from cosmo_bundle import (
    AlreadyExistsError,
    BadInputError,
    BinaryNotFoundError,
    Client,
    CommandTimeoutError,
    ConflictError,
    CosmoBundleError,
    LockTimeoutError,
    NotFoundError,
    PackageNotFoundError,
    PluginCheckError,
    UnexpectedOutputError,
    UvError,
    UvMissingError,
)


def test_add_list_show_update_remove(client: Client) -> None:
    added = client.add("zigbee-switch", version="1.0.0")
    assert added.name == "zigbee-switch"
    assert added.source == "zigbee-switch"
    assert added.source_type == "PYPI"
    assert added.install_status == "PENDING"
    assert added.updated_version == "1.0.0"
    assert added.installed_version is None
    assert len(added.id) == 32

    assert client.list() == [added]
    assert client.show("zigbee-switch") == added
    assert client.show(added.id) == added

    updated = client.update("zigbee-switch", "1.1.0")
    assert updated.id == added.id
    assert updated.updated_version == "1.1.0"
    assert updated.install_status == "PENDING"

    removed = client.remove(added.id)
    assert removed.id == added.id
    assert client.list() == []
    with pytest.raises(NotFoundError):
        client.show(added.id)


def test_record_round_trips_to_the_binarys_json(client: Client) -> None:
    added = client.add("hue-lights", version="1.0.0")
    raw = client.run_json("plugin", "show", "hue-lights")
    assert added.to_json() == raw


def test_already_exists_is_its_own_error_and_changes_nothing(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")
    before = client.list()
    with pytest.raises(AlreadyExistsError) as caught:
        client.add("zigbee-switch", version="1.1.0")
    err = caught.value
    assert err.kind == "already_exists"
    assert err.exit_code == 2
    assert err.hint and "plugin update" in err.hint
    assert "already recorded" in err.message
    assert err.argv[0] == client.binary
    assert client.list() == before


def test_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.show("no-such-plugin")
    assert caught.value.kind == "not_found"
    with pytest.raises(NotFoundError):
        client.update("no-such-plugin", "1.0.0")
    with pytest.raises(NotFoundError):
        client.switch(99)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": "1.0.0; rm -rf /"},
        {"version": ">=1.0"},
        {"git": "not a url"},
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    client: Client, data_dir: Path, kwargs: dict[str, str]
) -> None:
    client.add("zigbee-switch", version="1.0.0")
    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*"))
    with pytest.raises(BadInputError) as caught:
        client.add("hue-lights", **kwargs)
    assert caught.value.kind == "bad_input"
    assert caught.value.exit_code == 2
    assert sorted(p.relative_to(data_dir) for p in data_dir.rglob("*")) == before


def test_a_usage_error_without_json_is_still_bad_input(client: Client) -> None:
    # Neither --version nor --git: the argument parser refuses it (exit 2).
    with pytest.raises(BadInputError) as caught:
        client.add("zigbee-switch")
    assert caught.value.exit_code == 2
    assert "--version" in str(caught.value)


def test_an_argument_that_looks_like_an_option_is_an_argument(client: Client) -> None:
    with pytest.raises(BadInputError) as caught:
        client.add("--help", version="1.0.0")
    assert "not a valid Python distribution name" in caught.value.message
    with pytest.raises(NotFoundError):
        client.show("--json")


def test_conflict_carries_uvs_explanation_and_the_failed_record(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")  # needs cosmo-helpers<2
    with pytest.raises(ConflictError) as caught:
        client.add("legacy-thermostat", version="1.0.0")  # needs cosmo-helpers>=2
    err = caught.value
    assert err.kind == "conflict"
    assert err.exit_code == 3
    assert "No solution found" in err.explanation
    assert "cosmo-helpers" in err.explanation
    assert not err.explanation.startswith("dependency conflict")
    saved = client.show("legacy-thermostat")
    assert saved.install_status == "FAILED"
    assert saved.error_message is not None
    assert saved.error_message.strip() in err.explanation
    # The record rides on the error when the binary reports it.
    assert err.record is None or err.record == saved


def test_build_generations_switch_rollback(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")
    first = client.build()
    assert first.generation == 1
    assert first.switched and not first.reused
    assert first.path.is_dir()
    [plugin] = first.plugins
    assert plugin.name == "zigbee-switch"
    assert plugin.resolved_version == "1.0.0"
    assert plugin.manifest is not None
    assert plugin.manifest.plugin_class == "zigbee_switch.SmartSwitchPlugin"
    assert plugin.manifest.url_prefix == "/zigbee"
    assert client.show("zigbee-switch").install_status == "INSTALLED"

    # The same set again: nothing new.
    again = client.build()
    assert again.generation is None
    assert again.hash == first.hash

    client.add("hue-lights", version="1.0.0")
    second = client.build(switch=False)
    assert second.generation == 2 and not second.switched

    gens = client.generations()
    assert [(g.number, g.current, g.valid) for g in gens] == [(1, True, True), (2, False, True)]
    assert [p.name for p in gens[1].plugins] == ["hue-lights", "zigbee-switch"]

    to_two = client.switch(2)
    assert (to_two.current, to_two.previous) == (2, 1)
    assert to_two.hash == second.hash
    back = client.rollback()
    assert (back.current, back.previous) == (1, 2)
    assert [p.name for p in back.plugins] == ["zigbee-switch"]
    with pytest.raises(BadInputError) as caught:
        client.rollback()
    assert "nothing to roll back to" in caught.value.message


def test_plugin_check_failure_lists_the_failures(client: Client, data_dir: Path) -> None:
    client.add("broken-import", version="1.0.0")
    with pytest.raises(PluginCheckError) as caught:
        client.build()
    [failure] = caught.value.failures
    assert failure.name == "broken-import"
    assert "cannot import" in failure.reason
    assert caught.value.exit_code == 4
    assert client.generations() == []
    assert not (data_dir / "current").exists()
    assert client.show("broken-import").install_status == "FAILED"


def test_discover_and_manifest_check(client: Client, data_dir: Path, tmp_path: Path) -> None:
    # A plugin directory is a git repository of the plugin (discover records nothing else).
    plugin = data_dir / "plugins" / "porch"
    (plugin / "src" / "porch").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text('[project]\nname = "porch"\nversion = "1.0.0"\n')
    (plugin / "src" / "porch" / "cosmo.json").write_text(
        '{"name": "Porch", "version": "1.0.0", "plugin_class": "porch.Porch",'
        ' "description": "Porch light", "url_prefix": "/porch"}'
    )
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=plugin, check=True)
    subprocess.run([*git, "add", "-A"], cwd=plugin, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=plugin, check=True)
    checked = client.check_manifest(plugin / "src" / "porch" / "cosmo.json")
    assert checked.valid and checked.manifest.url_prefix == "/porch"
    found = client.discover()
    assert [f.distribution for f in found.found] == ["porch"]
    assert [r.install_status for r in found.added] == ["UNINSTALLED"]
    assert found.rejected == []

    bad = tmp_path / "cosmo.json"
    bad.write_text('{"name": "x"}')
    with pytest.raises(BadInputError):
        client.check_manifest(bad)


def test_uv_missing(binary: Path, wheelhouse: Path, data_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = offline_env()
    env["PATH"] = str(empty)
    c = Client(binary, data_dir=data_dir, server_dir=FIXTURE_SERVER, env=env)
    configure_offline(c, wheelhouse)
    with pytest.raises(UvMissingError) as caught:
        c.add("zigbee-switch", version="1.0.0")
    assert caught.value.exit_code == 7
    assert isinstance(caught.value, UvError)
    assert c.list() == []


def test_uv_failure_that_is_not_a_conflict(client: Client) -> None:
    # An index nobody listens on, network allowed: uv cannot reach the registry.
    client.config_unset("no-index")
    client.config_unset("find-links")
    [setting] = client.config_set("index-url", "http://127.0.0.1:9/simple")
    assert (setting.key, setting.value, setting.hashed) == (
        "index-url",
        "http://127.0.0.1:9/simple",
        True,
    )
    client.env.update(UV_OFFLINE=None, UV_HTTP_RETRIES="0", UV_NO_CACHE="1")
    with pytest.raises(UvError) as caught:
        client.add("hue-lights", version="1.0.0")
    assert type(caught.value) is UvError
    assert caught.value.kind == "uv_failed"
    assert caught.value.exit_code == 6
    assert client.list() == []


def test_a_package_or_version_that_does_not_exist_is_not_found(client: Client) -> None:
    with pytest.raises(PackageNotFoundError) as caught:
        client.add("zigbee-switch", version="9.9.9")
    assert "does not exist" in caught.value.message
    assert caught.value.kind == "package_not_found"
    with pytest.raises(PackageNotFoundError):
        client.add("no-such-package", version="1.0.0")
    assert client.list() == []


def test_settings(client: Client, wheelhouse: Path) -> None:
    assert client.config_get("find-links").value == [str(wheelhouse)]
    assert client.config_get("no-index").value is True
    assert client.config_get("index-url").value is None
    assert {s.key for s in client.config_list()} == {"find-links", "no-index"}
    assert [s.key for s in client.config_unset("no-index")] == ["find-links"]
    with pytest.raises(BadInputError):
        client.config_set("no-such-setting", "1")


def test_lock_timeout(client: Client, data_dir: Path) -> None:
    # A command paused inside its write transaction holds the data directory's lock.
    holder = subprocess.Popen(
        client.argv(["plugin", "add", "--version=1.0.0", "--", "zigbee-switch"]),
        env={**(client.environ() or {}), "COSMO_BUNDLE_PAUSE_AT": "db-before-commit"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stderr is not None
        for line in holder.stderr:
            if "paused at db-before-commit" in line:
                break
        else:
            pytest.fail("the holder never paused")
        waiting = Client(
            client.binary,
            data_dir=data_dir,
            server_dir=FIXTURE_SERVER,
            env={**client.env, "COSMO_LOCK_TIMEOUT": "1"},
        )
        with pytest.raises(LockTimeoutError) as caught:
            waiting.add("hue-lights", version="1.0.0")
        assert caught.value.exit_code == 5
    finally:
        holder.kill()
        holder.wait()
    # Killed before its commit: nothing was recorded.
    assert client.list() == []


@pytest.mark.usefixtures("no_leftover_processes")
def test_a_timeout_stops_the_command_and_its_uv(client: Client, data_dir: Path) -> None:
    client.add("zigbee-switch", version="1.0.0")
    slow = Client(
        client.binary,
        data_dir=data_dir,
        server_dir=FIXTURE_SERVER,
        env={**client.env, "COSMO_BUNDLE_PAUSE_AT": "after-uv-sync"},
        timeout=2,
    )
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        slow.build()
    assert time.monotonic() - started < 10
    assert processes_mentioning(str(data_dir)) == []
    # The lock was released and nothing was registered: a plain build works.
    assert client.generations() == []
    assert client.build().generation == 1


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(BinaryNotFoundError) as caught:
        Client(tmp_path / "no-such-binary").list()
    assert isinstance(caught.value, CosmoBundleError)


def test_output_that_is_not_json(tmp_path: Path) -> None:
    # `echo` exits 0 and prints its arguments: not the JSON of any command.
    with pytest.raises(UnexpectedOutputError) as caught:
        Client("/bin/echo", data_dir=tmp_path).list()
    assert "--json" in caught.value.details["stdout"]


def test_a_command_the_binary_lacks_surfaces_as_bad_input(client: Client) -> None:
    with pytest.raises(BadInputError) as caught:
        client.run_json("no-such-command")
    assert "no-such-command" in caught.value.message


def test_python_dash_m_runs_the_binary(binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMO_BUNDLE_BIN", str(binary))
    assert Client().binary == str(binary)
    out = subprocess.run(
        [sys.executable, "-m", "cosmo_bundle", "--version"],
        env={**os.environ, "PYTHONPATH": str(REPO / "python")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("cosmo-bundle ")
