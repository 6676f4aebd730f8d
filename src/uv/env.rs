//! The environment uv runs in: hermetic for everything that decides a resolution.
//!
//! uv would otherwise read resolution settings from the calling shell (`UV_INDEX_URL`,
//! `UV_FIND_LINKS`, ...) and from its user and system configuration files. Those come from
//! the data directory's settings instead (`settings.toml`, hashed), so uv runs with every
//! `UV_*` variable removed except those in [`FETCH_ENV`], which only change how things are
//! fetched, and with `XDG_CONFIG_HOME` and `XDG_CONFIG_DIRS` pointing at a directory whose
//! `uv/uv.toml` is empty, so that no user or system `uv.toml` is read.

use std::path::Path;
use std::process::Command;

/// `UV_*` variables kept from the environment: they change how packages are fetched or
/// where uv keeps its cache, never what is resolved.
pub const FETCH_ENV: &[&str] = &[
    "UV_OFFLINE",
    "UV_CACHE_DIR",
    "UV_NO_CACHE",
    "UV_HTTP_TIMEOUT",
    "UV_HTTP_RETRIES",
    "UV_REQUEST_TIMEOUT",
    "UV_CONCURRENT_DOWNLOADS",
    "UV_CONCURRENT_BUILDS",
    "UV_CONCURRENT_INSTALLS",
    "UV_NATIVE_TLS",
    "UV_INSECURE_HOST",
    "UV_KEYRING_PROVIDER",
    "UV_PYTHON_DOWNLOADS",
    "UV_PYTHON_INSTALL_DIR",
    "UV_PYTHON_INSTALL_MIRROR",
    "UV_PYPY_INSTALL_MIRROR",
    "UV_LINK_MODE",
];

/// Variables that would point uv at another project or environment than the bundle's;
/// removed without a notice.
const REDIRECTING: &[&str] = &[
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PROJECT",
    "UV_FROZEN",
    "UV_LOCKED",
    "UV_NO_SYNC",
    "UV_WORKING_DIRECTORY",
];

/// Whether a `UV_*` variable may stay: fetch settings and per-index credentials.
fn kept(name: &str) -> bool {
    FETCH_ENV.contains(&name)
        || (name.starts_with("UV_INDEX_")
            && (name.ends_with("_USERNAME") || name.ends_with("_PASSWORD")))
}

/// The variables set in this environment that would change a resolution and are ignored
/// (`COSMO_PYTHON` too, which earlier versions read).
pub fn ignored() -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            (k.starts_with("UV_") && !kept(k) && !REDIRECTING.contains(&k.as_str()))
                || k == "COSMO_PYTHON"
        })
        .collect();
    names.sort();
    names
}

/// Sets up `cmd`'s environment; `config_home` holds an empty `uv/uv.toml`.
pub fn apply(cmd: &mut Command, config_home: &Path) {
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && ((name.starts_with("UV_") && !kept(name)) || REDIRECTING.contains(&name))
        {
            cmd.env_remove(name);
        }
    }
    cmd.env("XDG_CONFIG_HOME", config_home)
        .env("XDG_CONFIG_DIRS", config_home);
}

/// Creates `config_home/uv/uv.toml`, empty, if it is not there yet.
pub fn ensure_config_home(config_home: &Path) -> crate::error::Result<()> {
    let file = config_home.join("uv/uv.toml");
    if fs_err::symlink_metadata(&file).is_err() {
        let dir = config_home.join("uv");
        fs_err::create_dir_all(&dir)?;
        // A first write killed before its rename left its temporary file.
        crate::fs::remove_temporary_files(&dir)?;
        crate::fs::write_atomic(
            &file,
            b"# Empty on purpose: uv reads no user or system configuration for cosmo-bundle.\n",
        )?;
    }
    Ok(())
}
