//! The `plugins` table in `cosmo.db`, shared with the server's SQLAlchemy model, and
//! `cosmo_bundle_state`, cosmo-bundle's own.
//!
//! Rows follow the database contract (store-layout.md): enum names in upper case, ids as 32
//! lower-case hex digits, naive UTC timestamps with microseconds. Every other table belongs
//! to the server and is never touched; the journal mode is never changed.

use crate::error::{Error, Result};
use crate::plugins::{Pin, Pins, PluginRecord, SourceType, Status, normalize};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
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

    /// Every sound plugin record, oldest first (damaged rows are left out).
    pub fn all(&self) -> Result<Vec<PluginRecord>> {
        Ok(self.rows()?.records)
    }

    /// Every row, oldest first: the sound records, and the damaged rows kept as stored.
    pub fn rows(&self) -> Result<Rows> {
        let mut rows = Rows::default();
        if !self.has_table("plugins")? {
            return Ok(rows);
        }
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT rowid, {COLUMNS} FROM plugins ORDER BY created_at, id"
            ))
            .map_err(|e| self.err(e))?;
        let raw = stmt
            .query_map([], |r| {
                let mut values = Vec::with_capacity(COLUMN_NAMES.len());
                for i in 0..COLUMN_NAMES.len() {
                    values.push(r.get::<_, Value>(i + 1)?);
                }
                Ok((r.get::<_, i64>(0)?, values))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        for (rowid, values) in raw {
            match classify(rowid, values) {
                Row::Sound(r) => rows.records.push(r),
                Row::Damaged(d) => rows.damaged.push(d),
            }
        }
        Ok(rows)
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

    /// Deletes a damaged row: by its rowid, and only while its id is still the one read.
    pub fn delete_damaged(&self, row: &DamagedRecord) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM plugins WHERE rowid = ?1 AND id IS ?2",
                params![row.rowid, row.id],
            )
            .map_err(|e| self.err(e))?;
        if let Some(id) = &row.id
            && self.has_table("cosmo_bundle_git_pins")?
        {
            self.delete_pin(id)?;
        }
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

/// A row found by [`find`].
#[derive(Debug, Clone, Copy)]
pub enum Found<'r> {
    Sound(&'r PluginRecord),
    Damaged(&'r DamagedRecord),
}

impl<'r> Found<'r> {
    /// The sound record; a damaged row is refused with what is wrong and how to remove it.
    pub fn sound(self) -> Result<&'r PluginRecord> {
        match self {
            Found::Sound(r) => Ok(r),
            Found::Damaged(d) => Err(Error::damaged(
                format!(
                    "plugin record {} is damaged: {}",
                    d.id.as_deref().unwrap_or("(no id)"),
                    d.problems.join("; ")
                ),
                "remove it with `cosmo-bundle plugin remove ID` and add the plugin again",
            )),
        }
    }

    /// The row, owned.
    pub fn cloned(self) -> Row {
        match self {
            Found::Sound(r) => Row::Sound(r.clone()),
            Found::Damaged(d) => Row::Damaged(d.clone()),
        }
    }
}

/// An id in the form it is compared in: hex digits without dashes, lower case.
fn id_key(id: &str) -> String {
    id.replace('-', "").to_ascii_lowercase()
}

/// Finds a row, sound or damaged, by id (32 hex digits or a dashed UUID, any case) or by
/// name or distribution.
pub fn find<'r>(
    records: &'r [PluginRecord],
    damaged: &'r [DamagedRecord],
    key: &str,
) -> Result<Found<'r>> {
    let id = id_key(key);
    let by_id: Vec<Found> = records
        .iter()
        .filter(|r| id_key(&r.id) == id)
        .map(Found::Sound)
        .chain(
            damaged
                .iter()
                .filter(|d| d.id.as_deref().map(id_key) == Some(id.clone()))
                .map(Found::Damaged),
        )
        .collect();
    let norm = normalize(key);
    let hits = if by_id.is_empty() {
        records
            .iter()
            .filter(|r| r.name == key || r.key() == norm)
            .map(Found::Sound)
            .chain(
                damaged
                    .iter()
                    .filter(|d| {
                        d.name
                            .as_deref()
                            .is_some_and(|n| n == key || normalize(n) == norm)
                    })
                    .map(Found::Damaged),
            )
            .collect()
    } else {
        by_id
    };
    match hits.as_slice() {
        [one] => Ok(*one),
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

/// The columns of [`COLUMNS`], in order.
const COLUMN_NAMES: [&str; 10] = [
    "id",
    "name",
    "source",
    "source_type",
    "installed_version",
    "updated_version",
    "install_status",
    "error_message",
    "created_at",
    "updated_at",
];

/// Columns the server's model declares NOT NULL.
const REQUIRED: [&str; 7] = [
    "id",
    "name",
    "source",
    "source_type",
    "install_status",
    "created_at",
    "updated_at",
];

/// The rows of the `plugins` table, sound and damaged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub records: Vec<PluginRecord>,
    pub damaged: Vec<DamagedRecord>,
}

