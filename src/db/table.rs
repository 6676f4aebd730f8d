//! The `plugins` table in `cosmo.db`, shared with the server's SQLAlchemy model, and
//! `cosmo_bundle_state`, cosmo-bundle's own.
//!
//! Rows follow the database contract (store-layout.md): enum names in upper case, ids as 32
//! lower-case hex digits, naive UTC timestamps with microseconds. Every other table belongs
//! to the server and is never touched; the journal mode is never changed.

use crate::error::{Error, Result};
use crate::plugins::{Pin, Pins, PluginRecord, SourceType, Status, normalize};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `plugins` table exactly as SQLAlchemy creates it.
const PLUGINS_DDL: &str = "CREATE TABLE plugins (
\tname VARCHAR(255) NOT NULL,
\tsource TEXT NOT NULL,
\tsource_type VARCHAR(4) NOT NULL,
\tinstalled_version VARCHAR(50),
\tupdated_version VARCHAR(50),
\tinstall_status VARCHAR(11) NOT NULL,
\terror_message TEXT,
\tid CHAR(32) NOT NULL,
\tcreated_at DATETIME NOT NULL,
\tupdated_at DATETIME NOT NULL,
\tPRIMARY KEY (id)
)";

/// cosmo-bundle's own key/value table.
const STATE_DDL: &str = "CREATE TABLE IF NOT EXISTS cosmo_bundle_state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)";

/// cosmo-bundle's own table of git pins: the commit each git record's ref means.
const PINS_DDL: &str = "CREATE TABLE IF NOT EXISTS cosmo_bundle_git_pins (plugin_id TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL, rev TEXT NOT NULL, commit_id TEXT NOT NULL)";

const COLUMNS: &str = "id, name, source, source_type, installed_version, updated_version, \
                       install_status, error_message, created_at, updated_at";

/// How long to wait for the server's own writes to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open `cosmo.db`.
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the database for writing; call with the data lock held.
    pub fn open_rw(path: &Path) -> Result<Db> {
        check_is_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .map_err(|e| db_err(path, e))?;
        let mut db = Db::configure(conn, path)?;
        db.ensure_schema()?;
        Ok(db)
    }

    /// Opens an existing database for reading only; `None` when there is none yet.
    ///
    /// The connection is read-write at the file level (never creating the file) with
    /// `PRAGMA query_only`, so that it can roll back a hot journal left by a writer that
    /// was killed mid-commit; a read-only connection cannot, and would fail. A file this
    /// process may not write is opened read-only.
    pub fn open_read(path: &Path) -> Result<Option<Db>> {
        match fs_err::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
            Ok(_) => check_is_file(path)?,
        }

        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .or_else(|_| Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY))
            .map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| db_err(path, e))?;
        Ok(Some(Db::configure(conn, path)?))
    }

    fn configure(conn: Connection, path: &Path) -> Result<Db> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_err(path, e))?;
        Ok(Db {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn ensure_schema(&mut self) -> Result<()> {
        let t = self.read();
        let has_plugins = t.has_table("plugins")?;
        if has_plugins {
            t.check_columns()?;
        }
        if has_plugins
            && t.has_table("cosmo_bundle_state")?
            && t.has_table("cosmo_bundle_git_pins")?
        {
            return Ok(());
        }
        self.write(|t| {
            if !has_plugins {
                t.execute(PLUGINS_DDL)?;
            }
            t.execute(STATE_DDL)?;
            t.execute(PINS_DDL)
        })
    }

    /// Queries outside a transaction (each statement sees one consistent snapshot).
    pub fn read(&self) -> Table<'_> {
        Table {
            conn: &self.conn,
            path: &self.path,
        }
    }

    /// Runs `f` in one short `BEGIN IMMEDIATE` transaction, committed when `f` succeeds
    /// and rolled back otherwise.
    pub fn write<T>(&mut self, f: impl FnOnce(&Table) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let value = f(&Table {
            conn: &tx,
            path: &path,
        })?;
        crate::fault::point("db-before-commit");
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(value)
    }
}

