"""A client over cosmo-bundle's ``--json`` output: :class:`Client` and :class:`AsyncClient`.

Every call runs the binary with an argument list (never through a shell) and ``--json``,
parses stdout into the typed values of :mod:`cosmo_bundle.types`, and raises the
exception of :mod:`cosmo_bundle.errors` that matches the error's kind when the command
fails.

:class:`Client` blocks while the command runs (a build runs uv, which can take minutes).
In an asyncio server use :class:`AsyncClient`, whose calls wait for the process without
blocking the event loop, or call :class:`Client` from a worker thread (FastAPI runs plain
``def`` endpoints in its thread pool).

Each command runs in its own process group. When a call is interrupted (a timeout, a
cancelled task, ``KeyboardInterrupt``), the group (cosmo-bundle and the uv it runs) is
terminated and the call re-raises; cosmo-bundle's crash safety leaves the data directory
in its old state or its new one.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import math
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar, Union

from . import types as t
from ._find_bin import find_cosmo_bundle_bin
from .errors import (
    BinaryNotFoundError,
    CosmoBundleError,
    UnexpectedOutputError,
    error_from_output,
)

T = TypeVar("T")

#: Seconds a terminated command gets to exit before it is killed.
TERMINATE_GRACE = 5.0

StrPath = Union[str, "os.PathLike[str]"]


class CommandTimeoutError(CosmoBundleError):
    """The command ran longer than the client's ``timeout``; it was terminated."""

    default_kind = "timeout"


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One command: its arguments after the global options, and how to parse its output."""

    args: tuple[str, ...]
    parse: Callable[[Any], T]


def _raw(value: Any) -> Any:
    return value


def _add(name: str, version: str | None, git: str | None, rev: str | None) -> _Call[t.PluginRecord]:
    args = ["plugin", "add"]
    if version is not None:
        args.append(f"--version={version}")
    if git is not None:
        args.append(f"--git={git}")
    if rev is not None:
        args.append(f"--rev={rev}")
    return _Call((*args, "--", name), t.PluginRecord.from_json)


def _list() -> _Call[list[t.PluginRecord]]:
    return _Call(("plugin", "list"), t.records)


def _show(plugin: str) -> _Call[t.PluginRecord]:
    return _Call(("plugin", "show", "--", plugin), t.PluginRecord.from_json)


def _update(plugin: str, version: str) -> _Call[t.PluginRecord]:
    return _Call(("plugin", "update", f"--version={version}", "--", plugin), t.PluginRecord.from_json)


def _remove(plugin: str) -> _Call[t.PluginRecord]:
    return _Call(("plugin", "remove", "--", plugin), t.PluginRecord.from_json)


def _activation(activate: bool | None) -> tuple[str, ...]:
    if activate is None:
        return ()
    return ("--activate",) if activate else ("--no-activate",)


def _build(switch: bool, activate: bool | None, label: str | None) -> _Call[t.BuildResult]:
    args: tuple[str, ...] = ("build",) if switch else ("build", "--no-switch")
    if label is not None:
        args = (*args, f"--label={label}")
    return _Call((*args, *_activation(activate)), t.BuildResult.from_json)


def _switch(generation: int, activate: bool | None) -> _Call[t.Activation]:
    if isinstance(generation, bool) or not isinstance(generation, int):
        raise TypeError(f"generation must be an int, not {type(generation).__name__}")
    return _Call(("switch", *_activation(activate), "--", str(generation)), t.Activation.from_json)


def _rollback(activate: bool | None) -> _Call[t.Activation]:
    return _Call(("rollback", *_activation(activate)), t.Activation.from_json)


def _generations() -> _Call[list[t.Generation]]:
    return _Call(("generations",), t.generations)


def _discover() -> _Call[t.DiscoverResult]:
    return _Call(("discover",), t.DiscoverResult.from_json)


def _check_manifest(path: StrPath) -> _Call[t.ManifestCheck]:
    return _Call(("manifest", "check", "--", os.fspath(path)), t.ManifestCheck.from_json)


def _config_list() -> _Call[list[t.Setting]]:
    return _Call(("config", "list"), t.settings)


def _config_get(key: str) -> _Call[t.Setting]:
    return _Call(("config", "get", "--", key), t.Setting.from_json)


def _config_set(key: str, values: Sequence[str]) -> _Call[list[t.Setting]]:
    if not values:
        raise ValueError("config_set needs at least one value")
    return _Call(("config", "set", "--", key, *values), t.settings)


def _config_unset(key: str) -> _Call[list[t.Setting]]:
    return _Call(("config", "unset", "--", key), t.settings)


def _generation_args(generations: Sequence[int]) -> tuple[str, ...]:
    return tuple(str(_generation(g)) for g in generations)


def _generation(value: int, what: str = "a generation number") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} is an int, not {type(value).__name__}")
    return value


def _duration(value: str | timedelta) -> str:
    """``--older-than``'s value: a timedelta in whole seconds, rounded up (keeps more)."""
    if isinstance(value, str):
        return value
    if value < timedelta(0):
        raise ValueError(f"older_than must not be negative, got {value}")
    return f"{math.ceil(value.total_seconds())}s"


