//! `cosmo.json`: the manifest every plugin carries in its package root.

use crate::error::{Error, Result};
use fs_err as fs;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The manifest's file name.
pub const FILE_NAME: &str = "cosmo.json";
/// Manifests larger than this are refused unread.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// A validated `cosmo.json`. Unknown fields are refused, so a misspelled field is an error
/// rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CosmoManifest {
    pub name: String,
    pub version: String,
    /// Fully qualified: `module.sub.ClassName`.
    pub plugin_class: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_prefix: Option<String>,
}

impl CosmoManifest {
    /// The module and class parts of `plugin_class`.
    pub fn module_and_class(&self) -> (&str, &str) {
        self.plugin_class
            .rsplit_once('.')
            .expect("validated: has a module part")
    }
}

/// Reads and validates the manifest at `path`, which must lie inside `plugin_dir` (a
/// symlink may not lead out of it).
pub fn load(path: &Path, plugin_dir: &Path) -> Result<CosmoManifest> {
    let bad = |reason: String| invalid(path, reason);
    let real = path
        .canonicalize()
        .map_err(|e| bad(format!("cannot open: {e}")))?;
    let root = plugin_dir
        .canonicalize()
        .map_err(|e| bad(format!("plugin directory: {e}")))?;
    if !real.starts_with(&root) {
        return Err(bad(format!(
            "it is a symlink to {}, outside the plugin directory {}",
            real.display(),
            root.display()
        )));
    }
    let meta = fs::metadata(&real)?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if meta.len() > MAX_BYTES {
        return Err(bad(format!(
            "{} bytes; a manifest may have at most {MAX_BYTES}",
            meta.len()
        )));
    }
    let bytes = fs::read(&real)?;
    parse(&bytes).map_err(bad)
}

/// Parses and validates manifest bytes; the error says which field is wrong and why.
pub fn parse(bytes: &[u8]) -> std::result::Result<CosmoManifest, String> {
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "{} bytes; a manifest may have at most {MAX_BYTES}",
            bytes.len()
        ));
    }
    if bytes.starts_with(b"\xef\xbb\xbf") {
        return Err("starts with a byte order mark (U+FEFF); save it as UTF-8 without one".into());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()))?;
    let manifest: CosmoManifest =
        serde_json::from_str(text).map_err(|e| format!("invalid manifest: {e}"))?;
    validate(&manifest)?;
    Ok(manifest)
}

fn validate(m: &CosmoManifest) -> std::result::Result<(), String> {
    for (field, value) in [
        ("name", &m.name),
        ("version", &m.version),
        ("plugin_class", &m.plugin_class),
        ("description", &m.description),
    ] {
        if value.trim().is_empty() {
            return Err(format!("field `{field}` is empty"));
        }
        // Prose may span lines; nothing may hide or reorder what an operator reads.
        let allowed = |c: char| field == "description" && matches!(c, '\n' | '\t');
        if let Some(c) = value
            .chars()
            .find(|c| crate::text::is_hidden(*c) && !allowed(*c))
        {
            return Err(format!(
                "field `{field}` contains the control or invisible character {c:?}"
            ));
        }
    }
    let parts: Vec<&str> = m.plugin_class.split('.').collect();
    if parts.len() < 2 {
        return Err(format!(
            "field `plugin_class`: {:?} has no module part; give it fully qualified, as `module.ClassName`",
            m.plugin_class
        ));
    }
    if let Some(part) = parts.iter().find(|p| !is_identifier(p)) {
        return Err(format!(
            "field `plugin_class`: {part:?} in {:?} is not a Python identifier",
            m.plugin_class
        ));
    }
    if let Some(prefix) = &m.url_prefix {
        check_url_prefix(prefix).map_err(|e| format!("field `url_prefix`: {prefix:?} {e}"))?;
    }
    Ok(())
}

/// The longest `url_prefix` accepted, in characters (all ASCII).
pub const MAX_URL_PREFIX: usize = 200;

/// Checks that `prefix` is a plain path FastAPI can mount a router under: `/` followed by
/// one or more segments separated by `/`, each made only of the URL-unreserved characters
/// `A-Z a-z 0-9 - . _ ~` and neither `.` nor `..`; no trailing `/`; at most
/// [`MAX_URL_PREFIX`] bytes. The error completes "field `url_prefix`: PREFIX ...".
pub fn check_url_prefix(prefix: &str) -> std::result::Result<(), String> {
    let Some(path) = prefix.strip_prefix('/') else {
        return Err("must start with '/'".into());
    };
    if path.is_empty() {
        return Err(
            "must name a path below '/' (to mount at the root, leave url_prefix out)".into(),
        );
    }
    if path.ends_with('/') {
        return Err("must not end with '/'".into());
    }
    for segment in path.split('/') {
        if segment.is_empty() {
            return Err("must not contain an empty segment ('//')".into());
        }
        if segment == "." || segment == ".." {
            return Err("must not contain '.' or '..' segments".into());
        }
        if let Some(c) = segment.chars().find(|c| !is_unreserved(*c)) {
            return Err(format!(
                "must not contain {c:?}: each segment may only use the URL-unreserved characters A-Z a-z 0-9 - . _ ~"
            ));
        }
    }
    if prefix.len() > MAX_URL_PREFIX {
        return Err(format!(
            "is {} characters long; a url_prefix may have at most {MAX_URL_PREFIX}",
            prefix.len()
        ));
    }
    Ok(())
}

