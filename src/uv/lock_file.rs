//! Reading a bundle's `uv.lock`: the versions (and git commits) uv resolved.

use crate::error::{Error, Result};
use crate::plugins::normalize;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// The suffix of a compressed lock file (`uv.lock.gz`, gzip).
pub const GZ_SUFFIX: &str = ".gz";

/// The text of the lock file at `path`, or of `path` + `.gz` (gunzipped) when only that
/// exists.
pub fn read_text(path: &Path) -> Result<String> {
    match fs_err::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        Err(_) => {}
    }
    let mut gz = path.as_os_str().to_owned();
    gz.push(GZ_SUFFIX);
    let gz = std::path::PathBuf::from(gz);
    let file = match fs_err::File::open(&gz) {
        Ok(f) => f,
        // Report the plain name: that is the one asked for.
        Err(_) => return Ok(fs_err::read_to_string(path)?),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text)
        .map_err(|e| crate::fs::with_path(e, &gz))?;
    Ok(text)
}

/// Writes `path` + `.gz` (gzip, best compression, no name or time in the header) from
/// `path`, then removes `path`. Not synced: a bundle is sealed (synced) after this.
pub fn compress(path: &Path) -> Result<()> {
    let text = fs_err::read(path)?;
    let mut encoder = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut encoder, &text).map_err(|e| crate::fs::with_path(e, path))?;
    let bytes = encoder
        .finish()
        .map_err(|e| crate::fs::with_path(e, path))?;
    let mut gz = path.as_os_str().to_owned();
    gz.push(GZ_SUFFIX);
    fs_err::write(Path::new(&gz), &bytes)?;
    fs_err::remove_file(path)?;
    Ok(())
}

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

/// The packages of a lock file by normalised name. A bundle keeps its `uv.lock`
/// gzip-compressed as `uv.lock.gz`: given `<bundle>/uv.lock`, that is read when the plain
/// file is absent.
pub fn read(path: &Path) -> Result<HashMap<String, Resolved>> {
    let text = read_text(path)?;
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
    fn a_compressed_lock_reads_as_the_plain_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uv.lock");
        let text = "version = 1\n\n[[package]]\nname = \"Hue_Lights\"\nversion = \"1.0.0\"\n";
        fs_err::write(&path, text).unwrap();
        compress(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(read_text(&path).unwrap(), text);
        assert_eq!(
            read(&path).unwrap()["hue-lights"].version.as_deref(),
            Some("1.0.0")
        );
        assert!(read_text(&dir.path().join("none.lock")).is_err());
    }

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
