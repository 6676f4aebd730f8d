//! Numbered generations, their index (`profile.json`) and the `current` link.
//!
//! `generations/<n>` is a symlink to `../store/<hash>` and `current` a symlink to
//! `generations/<n>`; both are only ever replaced by rename. `profile.json` lists every
//! generation with its hash, date, label and pin ([`index`]); it is written atomically and
//! only with the data directory's lock held. A generation is created entry first, link
//! second; a locked session brings the two into agreement ([`Profile::reconcile`]), which
//! also indexes the links of a data directory that has no index yet. `profile.seen`
//! records how both looked when they last agreed ([`seen`]): while they still look so,
//! nothing lists `generations/` or parses more of the index than it needs.

pub mod index;
mod seen;

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
        self.describe_at(g.number, &g.hash)
    }

    /// What is wrong with generation `n` of bundle `hash`, in a sentence.
    pub fn describe_at(&self, n: u32, hash: &str) -> String {
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
/// stands in `generations/`, read with one directory listing, or known without one (see
/// [`seen`]).
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Every generation, lowest number first.
    pub generations: Vec<Generation>,
    /// What stands at `generations/<n>`, for every number there, when the directory was
    /// listed.
    links: BTreeMap<u32, LinkKind>,
    /// Whether `generations/` was listed; when not, it holds one link per generation and
    /// nothing else (as `profile.seen` recorded).
    listed: bool,
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

    /// Whether something stands at `generations/<number>`.
    fn has_name(&self, number: u32) -> bool {
        if self.listed {
            self.links.contains_key(&number)
        } else {
            self.get(number).is_some()
        }
    }

    /// Whether `generations/` holds one link per generation and nothing else.
    fn in_agreement(&self) -> bool {
        !self.listed
            || (self.strays.is_empty()
                && self.leftovers.is_empty()
                && self.unindexed == 0
                && self.index_error.is_none()
                && self.links.len() == self.generations.len()
                && self.links.values().all(|k| *k == LinkKind::Link))
    }

    /// What is wrong with `g`'s link, as the directory listing shows it.
    pub fn link_damage(&self, g: &Generation) -> Option<Damage> {
        self.link_damage_at(g.number)
    }

    /// What is wrong with the link of generation `number`, as the listing shows it.
    pub fn link_damage_at(&self, number: u32) -> Option<Damage> {
        if !self.listed {
            return None;
        }
        match self.links.get(&number) {
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

/// The generations for a listing: see [`Profile::into_listing`].
#[derive(Debug)]
pub enum Listing {
    /// The index, in agreement with `generations/` (one link per entry).
    Lines(index::Lines),
    View(View),
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
    seen: PathBuf,
    /// The index and the listing of `generations/`.
    view: OnceCell<View>,
    /// The index alone, for lookups by number (when `view` is not loaded).
    entries: OnceCell<View>,
    /// The index as lines (when `view` is not loaded): a locked session that found
    /// `generations/` and the index as `profile.seen` recorded them reads only these.
    lines: Option<index::Lines>,
    /// The top-level keys of `lines`, once read.
    lines_meta: OnceCell<index::Other>,
    /// Whether this locked session knows `generations/` and the index to agree, so that it
    /// records them in `profile.seen` after each change.
    agreed: bool,
}

impl Profile {
    pub fn new(dirs: &DataDir) -> Profile {
        Profile {
            generations: dirs.generations(),
            current: dirs.current(),
            index: dirs.profile_index(),
            seen: dirs.profile_seen(),
            view: OnceCell::new(),
            entries: OnceCell::new(),
            lines: None,
            lines_meta: OnceCell::new(),
            agreed: false,
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

    /// The generations, read as [`Profile::view`] reads them, for the caller to keep: as
    /// index lines when nothing changed since the last locked command (no listing, and no
    /// entry parsed yet), else as a view.
    pub fn into_listing(mut self) -> Result<Listing> {
        if let Some(view) = self.view.take() {
            return Ok(Listing::View(view));
        }
        if let Some((text, stamp)) = self.read_index_text()?
            && self.unchanged(&stamp)
            && let Ok(lines) = index::Lines::scan(text)
        {
            return Ok(Listing::Lines(lines));
        }
        self.load().map(Listing::View)
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
        self.lines = None;
        self.lines_meta = OnceCell::new();
    }

    /// The index as lines, when this session reads it so (no view loaded).
    fn lines(&self) -> Option<&index::Lines> {
        self.lines.as_ref().filter(|_| self.view.get().is_none())
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
        if let Some(lines) = self.lines() {
            return Ok(lines.numbers().rev().filter(|n| *n < current).collect());
        }
        Ok(index::below(&self.entries()?.generations, current)
            .map(|g| g.number)
            .collect())
    }

    /// Generation `number`: its index entry, else what stands at `generations/<n>`. When
    /// nothing has been read yet (a check before the lock), a sound link answers alone,
    /// without reading the index; a locked session always answers from the reconciled
    /// index (labels, pins and dates are only there).
    pub fn lookup(&self, number: u32) -> Result<Lookup> {
        if let Some(lines) = self.lines() {
            if let Some(g) = lines.get(number, &self.index)? {
                return Ok(Lookup::Found(g));
            }
        } else {
            let loaded = self.view.get().is_some() || self.entries.get().is_some();
            if !loaded && let Ok(g) = self.read_link(number) {
                return Ok(Lookup::Found(g));
            }
            if let Some(g) = self.entries()?.get(number) {
                return Ok(Lookup::Found(g.clone()));
            }
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

    /// Reads `profile.json` (or, without one, the links) and lists `generations/`, unless
    /// both are as `profile.seen` recorded them.
    fn load(&self) -> Result<View> {
        let Some((text, stamp)) = self.read_index_text()? else {
            return self.load_listed(None);
        };
        if !self.unchanged(&stamp) {
            return self.load_listed(Some(text));
        }
        let index = match index::Lines::scan(text) {
            Ok(lines) => lines.parse_all(&self.index),
            Err(text) => index::parse(&text, &self.index),
        };
        match index {
            Ok(index) => Ok(View {
                generations: index.generations,
                other: index.other,
                ..View::default()
            }),
            // Never recorded so; read as any index that may be damaged.
            Err(_) => self.load_listed(self.read_index_text()?.map(|(text, _)| text)),
        }
    }

    /// Reads the index from `text` (`None`: there is none) and lists `generations/`.
    fn load_listed(&self, text: Option<String>) -> Result<View> {
        let (links, leftovers) = self.list_links()?;
        let mut view = View {
            links,
            leftovers,
            listed: true,
            ..View::default()
        };
        match text.map(|t| index::parse(&t, &self.index)).transpose() {
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

    /// Reads `profile.json`: line by line when it and `generations/` are as `profile.seen`
    /// recorded them (the index was read whole when it was recorded), else whole.
    fn read_index(&self) -> Result<Option<index::Index>> {
        let Some((mut text, stamp)) = self.read_index_text()? else {
            return Ok(None);
        };
        if self.unchanged(&stamp) {
            match index::Lines::scan(text) {
                Ok(lines) => match lines.parse_all(&self.index) {
                    Ok(index) => return Ok(Some(index)),
                    Err(_) => text = lines.into_text(),
                },
                Err(back) => text = back,
            }
        }
        index::parse(&text, &self.index).map(Some)
    }

    /// The text of `profile.json` and the stamp of the file it was read from, if there is
    /// one.
    fn read_index_text(&self) -> Result<Option<(String, seen::Stamp)>> {
        use std::io::Read;
        let file = match fs::File::open(&self.index) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata()?;
        // Room for a new entry's line: `build` adds it in place.
        let mut text = String::with_capacity(meta.len() as usize + 1024);
        // std's own File reads the whole file at once (its size known).
        let mut std_file: &std::fs::File = file.file();
        std_file
            .read_to_string(&mut text)
            .map_err(|e| cfs::with_path(e, &self.index))?;
        Ok(Some((text, seen::Stamp::of(&meta))))
    }

    /// Whether `generations/` and the index (read with the stamp `index`) are as
    /// `profile.seen` recorded them.
    fn unchanged(&self, index: &seen::Stamp) -> bool {
        let Some(recorded) = seen::read(&self.seen) else {
            return false;
        };
        seen::Stamp::at(&self.generations)
            .is_some_and(|dir| recorded == seen::Seen::new(dir, *index))
    }

    /// Whether `generations/` and the index are still as the last locked command that
    /// knew them to agree left them (so `generations/` holds no leftover to look for).
    pub fn listing_unchanged(&self) -> bool {
        seen::Stamp::at(&self.index).is_some_and(|index| self.unchanged(&index))
    }

    /// Records in `profile.seen` how `generations/` and the index look now, when this
    /// locked session knows them to agree.
    fn remember(&self) {
        if !self.agreed {
            return;
        }
        crate::fault::point("before-seen-write");
        if let (Some(dir), Some(index)) = (
            seen::Stamp::at(&self.generations),
            seen::Stamp::at(&self.index),
        ) {
            seen::write(&self.seen, &seen::Seen::new(dir, index));
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
    /// how a data directory without an index gets one. Returns what it did. When both are
    /// as `profile.seen` recorded them, they agree: nothing is listed, and the index is
    /// only split into lines (for the lookups and the writes of this session).
    pub fn reconcile(&mut self, store: &Store) -> Result<Vec<String>> {
        let mut text = None;
        if let Some((read, stamp)) = self.read_index_text()? {
            text = Some(read);
            if self.unchanged(&stamp) {
                match index::Lines::scan(text.take().expect("set above")) {
                    Ok(lines) => {
                        // As the last locked command left them: they agree, and only the
                        // entries a command needs are read.
                        self.view = OnceCell::new();
                        self.entries = OnceCell::new();
                        self.lines = Some(lines);
                        self.lines_meta = OnceCell::new();
                        self.agreed = true;
                        return Ok(Vec::new());
                    }
                    Err(back) => text = Some(back),
                }
            }
        }
        let mut view = self.load_listed(text.clone())?;
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
        let mut rendered = None;
        if view.unindexed > 0 {
            let text = index::render(&view.generations, &view.other);
            write_text(&self.index, &text)?;
            rendered = Some(text);
            notes.push(format!(
                "recorded {} generation link(s) in {}",
                view.unindexed,
                self.index.display()
            ));
            view.unindexed = 0;
        }
        // Recorded only for an index in the layout this version writes, which later
        // sessions then read line by line (or for none yet, and no generation).
        self.agreed = view.in_agreement()
            && match (rendered, text) {
                (Some(_), _) => true,
                (None, Some(t)) => t.as_bytes() == index::render(&view.generations, &view.other),
                (None, None) => view.generations.is_empty(),
            };
        self.set_view(view);
        self.remember();
        Ok(notes)
    }

    fn make_link(&self, number: u32, hash: &str) -> Result<()> {
        fs::create_dir_all(&self.generations)?;
        cfs::replace_symlink(&Path::new("../store").join(hash), &self.link(number))
    }

    /// Records a new generation for `hash`, numbered one above every number in use: its
    /// index entry first, then its link. Call with the lock held.
    pub fn add(&mut self, hash: &str, label: Option<String>) -> Result<Generation> {
        if let Some(number) = self.lines().map(|l| l.last().map_or(1, |n| n + 1)) {
            // Nothing stands there unless put there by hand since the last session; then
            // the directory is listed after all.
            if self.is_free(number)? {
                let generation = Generation::new(number, hash, label);
                let lines = self.lines.as_mut().expect("read as lines");
                lines.add(&generation);
                if let Err(e) = write_text(&self.index, lines.text().as_bytes()) {
                    // The index is as it was: read again by whatever comes next.
                    self.lines = None;
                    self.agreed = false;
                    return Err(e);
                }
                crate::fault::point("after-index-entry");
                self.make_link(number, hash)?;
                self.remember();
                return Ok(generation);
            }
            let text = self.read_index_text()?.map(|(text, _)| text);
            self.agreed = false;
            self.set_view(self.load_listed(text)?);
        }
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
        self.remember();
        Ok(generation)
    }

    /// Whether nothing stands at `generations/<number>`.
    fn is_free(&self, number: u32) -> Result<bool> {
        match fs::symlink_metadata(self.link(number)) {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e.into()),
        }
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
            .filter(|n| view.has_name(*n))
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
        self.remember();
        Ok(())
    }

    /// Changes generation `number`'s entry with `change` and writes the index. Call with
    /// the lock held.
    pub fn update(
        &mut self,
        number: u32,
        change: impl FnOnce(&mut Generation),
    ) -> Result<Generation> {
        if let Some(lines) = self.lines() {
            let mut g = lines
                .get(number, &self.index)?
                .ok_or_else(|| unknown(number))?;
            change(&mut g);
            let lines = lines.with_changed(&g).expect("the entry was found above");
            write_text(&self.index, lines.text().as_bytes())?;
            self.lines = Some(lines);
            self.remember();
            return Ok(g);
        }
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
        self.remember();
        Ok(changed)
    }

    /// The index's top-level keys other than `format` and `generations` (kept as read).
    pub fn meta(&self) -> Result<&index::Other> {
        if let Some(lines) = self.lines() {
            if let Some(meta) = self.lines_meta.get() {
                return Ok(meta);
            }
            let meta = lines.other(&self.index)?;
            return Ok(self.lines_meta.get_or_init(|| meta));
        }
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
        self.remember();
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

    /// Points `current` at generation `number` (which must exist), giving it its link
    /// back first if that went missing since the lock was taken.
    pub fn set_current(&self, number: u32) -> Result<()> {
        if self.is_free(number)?
            && let Lookup::Found(g) = self.lookup(number)?
        {
            self.make_link(number, &g.hash)?;
            self.remember();
        }
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
    write_text(path, &index::render(&view.generations, &view.other))
}

/// Writes `profile.json` as `text`, atomically.
fn write_text(path: &Path, text: &[u8]) -> Result<()> {
    crate::fault::point("before-index-write");
    cfs::write_atomic(path, text)
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

    /// A locked session's profile, reconciled.
    fn locked(d: &Dir) -> Profile {
        let mut p = Profile::new(&d.dirs);
        p.reconcile(&d.store).unwrap();
        p
    }

    /// Records the present state in `profile.seen`, as if a change made by hand had come
    /// too soon after the last command for the file system's clock to tell them apart.
    fn change_unseen(d: &Dir) {
        let mut p = locked(d);
        p.agreed = true;
        p.remember();
    }

    #[test]
    fn a_session_finding_what_the_last_one_left_reads_no_listing_and_no_whole_index() {
        let d = dir();
        let (a, b) = (registered(&d, "a"), registered(&d, "b"));
        let mut p = locked(&d);
        for h in [&a, &b, &a] {
            p.add(h, None).unwrap();
        }
        // The first sessions list the directory; once recorded, the next ones do not.
        let p = locked(&d);
        assert!(p.agreed);
        let mut p = locked(&d);
        assert!(p.lines.is_some(), "profile.seen matched");
        assert_eq!(p.below(3).unwrap(), [2, 1]);
        assert_eq!(p.get(2).unwrap().unwrap().hash, b);
        let g = p.add(&b, Some("fourth".into())).unwrap();
        assert_eq!(g.number, 4);
        p.update(1, |g| g.pinned = true).unwrap();
        p.set_current(4).unwrap();
        // What was written is what a full write would have written.
        let text = fs::read_to_string(d.dirs.profile_index()).unwrap();
        let index = index::parse(&text, Path::new("p")).unwrap();
        assert_eq!(
            text.as_bytes(),
            index::render(&index.generations, &index.other)
        );
        assert_eq!(index.generations[3].label.as_deref(), Some("fourth"));
        assert!(index.generations[0].pinned);
        assert!(d.dirs.generations().join("4").is_symlink());
        let p = locked(&d);
        assert!(p.lines.is_some(), "each write recorded anew");
        assert_eq!(numbers(&Profile::new(&d.dirs)), [1, 2, 3, 4]);
        assert!(!Profile::new(&d.dirs).view().unwrap().listed);
    }

    #[test]
    fn any_change_to_generations_or_the_index_since_brings_back_the_listing() {
        let d = dir();
        let a = registered(&d, "a");
        let mut p = locked(&d);
        p.add(&a, None).unwrap();
        p.add(&a, None).unwrap();
        locked(&d);
        assert!(locked(&d).lines.is_some());

        // A link removed by hand: listed, damaged, and given back by the next session.
        fs::remove_file(d.dirs.generations().join("1")).unwrap();
        let view = Profile::new(&d.dirs).view().unwrap().clone();
        assert!(view.listed);
        assert_eq!(
            view.link_damage(view.get(1).unwrap()),
            Some(Damage::LinkMissing)
        );
        let p = locked(&d);
        assert!(p.lines.is_none());
        assert!(d.dirs.generations().join("1").is_symlink());
        assert!(locked(&d).lines.is_some());

        // A directory put there by hand: listed, a stray, and numbered around.
        fs::create_dir(d.dirs.generations().join("9")).unwrap();
        let mut p = locked(&d);
        assert!(p.view().unwrap().strays.contains_key(&9));
        assert_eq!(p.add(&a, None).unwrap().number, 10);
        assert!(locked(&d).lines.is_none(), "never recorded with a stray");
        fs::remove_dir(d.dirs.generations().join("9")).unwrap();
        locked(&d);
        assert!(locked(&d).lines.is_some());

        // The index edited by hand (the same layout): read whole again.
        let path = d.dirs.profile_index();
        let text = fs::read_to_string(&path).unwrap();
        fs::write(
            &path,
            text.replace(r#""label":null"#, r#""label":"by hand""#),
        )
        .unwrap();
        let p = locked(&d);
        assert!(p.lines.is_none());
        assert_eq!(p.get(1).unwrap().unwrap().label.as_deref(), Some("by hand"));
        // In another layout: never recorded, so never read line by line.
        fs::write(&path, text.replace('\n', " ")).unwrap();
        locked(&d);
        assert!(locked(&d).lines.is_none());
    }

    #[test]
    fn a_change_made_too_soon_to_be_seen_is_still_never_overwritten_or_pointed_at() {
        let d = dir();
        let a = registered(&d, "a");
        let mut p = locked(&d);
        p.add(&a, None).unwrap();
        p.add(&a, None).unwrap();
        // A directory at the next number and a removed link, both unseen.
        fs::create_dir(d.dirs.generations().join("3")).unwrap();
        fs::remove_file(d.dirs.generations().join("1")).unwrap();
        change_unseen(&d);
        let mut p = locked(&d);
        assert!(p.lines.is_some(), "the change went unseen");
        // The new generation does not take the directory's number.
        assert_eq!(p.add(&a, None).unwrap().number, 4);
        assert!(d.dirs.generations().join("3").is_dir());
        // `current` is never pointed at a missing link: it is made again first.
        change_unseen(&d);
        let p = locked(&d);
        assert!(p.lines.is_some());
        p.set_current(1).unwrap();
        assert!(d.dirs.generations().join("1").is_symlink());
        assert_eq!(p.current().unwrap(), Some(1));
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
