//! Reading a bundle's `uv.lock`: the versions (and git commits) uv resolved.

use crate::error::{Error, Result};
use crate::plugins::normalize;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: Option<String>,
    #[serde(default)]
    source: LockSource,
}

#[derive(Deserialize, Default)]
struct LockSource {
    git: Option<String>,
}

/// What uv pinned for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub version: Option<String>,
    /// The commit of a git source (`git = "URL?rev=REF#COMMIT"`).
    pub commit: Option<String>,
}

/// The packages of a lock file by normalised name.
pub fn read(path: &Path) -> Result<HashMap<String, Resolved>> {
    let text = fs_err::read_to_string(path)?;
    parse(&text).map_err(|reason| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse(text: &str) -> std::result::Result<HashMap<String, Resolved>, String> {
    let lock: LockFile = toml_edit::de::from_str(text).map_err(|e| e.to_string())?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| {
            let commit = p
                .source
                .git
                .and_then(|git| git.rsplit_once('#').map(|(_, c)| c.to_string()));
            (
                normalize(&p.name),
                Resolved {
                    version: p.version,
                    commit,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_registry_and_git_packages() {
        let text = r#"
version = 1
revision = 3
requires-python = ">=3.10"

[[package]]
name = "Hue_Lights"
version = "1.0.0"
source = { git = "file:///tmp/gitplug?rev=v1.0.0#3cc0b5d358f71b4dc4517ceff1a6f037777a5938" }

[[package]]
name = "zigbee-switch"
version = "1.0.0"
source = { registry = "/tmp/wh" }
"#;
        let map = parse(text).unwrap();
        assert_eq!(
            map["hue-lights"].commit.as_deref(),
            Some("3cc0b5d358f71b4dc4517ceff1a6f037777a5938")
        );
        assert_eq!(
            map["zigbee-switch"],
            Resolved {
                version: Some("1.0.0".into()),
                commit: None
            }
        );
    }
}