/// One row of the `plugins` table: a sound record, or a damaged row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Row {
    Sound(PluginRecord),
    Damaged(DamagedRecord),
}

/// A row the contract cannot read (written by another program): its columns as stored,
/// and what is wrong with them. It is listed, never built, and can be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DamagedRecord {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(serialize_with = "crate::text::serialize_redacted_opt")]
    pub source: Option<String>,
    pub source_type: Option<String>,
    pub installed_version: Option<String>,
    pub updated_version: Option<String>,
    pub install_status: Option<String>,
    pub error_message: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// Always true: marks the row as damaged in the JSON output.
    pub damaged: bool,
    /// What is wrong, one sentence per problem.
    pub problems: Vec<String>,
    #[serde(skip)]
    rowid: i64,
}

/// Reads one row's values (in [`COLUMN_NAMES`] order) as a sound record, or as a damaged
/// row with every problem found.
fn classify(rowid: i64, values: Vec<Value>) -> Row {
    let mut problems = Vec::new();
    let mut text: Vec<Option<String>> = values
        .into_iter()
        .zip(COLUMN_NAMES)
        .map(|(v, col)| match v {
            Value::Null => None,
            Value::Text(t) => Some(t),
            Value::Integer(i) => {
                problems.push(format!("{col} holds the number {i}, not text"));
                Some(i.to_string())
            }
            Value::Real(f) => {
                problems.push(format!("{col} holds the number {f}, not text"));
                Some(f.to_string())
            }
            Value::Blob(b) => {
                problems.push(format!("{col} holds binary data, not text"));
                Some(String::from_utf8_lossy(&b).into_owned())
            }
        })
        .collect();
    let get = |col: &str| text[COLUMN_NAMES.iter().position(|c| *c == col).unwrap_or(0)].clone();
    for col in REQUIRED {
        if get(col).is_none() {
            problems.push(format!("{col} is NULL"));
        }
    }
    if let Some(id) = get("id")
        && uuid::Uuid::try_parse(&id).is_err()
    {
        problems.push(format!("id {id:?} is not a UUID"));
    }
    let source_type = get("source_type").and_then(|v| {
        let parsed = SourceType::from_db(&v);
        if parsed.is_none() {
            problems.push(format!(
                "source_type {v:?} is not one of {}",
                names(SourceType::ALL)
            ));
        }
        parsed
    });
    let install_status = get("install_status").and_then(|v| {
        let parsed = Status::from_db(&v);
        if parsed.is_none() {
            problems.push(format!(
                "install_status {v:?} is not one of {}",
                names(Status::ALL)
            ));
        }
        parsed
    });
    let mut take = |col: &str| {
        let i = COLUMN_NAMES.iter().position(|c| *c == col).unwrap_or(0);
        text[i].take()
    };
    if let (true, Some(source_type), Some(install_status)) =
        (problems.is_empty(), source_type, install_status)
    {
        return Row::Sound(PluginRecord {
            id: take("id").unwrap_or_default(),
            name: take("name").unwrap_or_default(),
            source: take("source").unwrap_or_default(),
            source_type,
            installed_version: take("installed_version"),
            updated_version: take("updated_version"),
            install_status,
            error_message: take("error_message"),
            created_at: take("created_at").unwrap_or_default(),
            updated_at: take("updated_at").unwrap_or_default(),
        });
    }
    Row::Damaged(DamagedRecord {
        id: take("id"),
        name: take("name"),
        source: take("source"),
        source_type: take("source_type"),
        installed_version: take("installed_version"),
        updated_version: take("updated_version"),
        install_status: take("install_status"),
        error_message: take("error_message"),
        created_at: take("created_at"),
        updated_at: take("updated_at"),
        damaged: true,
        problems,
        rowid,
    })
}

