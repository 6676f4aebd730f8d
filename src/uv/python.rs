//! The Python request a bundle is built for: part of the hash, passed to uv as given.
//!
//! Resolving the request to an interpreter would need a uv call (about 80 ms), and a cache
//! hit must not call uv; so the hash covers the request (and the canonical path it names),
//! and the bundle manifest records the interpreter uv actually used.

use crate::error::{Error, Result};
use std::path::Path;

/// `--python` / `COSMO_PYTHON`, else `UV_PYTHON`, else none (uv's default discovery).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonRequest {
    /// The request as given (a version such as `3.11`, or an interpreter path).
    pub request: Option<String>,
    /// The canonical path when the request names an existing file.
    pub path: Option<String>,
}

impl PythonRequest {
    /// Builds the request from the command-line option, falling back to `UV_PYTHON`.
    pub fn from_option(option: Option<&str>) -> Result<PythonRequest> {
        let from_env = std::env::var("UV_PYTHON").ok().filter(|v| !v.is_empty());
        let Some(request) = option.map(str::to_string).or(from_env) else {
            return Ok(PythonRequest::default());
        };
        let path = if request.contains('/') {
            let canonical = Path::new(&request).canonicalize().map_err(|e| {
                Error::input(
                    format!("Python interpreter {request:?}: {e}"),
                    "pass an existing interpreter path or a version such as 3.11 to --python",
                )
            })?;
            Some(canonical.to_string_lossy().into_owned())
        } else {
            None
        };
        Ok(PythonRequest {
            request: Some(request),
            path,
        })
    }
}