def _status() -> _Call[t.Status]:
    return _Call(("status",), t.Status.from_json)


def _gc(keep: int | None, older_than: str | timedelta | None, dry_run: bool) -> _Call[t.GcResult]:
    args = ["gc"]
    if keep is not None:
        args.append(f"--keep={_generation(keep, 'keep')}")
    if older_than is not None:
        args.append(f"--older-than={_duration(older_than)}")
    if dry_run:
        args.append("--dry-run")
    return _Call(tuple(args), t.GcResult.from_json)


def _diff(a: int | None, b: int | None) -> _Call[t.Diff]:
    if a is None and b is not None:
        raise ValueError("diff: `b` needs `a` (the generation to compare from)")
    gens = [g for g in (a, b) if g is not None]
    return _Call(("diff", "--", *_generation_args(gens)), t.Diff.from_json)


def _verify(generations: Sequence[int], all: bool) -> _Call[t.VerifyReport]:
    if all and generations:
        raise ValueError("verify: pass generation numbers or all=True, not both")
    args = ("verify", "--all") if all else ("verify",)
    return _Call((*args, "--", *_generation_args(generations)), t.VerifyReport.from_json)


def _delete(generations: Sequence[int], force: bool) -> _Call[t.DeleteResult]:
    if not generations:
        raise ValueError("delete needs at least one generation number")
    args = ("delete", "--force") if force else ("delete",)
    return _Call((*args, "--", *_generation_args(generations)), t.DeleteResult.from_json)


def _pin(command: str, generation: int) -> _Call[t.PinResult]:
    return _Call((command, "--", str(_generation(generation))), t.PinResult.from_json)


def _label(generation: int, text: str | None) -> _Call[t.LabelResult]:
    args = ("label", "--", str(_generation(generation)), text or "")
    return _Call(args, t.LabelResult.from_json)


def _activate(restart: bool) -> _Call[t.ActivateResult]:
    args = ("activate",) if restart else ("activate", "--no-restart")
    return _Call(args, t.ActivateResult.from_json)


def _passthrough(*args: str) -> _Call[Any]:
    return _Call(tuple(args), _raw)


