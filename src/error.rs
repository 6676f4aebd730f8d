//! Typed errors and the documented exit codes they map to.

use std::path::PathBuf;

/// Exit codes: a stable contract, listed in README.md.
pub mod exit {
    /// An internal error: I/O, a corrupt store, a database failure.
    pub const INTERNAL: i32 = 1;
    /// Bad input: arguments, the server repository, an unknown generation.
    pub const BAD_INPUT: i32 = 2;
    /// The plugin set has no solution (a dependency conflict).
    pub const CONFLICT: i32 = 3;
    /// A plugin failed its checks in the built bundle (manifest, import).
    pub const PLUGIN_CHECK: i32 = 4;
    /// Another cosmo-bundle command held the lock for too long.
    pub const LOCK_TIMEOUT: i32 = 5;
    /// uv (or git, for a git plugin's ref) failed for another reason than a conflict
    /// (network, build, invalid project, unreachable repository).
    pub const UV_FAILED: i32 = 6;
    /// uv is not installed or not on PATH.
    pub const UV_MISSING: i32 = 7;
    /// A bundle differs from its file record (`verify`, or `start` refusing it).
    pub const VERIFY_FAILED: i32 = 8;
    /// The server did not come back healthy after `current` moved (it was moved back).
    pub const ACTIVATION_FAILED: i32 = 9;
}

/// Everything an operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    BadInput {
        message: String,
        hint: Option<String>,
    },

    #[error("{name} {version} does not exist: uv found no such package or version\n{explanation}")]
    PackageNotFound {
        name: String,
        version: String,
        explanation: String,
    },

    #[error("dependency conflict: uv found no solution for this plugin set\n{explanation}")]
    Conflict {
        explanation: String,
        /// The record the conflict was recorded on (`plugin add` saves it FAILED; `plugin
        /// update` keeps its versions), as it is now, for `--json`.
        record: Option<Box<serde_json::Value>>,
    },

    #[error("{message}")]
    NotFound {
        message: String,
        hint: Option<String>,
    },

    #[error("{message}")]
    AlreadyExists {
        message: String,
        hint: Option<String>,
    },

    #[error("plugin check failed:{}", failures.iter().map(|f| format!("\n  {}: {}", f.name, f.reason)).collect::<String>())]
    PluginCheck { failures: Vec<PluginFailure> },

    #[error("timed out after {seconds}s waiting for the lock on {}", path.display())]
    LockTimeout { path: PathBuf, seconds: u64 },

    #[error("`{command}` failed with {status}\n{stderr}")]
    UvFailed {
        command: String,
        status: String,
        stderr: String,
    },

    #[error("`{command}` failed with {status}\n{stderr}")]
    GitFailed {
        command: String,
        status: String,
        stderr: String,
    },

    #[error("uv was not found next to cosmo-bundle or on PATH")]
    UvMissing,

    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("database {}: {source}", path.display())]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    #[error("timed out after {seconds}s waiting for the database {} (another program is writing to it)", path.display())]
    DbBusy { path: PathBuf, seconds: u64 },

    /// The server did not come back healthy after `current` moved; `report` is the
    /// activation as JSON (`--json`).
    #[error("{message}")]
    ActivationFailed {
        message: String,
        hint: String,
        report: Box<serde_json::Value>,
    },

    /// Something in the data directory or the database is damaged, and the command needs it.
    #[error("{message}")]
    Damaged {
        message: String,
        hint: Option<String>,
    },

    /// A bundle differs from its file record.
    #[error("{message}")]
    VerifyFailed {
        message: String,
        hint: Option<String>,
        /// What `verify` found, for `--json` (the `verify` output).
        report: Option<Box<serde_json::Value>>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error `kind` with its exit code and meaning: the list README.md and the JSON
/// Schemas in docs/json/ publish. A new kind is added here, with its README row.
pub const KINDS: &[(&str, i32, &str)] = &[
    (
        "bad_input",
        exit::BAD_INPUT,
        "bad arguments (usage errors too), server repository, manifest, or state for the command",
    ),
    (
        "not_found",
        exit::BAD_INPUT,
        "no such plugin record or generation, or a git ref (branch or tag) the repository does not have",
    ),
    (
        "package_not_found",
        exit::BAD_INPUT,
        "the plugin's package, or that version of it, does not exist on the index (nothing is recorded)",
    ),
    (
        "already_exists",
        exit::BAD_INPUT,
        "a plugin record for that distribution already exists",
    ),
    (
        "conflict",
        exit::CONFLICT,
        "uv found no solution for the plugin set",
    ),
    (
        "plugin_check",
        exit::PLUGIN_CHECK,
        "a plugin failed its checks in the built bundle",
    ),
    (
        "lock_timeout",
        exit::LOCK_TIMEOUT,
        "another command held the data directory's lock too long, or the server cosmo.db's write lock",
    ),
    (
        "uv_failed",
        exit::UV_FAILED,
        "uv failed for another reason (network, build, invalid project)",
    ),
    (
        "git_failed",
        exit::UV_FAILED,
        "git failed for a git plugin (unreachable repository; a missing branch or tag is `not_found`)",
    ),
    ("uv_missing", exit::UV_MISSING, "uv is not installed"),
    (
        "internal",
        exit::INTERNAL,
        "I/O error, corrupt store or database",
    ),
    (
        "activation_failed",
        exit::ACTIVATION_FAILED,
        "the restarted server did not answer healthy; `current` went back to the generation before (`activation`: what each attempt did; the message says whether that one answers)",
    ),
    (
        "damaged",
        exit::INTERNAL,
        "a damaged generation, bundle, generation index or plugin row is what the command needs (the hint says how to repair it)",
    ),
    (
        "verify_failed",
        exit::VERIFY_FAILED,
        "a bundle differs from its file record (`verify`; `start` refuses it)",
    ),
];

/// Why one plugin cannot go into a bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PluginFailure {
    /// Normalised distribution name.
    pub name: String,
    pub reason: String,
}

