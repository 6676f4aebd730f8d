//! What every operation works with: the [`Context`] (where things are, what was asked),
//! one read view of the state ([`State`]), and the locked [`Session`] of a mutating
//! command.
//!
//! Mutating operations follow one pattern ([`Context::locked`]): read the state without
//! writing anything, plan (and refuse bad input there, so that a refusal writes nothing),
//! then take the lock and plan again only if the state changed in between.

use crate::db::table::DamagedRecord;
use crate::db::{Db, follow};
use crate::error::{Error, Result};
use crate::fs::lock::{self, LockGuard};
use crate::fs::safe;
use crate::layout::DataDir;
use crate::plugins::{Pins, PluginRecord, Requirement};
use crate::profile::{Checked, Profile};
use crate::report::Reporter;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::build::BundleSpec;
use crate::store::bundle::BundleManifest;
use crate::store::conflict_checks;
use crate::store::server::ServerRepo;
use crate::uv::Uv;
use std::path::PathBuf;
use std::time::Duration;

/// Default seconds to wait for another command's lock; `COSMO_LOCK_TIMEOUT` overrides it.
pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 300;

/// Locations and settings shared by every operation.
pub struct Context {
    pub dirs: DataDir,
    pub server_dir: Option<PathBuf>,
    pub reporter: Box<dyn Reporter>,
    /// Whether the notice about ignored uv variables was given.
    noticed: std::cell::Cell<bool>,
}

/// The default data directory: `$XDG_DATA_HOME/cosmoserver` (`~/.local/share/cosmoserver`).
pub fn default_data_dir() -> Result<PathBuf> {
    directories::BaseDirs::new()
        .map(|d| d.data_dir().join("cosmoserver"))
        .ok_or_else(|| {
            Error::input(
                "cannot find a home directory for the default data directory",
                "pass --data-dir DIR or set COSMO_DATA_DIR",
            )
        })
}

/// One read of the state: the plugin records and the current generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub records: Vec<PluginRecord>,
    /// The git records' pins, by record id.
    pub pins: Pins,
    /// Rows of the `plugins` table that cannot be read as records (listed, never built).
    pub damaged: Vec<DamagedRecord>,
    pub current: Option<u32>,
}

/// A mutating command's hold on the data directory: the lock, then the database, and
/// the state as read under the lock.
pub struct Session {
    pub db: Db,
    pub profile: Profile,
    pub store: Store,
    pub state: State,
    _lock: LockGuard,
}

impl Context {
    /// A context for the data directory `dirs`.
    pub fn new(dirs: DataDir, server_dir: Option<PathBuf>, reporter: Box<dyn Reporter>) -> Context {
        Context {
            dirs,
            server_dir,
            reporter,
            noticed: std::cell::Cell::new(false),
        }
    }

    /// The data directory's settings (`settings.toml`).
    pub fn settings(&self) -> Result<Settings> {
        self.check_data_dir()?;

        Settings::load(&self.dirs.settings())
    }

    /// uv, found next to this executable or on PATH.
    pub fn uv(&self) -> Result<Uv> {
        Uv::find(&self.dirs.uv_config())
    }

    pub fn store(&self) -> Store {
        Store::new(self.dirs.store())
    }

    pub fn profile(&self) -> Profile {
        Profile::new(&self.dirs)
    }

    /// Opens the server repository named by `--server` / `COSMO_SERVER_DIR`.
    pub fn server(&self) -> Result<ServerRepo> {
        let dir = self.server_dir.as_ref().ok_or_else(|| {
            Error::input(
                "no server repository given",
                "pass --server DIR or set COSMO_SERVER_DIR to the CosmoServer repository",
            )
        })?;
        ServerRepo::open(dir)
    }