/// `A, B or C`: the stored names of an enum.
fn names<T>(all: &[(T, &str)]) -> String {
    let names: Vec<&str> = all.iter().map(|(_, n)| *n).collect();
    names.join(", ")
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
        let sound = |key: &str| find(&all, &[], key).and_then(Found::sound).cloned();
        assert_eq!(sound("Zigbee_Switch").unwrap(), r);
        assert_eq!(sound(&r.id.to_ascii_uppercase()).unwrap(), r);
        let dashed = uuid::Uuid::parse_str(&r.id)
            .unwrap()
            .hyphenated()
            .to_string();
        assert_eq!(sound(&dashed).unwrap(), r);
        assert!(matches!(sound("x"), Err(Error::NotFound { .. })));
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
    fn foreign_rows_are_read_as_damaged_with_every_problem_and_can_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosmo.db");
        // A server whose table has no NOT NULL constraints can write anything.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE plugins (name VARCHAR(255), source TEXT, source_type VARCHAR(4),
             installed_version VARCHAR(50), updated_version VARCHAR(50),
             install_status VARCHAR(11), error_message TEXT, id CHAR(32),
             created_at DATETIME, updated_at DATETIME, PRIMARY KEY (id));
             INSERT INTO plugins VALUES ('a', 'a', 'PYPI', NULL, '1.0', 'pending', NULL,
               'AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000');
             INSERT INTO plugins VALUES (NULL, 'b', 'SVN', NULL, '1.0', 'PENDING', NULL,
               'bbbbbbbbbbbb4bbb8bbbbbbbbbbbbbbb', 1767225600, '2026-01-01 00:00:00.000000');
             INSERT INTO plugins VALUES ('c', 'c', 'PYPI', NULL, '1.0', 'PENDING', NULL,
               'CCCCCCCC-CCCC-4CCC-8CCC-CCCCCCCCCCCC', '2026-01-02 00:00:00.000000', '2026-01-02 00:00:00.000000');",
        )
        .unwrap();
        drop(conn);
        let mut db = Db::open_rw(&path).unwrap();
        let rows = db.read().rows().unwrap();
        assert_eq!(
            rows.records.len(),
            1,
            "the sound row (a dashed upper-case id) reads"
        );
        assert_eq!(db.read().all().unwrap(), rows.records);
        assert_eq!(rows.damaged.len(), 2, "{rows:?}");
        let a = rows.damaged.iter().find(|d| d.name.is_some()).unwrap();
        let b = rows.damaged.iter().find(|d| d.name.is_none()).unwrap();
        assert_eq!(a.install_status.as_deref(), Some("pending"));
        assert_eq!(
            a.problems,
            ["install_status \"pending\" is not one of UNINSTALLED, PENDING, INSTALLED, FAILED"]
        );
        assert_eq!(b.name, None);
        assert_eq!(b.problems.len(), 3, "{:?}", b.problems);
        assert!(b.problems.iter().any(|p| p == "name is NULL"));
        assert!(
            b.problems
                .iter()
                .any(|p| p.contains("created_at holds the number"))
        );
        assert!(b.problems.iter().any(|p| p.contains("\"SVN\"")));
        // Found by id in any form, refused where a sound record is needed, deletable.
        let found = find(
            &rows.records,
            &rows.damaged,
            "aaaaaaaaaaaa4aaa8aaaaaaaaaaaaaaa",
        )
        .unwrap();
        assert!(matches!(found, Found::Damaged(d) if d == a));
        assert!(matches!(found.sound(), Err(Error::Damaged { .. })));
        assert!(matches!(
            find(&rows.records, &rows.damaged, "c").unwrap(),
            Found::Sound(_)
        ));
        db.write(|t| t.delete_damaged(a)).unwrap();
        db.write(|t| t.delete_damaged(b)).unwrap();
        let rows = db.read().rows().unwrap();
        assert!(rows.damaged.is_empty());
        assert_eq!(rows.records.len(), 1);
        let json = serde_json::to_value(Row::Damaged(a.clone())).unwrap();
        assert_eq!(json["damaged"], true);
        assert_eq!(json["install_status"], "pending");
        assert!(json.get("rowid").is_none());
    }
}
