"""Typed exceptions for the errors cosmo-bundle reports.

Under ``--json`` a failing command prints ``{"error": {"kind", "message", "hint",
"exit_code", ...}}`` on stdout and exits non-zero. :func:`error_from_output` turns that
object into the exception class of its ``kind`` (or, when stdout holds no such object,
of its exit code).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .types import (
    ActivationReport,
    OutputShapeError,
    PluginFailure,
    PluginRecord,
    VerifyReport,
)

_R = TypeVar("_R")

# The documented exit codes (README.md, "Exit codes").
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_PLUGIN_CHECK = 4
EXIT_LOCK_TIMEOUT = 5
EXIT_UV_FAILED = 6
EXIT_UV_MISSING = 7
EXIT_ACTIVATION_FAILED = 9
EXIT_VERIFY_FAILED = 8


class CosmoBundleError(Exception):
    """A cosmo-bundle command failed; the base of every error this package raises."""

    #: The error kind this class stands for (``bad_input``, ``not_found``, ...).
    default_kind = "internal"

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        hint: str | None = None,
        exit_code: int | None = None,
        details: Mapping[str, Any] | None = None,
        argv: Sequence[str] = (),
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind or self.default_kind
        self.hint = hint
        self.exit_code = exit_code
        #: The whole error object as the binary printed it (fields newer versions add included).
        self.details: dict[str, Any] = dict(details or {})
        #: The command line that failed (the binary and its arguments).
        self.argv: list[str] = list(argv)
        #: What the command wrote on stderr.
        self.stderr = stderr

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class BadInputError(CosmoBundleError):
    """Bad input: arguments, a version, the server repository, a manifest (exit 2)."""

    default_kind = "bad_input"


class NotFoundError(CosmoBundleError):
    """No such plugin record or generation, or a git branch or tag the repository does not
    have (exit 2, kind ``not_found``)."""

    default_kind = "not_found"


class PackageNotFoundError(BadInputError):
    """The plugin's package, or that version of it, does not exist on the index; nothing
    was recorded (exit 2, kind ``package_not_found``)."""

    default_kind = "package_not_found"


class AlreadyExistsError(CosmoBundleError):
    """The plugin is already recorded (exit 2, kind ``already_exists``)."""

    default_kind = "already_exists"


class ConflictError(CosmoBundleError):
    """uv found no solution for the plugin set (exit 3).

    ``explanation`` is uv's own account of the conflict. ``record`` is the plugin record
    the command saved (``plugin add`` records the plugin ``FAILED``), when the binary
    reports it.
    """

    default_kind = "conflict"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        explanation = self.details.get("explanation")
        if not isinstance(explanation, str):
            # "dependency conflict: uv found no solution ...\n<uv's explanation>"
            _, _, rest = message.partition("\n")
            explanation = rest or message
        self.explanation: str = explanation
        record = self.details.get("record")
        self.record: PluginRecord | None = (
            PluginRecord.from_json(record) if isinstance(record, dict) else None
        )


class PluginCheckError(CosmoBundleError):
    """A plugin failed its checks in the built bundle (exit 4); ``failures`` says which."""

    default_kind = "plugin_check"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        failures = self.details.get("failures")
        self.failures: list[PluginFailure] = [
            PluginFailure.from_json(f) for f in failures or [] if isinstance(f, dict)
        ]


class LockTimeoutError(CosmoBundleError):
    """Another cosmo-bundle command held the data directory's lock too long, or the server
    held cosmo.db's write lock too long (exit 5)."""

    default_kind = "lock_timeout"


class UvError(CosmoBundleError):
    """uv failed for another reason than a conflict: network, build, project (exit 6)."""

    default_kind = "uv_failed"


class GitError(UvError):
    """git failed for a git plugin: unreachable repository (exit 6, like uv); a missing
    branch or tag is ``NotFoundError``."""

    default_kind = "git_failed"


class UvMissingError(UvError):
    """uv was not found next to cosmo-bundle or on PATH (exit 7)."""

    default_kind = "uv_missing"


class InternalError(CosmoBundleError):
    """An internal error: I/O, a corrupt store or database (exit 1)."""

    default_kind = "internal"


class DamagedError(InternalError):
    """Part of the data directory is damaged (a generation, ``current``, a row); the
    message says what and how to remove it (exit 1, kind ``damaged``)."""

    default_kind = "damaged"


