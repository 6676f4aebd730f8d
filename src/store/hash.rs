//! The bundle hash: blake3 over a canonical encoding of everything that decides a bundle.
//!
//! The encoding is a contract, written down in store-layout.md with test vectors.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Version of the hash encoding; bump it when the inputs or their encoding change.
pub const FORMAT: &str = "cosmo-bundle-hash-v1";

/// Hex digits of the blake3 digest used as the store path name.
pub const HASH_LEN: usize = 32;

/// uv settings read from the environment that change what a bundle resolves to.
pub const RESOLUTION_ENV: &[&str] = &[
    "UV_CONSTRAINT",
    "UV_DEFAULT_INDEX",
    "UV_EXCLUDE_NEWER",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_INDEX",
    "UV_INDEX_STRATEGY",
    "UV_INDEX_URL",
    "UV_NO_BINARY",
    "UV_NO_BUILD",
    "UV_NO_INDEX",
    "UV_OFFLINE",
    "UV_OVERRIDE",
    "UV_PRERELEASE",
    "UV_RESOLUTION",
];

/// Everything the hash covers, in the form store-layout.md documents.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct HashInputs {
    pub server_path: String,
    pub server_pyproject: String,
    pub server_uv_lock: Option<String>,
    pub python_request: Option<String>,
    pub python_path: Option<String>,
    pub env: BTreeMap<String, String>,
    /// PEP 508 requirements of the plugins, in any order.
    pub plugins: Vec<String>,
}

/// The resolution settings currently set in the environment.
pub fn resolution_env() -> BTreeMap<String, String> {
    RESOLUTION_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// The name part of a PEP 508 requirement, normalised: the sort key of the plugin set.
fn requirement_key(req: &str) -> String {
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(req.len());
    crate::plugins::normalize(&req[..end])
}

impl HashInputs {
    /// The canonical byte encoding: one record per field,
    /// `name NUL decimal-length NUL value LF`, in a fixed order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |name: &str, value: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend_from_slice(value.len().to_string().as_bytes());
            out.push(0);
            out.extend_from_slice(value);
            out.push(b'\n');
        };
        let opt = |v: &Option<String>| match v {
            Some(s) => format!("+{s}"),
            None => "-".to_string(),
        };
        field("format", FORMAT.as_bytes());
        field("server.path", self.server_path.as_bytes());
        field("server.pyproject", self.server_pyproject.as_bytes());
        field("server.uv_lock", opt(&self.server_uv_lock).as_bytes());
        field("python.request", opt(&self.python_request).as_bytes());
        field("python.path", opt(&self.python_path).as_bytes());
        field("env.count", self.env.len().to_string().as_bytes());
        for (k, v) in &self.env {
            field(&format!("env.{k}"), v.as_bytes());
        }
        let mut plugins: Vec<&String> = self.plugins.iter().collect();
        plugins.sort_by_key(|r| (requirement_key(r), (*r).clone()));
        field("plugins.count", plugins.len().to_string().as_bytes());
        for p in plugins {
            field("plugin", p.as_bytes());
        }
        out
    }

    /// The store hash: the first 32 hex digits of blake3 over [`Self::encode`].
    pub fn hash(&self) -> String {
        let digest = blake3::hash(&self.encode()).to_hex();
        digest.as_str()[..HASH_LEN].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(plugins: &[&str]) -> HashInputs {
        HashInputs {
            server_path: "/srv/cosmo-server".into(),
            server_pyproject: "[project]\nname = \"cosmo-server\"\n".into(),
            server_uv_lock: None,
            python_request: None,
            python_path: None,
            env: BTreeMap::new(),
            plugins: plugins.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn order_of_plugins_does_not_matter() {
        let a = inputs(&[
            "zigbee-switch==1.0.0",
            "hue-lights==1.0.0",
            "b @ git+file:///r@v1",
        ]);
        let b = inputs(&[
            "b @ git+file:///r@v1",
            "hue-lights==1.0.0",
            "zigbee-switch==1.0.0",
        ]);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), HASH_LEN);
    }

    #[test]
    fn every_input_changes_the_hash() {
        let base = inputs(&["a==1"]);
        let mut variants = vec![inputs(&["a==2"]), inputs(&[])];
        let mut v = base.clone();
        v.server_path.push('x');
        variants.push(v);
        let mut v = base.clone();
        v.server_pyproject.push(' ');
        variants.push(v);
        let mut v = base.clone();
        v.server_uv_lock = Some(String::new());
        variants.push(v);
        let mut v = base.clone();
        v.python_request = Some("3.11".into());
        variants.push(v);
        let mut v = base.clone();
        v.python_path = Some("/usr/bin/python3".into());
        variants.push(v);
        let mut v = base.clone();
        v.env.insert("UV_OFFLINE".into(), "1".into());
        variants.push(v);
        for v in variants {
            assert_ne!(v.hash(), base.hash(), "{v:?}");
        }
    }

    /// The vectors in store-layout.md are the contract: this test keeps the document exact.
    #[test]
    fn store_layout_test_vectors_hold() {
        let doc = include_str!("../../store-layout.md");
        let start = doc
            .find("```json hash-vectors")
            .expect("vectors block in store-layout.md");
        let body = &doc[start..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let body = &body[..body.find("```").unwrap()];
        #[derive(Deserialize)]
        struct Vector {
            inputs: HashInputs,
            hash: String,
        }
        let vectors: Vec<Vector> = serde_json::from_str(body).expect("vectors parse");
        assert!(vectors.len() >= 3);
        for (i, v) in vectors.iter().enumerate() {
            assert_eq!(v.inputs.hash(), v.hash, "vector {i}");
        }
    }
}