    /// The bundle spec of a plugin set: this server, these settings. Says once when
    /// resolution variables of the environment are ignored.
    pub fn spec<'a>(
        &self,
        server: &'a ServerRepo,
        plugins: Vec<Requirement>,
    ) -> Result<BundleSpec<'a>> {
        if !self.noticed.replace(true) {
            let ignored = crate::uv::env::ignored();
            if !ignored.is_empty() {
                self.reporter.warn(&format!(
                    "ignoring {} from the environment: resolution settings come from {} (see `cosmo-bundle config list`)",
                    ignored.join(", "),
                    self.dirs.settings().display()
                ));
            }
        }
        BundleSpec::new(server, plugins, &self.settings()?)
    }

    /// Refuses a data directory that exists but is not a directory.
    pub fn check_data_dir(&self) -> Result<()> {
        let root = self.dirs.root();
        if fs_err::metadata(root).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::input(
                format!("the data directory {} is not a directory", root.display()),
                "pass --data-dir (or set COSMO_DATA_DIR to) a directory, or move the file away",
            ));
        }
        self.check_foreign_dir()
    }

    /// Refuses an existing directory that is not a data directory (`/`, a home directory):
    /// cosmo-bundle empties `tmp/` and removes `.tmp-*` entries of its data directory.
    fn check_foreign_dir(&self) -> Result<()> {
        let root = self.dirs.root();
        if self
            .dirs
            .markers()
            .iter()
            .any(|m| fs_err::symlink_metadata(m).is_ok())
        {
            return Ok(());
        }
        let Ok(entries) = fs_err::read_dir(root) else {
            return Ok(());
        };
        let mut foreign: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !self.dirs.is_own_name(n))
            .collect();
        if foreign.is_empty() {
            return Ok(());
        }
        foreign.sort();
        let more = foreign.len().saturating_sub(3);
        foreign.truncate(3);
        Err(Error::input(
            format!(
                "{} is not a cosmo-bundle data directory: it holds {}{} and no cosmo.db, settings.toml, profile.json, store/ or generations/",
                root.display(),
                foreign
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            "pass --data-dir (or set COSMO_DATA_DIR to) the server's data directory, or a new or empty directory",
        ))
    }

    /// Reads the state without writing anything (no database is created).
    pub fn read(&self) -> Result<State> {
        self.read_state(false)
    }

    /// [`Context::read`] for a command that only shows the state: it also warns when the
    /// plugin rows do not follow `current` yet (a command that moved it could not update
    /// them: the database busy, the disk full), which a mutating command would catch up.
    pub fn read_to_show(&self) -> Result<State> {
        self.read_state(true)
    }

    fn read_state(&self, warn_lag: bool) -> Result<State> {
        self.check_data_dir()?;
        let current = self.profile().current()?;
        let (rows, pins) = match Db::open_read(&self.dirs.db())? {
            Some(db) => {
                if let Some(current) = current.filter(|_| warn_lag)
                    && !follow::follows(&db.read(), current)?
                {
                    self.reporter.warn(&format!(
                        "the plugin rows do not follow generation {current} (current) yet; `cosmo-bundle build` (which then has nothing to build) brings them up to date"
                    ));
                }
                (db.read().rows()?, db.read().pins()?)
            }
            None => Default::default(),
        };
        Ok(State {
            records: rows.records,
            pins,
            damaged: rows.damaged,
            current,
        })
    }

    /// Plans a mutation on a read of the state, then takes the lock and plans again only
    /// if the state changed meanwhile. A plan that fails before the lock writes nothing.
    pub fn locked<P>(&self, plan: impl Fn(&State) -> Result<P>) -> Result<(Session, P)> {
        let before = self.read()?;
        let planned = plan(&before)?;
        let session = self.lock()?;
        if session.state == before {
            return Ok((session, planned));
        }
        let planned = plan(&session.state)?;
        Ok((session, planned))
    }

    /// Takes the data directory's lock, opens the database for writing, removes leftovers
    /// of killed commands, reconciles the generation index with the links and catches the
    /// plugin rows up with `current`.
    pub fn lock(&self) -> Result<Session> {
        let guard = self.lock_dir()?;
        let mut profile = self.profile();
        profile.clear_leftovers()?;
        conflict_checks::clear_leftovers(&self.dirs)?;
        let store = self.store();
        for note in profile.reconcile(&store)? {
            self.reporter.step(&note);
        }
        let db = Db::open_rw(&self.dirs.db())?;
        let rows = db.read().rows()?;
        let state = State {
            records: rows.records,
            pins: db.read().pins()?,
            damaged: rows.damaged,
            current: profile.current()?,
        };
        let mut session = Session {
            db,
            profile,
            store,
            state,
            _lock: guard,
        };
        session.catch_up(self.reporter.as_ref())?;
        Ok(session)
    }
}

