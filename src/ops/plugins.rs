//! Plugin records: add, list, show, update, remove.

use crate::db::table::find;
use crate::error::{Error, Result};
use crate::plugins::requirement::{DEFAULT_GIT_REV, check_git_rev, check_git_url, check_version};
use crate::plugins::{DistName, PluginRecord, SourceType, Status, record, wanted_set};
use crate::state::Context;
use crate::store::build::BundleSpec;
use crate::store::conflict_checks;
use crate::store::server::ServerRepo;
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
    let (source_type, source, version) = match source {
        NewSource::Pypi { version } => {
            (SourceType::Pypi, name.to_string(), check_version(version)?)
        }
        NewSource::Git { url, rev } => (
            SourceType::Git,
            check_git_url(url)?,
            check_git_rev(rev.as_deref().unwrap_or(DEFAULT_GIT_REV))?,
        ),
    };
    Ok(PluginRecord::new(
        name,
        source_type,
        &source,
        Status::Pending,
        Some(version),
    ))
}

/// Creates a PENDING record with `updated_version` set, after resolving the wanted set
/// plus the new plugin with uv. On a conflict the record is saved FAILED with uv's
/// explanation and the conflict is returned.
pub fn add(ctx: &Context, name: &str, source: &NewSource) -> Result<PluginRecord> {
    let record = new_record(name, source)?;
    let server = ctx.server()?;
    let (mut session, check) = ctx.locked(|state| {
        if let Some(existing) = state.records.iter().find(|r| r.key() == record.key()) {
            return Err(Error::already_exists(
                format!("plugin {name:?} is already recorded (id {})", existing.id),
                format!(
                    "change its version with `cosmo-bundle plugin update {name} --version V`, or remove it first"
                ),
            ));
        }
        let mut records = state.records.clone();
        records.push(record.clone());
        plan_check(ctx, &server, &records)
    })?;
    match run_check(ctx, check) {
        Ok(()) => {
            session.db.write(|t| t.insert(&record))?;
            Ok(record)
        }
        Err(Error::Conflict { explanation }) => {
            let failed = PluginRecord {
                install_status: Status::Failed,
                error_message: Some(explanation.clone()),
                ..record
            };
            session.db.write(|t| t.insert(&failed))?;
            Err(Error::Conflict { explanation })
        }
        Err(e) => Err(e),
    }
}

/// Sets `updated_version` (a PyPI version or a git ref) and marks the record PENDING,
/// after resolving the wanted set with the change. On a conflict only `error_message`
/// changes, and the conflict is returned.
pub fn update(ctx: &Context, key: &str, version: &str) -> Result<PluginRecord> {
    let server = ctx.server()?;
    let (mut session, (record, updated, check)) = ctx.locked(|state| {
        let record = find(&state.records, key)?.clone();
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
            updated_at: record::now(),
            ..record.clone()
        };
        let records: Vec<PluginRecord> = state
            .records
            .iter()
            .map(|r| {
                if r.id == updated.id {
                    updated.clone()
                } else {
                    r.clone()
                }
            })
            .collect();
        let check = plan_check(ctx, &server, &records)?;
        Ok((record, updated, check))
    })?;
    match run_check(ctx, check) {
        Ok(()) => {
            session.db.write(|t| t.update(&updated))?;
            Ok(updated)
        }
        Err(Error::Conflict { explanation }) => {
            let kept = PluginRecord {
                error_message: Some(explanation.clone()),
                updated_at: record::now(),
                ..record
            };
            session.db.write(|t| t.update(&kept))?;
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

/// The conflict check a changed record set needs: none when its bundle is already in the
/// store; otherwise its spec, with uv found (so that a missing uv writes nothing).
fn plan_check<'a>(
    ctx: &Context,
    server: &'a ServerRepo,
    records: &[PluginRecord],
) -> Result<Option<(BundleSpec<'a>, Uv)>> {
    let spec = ctx.spec(server, wanted_set(records)?)?;
    if ctx.store().load(spec.hash())?.is_some() {
        return Ok(None);
    }
    Ok(Some((spec, ctx.uv()?)))
}

/// Resolves the planned set with uv (a conflict is `Error::Conflict`).
fn run_check(ctx: &Context, check: Option<(BundleSpec, Uv)>) -> Result<()> {
    match check {
        None => Ok(()),
        Some((spec, uv)) => conflict_checks::check(&spec, &ctx.dirs, &uv, ctx.reporter.as_ref()),
    }
}

/// Deletes a record. A plugin of the current bundle keeps running until the next build.
pub fn remove(ctx: &Context, key: &str) -> Result<PluginRecord> {
    let (mut session, record) = ctx.locked(|state| Ok(find(&state.records, key)?.clone()))?;
    session.db.write(|t| t.delete(&record.id))?;
    Ok(record)
}

/// Every record (read-only).
pub fn list(ctx: &Context) -> Result<Vec<PluginRecord>> {
    Ok(ctx.read()?.records)
}

/// One record by id or name (read-only).
pub fn show(ctx: &Context, key: &str) -> Result<PluginRecord> {
    Ok(find(&ctx.read()?.records, key)?.clone())
}
