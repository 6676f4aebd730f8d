//! The `plugins` table in `cosmo.db`, shared with the server's SQLAlchemy model.
//!
//! Rows follow contracts/database.md: enum names in upper case, ids as 32 lower-case hex
//! digits, naive UTC timestamps with microseconds. Our own state lives in
//! `cosmo_bundle_state`; every other table belongs to the server and is never touched.

use crate::error::{Error, Result};
use crate::plugin::{PluginRecord, SourceType, Status};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
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

const COLUMNS: &str = "id, name, source, source_type, installed_version, updated_version, \
                       install_status, error_message, created_at, updated_at";

/// How long to wait for the server's own writes to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open `cosmo.db`.
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

/// The current time as the contract stores it: naive UTC, microseconds.
pub fn now() -> String {
    chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// A fresh id: a UUID4 as 32 lower-case hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Db {
    /// Opens (creating if needed) the database for writing; call with the data lock held.
    pub fn open_rw(path: &Path) -> Result<Db> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .map_err(|e| db_err(path, e))?;
        let db = Db::configure(conn, path)?;
        db.ensure_schema()?;
        Ok(db)
    }

    /// Opens an existing database read-only; `None` when there is none yet.
    pub fn open_ro(path: &Path) -> Result<Option<Db>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
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

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
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

    fn ensure_schema(&self) -> Result<()> {
        if !self.has_table("plugins")? {
            self.conn
                .execute_batch(&format!(
                    "BEGIN IMMEDIATE; {PLUGINS_DDL}; {STATE_DDL}; COMMIT;"
                ))
                .map_err(|e| self.err(e))?;
        } else {
            self.check_columns()?;
            self.conn.execute(STATE_DDL, []).map_err(|e| self.err(e))?;
        }
        Ok(())
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
                    path: self.path.clone(),
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
        rows.into_iter()
            .map(|r| r.into_record(&self.path))
            .collect()
    }

    /// Finds a record by id (32 hex digits, dashes allowed) or by name / distribution.
    pub fn find(&self, key: &str) -> Result<PluginRecord> {
        let all = self.all()?;
        let id = key.replace('-', "").to_ascii_lowercase();
        if let Some(r) = all.iter().find(|r| r.id == id) {
            return Ok(r.clone());
        }
        let norm = crate::plugin::normalize(key);
        let hits: Vec<&PluginRecord> = all
            .iter()
            .filter(|r| r.name == key || crate::plugin::normalize(r.distribution()) == norm)
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::input(
                format!("no plugin record matches {key:?}"),
                "see the records with `cosmo-bundle plugin list`",
            )),
            _ => Err(Error::input(
                format!("{} plugin records match {key:?}", hits.len()),
                "name the record by its id (see `cosmo-bundle plugin list`)",
            )),
        }
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

    /// Deletes a record by id.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM plugins WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Runs `f` in one short write transaction.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db_err(&self.path, e))?;
        match f(self) {
            Ok(v) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(|e| db_err(&self.path, e))?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
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

fn db_err(path: &Path, source: rusqlite::Error) -> Error {
    Error::Db {
        path: path.to_path_buf(),
        source,
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
        let t = now();
        PluginRecord {
            id: new_id(),
            name: name.into(),
            source: name.into(),
            source_type: SourceType::Pypi,
            installed_version: None,
            updated_version: Some("1.0.0".into()),
            install_status: Status::Pending,
            error_message: None,
            created_at: t.clone(),
            updated_at: t,
        }
    }

    #[test]
    fn creates_the_contract_schema_and_round_trips_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosmo.db");
        let db = Db::open_rw(&path).unwrap();
        let r = record("zigbee-switch");
        db.insert(&r).unwrap();
        assert_eq!(db.all().unwrap(), vec![r.clone()]);
        assert_eq!(db.find("Zigbee_Switch").unwrap(), r);
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
    fn rollback_on_error_keeps_rows_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open_rw(&dir.path().join("cosmo.db")).unwrap();
        let res: Result<()> = db.transaction(|db| {
            db.insert(&record("a"))?;
            Err(Error::input("stop", "x"))
        });
        assert!(res.is_err());
        assert!(db.all().unwrap().is_empty());
    }

    #[test]
    fn unknown_enum_names_are_reported_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_rw(&dir.path().join("cosmo.db")).unwrap();
        let mut r = record("a");
        r.install_status = Status::Pending;
        db.insert(&r).unwrap();
        db.conn
            .execute("UPDATE plugins SET install_status = 'pending'", [])
            .unwrap();
        assert!(matches!(db.all(), Err(Error::Corrupt { .. })));
    }
}
