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
    /// The bundle's file record (absent in bundles registered by earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordRef>,
    /// BLAKE3 of the manifest's canonical bytes without this field ([`canonical_digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Keys written by newer versions, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Where a bundle's file record is, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    /// The record's file name in the bundle (`bundle.record`).
    pub file: String,
    /// BLAKE3 of the record file (64 hex digits).
    pub blake3: String,
    /// How many entries it lists.
    pub entries: usize,
}

/// The manifest's own digest: BLAKE3 (64 hex digits) of its canonical bytes, that is, the
/// JSON value without its `digest` key, written compact with keys sorted.
pub fn canonical_digest(manifest: &serde_json::Value) -> String {
    let mut value = sorted(manifest);
    if let Some(map) = value.as_object_mut() {
        map.remove("digest");
    }
    let bytes = serde_json::to_vec(&value).expect("a JSON value serialises");
    blake3::hash(&bytes).to_hex().to_string()
}

/// `value` with every object's keys in sorted order, whatever order serde_json keeps.
fn sorted(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sorted).collect())
        }
        other => other.clone(),
    }
}

impl BundleManifest {
    /// The manifest's bytes as written, with its own digest set.
    pub fn render_with_digest(&mut self) -> Vec<u8> {
        self.digest = None;
        let value = serde_json::to_value(&*self).expect("a manifest serialises");
        self.digest = Some(canonical_digest(&value));
        serde_json::to_vec_pretty(&*self).expect("a manifest serialises")
    }
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
