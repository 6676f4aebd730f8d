"""What cosmo-bundle's ``--json`` output holds, as typed, read-only dataclasses.

Each class has ``from_json`` (parses the binary's JSON) and ``to_json`` (gives it back,
with any field a newer binary added). Fields are never renamed by the binary; new ones
land in ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

#: ``source_type`` values.
SOURCE_TYPES = ("PYPI", "GIT")
#: ``install_status`` values.
STATUSES = ("UNINSTALLED", "PENDING", "INSTALLED", "FAILED")


class OutputShapeError(ValueError):
    """A JSON value did not have the shape this package expects."""


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OutputShapeError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise OutputShapeError(f"{key!r}: expected a string, got {value!r}")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise OutputShapeError(f"{key!r}: expected a string or null, got {value!r}")
    return value


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise OutputShapeError(f"{key!r}: expected an integer, got {value!r}")
    return value


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _int(obj, key)


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise OutputShapeError(f"{key!r}: expected true or false, got {value!r}")
    return value


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool:
    """A boolean that older binaries do not print (false when absent)."""
    if obj.get(key) is None:
        return False
    return _bool(obj, key)


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise OutputShapeError(f"{key!r}: expected an array, got {value!r}")
    return value


def _extra(obj: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in known}


# Fields the schemas (docs/json) mark required: absent is a wrong shape, even when null is
# a valid value.
def _has(obj: Mapping[str, Any], key: str) -> None:
    if key not in obj:
        raise OutputShapeError(f"{key!r}: missing")


def _req_opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    _has(obj, key)
    return _opt_str(obj, key)


def _uint(obj: Mapping[str, Any], key: str) -> int:
    value = _int(obj, key)
    if value < 0:
        raise OutputShapeError(f"{key!r}: expected a non-negative integer, got {value!r}")
    return value


def _req_opt_uint(obj: Mapping[str, Any], key: str) -> int | None:
    _has(obj, key)
    return None if obj[key] is None else _uint(obj, key)


def _req_opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    _has(obj, key)
    return None if obj[key] is None else _bool(obj, key)


def _float(obj: Mapping[str, Any], key: str) -> float:
    value = obj.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise OutputShapeError(f"{key!r}: expected a number, got {value!r}")
    return float(value)


def _path(obj: Mapping[str, Any], key: str) -> Path:
    return Path(_str(obj, key))


def _req_opt_path(obj: Mapping[str, Any], key: str) -> Path | None:
    value = _req_opt_str(obj, key)
    return None if value is None else Path(value)


def _array(obj: Mapping[str, Any], key: str) -> list[Any]:
    _has(obj, key)
    return _list(obj, key)


def _strs(obj: Mapping[str, Any], key: str) -> list[str]:
    values = _array(obj, key)
    for value in values:
        if not isinstance(value, str):
            raise OutputShapeError(f"{key!r}: expected an array of strings, got {value!r}")
    return values


def _uints(obj: Mapping[str, Any], key: str) -> list[int]:
    values = _array(obj, key)
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise OutputShapeError(
                f"{key!r}: expected an array of non-negative integers, got {value!r}"
            )
    return values


_T = TypeVar("_T")


def _each(obj: Mapping[str, Any], key: str, parse: Callable[[object], _T]) -> list[_T]:
    return [parse(v) for v in _array(obj, key)]


def _one(obj: Mapping[str, Any], key: str, parse: Callable[[object], _T]) -> _T:
    _has(obj, key)
    return parse(obj[key])


def _one_or_none(obj: Mapping[str, Any], key: str, parse: Callable[[object], _T]) -> _T | None:
    _has(obj, key)
    return None if obj[key] is None else parse(obj[key])


def _json_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        to_json = getattr(value, "to_json", None)
        if callable(to_json):
            return to_json()
    return value


class _Output:
    """Gives a dataclass of JSON output back as JSON: each field under its name (or its
    ``json`` metadata), with the fields in ``extra`` after them."""

    def to_json(self) -> dict[str, Any]:
        """The JSON the binary printed for this value (unknown fields included)."""
        assert is_dataclass(self)
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            out[f.metadata.get("json", f.name)] = _json_value(getattr(self, f.name))
        out.update(getattr(self, "extra", {}))
        return out


def _rest(cls: type, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``obj`` that dataclass ``cls`` does not know (its ``extra``)."""
    assert is_dataclass(cls)
    known = {f.metadata.get("json", f.name) for f in fields(cls) if f.name != "extra"}
    return {k: v for k, v in obj.items() if k not in known}


