"""What cosmo-bundle's ``--json`` output holds, as typed, read-only dataclasses.

Each class has ``from_json`` (parses the binary's JSON) and ``to_json`` (gives it back,
with any field a newer binary added). Fields are never renamed by the binary; new ones
land in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

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
            extra=_extra(
                obj,
                ("hash", "generation", "reused", "switched", "path", "plugins", "rows_pending"),
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
            extra=_extra(
                obj, ("number", "hash", "current", "created_at", "path", "valid", "plugins")
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
            extra=_extra(obj, ("current", "previous", "hash", "path", "plugins", "rows_pending")),
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
