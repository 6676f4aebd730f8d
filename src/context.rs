//! Where things are: the data directory, its files, and the server repository.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::lock::{self, LockGuard};
use crate::profile::Profile;
use crate::report::Reporter;
use crate::rows;
use crate::server::ServerRepo;
use crate::store::Store;
use std::path::PathBuf;

/// Locations and settings shared by every operation.
pub struct Context {
    pub data_dir: PathBuf,
    pub server_dir: Option<PathBuf>,
    pub python: Option<String>,
    pub reporter: Box<dyn Reporter>,
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

/// A mutating command's hold on the data directory: the lock, then the database.
pub struct Session {
    pub db: Db,
    pub profile: Profile,
    pub store: Store,
    _lock: LockGuard,
}

impl Context {
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("cosmo.db")
    }

    pub fn store(&self) -> Store {
        Store::new(self.data_dir.join("store"))
    }

    pub fn profile(&self) -> Profile {
        Profile::new(&self.data_dir)
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

    /// The bundle spec of a plugin set: this server, this Python, uv's environment.
    pub fn spec<'a>(
        &self,
        server: &'a ServerRepo,
        plugins: Vec<crate::plugin::Requirement>,
    ) -> Result<crate::store::BundleSpec<'a>> {
        Ok(crate::store::BundleSpec {
            server,
            plugins,
            python: crate::python::PythonRequest::from_option(self.python.as_deref())?,
            env: crate::hash::resolution_env(),
        })
    }

    /// Reads the database without writing anything; `None` when there is none yet.
    pub fn read_db(&self) -> Result<Option<Db>> {
        Db::open_ro(&self.db_path())
    }

    /// Takes the data directory's lock, opens the database for writing and catches the
    /// plugin rows up with `current` if an earlier command was killed in between.
    pub fn begin(&self) -> Result<Session> {
        fs_err::create_dir_all(&self.data_dir)?;
        let guard = lock::acquire(&self.data_dir.join("lock"), self.reporter.as_ref())?;
        let profile = self.profile();
        profile.clear_leftovers()?;
        crate::resolve::clear_leftovers(&self.data_dir)?;
        let mut session = Session {
            db: Db::open_rw(&self.db_path())?,
            profile,
            store: self.store(),
            _lock: guard,
        };
        session.catch_up()?;
        Ok(session)
    }
}

impl Session {
    /// Makes the rows follow `current` if they do not yet.
    pub fn catch_up(&mut self) -> Result<()> {
        let Some(current) = self.profile.current()? else {
            return Ok(());
        };
        if rows::follows(&self.db, current)? {
            return Ok(());
        }
        self.activate(current)
    }

    /// Points `current` at `generation` and makes the rows follow it.
    pub fn activate(&mut self, generation: u32) -> Result<()> {
        let gen_ = self.profile.get(generation)?.ok_or_else(|| {
            Error::input(
                format!("generation {generation} does not exist"),
                "list them with `cosmo-bundle generations`",
            )
        })?;
        let manifest = self.store.load(&gen_.hash)?.ok_or_else(|| Error::Corrupt {
            path: self.store.path(&gen_.hash),
            reason: format!("generation {generation}'s bundle is not a registered bundle"),
        })?;
        if self.profile.current()? != Some(generation) {
            self.profile.set_current(generation)?;
        }
        rows::follow(&mut self.db, &manifest, generation)
    }
}
