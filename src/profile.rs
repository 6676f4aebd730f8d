//! Numbered generations and the `current` link, flipped atomically.
//!
//! `generations/<n>` is a symlink to `../store/<hash>`; `current` is a symlink to
//! `generations/<n>`. Both are only ever replaced by rename, never removed and recreated.

use crate::error::{Error, Result};
use crate::fs as cfs;
use crate::layout::DataDir;
use chrono::{DateTime, Utc};
use fs_err as fs;
use std::path::{Path, PathBuf};

/// One generation: a number, the bundle it points to, and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u32,
    pub hash: String,
    /// The generation link's own modification time.
    pub created_at: DateTime<Utc>,
}

/// The generation links and `current` of one data directory.
#[derive(Debug, Clone)]
pub struct Profile {
    generations: PathBuf,
    current: PathBuf,
}

impl Profile {
    pub fn new(dirs: &DataDir) -> Profile {
        Profile {
            generations: dirs.generations(),
            current: dirs.current(),
        }
    }

    /// All generations, lowest number first. Temporary links (`.tmp-*`) are ignored.
    pub fn generations(&self) -> Result<Vec<Generation>> {
        let entries = match fs::read_dir(&self.generations) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(number) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            out.push(self.read_link(number)?);
        }
        out.sort_by_key(|g| g.number);
        Ok(out)
    }

    /// The generation with this number.
    pub fn get(&self, number: u32) -> Result<Option<Generation>> {
        if fs::symlink_metadata(self.link(number)).is_err() {
            return Ok(None);
        }
        self.read_link(number).map(Some)
    }

    fn link(&self, number: u32) -> PathBuf {
        self.generations.join(number.to_string())
    }

    fn read_link(&self, number: u32) -> Result<Generation> {
        let link = self.link(number);
        let target = fs::read_link(&link)?;
        let hash = target
            .strip_prefix("../store")
            .ok()
            .and_then(|h| h.to_str())
            .filter(|h| {
                h.len() == crate::store::hash::HASH_LEN && h.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .ok_or_else(|| Error::Corrupt {
                path: link.clone(),
                reason: format!(
                    "generation link points to {}, not ../store/<hash>",
                    target.display()
                ),
            })?
            .to_string();
        let modified = fs::symlink_metadata(&link)?.modified()?;
        Ok(Generation {
            number,
            hash,
            created_at: modified.into(),
        })
    }

    /// The generation `current` points to, if any.
    pub fn current(&self) -> Result<Option<u32>> {
        let target = match fs::read_link(&self.current) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        target
            .strip_prefix("generations")
            .ok()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .map(Some)
            .ok_or_else(|| Error::Corrupt {
                path: self.current.clone(),
                reason: format!(
                    "`current` points to {}, not generations/<n>",
                    target.display()
                ),
            })
    }

    /// Records a new generation for `hash`, numbered one above the highest.
    pub fn add(&self, hash: &str) -> Result<Generation> {
        fs::create_dir_all(&self.generations)?;
        let number = self.generations()?.last().map_or(1, |g| g.number + 1);
        let target = Path::new("../store").join(hash);
        cfs::replace_symlink(&target, &self.link(number))?;
        self.read_link(number)
    }

    /// Points `current` at generation `number` (which must exist).
    pub fn set_current(&self, number: u32) -> Result<()> {
        let target = Path::new("generations").join(number.to_string());
        cfs::replace_symlink(&target, &self.current)
    }

    /// Removes temporary links left by an interrupted flip. Call with the lock held.
    pub fn clear_leftovers(&self) -> Result<()> {
        for dir in [
            &self.generations,
            self.current.parent().unwrap_or(Path::new(".")),
        ] {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(crate::layout::TMP_PREFIX)
                    && entry.file_type().is_ok_and(|t| t.is_symlink())
                {
                    fs::remove_file(entry.path())?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_number_up_and_current_flips() {
        let dir = tempfile::tempdir().unwrap();
        let p = Profile::new(&DataDir::new(dir.path().to_path_buf()));
        assert_eq!(p.current().unwrap(), None);
        let a = "a".repeat(32);
        let b = "b".repeat(32);
        assert_eq!(p.add(&a).unwrap().number, 1);
        assert_eq!(p.add(&b).unwrap().number, 2);
        p.set_current(2).unwrap();
        assert_eq!(p.current().unwrap(), Some(2));
        p.set_current(1).unwrap();
        assert_eq!(p.current().unwrap(), Some(1));
        let gens = p.generations().unwrap();
        assert_eq!(
            gens.iter().map(|g| g.hash.as_str()).collect::<Vec<_>>(),
            [a.as_str(), b.as_str()]
        );
    }

    #[test]
    fn a_foreign_link_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("generations")).unwrap();
        fs_err::os::unix::fs::symlink("/etc", dir.path().join("generations/1")).unwrap();
        assert!(matches!(
            Profile::new(&DataDir::new(dir.path().to_path_buf())).generations(),
            Err(Error::Corrupt { .. })
        ));
    }
}