/// A URL-unreserved character (RFC 3986, section 2.3).
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// An ASCII Python identifier that is not a keyword.
fn is_identifier(s: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&s)
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::input(
        format!("{}: {reason}", path.display()),
        "a cosmo.json needs string fields name, version, plugin_class (module.ClassName) and description, and may have url_prefix (a path such as /zigbee or /my-plugin/v1: segments of A-Z a-z 0-9 - . _ ~, no trailing '/')",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"name": "Smart Switch", "version": "1.0.0",
        "plugin_class": "my_plugin.switches.SmartSwitchPlugin",
        "description": "Controls smart switches", "url_prefix": "/zigbee"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v[field] = serde_json::from_str(value).unwrap();
        v.to_string()
    }

    #[test]
    fn a_good_manifest_parses() {
        let m = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(
            m.module_and_class(),
            ("my_plugin.switches", "SmartSwitchPlugin")
        );
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v.as_object_mut().unwrap().remove("url_prefix");
        assert_eq!(parse(v.to_string().as_bytes()).unwrap().url_prefix, None);
    }

    #[test]
    fn each_bad_manifest_names_its_problem() {
        let missing = r#"{"name": "x", "version": "1", "description": "d"}"#;
        let misspelled =
            r#"{"name": "x", "version": "1", "plugin_clas": "a.B", "description": "d"}"#;
        let cases: Vec<(String, &str)> = vec![
            (missing.into(), "missing field `plugin_class`"),
            (misspelled.into(), "unknown field `plugin_clas`"),
            (with("version", "1"), "invalid type: integer"),
            (with("name", "\"\""), "field `name` is empty"),
            (
                with("description", "\"  \""),
                "field `description` is empty",
            ),
            (
                with("plugin_class", "\"SmartSwitchPlugin\""),
                "has no module part",
            ),
            (
                with("plugin_class", "\"my-plugin.Switch\""),
                "\"my-plugin\" in",
            ),
            (with("plugin_class", "\"my_plugin.class\""), "\"class\" in"),
            (
                with("plugin_class", "\"my_plugin..X\""),
                "is not a Python identifier",
            ),
            (with("url_prefix", "\"zigbee\""), "must start with '/'"),
            (with("url_prefix", "\"/a/../b\""), "'..'"),
            (with("url_prefix", "\"/a b\""), "must not contain ' '"),
            (with("url_prefix", "5"), "invalid type"),
            ("{not json".into(), "invalid manifest"),
            ("[]".into(), "invalid manifest"),
        ];
        for (text, want) in cases {
            let err = parse(text.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{text}: got {err:?}, want {want:?}");
        }
        assert!(
            parse(b"{\"name\": \"\xff\"}")
                .unwrap_err()
                .contains("not UTF-8")
        );
        let huge = format!(
            "{{\"description\": \"{}\"}}",
            "x".repeat(MAX_BYTES as usize)
        );
        assert!(parse(huge.as_bytes()).unwrap_err().contains("at most"));
    }

    #[test]
    fn url_prefixes_are_plain_mountable_paths() {
        for good in [
            "/zigbee",
            "/my-plugin/v1",
            "/a.b_c~d/E-9",
            "/..a",
            &format!("/{}", "x".repeat(MAX_URL_PREFIX - 1)),
        ] {
            assert_eq!(check_url_prefix(good), Ok(()), "{good}");
        }
        for (bad, want) in [
            ("zigbee", "must start with '/'"),
            ("", "must start with '/'"),
            ("/", "leave url_prefix out"),
            ("/x/", "must not end with '/'"),
            ("//evil", "empty segment"),
            ("/a//b", "empty segment"),
            ("/.", "'..'"),
            ("/a/../b", "'..'"),
            ("/a/./b", "'.' or '..'"),
            ("/x?a=1", "must not contain '?'"),
            ("/x#frag", "must not contain '#'"),
            ("/a%2e", "must not contain '%'"),
            ("/host:80", "must not contain ':'"),
            ("/a b", "must not contain ' '"),
            ("/tab\t", "must not contain '\\t'"),
            ("/café", "must not contain 'é'"),
            ("/a\\b", "must not contain '\\\\'"),
        ] {
            let err = check_url_prefix(bad).unwrap_err();
            assert!(err.contains(want), "{bad:?}: got {err:?}, want {want:?}");
        }
        let long = format!("/{}", "x".repeat(MAX_URL_PREFIX));
        assert!(check_url_prefix(&long).unwrap_err().contains("at most 200"));
        let err = parse(with("url_prefix", "\"//evil\"").as_bytes()).unwrap_err();
        assert!(
            err.starts_with("field `url_prefix`: \"//evil\" must not contain an empty segment"),
            "{err}"
        );
    }

    #[test]
    fn a_symlink_out_of_the_plugin_directory_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        fs_err::write(outside.path().join("cosmo.json"), GOOD).unwrap();
        let plugin = tempfile::tempdir().unwrap();
        fs_err::os::unix::fs::symlink(
            outside.path().join("cosmo.json"),
            plugin.path().join("cosmo.json"),
        )
        .unwrap();
        let err = load(&plugin.path().join("cosmo.json"), plugin.path()).unwrap_err();
        assert!(
            err.to_string().contains("outside the plugin directory"),
            "{err}"
        );
        fs_err::write(plugin.path().join("real.json"), GOOD).unwrap();
        assert!(load(&plugin.path().join("real.json"), plugin.path()).is_ok());
    }
}