impl Error {
    /// A bad-input error with a hint on how to fix it.
    pub fn input(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::BadInput {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A "no such thing" error (an unknown record or generation) with a hint.
    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::NotFound {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A "that already exists" error with a hint.
    pub fn already_exists(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::AlreadyExists {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A "this part is damaged" error with what to do about it.
    pub fn damaged(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Damaged {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput { .. }
            | Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::PackageNotFound { .. } => exit::BAD_INPUT,
            Error::Conflict { .. } => exit::CONFLICT,
            Error::PluginCheck { .. } => exit::PLUGIN_CHECK,
            Error::LockTimeout { .. } | Error::DbBusy { .. } => exit::LOCK_TIMEOUT,
            Error::UvFailed { .. } | Error::GitFailed { .. } => exit::UV_FAILED,
            Error::UvMissing => exit::UV_MISSING,
            Error::Io(_) | Error::Db { .. } | Error::Corrupt { .. } => exit::INTERNAL,
            Error::Damaged { .. } => exit::INTERNAL,
            Error::VerifyFailed { .. } => exit::VERIFY_FAILED,
            Error::ActivationFailed { .. } => exit::ACTIVATION_FAILED,
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::BadInput { hint, .. }
            | Error::NotFound { hint, .. }
            | Error::AlreadyExists { hint, .. }
            | Error::Damaged { hint, .. }
            | Error::VerifyFailed { hint, .. } => hint.clone(),
            Error::ActivationFailed { hint, .. } => Some(hint.clone()),
            Error::Conflict { .. } => Some(
                "change the plugin's version, or remove the plugin it conflicts with".into(),
            ),
            Error::PackageNotFound { .. } => Some(
                "check the plugin's name and version on its index (`cosmo-bundle config get index-url`); nothing was recorded".into(),
            ),
            Error::PluginCheck { .. } => Some(
                "the failing plugins are marked FAILED; fix or remove them (`cosmo-bundle plugin remove NAME`), then build again".into(),
            ),
            Error::LockTimeout { .. } => Some(
                "another cosmo-bundle command is still running; wait for it, or raise COSMO_LOCK_TIMEOUT (seconds)".into(),
            ),
            Error::DbBusy { .. } => Some(
                "the server (or another program) holds a write lock on cosmo.db; try again when it is idle".into(),
            ),
            _ if self.disk_full() => Some(
                "the data directory's file system is full: make room (`cosmo-bundle gc --dry-run --keep 5` shows what gc would free), then run the command again; nothing was registered".into(),
            ),
            Error::UvMissing => Some(

                "install uv: `pip install uv` or `curl -LsSf https://astral.sh/uv/install.sh | sh`, then make sure `uv` is on PATH".into(),
            ),
            _ => None,
        }
    }

    /// Whether the error is a full file system (ours, uv's or SQLite's).
    fn disk_full(&self) -> bool {
        match self {
            Error::Io(e) => e.kind() == std::io::ErrorKind::StorageFull,
            Error::UvFailed { stderr, .. } => stderr.contains("No space left on device"),
            Error::Db { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DiskFull)
            ),
            _ => false,
        }
    }

    /// A short machine-readable name for `--json` error output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BadInput { .. } => "bad_input",
            Error::NotFound { .. } => "not_found",
            Error::PackageNotFound { .. } => "package_not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Conflict { .. } => "conflict",
            Error::PluginCheck { .. } => "plugin_check",
            Error::LockTimeout { .. } | Error::DbBusy { .. } => "lock_timeout",
            Error::UvFailed { .. } => "uv_failed",
            Error::GitFailed { .. } => "git_failed",
            Error::UvMissing => "uv_missing",
            Error::Io(_) | Error::Db { .. } | Error::Corrupt { .. } => "internal",
            Error::Damaged { .. } => "damaged",
            Error::VerifyFailed { .. } => "verify_failed",
            Error::ActivationFailed { .. } => "activation_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_published_kind_with_its_exit_code() {
        let errors = [
            Error::input("m", "h"),
            Error::not_found("m", "h"),
            Error::already_exists("m", "h"),
            Error::Conflict {
                explanation: "e".into(),
                record: None,
            },
            Error::PluginCheck { failures: vec![] },
            Error::LockTimeout {
                path: "lock".into(),
                seconds: 1,
            },
            Error::UvFailed {
                command: "uv".into(),
                status: "exit code 2".into(),
                stderr: String::new(),
            },
            Error::GitFailed {
                command: "git ls-remote".into(),
                status: "exit code 128".into(),
                stderr: String::new(),
            },
            Error::PackageNotFound {
                name: "n".into(),
                version: "1".into(),
                explanation: String::new(),
            },
            Error::DbBusy {
                path: "cosmo.db".into(),
                seconds: 1,
            },
            Error::UvMissing,
            Error::Io(std::io::Error::other("x")),
            Error::Corrupt {
                path: "p".into(),
                reason: "r".into(),
            },
            Error::damaged("m", "h"),
            Error::ActivationFailed {
                message: "m".into(),
                hint: "h".into(),
                report: Box::default(),
            },
            Error::VerifyFailed {
                message: "m".into(),
                hint: None,
                report: None,
            },
        ];
        for err in &errors {
            let row = KINDS.iter().find(|(kind, _, _)| *kind == err.kind());
            assert_eq!(row.map(|r| r.1), Some(err.exit_code()), "{err:?}");
        }
        let kinds: std::collections::BTreeSet<_> = errors.iter().map(Error::kind).collect();
        assert_eq!(
            kinds.len(),
            KINDS.len(),
            "a kind in KINDS that no error has"
        );
    }
}