@dataclass(frozen=True)
class PluginRecord:
    """One row of the ``plugins`` table (``plugin add|list|show|update|remove``)."""

    id: str
    name: str
    source: str
    #: ``PYPI`` or ``GIT``.
    source_type: str
    installed_version: str | None
    updated_version: str | None
    #: ``UNINSTALLED``, ``PENDING``, ``INSTALLED`` or ``FAILED``.
    install_status: str
    error_message: str | None
    created_at: str
    updated_at: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _KNOWN = (
        "id",
        "name",
        "source",
        "source_type",
        "installed_version",
        "updated_version",
        "install_status",
        "error_message",
        "created_at",
        "updated_at",
    )

    @classmethod
    def from_json(cls, value: object) -> PluginRecord:
        obj = _obj(value, "plugin record")
        return cls(
            id=_str(obj, "id"),
            name=_str(obj, "name"),
            source=_str(obj, "source"),
            source_type=_str(obj, "source_type"),
            installed_version=_opt_str(obj, "installed_version"),
            updated_version=_opt_str(obj, "updated_version"),
            install_status=_str(obj, "install_status"),
            error_message=_opt_str(obj, "error_message"),
            created_at=_str(obj, "created_at"),
            updated_at=_str(obj, "updated_at"),
            extra=_extra(obj, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self._KNOWN}
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class PluginManifest:
    """A plugin's validated ``cosmo.json``."""

    name: str
    version: str
    #: Fully qualified: ``module.sub.ClassName``.
    plugin_class: str
    description: str
    url_prefix: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _KNOWN = ("name", "version", "plugin_class", "description", "url_prefix")

    @classmethod
    def from_json(cls, value: object) -> PluginManifest:
        obj = _obj(value, "manifest")
        return cls(
            name=_str(obj, "name"),
            version=_str(obj, "version"),
            plugin_class=_str(obj, "plugin_class"),
            description=_str(obj, "description"),
            url_prefix=_opt_str(obj, "url_prefix"),
            extra=_extra(obj, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "plugin_class": self.plugin_class,
            "description": self.description,
        }
        if self.url_prefix is not None:
            out["url_prefix"] = self.url_prefix
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class BundlePlugin:
    """One plugin of a bundle, as ``bundle.json`` and ``build``/``generations`` list it."""

    #: Normalised distribution name.
    name: str
    source_type: str
    #: The PyPI distribution or the git URL.
    source: str
    #: The record's version: the PyPI pin or the git ref.
    version: str
    requirement: str
    resolved_version: str | None
    #: The commit uv pinned (git sources).
    commit: str | None
    manifest: PluginManifest | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _KNOWN = (
        "name",
        "source_type",
        "source",
        "version",
        "requirement",
        "resolved_version",
        "commit",
        "manifest",
    )

    @classmethod
    def from_json(cls, value: object) -> BundlePlugin:
        obj = _obj(value, "bundle plugin")
        manifest = obj.get("manifest")
        return cls(
            name=_str(obj, "name"),
            source_type=_str(obj, "source_type"),
            source=_str(obj, "source"),
            version=_str(obj, "version"),
            requirement=_str(obj, "requirement"),
            resolved_version=_opt_str(obj, "resolved_version"),
            commit=_opt_str(obj, "commit"),
            manifest=None if manifest is None else PluginManifest.from_json(manifest),
            extra=_extra(obj, cls._KNOWN),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self._KNOWN if k != "manifest"}
        out["manifest"] = None if self.manifest is None else self.manifest.to_json()
        out.update(self.extra)
        return out


def _activation_report(obj: Mapping[str, Any]) -> ActivationReport | None:
    value = obj.get("activation")
    return None if value is None else ActivationReport.from_json(value)


def _plugins(obj: Mapping[str, Any]) -> list[BundlePlugin]:
    return [BundlePlugin.from_json(p) for p in _list(obj, "plugins")]


@dataclass(frozen=True)
class BuildResult:
    """What ``build`` did."""

    hash: str
    #: The new generation; None when the current generation already has this plugin set.
    generation: int | None
    #: Whether an existing bundle was reused (uv was not called).
    reused: bool
    #: Whether ``current`` now points to the new generation.
    switched: bool
    path: Path
    plugins: list[BundlePlugin]
    #: Whether the plugin rows could not follow ``current`` yet (the next command catches
    #: them up; ``current`` has moved all the same).
    rows_pending: bool = False
    #: The new generation's label (``build --label``).
    label: str | None = None
    #: The restart and health check after ``current`` moved; None when not activated.
    activation: ActivationReport | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> BuildResult:
        obj = _obj(value, "build output")
        return cls(
            hash=_str(obj, "hash"),
            generation=_opt_int(obj, "generation"),
            reused=_bool(obj, "reused"),
            switched=_bool(obj, "switched"),
            path=Path(_str(obj, "path")),
            plugins=_plugins(obj),
            rows_pending=_opt_bool(obj, "rows_pending"),
            label=_opt_str(obj, "label"),
            activation=_activation_report(obj),
            extra=_extra(
                obj,
                (
                    "hash",
                    "generation",
                    "reused",
                    "switched",
                    "path",
                    "plugins",
                    "rows_pending",
                    "label",
                    "activation",
                ),
            ),
        )


@dataclass(frozen=True)
class Generation:
    """One generation as ``generations`` lists it."""

    number: int
    hash: str
    current: bool
    created_at: str
    path: Path
    #: Whether its bundle is registered in the store.
    valid: bool
    plugins: list[BundlePlugin]
    #: The operator's note (``label``, ``build --label``).
    label: str | None = None
    #: Whether it is pinned (kept by every ``gc``).
    pinned: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Generation:
        obj = _obj(value, "generation")
        return cls(
            number=_int(obj, "number"),
            hash=_str(obj, "hash"),
            current=_bool(obj, "current"),
            created_at=_str(obj, "created_at"),
            path=Path(_str(obj, "path")),
            valid=_bool(obj, "valid"),
            plugins=_plugins(obj),
            label=_opt_str(obj, "label"),
            pinned=_opt_bool(obj, "pinned"),
            extra=_extra(
                obj,
                (
                    "number",
                    "hash",
                    "current",
                    "created_at",
                    "path",
                    "valid",
                    "plugins",
                    "label",
                    "pinned",
                ),
            ),
        )


@dataclass(frozen=True)
class Activation:
    """What ``switch`` and ``rollback`` did: the generation now current, and the one before."""

    current: int
    previous: int | None
    hash: str
    path: Path
    plugins: list[BundlePlugin]
    #: Whether the plugin rows could not follow ``current`` yet (see :class:`BuildResult`).
    rows_pending: bool = False
    #: The label of the generation now current.
    label: str | None = None
    #: The restart and health check after ``current`` moved; None when not activated.
    activation: ActivationReport | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Activation:
        obj = _obj(value, "activation")
        return cls(
            current=_int(obj, "current"),
            previous=_opt_int(obj, "previous"),
            hash=_str(obj, "hash"),
            path=Path(_str(obj, "path")),
            plugins=_plugins(obj),
            rows_pending=_opt_bool(obj, "rows_pending"),
            label=_opt_str(obj, "label"),
            activation=_activation_report(obj),
            extra=_extra(
                obj,
                (
                    "current",
                    "previous",
                    "hash",
                    "path",
                    "plugins",
                    "rows_pending",
                    "label",
                    "activation",
                ),
            ),
        )


@dataclass(frozen=True)
class PluginFailure:
    """Why one plugin failed its checks (``PluginCheckError.failures``)."""

    name: str
    reason: str

    @classmethod
    def from_json(cls, value: object) -> PluginFailure:
        obj = _obj(value, "plugin failure")
        return cls(name=_str(obj, "name"), reason=_str(obj, "reason"))


@dataclass(frozen=True)
class ManifestCheck:
    """What ``manifest check`` found valid."""

    path: Path
    valid: bool
    manifest: PluginManifest

    @classmethod
    def from_json(cls, value: object) -> ManifestCheck:
        obj = _obj(value, "manifest check")
        return cls(
            path=Path(_str(obj, "path")),
            valid=_bool(obj, "valid"),
            manifest=PluginManifest.from_json(obj.get("manifest")),
        )


@dataclass(frozen=True)
class FoundPlugin:
    """A plugin directory with a valid manifest, as ``discover`` reports it."""

    path: Path
    distribution: str
    source_type: str
    source: str
    manifest: PluginManifest
    record_id: str | None

    @classmethod
    def from_json(cls, value: object) -> FoundPlugin:
        obj = _obj(value, "found plugin")
        return cls(
            path=Path(_str(obj, "path")),
            distribution=_str(obj, "distribution"),
            source_type=_str(obj, "source_type"),
            source=_str(obj, "source"),
            manifest=PluginManifest.from_json(obj.get("manifest")),
            record_id=_opt_str(obj, "record_id"),
        )


@dataclass(frozen=True)
class RejectedPlugin:
    """A plugin directory whose manifest was refused."""

    path: Path
    reason: str

    @classmethod
    def from_json(cls, value: object) -> RejectedPlugin:
        obj = _obj(value, "rejected plugin")
        return cls(path=Path(_str(obj, "path")), reason=_str(obj, "reason"))


@dataclass(frozen=True)
class DiscoverResult:
    """What ``discover`` found, added and rejected."""

    found: list[FoundPlugin]
    added: list[PluginRecord]
    rejected: list[RejectedPlugin]

    @classmethod
    def from_json(cls, value: object) -> DiscoverResult:
        obj = _obj(value, "discover output")
        return cls(
            found=[FoundPlugin.from_json(v) for v in _list(obj, "found")],
            added=[PluginRecord.from_json(v) for v in _list(obj, "added")],
            rejected=[RejectedPlugin.from_json(v) for v in _list(obj, "rejected")],
        )


#: A setting's value: a string, a boolean, a list of strings, or None when not set.
SettingValue = Union[str, bool, list[str], None]


@dataclass(frozen=True)
class Setting:
    """One setting of the data directory (``config get``)."""

    key: str
    value: SettingValue
    #: Whether the setting decides what a bundle is (part of the bundle hash).
    hashed: bool
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Setting:
        obj = _obj(value, "setting")
        raw = obj.get("value")
        if not (
            raw is None
            or isinstance(raw, (str, bool))
            or (isinstance(raw, list) and all(isinstance(v, str) for v in raw))
        ):
            raise OutputShapeError(f"'value': expected a string, boolean, list or null, got {raw!r}")
        return cls(
            key=_str(obj, "key"),
            value=raw,
            hashed=_bool(obj, "hashed"),
            extra=_extra(obj, ("key", "value", "hashed")),
        )


def settings(value: object) -> list[Setting]:
    """Parses ``config list|set|unset`` output: every setting that is set."""
    obj = _obj(value, "config output")
    return [Setting.from_json(v) for v in _list(obj, "settings")]


def records(value: object) -> list[PluginRecord]:
    """Parses ``plugin list`` output."""
    if not isinstance(value, list):
        raise OutputShapeError(f"plugin list: expected an array, got {type(value).__name__}")
    return [PluginRecord.from_json(v) for v in value]


def generations(value: object) -> list[Generation]:
    """Parses ``generations`` output."""
    if not isinstance(value, list):
        raise OutputShapeError(f"generations: expected an array, got {type(value).__name__}")
    return [Generation.from_json(v) for v in value]


# The lifecycle commands: status, gc, diff, verify, delete, pin, unpin, label, activate.
# Their shapes are docs/json/<command>.schema.json; every field those mark required must
# be present (null where the schema allows it).


@dataclass(frozen=True)
class Damage(_Output):
    """One thing wrong with a generation (``link_missing``, ``bundle_missing``, ...)."""

    kind: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Damage:
        obj = _obj(value, "damage")
        return cls(kind=_str(obj, "kind"), message=_str(obj, "message"), extra=_rest(cls, obj))


#: ``ActivationVerdict.result`` values.
VERDICTS = ("confirmed", "failed")


@dataclass(frozen=True)
class ActivationVerdict(_Output):
    """A generation's last activation verdict: ``confirmed`` (answered healthy after a
    restart, at ``url``) or ``failed`` (with ``kind`` and ``reason``)."""

    #: ``confirmed`` or ``failed``.
    result: str
    at: str
    #: The health URL that answered (``confirmed``; may be null).
    url: str | None = None
    #: One of the kinds of :class:`AttemptFailure` (``failed``).
    kind: str | None = None
    #: Why it failed (``failed``).
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> ActivationVerdict:
        obj = _obj(value, "activation verdict")
        result = _str(obj, "result")
        at = _str(obj, "at")
        if result == "confirmed":
            return cls(result=result, at=at, url=_req_opt_str(obj, "url"), extra=_rest(cls, obj))
        if result == "failed":
            return cls(
                result=result,
                at=at,
                kind=_str(obj, "kind"),
                reason=_str(obj, "reason"),
                extra=_rest(cls, obj),
            )
        raise OutputShapeError(f"'result': expected one of {VERDICTS}, got {result!r}")

    @property
    def confirmed(self) -> bool:
        """Whether the generation answered healthy."""
        return self.result == "confirmed"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": self.result, "at": self.at}
        if self.result == "confirmed":
            out["url"] = self.url
        else:
            out["kind"] = self.kind
            out["reason"] = self.reason
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class CurrentGeneration(_Output):
    """The current generation, as ``status`` shows it."""

    number: int
    hash: str
    created_at: str
    label: str | None
    pinned: bool
    path: Path
    #: ``link`` or ``snapshot``; None when the bundle is unreadable.
    source: str | None
    plugins: list[BundlePlugin]
    #: What is wrong with it; empty when it is sound.
    damage: list[Damage]
    #: Its last activation verdict; None when it was never activated with a health check.
    activation: ActivationVerdict | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> CurrentGeneration:
        obj = _obj(value, "current generation")
        return cls(
            number=_uint(obj, "number"),
            hash=_str(obj, "hash"),
            created_at=_str(obj, "created_at"),
            label=_req_opt_str(obj, "label"),
            pinned=_bool(obj, "pinned"),
            path=_path(obj, "path"),
            source=_req_opt_str(obj, "source"),
            plugins=_each(obj, "plugins", BundlePlugin.from_json),
            damage=_each(obj, "damage", Damage.from_json),
            activation=_one_or_none(obj, "activation", ActivationVerdict.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class RunningServer(_Output):
    """A server started by ``cosmo-bundle start`` that is running now."""

    pid: int
    #: The generation it was started from; None for ``start --clean``.
    generation: int | None
    #: Its bundle; None for ``start --clean``.
    hash: str | None
    clean: bool
    host: str
    port: int
    started_at: str
    dir: Path
    #: Whether it runs another bundle than the current generation's.
    restart_needed: bool
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> RunningServer:
        obj = _obj(value, "server")
        return cls(
            pid=_uint(obj, "pid"),
            generation=_req_opt_uint(obj, "generation"),
            hash=_req_opt_str(obj, "hash"),
            clean=_bool(obj, "clean"),
            host=_str(obj, "host"),
            port=_uint(obj, "port"),
            started_at=_str(obj, "started_at"),
            dir=_path(obj, "dir"),
            restart_needed=_bool(obj, "restart_needed"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class RepositoryState(_Output):
    """The current generation against the server repository (``status``)."""

    #: The repository compared with; None when none was given.
    path: Path | None
    #: Whether it was compared.
    checked: bool
    #: Whether the current generation was built for other server files; None when not checked.
    stale: bool | None
    #: The files that changed since (``pyproject.toml``, ``uv.lock``).
    changed: list[str]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> RepositoryState:
        obj = _obj(value, "repository")
        return cls(
            path=_req_opt_path(obj, "path"),
            checked=_bool(obj, "checked"),
            stale=_req_opt_bool(obj, "stale"),
            changed=_strs(obj, "changed"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class StoreUsage(_Output):
    """The store's disk use (``status``)."""

    path: Path
    #: Bytes of disk the store's files use, each inode counted once.
    bytes: int
    #: Bytes ``gc`` could free; None when not measured.
    gc_reclaimable_bytes: int | None
    #: Whether uv's cache is on the store's file system; None when not checked.
    same_file_system_as_uv_cache: bool | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> StoreUsage:
        obj = _obj(value, "store")
        return cls(
            path=_path(obj, "path"),
            bytes=_uint(obj, "bytes"),
            gc_reclaimable_bytes=_req_opt_uint(obj, "gc_reclaimable_bytes"),
            same_file_system_as_uv_cache=_req_opt_bool(obj, "same_file_system_as_uv_cache"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class UnfinishedActivation(_Output):
    """An activation that was interrupted (or is running now) and never confirmed."""

    generation: int
    #: The generation current before it: the one to go back to.
    previous: int | None
    #: ``build``, ``switch``, ``rollback`` or ``activate``.
    command: str
    started_at: str
    #: Whether the process that started it is still running.
    running: bool
    #: The command that finishes it, and the one that reverts it.
    hint: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> UnfinishedActivation:
        obj = _obj(value, "unfinished activation")
        return cls(
            generation=_uint(obj, "generation"),
            previous=_req_opt_uint(obj, "previous"),
            command=_str(obj, "command"),
            started_at=_str(obj, "started_at"),
            running=_bool(obj, "running"),
            hint=_str(obj, "hint"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class Status(_Output):
    """What ``status`` shows: the current generation, records waiting or failed, running
    servers, the repository check and the store."""

    #: None when there is no current generation (or it is dangling: see ``problems``).
    current: CurrentGeneration | None
    #: How many generations there are.
    generations: int
    #: Records waiting for a build (``PENDING``).
    pending: list[PluginRecord]
    #: Records that failed (``FAILED``), the reason in ``error_message``.
    failed: list[PluginRecord]
    servers: list[RunningServer]
    repository: RepositoryState
    store: StoreUsage
    #: What else needs the operator's attention, one sentence each.
    problems: list[str]
    unfinished_activation: UnfinishedActivation | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Status:
        obj = _obj(value, "status output")
        return cls(
            current=_one_or_none(obj, "current", CurrentGeneration.from_json),
            generations=_uint(obj, "generations"),
            pending=_each(obj, "pending", PluginRecord.from_json),
            failed=_each(obj, "failed", PluginRecord.from_json),
            servers=_each(obj, "servers", RunningServer.from_json),
            repository=_one(obj, "repository", RepositoryState.from_json),
            store=_one(obj, "store", StoreUsage.from_json),
            problems=_strs(obj, "problems"),
            unfinished_activation=_one_or_none(
                obj, "unfinished_activation", UnfinishedActivation.from_json
            ),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class GcGeneration(_Output):
    """A generation ``gc`` deleted (or would delete)."""

    number: int
    hash: str
    created_at: str
    label: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> GcGeneration:
        obj = _obj(value, "gc generation")
        return cls(
            number=_uint(obj, "number"),
            hash=_str(obj, "hash"),
            created_at=_str(obj, "created_at"),
            label=_req_opt_str(obj, "label"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class GcBundle(_Output):
    """A bundle ``gc`` deleted (or kept because a server runs it)."""

    hash: str
    #: Whether it was registered (False: a leftover of an unfinished build).
    registered: bool
    #: The servers running it (``kept_running``).
    pids: list[int]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> GcBundle:
        obj = _obj(value, "gc bundle")
        return cls(
            hash=_str(obj, "hash"),
            registered=_bool(obj, "registered"),
            pids=_uints(obj, "pids"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class GcResult(_Output):
    """What ``gc`` deleted, or with ``dry_run`` would delete."""

    #: Whether nothing was changed (``--dry-run``).
    dry_run: bool
    generations: list[GcGeneration]
    bundles: list[GcBundle]
    #: Bundles kept only because a server started by ``cosmo-bundle start`` runs them.
    kept_running: list[GcBundle]
    #: Shared trees (``store/.trees``) deleted.
    trees: int
    #: Shared files (``store/.links``) deleted.
    links: int
    #: Snapshots of the server's source (``store/.sources/<digest>``) deleted.
    sources: list[str]
    #: Checked locks (``resolved/<hash>.lock``) deleted.
    locks: list[str]
    #: Other leftovers deleted (paths relative to the data directory).
    leftovers: list[str]
    #: Bytes freed (or that would be freed), each inode counted once.
    freed_bytes: int
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> GcResult:
        obj = _obj(value, "gc output")
        return cls(
            dry_run=_bool(obj, "dry_run"),
            generations=_each(obj, "generations", GcGeneration.from_json),
            bundles=_each(obj, "bundles", GcBundle.from_json),
            kept_running=_each(obj, "kept_running", GcBundle.from_json),
            trees=_uint(obj, "trees"),
            links=_uint(obj, "links"),
            sources=_strs(obj, "sources"),
            locks=_strs(obj, "locks"),
            leftovers=_strs(obj, "leftovers"),
            freed_bytes=_uint(obj, "freed_bytes"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class DiffSide(_Output):
    """One of the two generations ``diff`` compares."""

    number: int
    hash: str
    label: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> DiffSide:
        obj = _obj(value, "diff side")
        return cls(
            number=_uint(obj, "number"),
            hash=_str(obj, "hash"),
            label=_req_opt_str(obj, "label"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class PluginChange(_Output):
    """A plugin in both generations, changed (``diff``)."""

    name: str
    from_: BundlePlugin = field(metadata={"json": "from"})
    to: BundlePlugin
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> PluginChange:
        obj = _obj(value, "plugin change")
        return cls(
            name=_str(obj, "name"),
            from_=_one(obj, "from", BundlePlugin.from_json),
            to=_one(obj, "to", BundlePlugin.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class LockedPackage(_Output):
    """A package of a bundle's ``uv.lock``."""

    name: str
    version: str | None
    #: The commit of a git source.
    commit: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> LockedPackage:
        obj = _obj(value, "locked package")
        return cls(
            name=_str(obj, "name"),
            version=_req_opt_str(obj, "version"),
            commit=_req_opt_str(obj, "commit"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class PackageChange(_Output):
    """A locked package in both generations, at another version or commit."""

    name: str
    from_: LockedPackage = field(metadata={"json": "from"})
    to: LockedPackage
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> PackageChange:
        obj = _obj(value, "package change")
        return cls(
            name=_str(obj, "name"),
            from_=_one(obj, "from", LockedPackage.from_json),
            to=_one(obj, "to", LockedPackage.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class PackageChanges(_Output):
    """How the locked packages (dependencies included) differ."""

    added: list[LockedPackage]
    removed: list[LockedPackage]
    changed: list[PackageChange]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> PackageChanges:
        obj = _obj(value, "package changes")
        return cls(
            added=_each(obj, "added", LockedPackage.from_json),
            removed=_each(obj, "removed", LockedPackage.from_json),
            changed=_each(obj, "changed", PackageChange.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class Diff(_Output):
    """What changed from one generation to another (``diff``)."""

    from_: DiffSide = field(metadata={"json": "from"})
    to: DiffSide
    #: Plugins in ``to`` but not in ``from_``.
    added: list[BundlePlugin]
    #: Plugins in ``from_`` but not in ``to``.
    removed: list[BundlePlugin]
    #: Plugins in both whose source, version, resolved version or commit differ.
    changed: list[PluginChange]
    #: Every package of the two ``uv.lock`` files that was added, removed or changed.
    packages: PackageChanges
    #: The hash inputs that differ, by name (``plugins``, ``server_pyproject``,
    #: ``settings.KEY``, ...).
    inputs: list[str]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> Diff:
        obj = _obj(value, "diff output")
        return cls(
            from_=_one(obj, "from", DiffSide.from_json),
            to=_one(obj, "to", DiffSide.from_json),
            added=_each(obj, "added", BundlePlugin.from_json),
            removed=_each(obj, "removed", BundlePlugin.from_json),
            changed=_each(obj, "changed", PluginChange.from_json),
            packages=_one(obj, "packages", PackageChanges.from_json),
            inputs=_strs(obj, "inputs"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class VerifyProblem(_Output):
    """One difference between a bundle and its file record."""

    #: Relative to the bundle, or ``.trees/<digest>/...`` (relative to the store).
    path: str
    #: ``added``, ``removed``, ``content_changed``, ``mode_changed``, ``target_changed``, ...
    change: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> VerifyProblem:
        obj = _obj(value, "verify problem")
        return cls(
            path=_str(obj, "path"),
            change=_str(obj, "change"),
            detail=_str(obj, "detail"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class BundleCheck(_Output):
    """One bundle ``verify`` checked."""

    hash: str
    path: Path
    #: The generations that use it.
    generations: list[int]
    #: ``ok``, ``changed`` or ``no_record`` (registered without a file record: not checked).
    status: str
    #: Recorded entries checked.
    entries: int
    #: Shared trees checked.
    trees: int
    problems: list[VerifyProblem]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> BundleCheck:
        obj = _obj(value, "bundle check")
        return cls(
            hash=_str(obj, "hash"),
            path=_path(obj, "path"),
            generations=_uints(obj, "generations"),
            status=_str(obj, "status"),
            entries=_uint(obj, "entries"),
            trees=_uint(obj, "trees"),
            problems=_each(obj, "problems", VerifyProblem.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class VerifyReport(_Output):
    """What ``verify`` found; also :attr:`VerifyFailedError.report`."""

    #: Whether every bundle is as recorded (or has no record to compare with).
    ok: bool
    bundles: list[BundleCheck]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> VerifyReport:
        obj = _obj(value, "verify output")
        return cls(
            ok=_bool(obj, "ok"),
            bundles=_each(obj, "bundles", BundleCheck.from_json),
            extra=_rest(cls, obj),
        )

    @property
    def problems(self) -> list[VerifyProblem]:
        """Every problem of every bundle."""
        return [p for b in self.bundles for p in b.problems]


@dataclass(frozen=True)
class DeletedGeneration(_Output):
    """A generation ``delete`` deleted (its bundle stays in the store until ``gc``)."""

    number: int
    #: Its bundle's hash; None for a name in ``generations/`` that was no generation.
    hash: str | None
    label: str | None
    pinned: bool
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> DeletedGeneration:
        obj = _obj(value, "deleted generation")
        return cls(
            number=_uint(obj, "number"),
            hash=_req_opt_str(obj, "hash"),
            label=_req_opt_str(obj, "label"),
            pinned=_bool(obj, "pinned"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class DeleteResult(_Output):
    """What ``delete`` did."""

    deleted: list[DeletedGeneration]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> DeleteResult:
        obj = _obj(value, "delete output")
        return cls(deleted=_each(obj, "deleted", DeletedGeneration.from_json), extra=_rest(cls, obj))


@dataclass(frozen=True)
class PinResult(_Output):
    """What ``pin`` or ``unpin`` did."""

    number: int
    #: Whether the generation is pinned now.
    pinned: bool
    #: False when it already was (``pin``) or was not (``unpin``).
    changed: bool
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> PinResult:
        obj = _obj(value, "pin output")
        return cls(
            number=_uint(obj, "number"),
            pinned=_bool(obj, "pinned"),
            changed=_bool(obj, "changed"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class LabelResult(_Output):
    """What ``label`` did."""

    number: int
    #: The label now; None when it was cleared.
    label: str | None
    #: The label before.
    previous: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> LabelResult:
        obj = _obj(value, "label output")
        return cls(
            number=_uint(obj, "number"),
            label=_req_opt_str(obj, "label"),
            previous=_req_opt_str(obj, "previous"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class RestartRun(_Output):
    """How the restart command (the ``restart`` setting) ended."""

    #: The program and its arguments.
    command: list[str]
    #: None when it could not start, was killed, or timed out.
    exit_code: int | None
    timed_out: bool
    #: The end of its stderr (at most 2000 bytes).
    stderr_tail: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> RestartRun:
        obj = _obj(value, "restart")
        _has(obj, "exit_code")
        return cls(
            command=_strs(obj, "command"),
            exit_code=_opt_int(obj, "exit_code"),
            timed_out=_bool(obj, "timed_out"),
            stderr_tail=_str(obj, "stderr_tail"),
            seconds=_float(obj, "seconds"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class PluginsCheck(_Output):
    """``/plugins/active`` compared with the generation's plugins (``name==version``)."""

    url: str
    #: False when the server does not serve the route: nothing was compared.
    checked: bool
    missing: list[str]
    unexpected: list[str]
    #: Plugins with a ``url_prefix`` whose routes were not mounted.
    unmounted: list[str]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> PluginsCheck:
        obj = _obj(value, "plugins check")
        return cls(
            url=_str(obj, "url"),
            checked=_bool(obj, "checked"),
            missing=_strs(obj, "missing"),
            unexpected=_strs(obj, "unexpected"),
            unmounted=_strs(obj, "unmounted"),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class HealthCheck(_Output):
    """The health check: the URL polled, its last answer, and the plugin check."""

    url: str
    #: The last HTTP status; None when nothing answered.
    status: int | None
    polls: int
    seconds: float
    #: None when the health URL never answered 2xx.
    plugins: PluginsCheck | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> HealthCheck:
        obj = _obj(value, "health check")
        return cls(
            url=_str(obj, "url"),
            status=_req_opt_uint(obj, "status"),
            polls=_uint(obj, "polls"),
            seconds=_float(obj, "seconds"),
            plugins=_one_or_none(obj, "plugins", PluginsCheck.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class AttemptFailure(_Output):
    """Why an attempt failed: ``restart_failed``, ``restart_timeout``, ``timeout``,
    ``http_status`` or ``plugins``."""

    kind: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> AttemptFailure:
        obj = _obj(value, "attempt failure")
        return cls(kind=_str(obj, "kind"), message=_str(obj, "message"), extra=_rest(cls, obj))


@dataclass(frozen=True)
class ActivationAttempt(_Output):
    """The restart and health check of one generation."""

    generation: int
    healthy: bool
    #: When the attempt ended (RFC 3339, UTC).
    at: str
    #: None when no restart command was run (``activate(restart=False)``).
    restart: RestartRun | None
    #: None when the restart failed (nothing was polled).
    health: HealthCheck | None
    #: None when healthy.
    failure: AttemptFailure | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> ActivationAttempt:
        obj = _obj(value, "activation attempt")
        return cls(
            generation=_uint(obj, "generation"),
            healthy=_bool(obj, "healthy"),
            at=_str(obj, "at"),
            restart=_one_or_none(obj, "restart", RestartRun.from_json),
            health=_one_or_none(obj, "health", HealthCheck.from_json),
            failure=_one_or_none(obj, "failure", AttemptFailure.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class ActivationReport(_Output):
    """What an activation did: ``activate``, and :attr:`ActivationFailedError.report`."""

    #: The generation being activated.
    generation: int
    #: The generation current before; ``current`` goes back to it on failure.
    previous: int | None
    #: Whether ``generation`` answered healthy and is now confirmed.
    confirmed: bool
    #: Whether ``current`` went back to ``previous``.
    reverted: bool
    #: After a revert: whether ``previous`` answered healthy again (None when not reverted).
    previous_healthy: bool | None
    #: The generation's attempt, then (after a failure) the previous one's.
    attempts: list[ActivationAttempt]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> ActivationReport:
        obj = _obj(value, "activation report")
        return cls(
            generation=_uint(obj, "generation"),
            previous=_req_opt_uint(obj, "previous"),
            confirmed=_bool(obj, "confirmed"),
            reverted=_bool(obj, "reverted"),
            previous_healthy=_req_opt_bool(obj, "previous_healthy"),
            attempts=_each(obj, "attempts", ActivationAttempt.from_json),
            extra=_rest(cls, obj),
        )


@dataclass(frozen=True)
class ActivateResult(_Output):
    """What ``activate`` did: the generation now current and confirmed, and how."""

    current: int
    hash: str
    label: str | None
    activation: ActivationReport
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: object) -> ActivateResult:
        obj = _obj(value, "activate output")
        return cls(
            current=_uint(obj, "current"),
            hash=_str(obj, "hash"),
            label=_req_opt_str(obj, "label"),
            activation=_one(obj, "activation", ActivationReport.from_json),
            extra=_rest(cls, obj),
        )
