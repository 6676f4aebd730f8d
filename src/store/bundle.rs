//! `bundle.json`: the bundle manifest. Its presence registers a bundle; it says what was
//! built, from what, with what, and it is what the server loads plugins from.

use super::hash::Inputs;
use crate::plugins::SourceType;
use crate::plugins::cosmo_json::CosmoManifest;
use serde::{Deserialize, Serialize};

/// The bundle manifest's file name.
pub const BUNDLE_JSON: &str = "bundle.json";
/// The manifest format this version writes (with version 2 hash inputs).
pub const FORMAT: u32 = 2;
/// The earlier format still read: bundles registered with version 1 hash inputs.
pub const FORMAT_V1: u32 = 1;

/// The contents of `bundle.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: u32,
    pub hash: String,
    pub created_at: String,
    pub tool_version: String,
    pub uv_version: String,
    pub inputs: Inputs,
    pub python: PythonInfo,
    pub plugins: Vec<BundlePlugin>,
    /// Keys written by newer versions, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The interpreter uv put in the bundle's `.venv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `home` from `.venv/pyvenv.cfg`: the directory of the base interpreter.
    pub home: String,
    /// `version_info` from `.venv/pyvenv.cfg`.
    pub version: String,
}

/// One plugin of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BundlePlugin {
    /// Normalised distribution name.
    pub name: String,
    pub source_type: SourceType,
    /// The PyPI distribution or the git URL.
    pub source: String,
    /// The version column value: the PyPI pin or the git ref.
    pub version: String,
    pub requirement: String,
    /// The version uv resolved (from uv.lock).
    pub resolved_version: Option<String>,
    /// The commit uv pinned, for git sources.
    pub commit: Option<String>,
    /// The plugin's validated `cosmo.json`: what the server loads at start-up.
    pub manifest: Option<CosmoManifest>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}