/// The tables, seen through one connection (inside a transaction or not).
pub struct Table<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl Table<'_> {
    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(self.path, e)
    }

    fn execute(&self, sql: &str) -> Result<()> {
        self.conn.execute(sql, []).map_err(|e| self.err(e))?;
        Ok(())
    }

    fn has_table(&self, name: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }

    /// Refuses a `plugins` table that lacks a column the contract names.
    fn check_columns(&self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info('plugins')")
            .map_err(|e| self.err(e))?;
        let have: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        for col in COLUMNS.split(", ").map(str::trim) {
            if !have.iter().any(|h| h == col) {
                return Err(Error::Corrupt {
                    path: self.path.to_path_buf(),
                    reason: format!(
                        "table `plugins` has no column `{col}`; it does not follow the server's model"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Every plugin record, oldest first.
    pub fn all(&self) -> Result<Vec<PluginRecord>> {
        if !self.has_table("plugins")? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM plugins ORDER BY created_at, id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], raw_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| r.into_record(self.path)).collect()
    }

    /// Inserts a new record.
    pub fn insert(&self, r: &PluginRecord) -> Result<()> {
        self.conn
            .execute(
                &format!("INSERT INTO plugins ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    r.id, r.name, r.source, r.source_type.as_db(), r.installed_version,
                    r.updated_version, r.install_status.as_db(), r.error_message,
                    r.created_at, r.updated_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Writes a record's mutable columns back (by id).
    pub fn update(&self, r: &PluginRecord) -> Result<()> {
        self.conn
            .execute(
                "UPDATE plugins SET name = ?2, source = ?3, source_type = ?4, installed_version = ?5,
                 updated_version = ?6, install_status = ?7, error_message = ?8, updated_at = ?9
                 WHERE id = ?1",
                params![
                    r.id, r.name, r.source, r.source_type.as_db(), r.installed_version,
                    r.updated_version, r.install_status.as_db(), r.error_message, r.updated_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Deletes a record by id, with its git pin.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM plugins WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        if self.has_table("cosmo_bundle_git_pins")? {
            self.delete_pin(id)?;
        }
        Ok(())
    }

    /// Every git pin, by record id.
    pub fn pins(&self) -> Result<Pins> {
        if !self.has_table("cosmo_bundle_git_pins")? {
            return Ok(Pins::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT plugin_id, url, rev, commit_id FROM cosmo_bundle_git_pins")
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Pin {
                    url: r.get(1)?,
                    rev: r.get(2)?,
                    commit: r.get(3)?,
                },
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Sets the pin of record `id`.
    pub fn set_pin(&self, id: &str, pin: &Pin) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO cosmo_bundle_git_pins (plugin_id, url, rev, commit_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(plugin_id) DO UPDATE SET url = excluded.url, rev = excluded.rev, commit_id = excluded.commit_id",
                params![id, pin.url, pin.rev, pin.commit],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes the pin of record `id` (if any).
    pub fn delete_pin(&self, id: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM cosmo_bundle_git_pins WHERE plugin_id = ?1",
                [id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Reads a value of cosmo-bundle's own state.
    pub fn state(&self, key: &str) -> Result<Option<String>> {
        if !self.has_table("cosmo_bundle_state")? {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT value FROM cosmo_bundle_state WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a value of cosmo-bundle's own state.
    pub fn set_state(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO cosmo_bundle_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Finds a record by id (32 hex digits, any case, dashes allowed) or by name or
/// distribution.
pub fn find<'r>(records: &'r [PluginRecord], key: &str) -> Result<&'r PluginRecord> {
    let id = key.replace('-', "").to_ascii_lowercase();
    if let Some(r) = records.iter().find(|r| r.id == id) {
        return Ok(r);
    }
    let norm = normalize(key);
    let hits: Vec<&PluginRecord> = records
        .iter()
        .filter(|r| r.name == key || r.key() == norm)
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(
            format!("no plugin record matches {key:?}"),
            "see the records with `cosmo-bundle plugin list`",
        )),
        _ => Err(Error::input(
            format!("{} plugin records match {key:?}", hits.len()),
            "name the record by its id (see `cosmo-bundle plugin list`)",
        )),
    }
}

fn db_err(path: &Path, source: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(e, _) = &source
        && matches!(
            e.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        )
    {
        return Error::DbBusy {
            path: path.to_path_buf(),
            seconds: BUSY_TIMEOUT.as_secs(),
        };
    }
    Error::Db {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses a `cosmo.db` that is not a file, before SQLite reports "disk I/O error".
fn check_is_file(path: &Path) -> Result<()> {
    match fs_err::metadata(path) {
        Ok(m) if !m.is_file() => Err(Error::input(
            format!(
                "{} is not a file, so it cannot be the server's SQLite database",
                path.display()
            ),
            "move it out of the way; cosmo-bundle creates cosmo.db when it is missing",
        )),
        _ => Ok(()),
    }
}

/// A row as stored, before its enum columns are checked.
struct RawRow {
    id: String,
    name: String,
    source: String,
    source_type: String,
    installed_version: Option<String>,
    updated_version: Option<String>,
    install_status: String,
    error_message: Option<String>,
    created_at: String,
    updated_at: String,
}

fn raw_row(r: &Row) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: r.get(0)?,
        name: r.get(1)?,
        source: r.get(2)?,
        source_type: r.get(3)?,
        installed_version: r.get(4)?,
        updated_version: r.get(5)?,
        install_status: r.get(6)?,
        error_message: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

impl RawRow {
    fn into_record(self, path: &Path) -> Result<PluginRecord> {
        let bad = |col: &str, v: &str| Error::Corrupt {
            path: path.to_path_buf(),
            reason: format!("plugin {} has an unknown {col} {v:?}", self.id),
        };
        let source_type = SourceType::from_db(&self.source_type)
            .ok_or_else(|| bad("source_type", &self.source_type))?;
        let install_status = Status::from_db(&self.install_status)
            .ok_or_else(|| bad("install_status", &self.install_status))?;
        Ok(PluginRecord {
            id: self.id,
            name: self.name,
            source: self.source,
            source_type,
            installed_version: self.installed_version,
            updated_version: self.updated_version,
            install_status,
            error_message: self.error_message,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> PluginRecord {
        PluginRecord::new(
            name,
            SourceType::Pypi,
            name,
            Status::Pending,
            Some("1.0.0".into()),
        )
    }

    #[test]
    fn creates_the_contract_schema_and_round_trips_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosmo.db");
        let mut db = Db::open_rw(&path).unwrap();
        let r = record("zigbee-switch");
        db.write(|t| t.insert(&r)).unwrap();
        let all = db.read().all().unwrap();
        assert_eq!(all, vec![r.clone()]);
        assert_eq!(find(&all, "Zigbee_Switch").unwrap(), &r);
        assert_eq!(find(&all, &r.id.to_ascii_uppercase()).unwrap(), &r);
        assert!(matches!(find(&all, "x"), Err(Error::NotFound { .. })));
        let sql: String = db
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'plugins'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sql, PLUGINS_DDL);
        assert_eq!(r.id.len(), 32);
        assert!(r.created_at.len() == 26 && r.created_at.as_bytes()[10] == b' ');
    }

    #[test]
    fn an_error_inside_a_write_rolls_everything_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open_rw(&dir.path().join("cosmo.db")).unwrap();
        let res: Result<()> = db.write(|t| {
            t.insert(&record("a"))?;
            Err(Error::input("stop", "x"))
        });
        assert!(res.is_err());
        assert!(db.read().all().unwrap().is_empty());
    }

    #[test]
    fn a_reading_connection_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosmo.db");
        assert!(Db::open_read(&path).unwrap().is_none());
        assert!(!path.exists());
        let mut db = Db::open_rw(&path).unwrap();
        db.write(|t| t.insert(&record("a"))).unwrap();
        let reader = Db::open_read(&path).unwrap().unwrap();
        assert_eq!(reader.read().all().unwrap().len(), 1);
        assert!(reader.read().insert(&record("b")).is_err());
    }

    #[test]
    fn unknown_enum_names_are_reported_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open_rw(&dir.path().join("cosmo.db")).unwrap();
        db.write(|t| t.insert(&record("a"))).unwrap();
        db.conn
            .execute("UPDATE plugins SET install_status = 'pending'", [])
            .unwrap();
        assert!(matches!(db.read().all(), Err(Error::Corrupt { .. })));
    }
}
