//! The Python request a bundle is built for: part of the hash, passed to uv as given.
//!
//! Resolving the request to an interpreter would need a uv call (about 80 ms), and a cache
//! hit must not call uv; so the hash covers the request (the `python` setting) and, when it
//! is a path, the canonical path it names; the bundle manifest records the interpreter uv
//! actually used.

use crate::error::{Error, Result};
use std::path::Path;

/// The `python` setting, or none (uv's default discovery).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonRequest {
    /// The request as given (a version such as `3.11`, or an interpreter path).
    pub request: Option<String>,
    /// The canonical path when the request is an interpreter path.
    pub path: Option<String>,
}

impl PythonRequest {
    /// Builds the request from the `python` setting.
    pub fn from_setting(setting: Option<&str>) -> Result<PythonRequest> {
        let Some(request) = setting else {
            return Ok(PythonRequest::default());
        };
        let path = if request.contains('/') {
            let canonical = fs_err::canonicalize(Path::new(request)).map_err(|e| {
                Error::input(
                    format!("the python setting names {request:?}: {e}"),
                    "set an existing interpreter path or a version such as 3.11 with `cosmo-bundle config set python`",
                )
            })?;
            Some(canonical.to_string_lossy().into_owned())
        } else {
            None
        };
        Ok(PythonRequest {
            request: Some(request.to_string()),
            path,
        })
    }
}
