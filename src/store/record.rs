//! The file record of a bundle (`bundle.record`): the path, kind, mode, size and BLAKE3 of
//! every file, directory and symlink the bundle holds, written when it is registered, and
//! read back by `verify` and `start` (store-layout.md, "The file record").

use crate::error::{Error, Result};
use crate::fs::tree::{Entry, Kind, escape, unescape};
use std::path::{Path, PathBuf};

/// The record's file name in a bundle.
pub const RECORD_FILE: &str = "bundle.record";
/// The record's first line.
const HEADER: &str = "cosmo-bundle-record-v1";

/// One recorded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: PathBuf,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    /// BLAKE3 of a file's contents (64 hex digits).
    pub digest: Option<String>,
    /// A symlink's target.
    pub target: Option<PathBuf>,
}

impl From<&Entry> for Recorded {
    fn from(e: &Entry) -> Recorded {
        Recorded {
            path: e.path.clone(),
            kind: e.kind,
            mode: e.mode,
            size: e.size,
            digest: e.digest.map(|d| d.to_hex().to_string()),
            target: e.target.clone(),
        }
    }
}

impl Recorded {
    /// The record's line for this entry (without the newline).
    fn line(&self) -> String {
        let path = if self.path.as_os_str().is_empty() {
            ".".to_string()
        } else {
            escape(&self.path)
        };
        match self.kind {
            Kind::Dir => format!("d {:o} {path}", self.mode),
            Kind::File => format!(
                "f {:o} {} {} {path}",
                self.mode,
                self.size,
                self.digest.as_deref().unwrap_or("-")
            ),
            Kind::Symlink => format!(
                "l {} {path}",
                escape(self.target.as_deref().unwrap_or(Path::new("")))
            ),
        }
    }
}

/// The record's text for `entries` (sorted by path).
pub fn render(entries: &[Recorded]) -> String {
    let mut out = String::with_capacity(entries.len() * 64);
    out.push_str(HEADER);
    out.push('\n');
    for e in entries {
        out.push_str(&e.line());
        out.push('\n');
    }
    out
}

/// Reads a record's text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Recorded>> {
    let bad = |n: usize, why: &str| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!("line {n} of the file record: {why}"),
    };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad(1, &format!("the record does not start with {HEADER}")));
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let words: Vec<&str> = line.split(' ').collect();
        let path_of = |w: &str| -> Result<PathBuf> {
            if w == "." {
                return Ok(PathBuf::new());
            }
            unescape(w).ok_or_else(|| bad(n, "a path is not escaped as written"))
        };
        let mode_of =
            |w: &str| u32::from_str_radix(w, 8).map_err(|_| bad(n, "a mode is not octal"));
        let entry = match words.as_slice() {
            ["d", mode, path] => Recorded {
                path: path_of(path)?,
                kind: Kind::Dir,
                mode: mode_of(mode)?,
                size: 0,
                digest: None,
                target: None,
            },
            ["f", mode, size, digest, path] => Recorded {
                path: path_of(path)?,
                kind: Kind::File,
                mode: mode_of(mode)?,
                size: size.parse().map_err(|_| bad(n, "a size is not a number"))?,
                digest: Some(digest.to_string()),
                target: None,
            },
            ["l", target, path] => Recorded {
                path: path_of(path)?,
                kind: Kind::Symlink,
                mode: 0,
                size: 0,
                digest: None,
                target: Some(
                    unescape(target).ok_or_else(|| bad(n, "a link target is not escaped"))?,
                ),
            },
            _ => return Err(bad(n, "not a `d`, `f` or `l` line")),
        };
        out.push(entry);
    }
    Ok(out)
}

/// The hash of a tree in `store/.trees/` that a record's link target names, if it names
/// one (`…/.trees/<32 hex digits>`).
pub fn tree_of(target: &Path) -> Option<&str> {
    let name = target.file_name()?.to_str()?;
    let parent = target.parent()?.file_name()?;
    (parent == crate::layout::TREES && crate::layout::is_shared_name(name)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let entries = vec![
            Recorded {
                path: PathBuf::new(),
                kind: Kind::Dir,
                mode: 0o755,
                size: 0,
                digest: None,
                target: None,
            },
            Recorded {
                path: "a b/x.py".into(),
                kind: Kind::File,
                mode: 0o644,
                size: 9,
                digest: Some(blake3::hash(b"x").to_hex().to_string()),
                target: None,
            },
            Recorded {
                path: "site/pkg".into(),
                kind: Kind::Symlink,
                mode: 0,
                size: 0,
                digest: None,
                target: Some(format!("../../.trees/{}", "a".repeat(32)).into()),
            },
        ];
        let text = render(&entries);
        assert_eq!(text.lines().count(), 4);
        assert_eq!(parse(&text, Path::new("r")).unwrap(), entries);
        assert_eq!(
            tree_of(entries[2].target.as_deref().unwrap()),
            Some("a".repeat(32).as_str())
        );
        assert!(parse("nope\n", Path::new("r")).is_err());
        assert!(parse(&format!("{HEADER}\nq 1 x\n"), Path::new("r")).is_err());
    }
}
