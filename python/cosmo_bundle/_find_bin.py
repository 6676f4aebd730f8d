"""Finding the cosmo-bundle executable."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from .errors import BinaryNotFoundError

EXE = "cosmo-bundle" + (".exe" if sys.platform == "win32" else "")


def find_cosmo_bundle_bin() -> str:
    """The cosmo-bundle executable to run.

    In order: ``COSMO_BUNDLE_BIN``; the scripts directory of the running Python (where
    the wheel installed it, next to this package: a venv, ``uv tool``, pipx); the user
    scripts directory (``pip install --user``); then ``PATH``.
    """
    explicit = os.environ.get("COSMO_BUNDLE_BIN")
    if explicit:
        return explicit
    candidates = [Path(sysconfig.get_path("scripts")) / EXE]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        candidates.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)) / EXE)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(EXE)
    if found:
        return found
    raise BinaryNotFoundError(
        "the cosmo-bundle executable was not found beside this Python, in the user "
        "scripts directory or on PATH",
        hint="install the wheel (`pip install cosmo-bundle`), or set COSMO_BUNDLE_BIN",
    )