class ActivationFailedError(CosmoBundleError):
    """The server did not come back healthy after ``current`` moved: ``current`` went back
    to the previous generation (exit 9, kind ``activation_failed``).

    ``report`` is every attempt (the error's ``activation``), when the binary reports it.
    """

    default_kind = "activation_failed"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.report: ActivationReport | None = _parsed(
            self.details.get("activation"), ActivationReport.from_json
        )


class VerifyFailedError(CosmoBundleError):
    """A bundle differs from its file record (exit 8, kind ``verify_failed``: ``verify``,
    or ``start`` refusing it).

    ``report`` is what ``verify`` found (the error's ``verify``: every bundle checked and
    each changed path), when the binary reports it.
    """

    default_kind = "verify_failed"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.report: VerifyReport | None = _parsed(
            self.details.get("verify"), VerifyReport.from_json
        )


def _parsed(value: object, parse: Callable[[object], _R]) -> _R | None:
    """``value`` parsed, or None when absent or of another shape (``details`` keeps it)."""
    if not isinstance(value, dict):
        return None
    try:
        return parse(value)
    except OutputShapeError:
        return None


class BinaryNotFoundError(CosmoBundleError):
    """The cosmo-bundle executable itself was not found (nothing was run)."""

    default_kind = "binary_missing"


class UnexpectedOutputError(CosmoBundleError):
    """The command's output was not the JSON this package understands."""

    default_kind = "unexpected_output"


class BundleError(CosmoBundleError):
    """A bundle directory has no readable, valid ``bundle.json``."""

    default_kind = "bad_bundle"


_BY_KIND: dict[str, type[CosmoBundleError]] = {
    "bad_input": BadInputError,
    "not_found": NotFoundError,
    "package_not_found": PackageNotFoundError,

    "already_exists": AlreadyExistsError,
    "conflict": ConflictError,
    "plugin_check": PluginCheckError,
    "lock_timeout": LockTimeoutError,
    "uv_failed": UvError,
    "git_failed": GitError,
    "uv_missing": UvMissingError,
    "internal": InternalError,
    "damaged": DamagedError,
    "activation_failed": ActivationFailedError,
    "verify_failed": VerifyFailedError,
}

_BY_EXIT_CODE: dict[int, type[CosmoBundleError]] = {
    EXIT_INTERNAL: InternalError,
    EXIT_BAD_INPUT: BadInputError,
    EXIT_CONFLICT: ConflictError,
    EXIT_PLUGIN_CHECK: PluginCheckError,
    EXIT_ACTIVATION_FAILED: ActivationFailedError,
    EXIT_VERIFY_FAILED: VerifyFailedError,
    EXIT_LOCK_TIMEOUT: LockTimeoutError,
    EXIT_UV_FAILED: UvError,
    EXIT_UV_MISSING: UvMissingError,
}


def error_from_output(
    returncode: int, stdout: str, stderr: str, argv: Sequence[str] = ()
) -> CosmoBundleError:
    """The exception for a command that exited with ``returncode``.

    The ``{"error": {...}}`` object on stdout decides the class by its ``kind``; an
    unknown kind (from a newer binary) or an absent object (a usage error printed by the
    argument parser, a crash) falls back to the documented meaning of the exit code.
    """
    body: dict[str, Any] = {}
    try:
        parsed = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        body = parsed["error"]
    kind = body.get("kind") if isinstance(body.get("kind"), str) else None
    cls = _BY_KIND.get(kind or "") or _BY_EXIT_CODE.get(returncode, CosmoBundleError)
    message = body.get("message")
    if not isinstance(message, str):
        message = _stderr_message(stderr) or f"cosmo-bundle exited with {returncode}"
    hint = body.get("hint") if isinstance(body.get("hint"), str) else None
    exit_code = body.get("exit_code")
    return cls(
        message,
        kind=kind,
        hint=hint,
        exit_code=exit_code if isinstance(exit_code, int) else returncode,
        details=body,
        argv=argv,
        stderr=stderr,
    )


def _stderr_message(stderr: str) -> str:
    """The error lines of stderr, without the ``error:`` prefix of the first."""
    text = stderr.strip()
    if text.startswith("error: "):
        text = text[len("error: ") :]
    return text
