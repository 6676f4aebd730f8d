//! Numbered generations, their index (`profile.json`) and the `current` link.
//!
//! `generations/<n>` is a symlink to `../store/<hash>` and `current` a symlink to
//! `generations/<n>`; both are only ever replaced by rename. `profile.json` lists every
//! generation with its hash, date, label and pin ([`index`]); it is written atomically and
//! only with the data directory's lock held. A generation is created entry first, link
//! second; a locked session brings the two into agreement ([`Profile::reconcile`]), which
//! also indexes the links of a data directory that has no index yet.

pub mod index;

pub use index::Generation;

use crate::error::{Error, Result};
use crate::fs as cfs;
use crate::layout::DataDir;
use crate::store::Store;
use crate::store::bundle::BundleManifest;
use fs_err as fs;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// What stands at `generations/<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Link,
    Directory,
    File,
}

impl LinkKind {
    fn of(file_type: std::fs::FileType) -> LinkKind {
        if file_type.is_symlink() {
            LinkKind::Link
        } else if file_type.is_dir() {
            LinkKind::Directory
        } else {
            LinkKind::File
        }
    }

    fn describe(self) -> &'static str {
        match self {
            LinkKind::Link => "a link",
            LinkKind::Directory => "a directory",
            LinkKind::File => "a file",
        }
    }
}

/// What is wrong with a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// `generations/<n>` does not exist.
    LinkMissing,
    /// `generations/<n>` is a directory or a file.
    NotALink(LinkKind),
    /// `generations/<n>` points somewhere else than the generation's bundle.
    LinkElsewhere(PathBuf),
    /// `store/<hash>` does not exist.
    BundleMissing,
    /// `store/<hash>` has no `bundle.json`.
    BundleUnregistered,
    /// `store/<hash>/bundle.json` cannot be read or does not describe the bundle.
    BundleUnreadable(String),
}

impl Damage {
    /// A stable machine-readable name.
    pub fn kind(&self) -> &'static str {
        match self {
            Damage::LinkMissing => "link_missing",
            Damage::NotALink(_) => "not_a_link",
            Damage::LinkElsewhere(_) => "link_elsewhere",
            Damage::BundleMissing => "bundle_missing",
            Damage::BundleUnregistered => "bundle_unregistered",
            Damage::BundleUnreadable(_) => "bundle_unreadable",
        }
    }

    /// What is wrong with generation `g`, in a sentence.
    pub fn describe(&self, g: &Generation) -> String {
        let n = g.number;
        let hash = &g.hash;
        match self {
            Damage::LinkMissing => format!(
                "generations/{n} is missing (recreated by the next mutating command if its bundle is registered)"
            ),
            Damage::NotALink(kind) => format!("generations/{n} is {}, not a link", kind.describe()),
            Damage::LinkElsewhere(target) => format!(
                "generations/{n} points to {}, not to ../store/{hash}",
                target.display()
            ),
            Damage::BundleMissing => format!("its bundle store/{hash} no longer exists"),
            Damage::BundleUnregistered => {
                format!("its bundle store/{hash} has no bundle.json (not registered)")
            }
            Damage::BundleUnreadable(reason) => format!("its bundle is unreadable: {reason}"),
        }
    }
}

/// The manifest of the bundle `hash`, or what is wrong with that bundle.
pub fn bundle(store: &Store, hash: &str) -> Result<BundleManifest, Damage> {
    match store.load(hash) {
        Ok(Some(manifest)) => Ok(manifest),
        Ok(None) if fs::symlink_metadata(store.path(hash)).is_ok() => {
            Err(Damage::BundleUnregistered)
        }
        Ok(None) => Err(Damage::BundleMissing),
        Err(e) => Err(Damage::BundleUnreadable(e.to_string())),
    }
}

/// A generation checked before it is made current.
#[derive(Debug)]
pub enum Checked {
    /// Sound: its link and registered bundle.
    Sound(Generation, Box<BundleManifest>),
    /// It exists, but cannot be made current.
    Damaged(Generation, Vec<Damage>),
    /// `generations/<n>` exists but is no generation (the reason).
    Stray(String),
    /// There is no such generation.
    Missing,
}

