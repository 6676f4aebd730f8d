//! Plugin records: add, update, remove.

use crate::context::{Context, Session};
use crate::db;
use crate::error::{Error, Result};
use crate::ops::build::wanted_set;
use crate::plugin::{
    DEFAULT_GIT_REV, DistName, PluginRecord, SourceType, Status, check_git_rev, check_git_url,
    check_version, normalize,
};
use crate::resolve;
use crate::server::ServerRepo;
use crate::uv::Uv;

/// Where a new plugin comes from, as the user gave it.
#[derive(Debug, Clone)]
pub enum NewSource {
    Pypi { version: String },
    Git { url: String, rev: Option<String> },
}

/// Validates everything about a new record before anything is written.
fn new_record(name: &str, source: &NewSource) -> Result<PluginRecord> {
    DistName::parse(name)?;
    let (source, source_type, version) = match source {
        NewSource::Pypi { version } => {
            (name.to_string(), SourceType::Pypi, check_version(version)?)
        }
        NewSource::Git { url, rev } => (
            check_git_url(url)?,
            SourceType::Git,
            check_git_rev(rev.as_deref().unwrap_or(DEFAULT_GIT_REV))?,
        ),
    };
    let now = db::now();
    Ok(PluginRecord {
        id: db::new_id(),
        name: name.to_string(),
        source,
        source_type,
        installed_version: None,
        updated_version: Some(version),
        install_status: Status::Pending,
        error_message: None,
        created_at: now.clone(),
        updated_at: now,
    })
}

/// Creates a PENDING record with `updated_version` set, after resolving the wanted set
/// plus the new plugin with uv. On a conflict the record is saved FAILED with uv's
/// explanation and the conflict is returned.
pub fn add(ctx: &Context, name: &str, source: &NewSource) -> Result<PluginRecord> {
    let record = new_record(name, source)?;
    let server = ctx.server()?;
    let session = ctx.begin()?;
    let mut records = session.db.all()?;
    let key = normalize(name);
    if let Some(existing) = records.iter().find(|r| normalize(r.distribution()) == key) {
        return Err(Error::input(
            format!("plugin {name:?} is already recorded (id {})", existing.id),
            format!(
                "change its version with `cosmo-bundle plugin update {name} --version V`, or remove it first"
            ),
        ));
    }
    records.push(record.clone());
    match check_set(ctx, &server, &session, &records) {
        Ok(()) => {
            session.db.insert(&record)?;
            Ok(record)
        }
        Err(Error::Conflict { explanation }) => {
            session.db.insert(&PluginRecord {
                install_status: Status::Failed,
                error_message: Some(explanation.clone()),
                ..record
            })?;
            Err(Error::Conflict { explanation })
        }
        Err(e) => Err(e),
    }
}

/// Sets `updated_version` (a PyPI version or a git ref) and marks the record PENDING,
/// after resolving the wanted set with the change. On a conflict only `error_message`
/// changes, and the conflict is returned.
pub fn update(ctx: &Context, key: &str, version: &str) -> Result<PluginRecord> {
    // Bad input is refused before anything (even the database) is created.
    check_version_for(&show(ctx, key)?, version)?;
    let server = ctx.server()?;
    let session = ctx.begin()?;
    let record = session.db.find(key)?;
    let version = check_version_for(&record, version)?;
    // installed_version is set only while the record is in the current generation.
    let unchanged = record.installed_version.as_deref() == Some(version.as_str());
    let updated = PluginRecord {
        updated_version: (!unchanged).then_some(version),
        install_status: if unchanged {
            Status::Installed
        } else {
            Status::Pending
        },
        error_message: None,
        updated_at: db::now(),
        ..record.clone()
    };
    let records: Vec<PluginRecord> = session
        .db
        .all()?
        .into_iter()
        .map(|r| {
            if r.id == updated.id {
                updated.clone()
            } else {
                r
            }
        })
        .collect();
    match check_set(ctx, &server, &session, &records) {
        Ok(()) => {
            session.db.update(&updated)?;
            Ok(updated)
        }
        Err(Error::Conflict { explanation }) => {
            session.db.update(&PluginRecord {
                error_message: Some(explanation.clone()),
                updated_at: db::now(),
                ..record
            })?;
            Err(Error::Conflict { explanation })
        }
        Err(e) => Err(e),
    }
}

/// A PyPI version or a git ref, as the record's source type wants.
fn check_version_for(record: &PluginRecord, version: &str) -> Result<String> {
    match record.source_type {
        SourceType::Pypi => check_version(version),
        SourceType::Git => check_git_rev(version),
    }
}

/// Resolves the set these records want, unless its bundle is already in the store.
fn check_set(
    ctx: &Context,
    server: &ServerRepo,
    session: &Session,
    records: &[PluginRecord],
) -> Result<()> {
    let spec = ctx.spec(server, wanted_set(records)?)?;
    if session.store.load(&spec.hash_inputs().hash())?.is_some() {
        return Ok(());
    }
    let uv = Uv::find()?;
    resolve::check(&spec, &ctx.data_dir, &uv, ctx.reporter.as_ref())
}

/// Deletes a record. A plugin of the current bundle keeps running until the next build.
pub fn remove(ctx: &Context, key: &str) -> Result<PluginRecord> {
    show(ctx, key)?;
    let session = ctx.begin()?;
    let record = session.db.find(key)?;
    session.db.delete(&record.id)?;
    Ok(record)
}

/// Every record (read-only).
pub fn list(ctx: &Context) -> Result<Vec<PluginRecord>> {
    match ctx.read_db()? {
        Some(db) => db.all(),
        None => Ok(Vec::new()),
    }
}

/// One record by id or name (read-only).
pub fn show(ctx: &Context, key: &str) -> Result<PluginRecord> {
    match ctx.read_db()? {
        Some(db) => db.find(key),
        None => Err(Error::input(
            format!("no plugin record matches {key:?} (there is no database yet)"),
            "add one with `cosmo-bundle plugin add`",
        )),
    }
}