class _Base:
    def __init__(
        self,
        binary: StrPath | None = None,
        *,
        data_dir: StrPath | None = None,
        server_dir: StrPath | None = None,
        env: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """A client of the cosmo-bundle at ``binary`` (default: :func:`find_cosmo_bundle_bin`).

        ``data_dir`` and ``server_dir`` become ``--data-dir`` and ``--server``; unset, the
        binary reads ``COSMO_DATA_DIR`` and ``COSMO_SERVER_DIR`` from the environment.
        Resolution settings (indexes, find-links, Python) live in the data directory: see
        :meth:`Client.config_set`. ``env`` changes the environment the command runs with (a
        value of None removes the variable). ``timeout`` (seconds) bounds each call.
        """
        self._binary = None if binary is None else os.fspath(binary)
        self.data_dir = None if data_dir is None else os.fspath(data_dir)
        self.server_dir = None if server_dir is None else os.fspath(server_dir)
        self.env: dict[str, str | None] = dict(env or {})
        self.timeout = timeout

    @property
    def binary(self) -> str:
        """The executable this client runs (found on first use when not given)."""
        if self._binary is None:
            self._binary = find_cosmo_bundle_bin()
        return self._binary

    def argv(self, args: Sequence[str]) -> builtins.list[str]:
        """The full command line for ``cosmo-bundle ARGS`` with this client's options."""
        argv = [self.binary, "--json"]
        if self.data_dir is not None:
            argv.append(f"--data-dir={self.data_dir}")
        if self.server_dir is not None:
            argv.append(f"--server={self.server_dir}")
        argv.extend(args)
        return argv

    def environ(self) -> dict[str, str] | None:
        """The environment commands run with (None: this process's own)."""
        if not self.env:
            return None
        merged = dict(os.environ)
        for key, value in self.env.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    @staticmethod
    def _finish(
        call: _Call[T], argv: Sequence[str], returncode: int, stdout: bytes, stderr: bytes
    ) -> T:
        out = stdout.decode("utf-8", "replace")
        err = stderr.decode("utf-8", "replace")
        if returncode != 0:
            raise error_from_output(returncode, out, err, argv)
        try:
            return call.parse(json.loads(out))
        except ValueError as e:  # json.JSONDecodeError and types.OutputShapeError
            raise UnexpectedOutputError(
                f"`{' '.join(argv[1:])}` printed output that is not the expected JSON: {e}",
                argv=argv,
                stderr=err,
                details={"stdout": out},
            ) from e


def _not_runnable(argv: Sequence[str], e: OSError) -> BinaryNotFoundError:
    return BinaryNotFoundError(
        f"cannot run {argv[0]}: {e.strerror or e}",
        hint="install the wheel (`pip install cosmo-bundle`), or set COSMO_BUNDLE_BIN",
        argv=argv,
    )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


class Client(_Base):
    """Runs cosmo-bundle commands synchronously; see the module documentation."""

    def run_json(self, *args: str) -> Any:
        """Runs ``cosmo-bundle --json ARGS`` and returns its parsed JSON output."""
        return self._call(_passthrough(*args))

    def _call(self, call: _Call[T]) -> T:
        argv = self.argv(call.args)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.environ(),
                start_new_session=True,
            )
        except OSError as e:
            raise _not_runnable(argv, e) from e
        with proc:
            try:
                stdout, stderr = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired as e:
                self._stop(proc)
                raise CommandTimeoutError(
                    f"`{' '.join(argv[1:])}` did not finish within {self.timeout}s; it was terminated",
                    argv=argv,
                ) from e
            except BaseException:
                self._stop(proc)
                raise
        return self._finish(call, argv, proc.returncode, stdout, stderr)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=TERMINATE_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.communicate()

    # Plugin records.
    def add(
        self, name: str, *, version: str | None = None, git: str | None = None, rev: str | None = None
    ) -> t.PluginRecord:
        """``plugin add``: records a plugin (PENDING) after a conflict check with uv.

        A PyPI plugin takes ``version``; a git plugin takes ``git`` (URL) and optionally
        ``rev``. A conflict raises :class:`~cosmo_bundle.errors.ConflictError`, which
        carries uv's explanation (the plugin is then recorded FAILED).
        """
        return self._call(_add(name, version, git, rev))

    def list(self) -> builtins.list[t.PluginRecord]:
        """``plugin list``: every record."""
        return self._call(_list())

    def show(self, plugin: str) -> t.PluginRecord:
        """``plugin show``: one record, by id or name."""
        return self._call(_show(plugin))

    def update(self, plugin: str, version: str) -> t.PluginRecord:
        """``plugin update``: changes the version the plugin will be built at."""
        return self._call(_update(plugin, version))

    def remove(self, plugin: str) -> t.PluginRecord:
        """``plugin remove``: deletes a record; returns it as it was."""
        return self._call(_remove(plugin))

    # Bundles and generations.
    def build(
        self, *, switch: bool = True, activate: bool | None = None, label: str | None = None
    ) -> t.BuildResult:
        """``build``: builds the wanted plugin set; makes it current unless ``switch=False``.

        ``activate``: ``None`` lets the ``restart`` setting decide, ``True`` is
        ``--activate``, ``False`` is ``--no-activate`` (what a server building from one of
        its own routes wants: a restart would stop the command with the server).
        ``label``: a note on the new generation.
        """
        return self._call(_build(switch, activate, label))

    def switch(self, generation: int, *, activate: bool | None = None) -> t.Activation:
        """``switch``: makes generation ``generation`` current (``activate`` as for build)."""
        return self._call(_switch(generation, activate))

    def rollback(self, *, activate: bool | None = None) -> t.Activation:
        """``rollback``: makes the generation before the current one current."""
        return self._call(_rollback(activate))

    def generations(self) -> builtins.list[t.Generation]:
        """``generations``: every generation, oldest first."""
        return self._call(_generations())

    def discover(self) -> t.DiscoverResult:
        """``discover``: records the plugins found in ``<data-dir>/plugins/*/``."""
        return self._call(_discover())

    def check_manifest(self, path: StrPath) -> t.ManifestCheck:
        """``manifest check``: validates one ``cosmo.json``."""
        return self._call(_check_manifest(path))

    # Settings of the data directory.
    def config_list(self) -> builtins.list[t.Setting]:
        """``config list``: every setting that is set."""
        return self._call(_config_list())

    def config_get(self, key: str) -> t.Setting:
        """``config get``: one setting (its value is None when not set)."""
        return self._call(_config_get(key))

    def config_set(self, key: str, *values: str) -> builtins.list[t.Setting]:
        """``config set``: sets a setting (a list setting takes one or more values), e.g.
        ``config_set("find-links", "/srv/wheels")`` or ``config_set("no-index", "true")``."""
        return self._call(_config_set(key, values))

    def config_unset(self, key: str) -> builtins.list[t.Setting]:
        """``config unset``: back to the default."""
        return self._call(_config_unset(key))

    # Generations and the store.
    def status(self) -> t.Status:
        """``status``: the current generation, records waiting or failed, running servers,
        the comparison with the server repository, the store's disk use."""
        return self._call(_status())

    def diff(self, a: int | None = None, b: int | None = None) -> t.Diff:
        """``diff``: what changed from generation ``a`` to ``b`` (default: from the one
        ``rollback`` would go back to, to the current one; ``diff(a)``: ``a`` against the
        current one)."""
        return self._call(_diff(a, b))

    def verify(self, *generations: int, all: bool = False) -> t.VerifyReport:
        """``verify``: checks bundles against their file records (default: the current
        generation's; ``all=True``: every generation's).

        A difference raises :class:`~cosmo_bundle.errors.VerifyFailedError`, whose
        ``report`` is the :class:`~cosmo_bundle.types.VerifyReport` with each changed path.
        """
        return self._call(_verify(generations, all))

    def gc(
        self,
        *,
        keep: int | None = None,
        older_than: str | timedelta | None = None,
        dry_run: bool = False,
    ) -> t.GcResult:
        """``gc``: deletes what nothing uses any more, and old generations when asked.

        ``keep`` keeps the newest N generations, ``older_than`` (``"30d"``, ``"12h"``, or a
        :class:`~datetime.timedelta`) keeps those younger; the current and pinned ones are
        always kept. ``dry_run=True`` changes nothing and says what would go.
        """
        return self._call(_gc(keep, older_than, dry_run))

    def delete(self, *generations: int, force: bool = False) -> t.DeleteResult:
        """``delete``: deletes generations (never the current one: that raises
        :class:`~cosmo_bundle.errors.BadInputError`); ``force=True`` deletes pinned ones
        too. Their bundles stay in the store until :meth:`gc`."""
        return self._call(_delete(generations, force))

    def pin(self, generation: int) -> t.PinResult:
        """``pin``: garbage collection keeps the generation."""
        return self._call(_pin("pin", generation))

    def unpin(self, generation: int) -> t.PinResult:
        """``unpin``: undoes :meth:`pin`."""
        return self._call(_pin("unpin", generation))

    def label(self, generation: int, text: str | None) -> t.LabelResult:
        """``label``: sets the generation's note (one line, at most 200 characters);
        ``""`` or None clears it."""
        return self._call(_label(generation, text))

    def activate(self, *, restart: bool = True) -> t.ActivateResult:
        """``activate``: runs the ``restart`` setting and checks the current generation's
        health (``restart=False``: checks the server as it runs now).

        An unhealthy server raises :class:`~cosmo_bundle.errors.ActivationFailedError`,
        whose ``report`` holds every attempt.
        """
        return self._call(_activate(restart))