impl Context {
    /// Takes the data directory's lock alone (no database), creating the directory.
    pub fn lock_dir(&self) -> Result<LockGuard> {
        self.check_data_dir()?;
        let root = self.dirs.root();
        fs_err::create_dir_all(root)?;
        safe::check_not_shared(root, &fs_err::metadata(root)?)?;
        for (path, kind) in self.dirs.own_entries() {
            safe::check_entry(&path, kind)?;
        }
        lock::acquire(&self.dirs.lock(), lock_timeout()?, self.reporter.as_ref())
    }
}

/// `COSMO_LOCK_TIMEOUT` (seconds), else the default.
fn lock_timeout() -> Result<Duration> {
    match std::env::var("COSMO_LOCK_TIMEOUT") {
        Err(std::env::VarError::NotPresent) => Ok(Duration::from_secs(DEFAULT_LOCK_TIMEOUT_SECS)),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::input(
            format!("COSMO_LOCK_TIMEOUT={v:?} is not a number of seconds"),
            "set it to a whole number such as 60, or unset it",
        )),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| {
                Error::input(
                    format!("COSMO_LOCK_TIMEOUT={v:?} is not a number of seconds"),
                    "set it to a whole number such as 60, or unset it",
                )
            }),
    }
}

impl Session {
    /// Makes the rows follow `current` if they do not yet. A damaged or dangling `current`
    /// is reported and left for `switch`, `rollback` or `build` to repair.
    fn catch_up(&mut self, reporter: &dyn Reporter) -> Result<()> {
        let Some(current) = self.state.current else {
            return Ok(());
        };
        if follow::follows(&self.db.read(), current)? {
            return Ok(());
        }
        match self.profile.check(current, &self.store)? {
            Checked::Sound(_, manifest) => {
                follow::follow(&mut self.db, &manifest.plugins, current)?;
                self.reread()
            }
            damaged => {
                reporter.warn(&format!(
                    "the plugin rows cannot follow `current`: {}; `switch N`, `rollback` or `build` repairs `current`",
                    damaged.problem(current).unwrap_or_default()
                ));
                Ok(())
            }
        }
    }

    /// Reads the records again (after this session changed them).
    pub fn reread(&mut self) -> Result<()> {
        let rows = self.db.read().rows()?;
        self.state.records = rows.records;
        self.state.damaged = rows.damaged;
        self.state.pins = self.db.read().pins()?;
        Ok(())
    }

    /// Points `current` at `generation`, whose bundle is `manifest`, and makes the rows
    /// follow it. Once `current` has moved the command has succeeded: when the rows cannot
    /// follow yet (the database busy or the disk full), this says so and returns `false`,
    /// and the next mutating command catches them up.
    pub fn activate_bundle(
        &mut self,
        generation: u32,
        manifest: &BundleManifest,
        ctx: &Context,
    ) -> Result<bool> {
        if self.state.current != Some(generation) {
            self.profile.set_current(generation)?;
            self.state.current = Some(generation);
        }
        crate::fault::point("after-flip");
        let followed = follow::follow(&mut self.db, &manifest.plugins, generation)
            .and_then(|()| self.reread());
        match followed {
            Ok(()) => Ok(true),
            Err(e) => {
                ctx.reporter.warn(&format!(
                    "generation {generation} is current, but the plugin rows could not follow it yet ({e}); the next command that takes the lock (for example `cosmo-bundle build`, which then has nothing to build) brings them up to date"
                ));
                Ok(false)
            }
        }
    }
}
