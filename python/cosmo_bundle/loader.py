"""The runtime contract: load the plugins of the active bundle into a server.

At start-up a server calls :func:`load_plugins` once. It finds the bundle directory
(:func:`bundle_dir`), reads its ``bundle.json`` once, and for each plugin imports the
manifest's ``plugin_class``, instantiates it with no arguments, and, when the instance
has a ``router`` attribute, mounts it with ``app.include_router(router,
prefix=url_prefix)``. A plugin that fails is logged and skipped; the others load.
Nothing is scanned or installed: every class was imported successfully when the bundle
was built (store-layout.md, "The runtime contract").

``app`` is anything with an ``include_router(router, *, prefix)`` method (a FastAPI app or
``APIRouter``); this package does not depend on FastAPI.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union

from .errors import BundleError
from .types import BundlePlugin, OutputShapeError

#: The ``bundle.json`` formats this package reads (their ``plugins`` are the same).
BUNDLE_FORMATS = (1, 2)

logger = logging.getLogger("cosmo_bundle.loader")


class RouterHost(Protocol):
    """What plugins' routers are mounted on: a FastAPI app or ``APIRouter``."""

    def include_router(self, router: Any, *, prefix: str = ...) -> None: ...


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin that loaded: its instance and where its routes were mounted."""

    #: Normalised distribution name.
    distribution: str
    #: The manifest's display name.
    name: str
    #: The version uv resolved (else the record's version).
    version: str
    plugin_class: str
    url_prefix: str | None
    #: Whether the instance had a ``router`` that was mounted.
    mounted: bool
    instance: object = field(compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (without the instance)."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "plugin_class": self.plugin_class,
            "url_prefix": self.url_prefix,
            "mounted": self.mounted,
        }


@dataclass(frozen=True)
class FailedPlugin:
    """A plugin that did not load, and why."""

    distribution: str
    plugin_class: str | None
    error: str

    def to_json(self) -> dict[str, Any]:
        return {
            "distribution": self.distribution,
            "plugin_class": self.plugin_class,
            "error": self.error,
        }


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_plugins` did: the bundle it read, what loaded, what failed."""

    #: None in clean mode (no bundle).
    bundle: Path | None
    loaded: list[LoadedPlugin] = field(default_factory=list)
    failed: list[FailedPlugin] = field(default_factory=list)


def bundle_dir(
    environ: Mapping[str, str] | None = None, prefix: str | None = None
) -> Path | None:
    """The bundle the server runs from, or None in clean mode.

    ``COSMO_BUNDLE_DIR`` (set by ``cosmo-bundle start``) when set; else the parent of the
    running virtual environment (``sys.prefix``) when it holds a ``bundle.json``.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("COSMO_BUNDLE_DIR")
    if explicit:
        return Path(explicit)
    candidate = Path(sys.prefix if prefix is None else prefix).parent
    return candidate if (candidate / "bundle.json").is_file() else None


def current_bundle(data_dir: Union[str, "os.PathLike[str]"]) -> Path:
    """``<data-dir>/current`` resolved once, to its ``store/<hash>`` directory.

    Use the returned path for the whole run: a later ``switch`` moves ``current`` but
    must not change what a running server loads.
    """
    current = Path(data_dir) / "current"
    if not current.is_symlink() and not current.exists():
        raise BundleError(
            f"{current} does not exist: no generation is current",
            hint="build one with `cosmo-bundle build`",
        )
    return current.resolve(strict=True)


def read_bundle(bundle: Union[str, "os.PathLike[str]"]) -> list[BundlePlugin]:
    """The plugins listed in ``<bundle>/bundle.json`` (read once, format checked)."""
    path = Path(bundle) / "bundle.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BundleError(f"{path}: cannot read the bundle manifest: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") not in BUNDLE_FORMATS:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        known = " and ".join(map(str, BUNDLE_FORMATS))
        raise BundleError(
            f"{path}: bundle format {found!r}; this cosmo_bundle reads formats {known}",
            hint="install the cosmo-bundle version that built this bundle",
        )
    plugins = manifest.get("plugins", [])
    if not isinstance(plugins, list):
        raise BundleError(f"{path}: `plugins` is not an array")
    try:
        return [BundlePlugin.from_json(p) for p in plugins]
    except OutputShapeError as e:
        raise BundleError(f"{path}: {e}") from e


def load_plugins(
    app: RouterHost | None,
    bundle: Union[str, "os.PathLike[str]", None] = None,
    *,
    log: logging.Logger | None = None,
) -> LoadResult:
    """Loads every plugin of ``bundle`` (default: :func:`bundle_dir`) and mounts its routes.

    ``app`` may be None to instantiate plugins without mounting anything. Raises
    :class:`~cosmo_bundle.errors.BundleError` when the bundle has no valid
    ``bundle.json``; a plugin that fails to import, to instantiate or to mount is logged
    and listed in ``failed``.
    """
    log = log or logger
    directory = bundle_dir() if bundle is None else Path(bundle)
    if directory is None:
        log.info("clean mode: no bundle, no plugins")
        return LoadResult(bundle=None)
    result = LoadResult(bundle=directory)
    for entry in read_bundle(directory):
        manifest = entry.manifest
        if manifest is None:
            error = "bundle.json records no manifest for it"
            log.error("failed to load plugin %s: %s", entry.name, error)
            result.failed.append(FailedPlugin(entry.name, None, error))
            continue
        try:
            module_name, class_name = manifest.plugin_class.rsplit(".", 1)
            plugin_class = getattr(importlib.import_module(module_name), class_name)
            instance = plugin_class()
            router = getattr(instance, "router", None)
            if router is not None and app is not None:
                app.include_router(router, prefix=manifest.url_prefix or "")
        except Exception as e:
            log.exception("failed to load plugin %s (%s)", entry.name, manifest.plugin_class)
            result.failed.append(
                FailedPlugin(entry.name, manifest.plugin_class, f"{type(e).__name__}: {e}")
            )
            continue
        result.loaded.append(
            LoadedPlugin(
                distribution=entry.name,
                name=manifest.name,
                version=entry.resolved_version or entry.version,
                plugin_class=manifest.plugin_class,
                url_prefix=manifest.url_prefix,
                mounted=router is not None and app is not None,
                instance=instance,
            )
        )
    return result
