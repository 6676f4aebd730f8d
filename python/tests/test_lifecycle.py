"""The lifecycle commands (status, diff, verify, gc, delete, pin, unpin, label, activate)
through the typed client, against the real binary and real uv, offline."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURE_SERVER
from cosmo_bundle import (
    ActivationFailedError,
    AsyncClient,
    BadInputError,
    Client,
    ConflictError,
    NotFoundError,
    VerifyFailedError,
)
from cosmo_bundle.types import (
    ActivationVerdict,
    Diff,
    GcResult,
    LabelResult,
    OutputShapeError,
    PinResult,
    Status,
    VerifyReport,
)


def two_generations(client: Client) -> tuple[str, str]:
    """Generation 1 (zigbee-switch) and generation 2 (and hue-lights), 2 current."""
    client.add("zigbee-switch", version="1.0.0")
    first = client.build()
    client.add("hue-lights", version="1.0.0")
    second = client.build()
    assert (first.generation, second.generation) == (1, 2)
    return first.hash, second.hash


def site_packages(bundle: Path) -> Path:
    [found] = (bundle / ".venv" / "lib").glob("python3.*/site-packages")
    return found


def test_status(client: Client, data_dir: Path) -> None:
    empty = client.status()
    assert empty.current is None
    assert empty.generations == 0
    assert empty.pending == [] and empty.failed == []
    assert empty.unfinished_activation is None

    client.add("zigbee-switch", version="1.0.0")
    waiting = client.status()
    assert [r.name for r in waiting.pending] == ["zigbee-switch"]

    built = client.build()
    status = client.status()
    assert status.current is not None
    assert status.current.number == 1
    assert status.current.hash == built.hash
    assert status.current.path == data_dir / "store" / built.hash
    assert status.current.source == "link"
    assert [p.name for p in status.current.plugins] == ["zigbee-switch"]
    assert status.current.damage == []
    assert status.current.pinned is False and status.current.label is None
    assert status.generations == 1
    assert status.pending == []
    assert status.servers == []
    assert status.repository.path == FIXTURE_SERVER
    assert status.repository.checked and status.repository.stale is False
    assert status.store.path == data_dir / "store"
    assert status.store.bytes > 0
    assert status.problems == []
    # Every field, the ones this package does not know included, goes back as printed.
    assert status.to_json() == client.run_json("status")


def test_status_lists_failed_records(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")  # needs cosmo-helpers<2
    with pytest.raises(ConflictError):
        client.add("legacy-thermostat", version="1.0.0")  # needs cosmo-helpers>=2
    status = client.status()
    [failed] = status.failed
    assert failed.name == "legacy-thermostat"
    assert failed.install_status == "FAILED"
    assert failed.error_message and "cosmo-helpers" in failed.error_message
    assert [r.name for r in status.pending] == ["zigbee-switch"]


def test_diff_names_the_added_plugin(client: Client) -> None:
    first, second = two_generations(client)

    diff = client.diff()  # the previous generation against the current one
    assert (diff.from_.number, diff.from_.hash) == (1, first)
    assert (diff.to.number, diff.to.hash) == (2, second)
    assert [p.name for p in diff.added] == ["hue-lights"]
    assert diff.added[0].resolved_version == "1.0.0"
    assert diff.removed == [] and diff.changed == []
    assert [(p.name, p.version) for p in diff.packages.added] == [("hue-lights", "1.0.0")]
    assert "plugins" in diff.inputs
    assert diff.to_json() == client.run_json("diff")

    back = client.diff(2, 1)
    assert [p.name for p in back.removed] == ["hue-lights"]
    assert back.added == []
    assert client.diff(1) == diff  # against the current one

    with pytest.raises(NotFoundError):
        client.diff(7)
    with pytest.raises(ValueError):
        client.diff(b=1)


def test_diff_of_a_changed_version(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")
    client.build()
    client.update("zigbee-switch", "1.1.0")
    client.build()
    diff = client.diff(1, 2)
    [change] = diff.changed
    assert change.name == "zigbee-switch"
    assert (change.from_.resolved_version, change.to.resolved_version) == ("1.0.0", "1.1.0")
    [package] = [p for p in diff.packages.changed if p.name == "zigbee-switch"]
    assert (package.from_.version, package.to.version) == ("1.0.0", "1.1.0")
    # ``from_`` is ``from`` in the binary's JSON.
    assert diff.to_json() == client.run_json("diff", "1", "2")


def test_verify_passes_then_reports_a_tampered_bundle(client: Client) -> None:
    first, second = two_generations(client)

    report = client.verify()  # the current generation
    assert report.ok
    [bundle] = report.bundles
    assert (bundle.hash, bundle.generations, bundle.status) == (second, [2], "ok")
    assert bundle.entries > 0 and bundle.problems == []
    everything = client.verify(all=True)
    assert sorted(b.hash for b in everything.bundles) == sorted([first, second])
    assert everything.to_json() == client.run_json("verify", "--all")

    # Something writes a .pth file into generation 1's site-packages.
    evil = site_packages(client.generations()[0].path) / "evil.pth"
    evil.write_text("import os\n")
    with pytest.raises(VerifyFailedError) as caught:
        client.verify(1)
    err = caught.value
    assert err.exit_code == 8 and err.kind == "verify_failed"
    assert err.report is not None
    assert not err.report.ok
    [damaged] = err.report.bundles
    assert (damaged.hash, damaged.status) == (first, "changed")
    [problem] = err.report.problems
    assert problem.change == "added"
    assert problem.path.endswith("/site-packages/evil.pth")
    assert (damaged.path / problem.path) == evil
    assert err.report.to_json() == err.details["verify"]
    with pytest.raises(VerifyFailedError):
        client.verify(all=True)

    # The current generation's bundle is another one: still as recorded.
    assert client.verify(2).ok
    with pytest.raises(ValueError):
        client.verify(1, all=True)
    with pytest.raises(NotFoundError):
        client.verify(7)


def test_gc_dry_run_frees_bytes_after_a_delete(client: Client, data_dir: Path) -> None:
    first, second = two_generations(client)
    before = client.gc(dry_run=True)
    assert before.dry_run
    assert before.generations == [] and before.bundles == []

    deleted = client.delete(1)
    [gone] = deleted.deleted
    assert (gone.number, gone.hash, gone.pinned) == (1, first, False)
    assert [g.number for g in client.generations()] == [2]

    dry = client.gc(dry_run=True)
    assert dry.dry_run
    assert [b.hash for b in dry.bundles] == [first]
    assert dry.bundles[0].registered
    assert dry.freed_bytes > before.freed_bytes
    assert dry.to_json() == client.run_json("gc", "--dry-run")
    assert (data_dir / "store" / first).is_dir(), "a dry run deletes nothing"

    store_before = client.status().store.bytes
    done = client.gc()
    assert not done.dry_run
    assert [b.hash for b in done.bundles] == [first]
    assert not (data_dir / "store" / first).exists()
    assert (data_dir / "store" / second).is_dir()
    assert client.status().store.bytes < store_before
    assert client.verify().ok


def test_gc_keep_and_older_than_spare_current_and_pinned(client: Client) -> None:
    two_generations(client)
    assert [g.number for g in client.gc(keep=0, dry_run=True).generations] == [1]
    assert client.gc(keep=2, dry_run=True).generations == []
    assert client.gc(older_than=timedelta(days=1), dry_run=True).generations == []
    assert [g.number for g in client.gc(older_than="0d", dry_run=True).generations] == [1]
    client.pin(1)
    assert client.gc(keep=0, older_than=timedelta(0), dry_run=True).generations == []
    with pytest.raises(BadInputError):
        client.gc(older_than="soon")
    with pytest.raises(BadInputError):
        client.gc(keep=-1)
    assert [g.number for g in client.generations()] == [1, 2]


def test_pin_unpin_label_round_trip(client: Client) -> None:
    two_generations(client)

    assert client.pin(1) == PinResult(number=1, pinned=True, changed=True)
    assert client.pin(1) == PinResult(number=1, pinned=True, changed=False)
    assert [(g.number, g.pinned) for g in client.generations()] == [(1, True), (2, False)]
    with pytest.raises(BadInputError):
        client.delete(1)  # pinned
    assert client.unpin(1) == PinResult(number=1, pinned=False, changed=True)
    assert client.unpin(1).changed is False
    assert [g.pinned for g in client.generations()] == [False, False]

    # A label that starts with a dash is a label, not an option.
    text = "-before the hue lights"
    assert client.label(1, text) == LabelResult(number=1, label=text, previous=None)
    assert [g.label for g in client.generations()] == [text, None]
    assert client.status().current is not None
    assert client.diff().from_.label == text
    assert client.label(1, None) == LabelResult(number=1, label=None, previous=text)
    assert [g.label for g in client.generations()] == [None, None]
    client.label(2, "now")
    assert client.label(2, "") == LabelResult(number=2, label=None, previous="now")

    with pytest.raises(BadInputError):
        client.label(1, "two\nlines")
    with pytest.raises(NotFoundError):
        client.pin(7)


def test_delete_refuses_the_current_generation(client: Client, data_dir: Path) -> None:
    two_generations(client)
    current = os.readlink(data_dir / "current")
    before = client.generations()
    with pytest.raises(BadInputError) as caught:
        client.delete(2)
    assert caught.value.exit_code == 2
    assert "current" in caught.value.message
    with pytest.raises(BadInputError):
        client.delete(1, 2)  # one of them current: none deleted
    assert client.generations() == before
    assert os.readlink(data_dir / "current") == current
    with pytest.raises(NotFoundError):
        client.delete(7)
    with pytest.raises(ValueError):
        client.delete()

    client.pin(1)
    assert [d.number for d in client.delete(1, force=True).deleted] == [1]
    assert [g.number for g in client.generations()] == [2]


class HealthServer:
    """A real HTTP server on a free local port: ``/health`` answers 200, and
    ``/plugins/active`` lists ``active`` (``distribution``, ``version``)."""

    def __init__(self) -> None:
        self.active: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                if self.path == "/health":
                    body = b'{"status": "ok"}'
                elif self.path == "/plugins/active":
                    body = json.dumps(owner.active).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/health"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer()
    yield server
    server.close()


def _restart_counter(client: Client, health_server: HealthServer, tmp_path: Path) -> Path:
    """Sets a restart command that appends an `x` to the returned file, and the stand-in
    server as the health URL."""
    restarts = tmp_path / "restarts"
    client.config_set(
        "restart", sys.executable, "-c", f"open({str(restarts)!r}, 'a').write('x')"
    )
    client.config_set("health-url", health_server.url)
    client.config_set("health-timeout", "5")
    return restarts


def test_activate_restarts_and_checks(
    client: Client, health_server: HealthServer, tmp_path: Path
) -> None:
    restarts = _restart_counter(client, health_server, tmp_path)
    client.add("zigbee-switch", version="1.0.0")
    # Builds restart too, now that `restart` is set: the server must have the plugin.
    health_server.active = [{"distribution": "zigbee-switch", "version": "1.0.0", "mounted": True}]
    built = client.build()
    assert restarts.read_text() == "x"

    result = client.activate()
    assert restarts.read_text() == "xx"
    assert (result.current, result.hash, result.label) == (1, built.hash, None)
    report = result.activation
    assert (report.generation, report.previous) == (1, None)
    assert report.confirmed and not report.reverted and report.previous_healthy is None
    [attempt] = report.attempts
    assert attempt.healthy and attempt.generation == 1 and attempt.failure is None
    assert attempt.restart is not None
    assert attempt.restart.command[0] == sys.executable
    assert (attempt.restart.exit_code, attempt.restart.timed_out) == (0, False)
    assert attempt.health is not None
    assert (attempt.health.url, attempt.health.status) == (health_server.url, 200)
    assert attempt.health.polls >= 1
    assert attempt.health.plugins is not None and attempt.health.plugins.checked

    status = client.status()
    assert status.current is not None and status.current.activation is not None
    assert status.current.activation.confirmed
    assert status.current.activation.url == health_server.url
    assert status.to_json() == client.run_json("status")

    checked = client.activate(restart=False)
    assert restarts.read_text() == "xx", "restart=False runs no restart command"
    assert checked.activation.confirmed
    assert checked.activation.attempts[0].restart is None


def test_build_switch_and_rollback_can_skip_activation(
    client: Client, health_server: HealthServer, tmp_path: Path
) -> None:
    restarts = _restart_counter(client, health_server, tmp_path)
    client.add("zigbee-switch", version="1.0.0")
    first = client.build(activate=False, label="from a route")
    assert first.activation is None and not restarts.exists()
    client.add("garage-door", version="1.0.0")
    second = client.build(activate=False)
    assert second.generation == 2 and not restarts.exists()
    back = client.rollback(activate=False)
    assert back.current == 1 and back.activation is None and not restarts.exists()
    again = client.switch(2, activate=False)
    assert again.current == 2 and not restarts.exists()
    [one, _] = client.generations()
    assert one.label == "from a route"
    # activate=True asks for it: the stand-in server answers with generation 1's plugin.
    health_server.active = [{"distribution": "zigbee-switch", "version": "1.0.0", "mounted": True}]
    activated = client.rollback(activate=True)
    assert activated.activation is not None and activated.activation.confirmed
    assert restarts.read_text() == "x"
    with pytest.raises(TypeError):
        client.switch(True)


def test_a_failed_activation_carries_its_report(
    client: Client, health_server: HealthServer
) -> None:
    client.add("zigbee-switch", version="1.0.0")
    client.build()
    client.config_set("health-url", health_server.url)
    client.config_set("health-timeout", "5")
    # The server answers healthy, without the generation's plugin.
    health_server.active = []
    with pytest.raises(ActivationFailedError) as caught:
        client.activate(restart=False)
    err = caught.value
    assert err.exit_code == 9
    assert err.report is not None
    assert (err.report.generation, err.report.confirmed, err.report.reverted) == (1, False, False)
    [attempt] = err.report.attempts
    assert not attempt.healthy
    assert attempt.failure is not None and attempt.failure.kind == "plugins"
    assert attempt.health is not None and attempt.health.plugins is not None
    assert attempt.health.plugins.missing == ["zigbee-switch==1.0.0"]
    assert err.report.to_json() == err.details["activation"]

    status = client.status()
    assert status.current is not None
    verdict = status.current.activation
    assert verdict is not None and not verdict.confirmed
    assert (verdict.result, verdict.kind) == ("failed", "plugins")
    assert verdict.reason and "zigbee-switch" in verdict.reason
    assert status.to_json() == client.run_json("status")

    with pytest.raises(BadInputError) as no_restart:
        client.activate()  # no `restart` setting
    assert "restart" in no_restart.value.message


def test_the_async_client_has_the_same_methods(client: Client) -> None:
    first, second = two_generations(client)
    aclient = AsyncClient(
        client.binary, data_dir=client.data_dir, server_dir=FIXTURE_SERVER, env=client.env
    )

    async def main() -> None:
        assert (await aclient.status()) == client.status()
        assert [p.name for p in (await aclient.diff()).added] == ["hue-lights"]
        assert (await aclient.verify(1, 2)).ok
        assert (await aclient.pin(1)).pinned
        assert (await aclient.label(1, "kept")).label == "kept"
        assert (await aclient.unpin(1)).changed
        with pytest.raises(BadInputError):
            await aclient.delete(2)
        assert [d.hash for d in (await aclient.delete(1)).deleted] == [first]
        assert [b.hash for b in (await aclient.gc(dry_run=True)).bundles] == [first]
        assert [b.hash for b in (await aclient.gc()).bundles] == [first]
        with pytest.raises(BadInputError):
            await aclient.activate()

    asyncio.run(main())
    assert [(g.number, g.hash) for g in client.generations()] == [(2, second)]


# Shapes: what the schemas (docs/json) mark required must be there.


def test_required_fields_may_be_null_but_not_absent() -> None:
    assert LabelResult.from_json({"number": 1, "label": None, "previous": None}).label is None
    with pytest.raises(OutputShapeError, match="'previous'"):
        LabelResult.from_json({"number": 1, "label": "x"})
    with pytest.raises(OutputShapeError, match="'number'"):
        PinResult.from_json({"number": -1, "pinned": True, "changed": True})
    with pytest.raises(OutputShapeError, match="'bundles'"):
        VerifyReport.from_json({"ok": True})
    with pytest.raises(OutputShapeError):
        GcResult.from_json([])
    with pytest.raises(OutputShapeError, match="'result'"):
        ActivationVerdict.from_json({"result": "maybe", "at": "2026-01-01T00:00:00Z"})
    with pytest.raises(OutputShapeError, match="'url'"):
        ActivationVerdict.from_json({"result": "confirmed", "at": "2026-01-01T00:00:00Z"})


def test_unknown_fields_are_kept(client: Client) -> None:
    two_generations(client)
    raw = client.run_json("diff")
    raw["from"]["new_field"] = [1]
    raw["newer"] = {"x": 1}
    diff = Diff.from_json(raw)
    assert diff.extra == {"newer": {"x": 1}}
    assert diff.from_.extra == {"new_field": [1]}
    assert diff.to_json() == raw
    status_raw = client.run_json("status")
    status_raw["store"]["inodes"] = 7
    assert Status.from_json(status_raw).store.extra == {"inodes": 7}