class AsyncClient(_Base):
    """Runs cosmo-bundle commands as asyncio subprocesses: awaiting never blocks the loop."""

    async def run_json(self, *args: str) -> Any:
        """Runs ``cosmo-bundle --json ARGS`` and returns its parsed JSON output."""
        return await self._call(_passthrough(*args))

    async def _call(self, call: _Call[T]) -> T:
        argv = self.argv(call.args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.environ(),
                start_new_session=True,
            )
        except OSError as e:
            raise _not_runnable(argv, e) from e
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), self.timeout)
        except asyncio.TimeoutError as e:
            await self._stop(proc)
            raise CommandTimeoutError(
                f"`{' '.join(argv[1:])}` did not finish within {self.timeout}s; it was terminated",
                argv=argv,
            ) from e
        except BaseException:
            await self._stop(proc)
            raise
        assert proc.returncode is not None
        return self._finish(call, argv, proc.returncode, stdout, stderr)

    @staticmethod
    async def _stop(proc: asyncio.subprocess.Process) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), TERMINATE_GRACE)
        except asyncio.TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def add(
        self, name: str, *, version: str | None = None, git: str | None = None, rev: str | None = None
    ) -> t.PluginRecord:
        """See :meth:`Client.add`."""
        return await self._call(_add(name, version, git, rev))

    async def list(self) -> builtins.list[t.PluginRecord]:
        """See :meth:`Client.list`."""
        return await self._call(_list())

    async def show(self, plugin: str) -> t.PluginRecord:
        """See :meth:`Client.show`."""
        return await self._call(_show(plugin))

    async def update(self, plugin: str, version: str) -> t.PluginRecord:
        """See :meth:`Client.update`."""
        return await self._call(_update(plugin, version))

    async def remove(self, plugin: str) -> t.PluginRecord:
        """See :meth:`Client.remove`."""
        return await self._call(_remove(plugin))

    async def build(
        self, *, switch: bool = True, activate: bool | None = None, label: str | None = None
    ) -> t.BuildResult:
        """See :meth:`Client.build`."""
        return await self._call(_build(switch, activate, label))

    async def switch(self, generation: int, *, activate: bool | None = None) -> t.Activation:
        """See :meth:`Client.switch`."""
        return await self._call(_switch(generation, activate))

    async def rollback(self, *, activate: bool | None = None) -> t.Activation:
        """See :meth:`Client.rollback`."""
        return await self._call(_rollback(activate))

    async def generations(self) -> builtins.list[t.Generation]:
        """See :meth:`Client.generations`."""
        return await self._call(_generations())

    async def discover(self) -> t.DiscoverResult:
        """See :meth:`Client.discover`."""
        return await self._call(_discover())

    async def check_manifest(self, path: StrPath) -> t.ManifestCheck:
        """See :meth:`Client.check_manifest`."""
        return await self._call(_check_manifest(path))

    async def config_list(self) -> builtins.list[t.Setting]:
        """See :meth:`Client.config_list`."""
        return await self._call(_config_list())

    async def config_get(self, key: str) -> t.Setting:
        """See :meth:`Client.config_get`."""
        return await self._call(_config_get(key))

    async def config_set(self, key: str, *values: str) -> builtins.list[t.Setting]:
        """See :meth:`Client.config_set`."""
        return await self._call(_config_set(key, values))

    async def config_unset(self, key: str) -> builtins.list[t.Setting]:
        """See :meth:`Client.config_unset`."""
        return await self._call(_config_unset(key))

    async def status(self) -> t.Status:
        """See :meth:`Client.status`."""
        return await self._call(_status())

    async def diff(self, a: int | None = None, b: int | None = None) -> t.Diff:
        """See :meth:`Client.diff`."""
        return await self._call(_diff(a, b))

    async def verify(self, *generations: int, all: bool = False) -> t.VerifyReport:
        """See :meth:`Client.verify`."""
        return await self._call(_verify(generations, all))

    async def gc(
        self,
        *,
        keep: int | None = None,
        older_than: str | timedelta | None = None,
        dry_run: bool = False,
    ) -> t.GcResult:
        """See :meth:`Client.gc`."""
        return await self._call(_gc(keep, older_than, dry_run))

    async def delete(self, *generations: int, force: bool = False) -> t.DeleteResult:
        """See :meth:`Client.delete`."""
        return await self._call(_delete(generations, force))

    async def pin(self, generation: int) -> t.PinResult:
        """See :meth:`Client.pin`."""
        return await self._call(_pin("pin", generation))

    async def unpin(self, generation: int) -> t.PinResult:
        """See :meth:`Client.unpin`."""
        return await self._call(_pin("unpin", generation))

    async def label(self, generation: int, text: str | None) -> t.LabelResult:
        """See :meth:`Client.label`."""
        return await self._call(_label(generation, text))

    async def activate(self, *, restart: bool = True) -> t.ActivateResult:
        """See :meth:`Client.activate`."""
        return await self._call(_activate(restart))