impl Checked {
    /// Why generation `number` cannot be made current, or `None` when it can.
    pub fn problem(&self, number: u32) -> Option<String> {
        match self {
            Checked::Sound(..) => None,
            Checked::Damaged(g, damage) => Some(format!(
                "generation {number} is damaged: {}",
                describe_all(g, damage)
            )),
            Checked::Stray(reason) => Some(format!("generation {number} is damaged: {reason}")),
            Checked::Missing => Some(format!("generation {number} does not exist")),
        }
    }
}

/// Every damage of `g`, joined into one sentence.
pub fn describe_all(g: &Generation, damage: &[Damage]) -> String {
    damage
        .iter()
        .map(|d| d.describe(g))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The generations as read: the index's entries (plus links not yet indexed) and what
/// stands in `generations/`, read with one directory listing.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Every generation, lowest number first.
    pub generations: Vec<Generation>,
    /// What stands at `generations/<n>`, for every number there.
    pub links: BTreeMap<u32, LinkKind>,
    /// Numbers in `generations/` that are no generation (not in the index and not a link
    /// into the store), with the reason.
    pub strays: BTreeMap<u32, String>,
    /// Why `profile.json` could not be used, when it could not (the links were read).
    pub index_error: Option<String>,
    /// How many generations are links without an index entry.
    pub unindexed: usize,
    /// Temporary links in `generations/` left by interrupted flips.
    leftovers: Vec<PathBuf>,
    other: index::Other,
}

impl View {
    /// The generation with this number.
    pub fn get(&self, number: u32) -> Option<&Generation> {
        self.generations
            .binary_search_by_key(&number, |g| g.number)
            .ok()
            .map(|i| &self.generations[i])
    }

    fn get_mut(&mut self, number: u32) -> Option<&mut Generation> {
        self.generations
            .binary_search_by_key(&number, |g| g.number)
            .ok()
            .map(|i| &mut self.generations[i])
    }

    /// The number of a new generation: one above every number in use.
    pub fn next_number(&self) -> u32 {
        index::next_number(&self.generations, self.links.keys().copied())
    }

    /// What is wrong with `g`'s link, as the directory listing shows it.
    pub fn link_damage(&self, g: &Generation) -> Option<Damage> {
        match self.links.get(&g.number) {
            None => Some(Damage::LinkMissing),
            Some(LinkKind::Link) => None,
            Some(kind) => Some(Damage::NotALink(*kind)),
        }
    }

    /// The index's top-level keys other than `format` and `generations`.
    pub fn meta(&self) -> &index::Other {
        &self.other
    }

    /// The numbers of the generations that point to the bundle `hash`.
    pub fn referencing(&self, hash: &str) -> Vec<u32> {
        self.generations
            .iter()
            .filter(|g| g.hash == hash)
            .map(|g| g.number)
            .collect()
    }
}

/// Generation `n` looked up: in the index, or from what stands at `generations/<n>`.
#[derive(Debug)]
pub enum Lookup {
    Found(Generation),
    /// `generations/<n>` exists but is no generation (the reason).
    Stray(String),
    Missing,
}

/// The generations, their index and `current` of one data directory. What is read is read
/// once per `Profile` and kept; a locked session's profile keeps it up to date.
#[derive(Debug, Clone)]
pub struct Profile {
    generations: PathBuf,
    current: PathBuf,
    index: PathBuf,
    /// The index and the listing of `generations/`.
    view: OnceCell<View>,
    /// The index alone, for lookups by number (when `view` is not loaded).
    entries: OnceCell<View>,
}

impl Profile {
    pub fn new(dirs: &DataDir) -> Profile {
        Profile {
            generations: dirs.generations(),
            current: dirs.current(),
            index: dirs.profile_index(),
            view: OnceCell::new(),
            entries: OnceCell::new(),
        }
    }

    /// The generations (read once, without writing anything).
    pub fn view(&self) -> Result<&View> {
        if let Some(view) = self.view.get() {
            return Ok(view);
        }
        let view = self.load()?;
        Ok(self.view.get_or_init(|| view))
    }

    fn view_mut(&mut self) -> Result<&mut View> {
        if self.view.get().is_none() {
            self.set_view(self.load()?);
        }
        Ok(self.view.get_mut().expect("the view was loaded above"))
    }

