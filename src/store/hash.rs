//! The bundle hash: blake3 over a canonical encoding of everything that decides a bundle.
//!
//! The encoding is a contract, written down in store-layout.md with test vectors. Version
//! 2 is what new bundles get; version 1 is kept so that bundles registered by earlier
//! versions stay valid.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the hash encoding new bundles get.
pub const FORMAT: &str = "cosmo-bundle-hash-v2";

/// Hex digits of the blake3 digest used as the store path name.
pub const HASH_LEN: usize = 32;

/// Everything the hash covers (version 2), in the form store-layout.md documents.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HashInputs {
    /// Canonical absolute path of the server repository.
    pub server_path: String,
    /// The exact text of the server's `pyproject.toml`.
    pub server_pyproject: String,
    /// blake3 (hex) of the exact text of the server's `uv.lock`, when it has one.
    pub server_uv_lock: Option<String>,
    /// What the bundle's source tree holds: one `KIND NAME` per top-level entry of the
    /// server's `src/cosmoserver` (`dir`, `file` or `link`), sorted.
    pub server_source: Vec<String>,
    /// The hashed settings, each as canonical JSON text.
    pub settings: BTreeMap<String, String>,
    /// The canonical interpreter path when the `python` setting is a path.
    pub python_path: Option<String>,
    /// The PEP 508 requirement of every wanted plugin, in any order.
    pub plugins: Vec<String>,
}

/// The hash inputs of version 1 (bundles registered before version 2).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HashInputsV1 {
    pub server_path: String,
    pub server_pyproject: String,
    pub server_uv_lock: Option<String>,
    pub python_request: Option<String>,
    pub python_path: Option<String>,
    pub env: BTreeMap<String, String>,
    pub plugins: Vec<String>,
}

/// The inputs a `bundle.json` records: version 2, or version 1 for older bundles.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Inputs {
    V2(HashInputs),
    V1(HashInputsV1),
}

impl Inputs {
    /// The hash these inputs give, under their own version's encoding.
    pub fn hash(&self) -> String {
        match self {
            Inputs::V2(i) => i.hash(),
            Inputs::V1(i) => i.hash(),
        }
    }
}

/// The blake3 digest of `bytes` in hex (the full 64 digits).
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The name part of a PEP 508 requirement, normalised: the sort key of the plugin set.
fn requirement_key(req: &str) -> String {
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(req.len());
    crate::plugins::normalize(&req[..end])
}

/// The canonical encoding: one record per field, `NAME NUL LEN NUL VALUE LF`.
struct Encoder(Vec<u8>);

impl Encoder {
    fn field(&mut self, name: &str, value: &[u8]) {
        let out = &mut self.0;
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.len().to_string().as_bytes());
        out.push(0);
        out.extend_from_slice(value);
        out.push(b'\n');
    }

    fn opt(&mut self, name: &str, value: &Option<String>) {
        match value {
            Some(s) => self.field(name, format!("+{s}").as_bytes()),
            None => self.field(name, b"-"),
        }
    }

    fn map(&mut self, prefix: &str, map: &BTreeMap<String, String>) {
        self.field(&format!("{prefix}.count"), map.len().to_string().as_bytes());
        for (k, v) in map {
            self.field(&format!("{prefix}.{k}"), v.as_bytes());
        }
    }

    fn plugins(&mut self, plugins: &[String]) {
        let mut sorted: Vec<&String> = plugins.iter().collect();
        sorted.sort_by_key(|r| (requirement_key(r), (*r).clone()));
        self.field("plugins.count", sorted.len().to_string().as_bytes());
        for p in sorted {
            self.field("plugin", p.as_bytes());
        }
    }

    fn hash(self) -> String {
        blake3::hash(&self.0).to_hex().as_str()[..HASH_LEN].to_string()
    }
}

impl HashInputs {
    /// The canonical byte encoding, in the fixed order store-layout.md lists.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder(Vec::new());
        e.field("format", FORMAT.as_bytes());
        e.field("server.path", self.server_path.as_bytes());
        e.field("server.pyproject", self.server_pyproject.as_bytes());
        e.opt("server.uv_lock", &self.server_uv_lock);
        e.field(
            "server.source.count",
            self.server_source.len().to_string().as_bytes(),
        );
        for entry in &self.server_source {
            e.field("server.source", entry.as_bytes());
        }
        e.map("setting", &self.settings);
        e.opt("python.path", &self.python_path);
        e.plugins(&self.plugins);
        e.0
    }

    /// The store hash: the first 32 hex digits of blake3 over [`Self::encode`].
    pub fn hash(&self) -> String {
        Encoder(self.encode()).hash()
    }
}

impl HashInputsV1 {
    /// The version 1 encoding (store-layout.md, "Version 1").
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder(Vec::new());
        e.field("format", b"cosmo-bundle-hash-v1");
        e.field("server.path", self.server_path.as_bytes());
        e.field("server.pyproject", self.server_pyproject.as_bytes());
        e.opt("server.uv_lock", &self.server_uv_lock);
        e.opt("python.request", &self.python_request);
        e.opt("python.path", &self.python_path);
        e.map("env", &self.env);
        e.plugins(&self.plugins);
        e.0
    }

    /// The store hash under version 1.
    pub fn hash(&self) -> String {
        Encoder(self.encode()).hash()
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
            server_source: vec!["file __init__.py".into(), "file main.py".into()],
            settings: BTreeMap::new(),
            python_path: None,
            plugins: plugins.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn order_of_plugins_does_not_matter() {
        let a = inputs(&[
            "zigbee-switch==1.0.0",
            "hue-lights==1.0.0",
            "b @ git+file:///r@3cc0b5d358f71b4dc4517ceff1a6f037777a5938",
        ]);
        let b = inputs(&[
            "b @ git+file:///r@3cc0b5d358f71b4dc4517ceff1a6f037777a5938",
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
        v.server_uv_lock = Some(digest(b""));
        variants.push(v);
        let mut v = base.clone();
        v.server_source.push("file newmod.py".into());
        variants.push(v);
        let mut v = base.clone();
        v.settings.insert("python".into(), "\"3.11\"".into());
        variants.push(v);
        let mut v = base.clone();
        v.settings.insert("no-index".into(), "true".into());
        variants.push(v);
        let mut v = base.clone();
        v.python_path = Some("/usr/bin/python3".into());
        variants.push(v);
        for v in variants {
            assert_ne!(v.hash(), base.hash(), "{v:?}");
        }
    }

    /// The vectors in store-layout.md are the contract: this test keeps the document exact.
    #[test]
    fn store_layout_test_vectors_hold() {
        let doc = include_str!("../../store-layout.md");
        let block = |tag: &str| {
            let start = doc
                .find(&format!("```json {tag}\n"))
                .unwrap_or_else(|| panic!("{tag} block in store-layout.md"));
            let body = &doc[start..];
            let body = &body[body.find('\n').unwrap() + 1..];
            body[..body.find("```").unwrap()].to_string()
        };
        #[derive(Deserialize)]
        struct Vector {
            inputs: Inputs,
            hash: String,
        }
        for tag in ["hash-vectors", "hash-vectors-v1"] {
            let vectors: Vec<Vector> = serde_json::from_str(&block(tag)).expect("vectors parse");
            assert!(vectors.len() >= 3, "{tag}");
            for (i, v) in vectors.iter().enumerate() {
                let want_v2 = tag == "hash-vectors";
                assert_eq!(matches!(v.inputs, Inputs::V2(_)), want_v2, "{tag} {i}");
                assert_eq!(v.inputs.hash(), v.hash, "{tag} vector {i}");
            }
        }
    }
}
