"""cosmo-bundle for Python: a client over the CLI's JSON, and the server's plugin loader.

- :class:`Client` / :class:`AsyncClient` run the ``cosmo-bundle`` binary (installed by
  this wheel) with ``--json`` and return typed values, or raise the typed errors of
  :mod:`cosmo_bundle.errors`.
- :func:`load_plugins` is the runtime contract: it loads the plugins of the active bundle
  into a server and mounts their routes.
"""

from ._find_bin import find_cosmo_bundle_bin
from .client import AsyncClient, Client, CommandTimeoutError
from .errors import (
    ActivationFailedError,
    AlreadyExistsError,
    BadInputError,
    BinaryNotFoundError,
    BundleError,
    ConflictError,
    CosmoBundleError,
    DamagedError,
    GitError,
    InternalError,
    LockTimeoutError,
    NotFoundError,
    PackageNotFoundError,
    PluginCheckError,
    UnexpectedOutputError,
    UvError,
    UvMissingError,
    VerifyFailedError,
)
from .loader import (
    FailedPlugin,
    LoadedPlugin,
    LoadResult,
    RouterHost,
    bundle_dir,
    current_bundle,
    load_plugins,
    read_bundle,
)
from .types import (
    Activation,
    BuildResult,
    BundlePlugin,
    DiscoverResult,
    FoundPlugin,
    Generation,
    ManifestCheck,
    PluginFailure,
    PluginManifest,
    PluginRecord,
    RejectedPlugin,
    Setting,
)

__all__ = [
    "Activation",
    "ActivationFailedError",
    "AlreadyExistsError",
    "AsyncClient",
    "BadInputError",
    "BinaryNotFoundError",
    "BuildResult",
    "BundleError",
    "BundlePlugin",
    "Client",
    "CommandTimeoutError",
    "ConflictError",
    "CosmoBundleError",
    "DamagedError",
    "DiscoverResult",
    "FailedPlugin",
    "FoundPlugin",
    "Generation",
    "GitError",
    "InternalError",
    "LoadResult",
    "LoadedPlugin",
    "LockTimeoutError",
    "ManifestCheck",
    "NotFoundError",
    "PackageNotFoundError",
    "PluginCheckError",
    "PluginFailure",
    "PluginManifest",
    "PluginRecord",
    "RejectedPlugin",
    "RouterHost",
    "Setting",
    "UnexpectedOutputError",
    "UvError",
    "UvMissingError",
    "VerifyFailedError",
    "bundle_dir",
    "current_bundle",
    "find_cosmo_bundle_bin",
    "load_plugins",
    "read_bundle",
]