    fn set_view(&mut self, view: View) {
        self.view = OnceCell::from(view);
        self.entries = OnceCell::new();
    }

    /// The generations as the index lists them, for a reader that needs no listing of
    /// `generations/` (`status`): the index alone when there is one, else the full view.
    pub fn indexed(&self) -> Result<&View> {
        self.entries()
    }

    /// The generations for lookups by number: the index alone when there is one (no
    /// listing of `generations/`), else the full view.
    fn entries(&self) -> Result<&View> {
        if let Some(view) = self.view.get().or(self.entries.get()) {
            return Ok(view);
        }
        match self.read_index() {
            Ok(Some(index)) => Ok(self.entries.get_or_init(|| View {
                generations: index.generations,
                other: index.other,
                ..View::default()
            })),
            Ok(None) | Err(_) => self.view(),
        }
    }

    /// The numbers of the generations below `current`, highest first: rollback's
    /// candidates in order.
    pub fn below(&self, current: u32) -> Result<Vec<u32>> {
        Ok(index::below(&self.entries()?.generations, current)
            .map(|g| g.number)
            .collect())
    }

    /// Generation `number`: its index entry, else what stands at `generations/<n>`. When
    /// nothing has been read yet (a check before the lock), a sound link answers alone,
    /// without reading the index; a locked session always answers from the reconciled
    /// index (labels, pins and dates are only there).
    pub fn lookup(&self, number: u32) -> Result<Lookup> {
        let loaded = self.view.get().is_some() || self.entries.get().is_some();
        if !loaded && let Ok(g) = self.read_link(number) {
            return Ok(Lookup::Found(g));
        }
        if let Some(g) = self.entries()?.get(number) {
            return Ok(Lookup::Found(g.clone()));
        }
        let meta = match fs::symlink_metadata(self.link(number)) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(e) => return Err(e.into()),
        };
        Ok(match LinkKind::of(meta.file_type()) {
            LinkKind::Link => match self.read_link(number) {
                Ok(g) => Lookup::Found(g),
                Err(reason) => Lookup::Stray(reason),
            },
            kind => Lookup::Stray(stray_reason(number, kind)),
        })
    }

    /// The generation with this number.
    pub fn get(&self, number: u32) -> Result<Option<Generation>> {
        Ok(match self.lookup(number)? {
            Lookup::Found(g) => Some(g),
            Lookup::Stray(_) | Lookup::Missing => None,
        })
    }

    /// Reads `profile.json` (or, without one, the links) and lists `generations/`.
    fn load(&self) -> Result<View> {
        let (links, leftovers) = self.list_links()?;
        let mut view = View {
            links,
            leftovers,
            ..View::default()
        };
        match self.read_index() {
            Ok(Some(index)) => {
                view.generations = index.generations;
                view.other = index.other;
            }
            Ok(None) => {}
            Err(e) => view.index_error = Some(e.to_string()),
        }
        let unindexed: Vec<(u32, LinkKind)> = view
            .links
            .iter()
            .filter(|(n, _)| view.get(**n).is_none())
            .map(|(n, k)| (*n, *k))
            .collect();
        for (number, kind) in unindexed {
            let read = match kind {
                LinkKind::Link => self.read_link(number),
                kind => Err(stray_reason(number, kind)),
            };
            match read {
                Ok(g) => {
                    view.generations.push(g);
                    view.unindexed += 1;
                }
                Err(reason) => {
                    view.strays.insert(number, reason);
                }
            }
        }
        view.generations.sort_by_key(|g| g.number);
        Ok(view)
    }

    fn read_index(&self) -> Result<Option<index::Index>> {
        match fs::read_to_string(&self.index) {
            Ok(text) => index::parse(&text, &self.index).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every canonical number in `generations/` with what stands there, and the leftovers
    /// of interrupted flips (`.tmp-*` links): one listing, read into one buffer (no
    /// allocation per entry), whose entry types come with it.
    fn list_links(&self) -> Result<(BTreeMap<u32, LinkKind>, Vec<PathBuf>)> {
        use rustix::fs::{FileType, Mode, OFlags, RawDir};
        let dir = self.generations.as_path();
        let fd = match rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(Default::default()),
            Err(e) => return Err(cfs::with_path(e.into(), dir).into()),
        };
        let (mut links, mut leftovers) = (BTreeMap::new(), Vec::new());
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut entries = RawDir::new(&fd, buf.spare_capacity_mut());
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(|e| cfs::with_path(e.into(), dir))?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            let kind = match entry.file_type() {
                FileType::Symlink => LinkKind::Link,
                FileType::Directory => LinkKind::Directory,
                // A file system that does not say: ask.
                FileType::Unknown => {
                    LinkKind::of(fs::symlink_metadata(dir.join(name))?.file_type())
                }
                _ => LinkKind::File,
            };
            if name.starts_with(crate::layout::TMP_PREFIX) && kind != LinkKind::Directory {
                leftovers.push(dir.join(name));
            } else if let Some(number) = canonical_number(name) {
                links.insert(number, kind);
            }
        }
        Ok((links, leftovers))
    }

    fn link(&self, number: u32) -> PathBuf {
        self.generations.join(number.to_string())
    }

    /// A generation read from its link alone (a link without an index entry).
    fn read_link(&self, number: u32) -> Result<Generation, String> {
        let link = self.link(number);
        let target = fs::read_link(&link).map_err(|e| e.to_string())?;
        let hash = target
            .strip_prefix("../store")
            .ok()
            .and_then(|h| h.to_str())
            .filter(|h| index::is_hash(h))
            .ok_or_else(|| {
                format!(
                    "generations/{number} points to {}, not ../store/<hash>",
                    target.display()
                )
            })?;
        let modified = fs::symlink_metadata(&link)
            .and_then(|m| m.modified())
            .map_err(|e| e.to_string())?;
        Ok(Generation {
            created_at: index::rfc3339(modified.into()),
            ..Generation::new(number, hash, None)
        })
    }

    /// What is wrong with generation `g`'s link, read from the link itself.
    fn check_link(&self, g: &Generation) -> Result<Option<Damage>> {
        let link = self.link(g.number);
        let meta = match fs::symlink_metadata(&link) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Some(Damage::LinkMissing)),
            Err(e) => return Err(e.into()),
        };
        if !meta.file_type().is_symlink() {
            return Ok(Some(Damage::NotALink(LinkKind::of(meta.file_type()))));
        }
        let target = fs::read_link(&link)?;
        Ok(
            (target != Path::new("../store").join(&g.hash))
                .then_some(Damage::LinkElsewhere(target)),
        )
    }

    /// Checks generation `number` before it is made current: its link and its bundle.
    pub fn check(&self, number: u32, store: &Store) -> Result<Checked> {
        let g = match self.lookup(number)? {
            Lookup::Found(g) => g,
            Lookup::Stray(reason) => return Ok(Checked::Stray(reason)),
            Lookup::Missing => return Ok(Checked::Missing),
        };
        let g = &g;
        let link = self.check_link(g)?;
        Ok(match (bundle(store, &g.hash), link) {
            // A missing link of a registered bundle is recreated by the next locked session.
            (Ok(manifest), None | Some(Damage::LinkMissing)) => {
                Checked::Sound(g.clone(), Box::new(manifest))
            }
            (Ok(_), Some(link)) => Checked::Damaged(g.clone(), vec![link]),
            (Err(bundle), link) => {
                Checked::Damaged(g.clone(), link.into_iter().chain([bundle]).collect())
            }
        })
    }

    /// Brings the index and the links into agreement. Call with the data directory's lock
    /// held. An entry without its link gets the link when its bundle is registered; a link
    /// without an entry gets one (created at the link's modification time): this is also
    /// how a data directory without an index gets one. Returns what it did.
    pub fn reconcile(&mut self, store: &Store) -> Result<Vec<String>> {
        let mut view = self.load()?;
        if let Some(e) = &view.index_error {
            return Err(Error::damaged(
                format!("the generation index is damaged: {e}"),
                format!(
                    "repair {0}, or move it away: the next command rebuilds it from the generation links (labels and pins are lost)",
                    self.index.display()
                ),
            ));
        }
        for leftover in std::mem::take(&mut view.leftovers) {
            fs::remove_file(leftover)?;
        }
        let mut notes = Vec::new();
        let unlinked: Vec<(u32, String)> = view
            .generations
            .iter()
            .filter(|g| !view.links.contains_key(&g.number))
            .map(|g| (g.number, g.hash.clone()))
            .collect();
        for (number, hash) in unlinked {
            if matches!(store.load(&hash), Ok(Some(_))) {
                self.make_link(number, &hash)?;
                view.links.insert(number, LinkKind::Link);
                notes.push(format!("recreated the link of generation {number}"));
            }
        }
        if view.unindexed > 0 {
            self.write_index(&view)?;
            notes.push(format!(
                "recorded {} generation link(s) in {}",
                view.unindexed,
                self.index.display()
            ));
            view.unindexed = 0;
        }
        self.set_view(view);
        Ok(notes)
    }

    fn write_index(&self, view: &View) -> Result<()> {
        write_index(&self.index, view)
    }

    fn make_link(&self, number: u32, hash: &str) -> Result<()> {
        fs::create_dir_all(&self.generations)?;
        cfs::replace_symlink(&Path::new("../store").join(hash), &self.link(number))
    }

    /// Records a new generation for `hash`, numbered one above every number in use: its
    /// index entry first, then its link. Call with the lock held.
    pub fn add(&mut self, hash: &str, label: Option<String>) -> Result<Generation> {
        let path = self.index.clone();
        let view = self.view_mut()?;
        let generation = Generation::new(view.next_number(), hash, label);
        view.generations.push(generation.clone());
        if let Err(e) = write_index(&path, view) {
            view.generations.pop();
            return Err(e);
        }
        crate::fault::point("after-index-entry");
        self.make_link(generation.number, hash)?;
        self.view_mut()?
            .links
            .insert(generation.number, LinkKind::Link);
        Ok(generation)
    }

    /// Deletes generations (entries, and whatever stands at their number in
    /// `generations/`): the links first, then the index, so that a kill in between leaves
    /// entries whose links the next session recreates. Call with the lock held.
    pub fn delete(&mut self, numbers: &[u32]) -> Result<()> {
        let view = self.view_mut()?;
        let mut removed_entry = false;
        let present: Vec<u32> = numbers
            .iter()
            .copied()
            .filter(|n| view.links.contains_key(n))
            .collect();
        for number in numbers {
            removed_entry |= view.get(*number).is_some();
        }
        for number in &present {
            let path = self.generations.join(number.to_string());
            // Never follows a link: a link or a file is unlinked, a directory in place of a
            // link is removed with its contents (std's remove_dir_all does not follow links).
            match fs::symlink_metadata(&path)?.file_type() {
                t if t.is_dir() => fs::remove_dir_all(&path)?,
                _ => fs::remove_file(&path)?,
            }
        }
        if !present.is_empty() {
            cfs::atomic::sync_dir(&self.generations)?;
        }
        crate::fault::point("delete-after-unlink");
        let path = self.index.clone();
        let view = self.view_mut()?;
        view.generations.retain(|g| !numbers.contains(&g.number));
        for number in numbers {
            view.links.remove(number);
            view.strays.remove(number);
        }
        if removed_entry {
            write_index(&path, view)?;
        }
        Ok(())
    }

    /// Changes generation `number`'s entry with `change` and writes the index. Call with
    /// the lock held.
    pub fn update(
        &mut self,
        number: u32,
        change: impl FnOnce(&mut Generation),
    ) -> Result<Generation> {
        let path = self.index.clone();
        let view = self.view_mut()?;
        let g = view.get_mut(number).ok_or_else(|| unknown(number))?;
        let before = g.clone();
        change(g);
        let changed = g.clone();
        if let Err(e) = write_index(&path, view) {
            if let Some(g) = view.get_mut(number) {
                *g = before;
            }
            return Err(e);
        }
        Ok(changed)
    }

    /// The index's top-level keys other than `format` and `generations` (kept as read).
    pub fn meta(&self) -> Result<&index::Other> {
        Ok(&self.entries()?.other)
    }

    /// Changes entries and top-level keys with `change` and writes the index once. Call
    /// with the lock held.
    pub fn edit(
        &mut self,
        change: impl FnOnce(&mut [Generation], &mut index::Other),
    ) -> Result<()> {
        let path = self.index.clone();
        let view = self.view_mut()?;
        let before = (view.generations.clone(), view.other.clone());
        change(&mut view.generations, &mut view.other);
        if let Err(e) = write_index(&path, view) {
            (view.generations, view.other) = before;
            return Err(e);
        }
        Ok(())
    }

    /// The generation `current` points to, if any (it may point to one that does not
    /// exist).
    pub fn current(&self) -> Result<Option<u32>> {
        let target = match fs::read_link(&self.current) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == ErrorKind::InvalidInput => {
                return Err(Error::damaged(
                    format!(
                        "{} is not a link (a directory or a file stands there)",
                        self.current.display()
                    ),
                    "move it away, then make a generation current with `cosmo-bundle switch N`",
                ));
            }
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

    /// Points `current` at generation `number` (which must exist).
    pub fn set_current(&self, number: u32) -> Result<()> {
        let target = Path::new("generations").join(number.to_string());
        cfs::replace_symlink(&target, &self.current)
    }

    /// Removes temporary links and files left in the data directory by an interrupted flip
    /// of `current` or write of the index (those in `generations/` go in
    /// [`Profile::reconcile`], which lists that directory anyway). Call with the lock held.
    pub fn clear_leftovers(&self) -> Result<()> {
        let Some(dir) = self.current.parent() else {
            return Ok(());
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name
                .to_string_lossy()
                .starts_with(crate::layout::TMP_PREFIX)
                && entry
                    .file_type()
                    .is_ok_and(|t| t.is_symlink() || t.is_file())
            {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// The number a name in `generations/` stands for: decimal digits without a leading zero.
fn canonical_number(name: &str) -> Option<u32> {
    let digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    (digits && (name == "0" || !name.starts_with('0')))
        .then(|| name.parse().ok())
        .flatten()
}

/// Writes `profile.json` for `view`, atomically.
fn write_index(path: &Path, view: &View) -> Result<()> {
    crate::fault::point("before-index-write");
    cfs::write_atomic(path, &index::render(&view.generations, &view.other))
}

/// Why `generations/<n>`, a directory or a file, is no generation.
fn stray_reason(number: u32, kind: LinkKind) -> String {
    format!(
        "generations/{number} is {}, not a generation link",
        kind.describe()
    )
}

/// The error for a generation number that does not exist.
pub fn unknown(number: u32) -> Error {
    Error::not_found(
        format!("generation {number} does not exist"),
        "list them with `cosmo-bundle generations`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_err::os::unix::fs::symlink;

    struct Dir {
        _tmp: tempfile::TempDir,
        dirs: DataDir,
        store: Store,
    }

    fn dir() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = DataDir::new(tmp.path().to_path_buf());
        let store = Store::new(dirs.store());
        Dir {
            _tmp: tmp,
            dirs,
            store,
        }
    }

    fn hash(c: char) -> String {
        c.to_string().repeat(32)
    }

    fn numbers(p: &Profile) -> Vec<u32> {
        p.view()
            .unwrap()
            .generations
            .iter()
            .map(|g| g.number)
            .collect()
    }

    /// An old data directory: links without an index.
    fn old_links(d: &Dir, links: &[(u32, &str)]) {
        fs::create_dir_all(d.dirs.generations()).unwrap();
        for (n, h) in links {
            symlink(
                Path::new("../store").join(h),
                d.dirs.generations().join(n.to_string()),
            )
            .unwrap();
        }
    }

    #[test]
    fn only_canonical_numbers_name_generations() {
        assert_eq!(canonical_number("12"), Some(12));
        assert_eq!(canonical_number("0"), Some(0));
        for name in ["012", "", "1a", "+1", ".tmp-1", "99999999999"] {
            assert_eq!(canonical_number(name), None, "{name}");
        }
    }

    #[test]
    fn generations_number_up_index_first_and_current_flips() {
        let d = dir();
        let mut p = Profile::new(&d.dirs);
        assert_eq!(p.current().unwrap(), None);
        let a = p.add(&hash('a'), Some("first".into())).unwrap();
        let b = p.add(&hash('b'), None).unwrap();
        assert_eq!((a.number, b.number), (1, 2));
        p.set_current(2).unwrap();
        assert_eq!(p.current().unwrap(), Some(2));
        // A fresh reader sees both, from the index, with the label.
        let fresh = Profile::new(&d.dirs);
        let view = fresh.view().unwrap();
        assert_eq!(view.unindexed, 0);
        assert_eq!(view.get(1).unwrap().label.as_deref(), Some("first"));
        assert_eq!(view.get(2).unwrap().hash, hash('b'));
        assert_eq!(
            fs::read_link(d.dirs.generations().join("2")).unwrap(),
            Path::new("../store").join(hash('b'))
        );
    }

    #[test]
    fn next_number_skips_deleted_tops_only_and_strays() {
        let d = dir();
        let mut p = Profile::new(&d.dirs);
        for c in ['a', 'b', 'c'] {
            p.add(&hash(c), None).unwrap();
        }
        p.delete(&[2]).unwrap();
        assert_eq!(numbers(&p), [1, 3]);
        assert_eq!(p.add(&hash('d'), None).unwrap().number, 4);
        // A directory standing at 9 is never overwritten by a new generation.
        fs::create_dir(d.dirs.generations().join("9")).unwrap();
        let mut p = Profile::new(&d.dirs);
        p.reconcile(&d.store).unwrap();
        assert!(p.view().unwrap().strays.contains_key(&9));
        assert_eq!(p.add(&hash('e'), None).unwrap().number, 10);
    }

    #[test]
    fn reconcile_indexes_old_links_at_their_modification_time() {
        let d = dir();
        old_links(&d, &[(1, &hash('a')), (3, &hash('b'))]);
        let reader = Profile::new(&d.dirs);
        assert_eq!(
            reader.view().unwrap().unindexed,
            2,
            "read-only: links scanned"
        );
        assert_eq!(numbers(&reader), [1, 3]);
        assert!(!d.dirs.profile_index().exists(), "a reader writes nothing");

        let mut p = Profile::new(&d.dirs);
        let notes = p.reconcile(&d.store).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        let text = fs::read_to_string(d.dirs.profile_index()).unwrap();
        let index = index::parse(&text, Path::new("p")).unwrap();
        let mtime: chrono::DateTime<chrono::Utc> =
            fs::symlink_metadata(d.dirs.generations().join("3"))
                .unwrap()
                .modified()
                .unwrap()
                .into();
        assert_eq!(index.generations[1].number, 3);
        assert_eq!(index.generations[1].created_at, index::rfc3339(mtime));
        // Once indexed, nothing more to do.
        assert!(
            Profile::new(&d.dirs)
                .reconcile(&d.store)
                .unwrap()
                .is_empty()
        );
        assert_eq!(Profile::new(&d.dirs).view().unwrap().unindexed, 0);
    }

    #[test]
    fn reconcile_recreates_the_link_of_an_entry_whose_bundle_is_registered() {
        let d = dir();
        let a = registered(&d, "a");
        let mut p = Profile::new(&d.dirs);
        p.add(&a, None).unwrap();
        p.add(&hash('b'), None).unwrap();
        // As if killed between the index write and the link: no link for either.
        fs::remove_file(d.dirs.generations().join("1")).unwrap();
        fs::remove_file(d.dirs.generations().join("2")).unwrap();
        let mut p = Profile::new(&d.dirs);
        let notes = p.reconcile(&d.store).unwrap();
        assert_eq!(notes, ["recreated the link of generation 1"]);
        assert!(d.dirs.generations().join("1").is_symlink());
        assert!(!d.dirs.generations().join("2").exists());
        let view = p.view().unwrap();
        assert_eq!(
            view.link_damage(view.get(2).unwrap()),
            Some(Damage::LinkMissing)
        );
        assert!(
            matches!(p.check(2, &d.store).unwrap(), Checked::Damaged(_, ref ds) if ds.contains(&Damage::BundleMissing))
        );
        assert!(matches!(p.check(1, &d.store).unwrap(), Checked::Sound(..)));
    }

    #[test]
    fn a_link_replaced_by_a_directory_or_pointing_elsewhere_is_damage_not_an_error() {
        let d = dir();
        let (a, b) = (registered(&d, "a"), registered(&d, "b"));
        let mut p = Profile::new(&d.dirs);
        p.add(&a, None).unwrap();
        p.add(&b, None).unwrap();
        let two = d.dirs.generations().join("2");
        fs::remove_file(&two).unwrap();
        fs::create_dir(&two).unwrap();
        let p = Profile::new(&d.dirs);
        let view = p.view().unwrap();
        assert_eq!(
            view.link_damage(view.get(2).unwrap()),
            Some(Damage::NotALink(LinkKind::Directory))
        );
        assert!(matches!(
            p.check(2, &d.store).unwrap(),
            Checked::Damaged(..)
        ));
        let one = d.dirs.generations().join("1");
        fs::remove_file(&one).unwrap();
        symlink(Path::new("../store").join(&b), &one).unwrap();
        assert!(matches!(
            p.check(1, &d.store).unwrap(),
            Checked::Damaged(_, ref ds) if matches!(ds[..], [Damage::LinkElsewhere(_)])
        ));
        // A foreign link without an entry is a stray, never a generation.
        symlink("/etc", d.dirs.generations().join("7")).unwrap();
        let p = Profile::new(&d.dirs);
        assert!(p.view().unwrap().strays.contains_key(&7));
        assert!(matches!(p.check(7, &d.store).unwrap(), Checked::Stray(_)));
        assert!(matches!(p.check(8, &d.store).unwrap(), Checked::Missing));
    }

    #[test]
    fn a_damaged_index_is_read_around_but_never_overwritten() {
        let d = dir();
        old_links(&d, &[(1, &hash('a'))]);
        fs::write(d.dirs.profile_index(), "{ truncated").unwrap();
        let reader = Profile::new(&d.dirs);
        assert!(reader.view().unwrap().index_error.is_some());
        assert_eq!(numbers(&reader), [1]);
        let err = Profile::new(&d.dirs).reconcile(&d.store).unwrap_err();
        assert!(matches!(err, Error::Damaged { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(d.dirs.profile_index()).unwrap(),
            "{ truncated"
        );
    }

    #[test]
    fn update_and_delete_keep_unknown_keys_and_other_entries() {
        let d = dir();
        fs::write(
            d.dirs.profile_index(),
            format!(
                r#"{{"format": 1, "activation": 7, "generations": [
                {{"number": 1, "hash": "{}", "created_at": "2026-01-01T00:00:00Z", "x": [1]}},
                {{"number": 2, "hash": "{}", "created_at": "2026-01-02T00:00:00Z"}}]}}"#,
                hash('a'),
                hash('b')
            ),
        )
        .unwrap();
        let mut p = Profile::new(&d.dirs);
        p.update(1, |g| g.pinned = true).unwrap();
        p.delete(&[2]).unwrap();
        let again: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(d.dirs.profile_index()).unwrap()).unwrap();
        assert_eq!(again["activation"], 7);
        assert_eq!(again["generations"][0]["x"][0], 1);
        assert_eq!(again["generations"][0]["pinned"], true);
        assert_eq!(again["generations"].as_array().unwrap().len(), 1);
    }

    /// Registers a bundle (a manifest that describes it) and returns its hash.
    fn registered(d: &Dir, name: &str) -> String {
        use crate::store::bundle::{BUNDLE_JSON, FORMAT, PythonInfo};
        let inputs = crate::store::hash::HashInputs {
            server_path: "/srv/cosmo-server".into(),
            server_pyproject: name.into(),
            server_uv_lock: None,
            server_source: Vec::new(),
            settings: Default::default(),
            python_path: None,
            plugins: Vec::new(),
        };
        let hash = inputs.hash();
        let manifest = BundleManifest {
            format: FORMAT,
            hash: hash.clone(),
            created_at: "2026-01-01T00:00:00Z".into(),
            tool_version: "0".into(),
            uv_version: "uv".into(),
            inputs: crate::store::hash::Inputs::V2(inputs),
            python: PythonInfo {
                home: "/usr/bin".into(),
                version: "3.11".into(),
            },
            plugins: Vec::new(),
            record: None,
            digest: None,
            other: Default::default(),
        };
        fs::create_dir_all(d.store.path(&hash)).unwrap();
        fs::write(
            d.store.path(&hash).join(BUNDLE_JSON),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        hash
    }
}
