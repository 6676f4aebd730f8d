//! Plugin records: add, list, show, update, remove.

use crate::db::table::{Found, Row, find};
use crate::error::{Error, Result};
use crate::plugins::git::{self, Pin};
use crate::plugins::requirement::{check_git_rev, check_git_url, check_version};
use crate::plugins::{DistName, Pins, PluginRecord, SourceType, Status, record, wanted_set};
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

/// A record about to be written, with the pin of its git ref.
struct Planned<'a> {
    record: PluginRecord,
    pin: Option<Pin>,
    /// The conflict check the new record set needs (none when its bundle exists).
    check: Option<(BundleSpec<'a>, Uv)>,
}

/// Creates a PENDING record with `updated_version` set, after resolving the wanted set
/// plus the new plugin with uv. A git plugin's ref (its default branch when none is given)
/// is pinned to its commit first. On a conflict the record is saved FAILED with uv's
/// explanation and the conflict is returned; a plugin that does not exist is refused and
/// nothing is written. Adding a plugin whose record is FAILED replaces that record.
pub fn add(ctx: &Context, name: &str, source: &NewSource) -> Result<PluginRecord> {
    DistName::parse(name)?;
    let server = ctx.server()?;
    // Validate what was typed before looking anything up.
    let source = match source {
        NewSource::Pypi { version } => NewSource::Pypi {
            version: check_version(version)?,
        },
        NewSource::Git { url, rev } => NewSource::Git {
            url: check_git_url(url)?,
            rev: rev.as_deref().map(check_git_rev).transpose()?,
        },
    };
    let (mut session, planned) = ctx.locked(|state| {
        let key = crate::plugins::normalize(name);
        let failed = match state.records.iter().find(|r| r.key() == key) {
            Some(r) if r.install_status == Status::Failed => Some(r),
            Some(existing) => {
                return Err(Error::already_exists(
                    format!("plugin {name:?} is already recorded (id {})", existing.id),
                    format!(
                        "change its version with `cosmo-bundle plugin update {name} --version V`, or remove it first"
                    ),
                ));
            }
            None => None,
        };
        let (source_type, source_text, version, pin) = match &source {
            NewSource::Pypi { version } => (SourceType::Pypi, name.to_string(), version.clone(), None),
            NewSource::Git { url, rev } => {
                let pin = git::pin(url, rev.as_deref())?;
                (SourceType::Git, url.clone(), pin.rev.clone(), Some(pin))
            }
        };
        let mut record = PluginRecord::new(name, source_type, &source_text, Status::Pending, Some(version));
        // A FAILED record of this plugin is replaced: same id and creation time.
        if let Some(old) = failed {
            record.id = old.id.clone();
            record.created_at = old.created_at.clone();
        }
        let mut records: Vec<PluginRecord> =
            state.records.iter().filter(|r| r.id != record.id).cloned().collect();
        records.push(record.clone());
        let mut pins = state.pins.clone();
        if let Some(pin) = &pin {
            pins.insert(record.id.clone(), pin.clone());
        }
        let check = plan_check(ctx, &server, &records, &pins)?;
        Ok(Planned { record, pin, check })
    })?;
    let Planned { record, pin, check } = planned;
    let replaces = session.state.records.iter().any(|r| r.id == record.id);
    let save = |t: &crate::db::table::Table, record: &PluginRecord| {
        if replaces {
            t.update(record)?;
        } else {
            t.insert(record)?;
        }
        match &pin {
            Some(pin) => t.set_pin(&record.id, pin),
            None => t.delete_pin(&record.id),
        }
    };
    match run_check(ctx, check) {
        Ok(()) => {
            session.db.write(|t| save(t, &record))?;
            Ok(record)
        }
        Err(Error::Conflict { explanation, .. }) if is_missing(&explanation, &record) => {
            Err(missing(&record, explanation))
        }
        Err(Error::Conflict { explanation, .. }) => {
            let failed = PluginRecord {
                install_status: Status::Failed,
                error_message: Some(explanation.clone()),
                ..record
            };
            session.db.write(|t| save(t, &failed))?;
            Err(conflict(explanation, &failed))
        }
        Err(e) => Err(e),
    }
}

/// Sets `updated_version` (a PyPI version or a git ref) and marks the record PENDING,
/// after resolving the wanted set with the change. A git record's ref is pinned anew:
/// with no version given, its newest commit (a branch that moved). On a conflict only
/// `error_message` changes, and the conflict is returned.
pub fn update(ctx: &Context, key: &str, version: Option<&str>) -> Result<PluginRecord> {
    let server = ctx.server()?;
    let (mut session, (record, updated, planned)) = ctx.locked(|state| {
        let record = find(&state.records, &state.damaged, key)?.sound()?.clone();
        let (version, pin) = match record.source_type {
            SourceType::Pypi => {
                let version = version.ok_or_else(|| {
                    Error::input(
                        format!(
                            "plugin {:?} comes from PyPI: give the version to build",
                            record.name
                        ),
                        format!("cosmo-bundle plugin update {} --version V", record.name),
                    )
                })?;
                (check_version(version)?, None)
            }
            SourceType::Git => {
                let rev = match version {
                    Some(v) => check_git_rev(v)?,
                    None => record.wanted_version().map(str::to_string).ok_or_else(|| {
                        Error::input(
                            format!("plugin {:?} has no git ref yet", record.name),
                            format!("cosmo-bundle plugin update {} --rev REF", record.name),
                        )
                    })?,
                };
                let pin = git::pin(&check_git_url(&record.source)?, Some(&rev))?;
                (pin.rev.clone(), Some(pin))
            }
        };
        // installed_version is set only while the record is in the current generation;
        // a git record is unchanged only when its pinned commit is unchanged too.
        let same_commit = match &pin {
            Some(pin) => record
                .pin(&state.pins)
                .is_some_and(|p| p.commit == pin.commit),
            None => true,
        };
        let unchanged =
            record.installed_version.as_deref() == Some(version.as_str()) && same_commit;
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
        let mut pins = state.pins.clone();
        if let Some(pin) = &pin {
            pins.insert(record.id.clone(), pin.clone());
        }
        let check = plan_check(ctx, &server, &records, &pins)?;
        let planned = Planned {
            record: updated.clone(),
            pin,
            check,
        };
        Ok((record, updated, planned))
    })?;
    let Planned { pin, check, .. } = planned;
    match run_check(ctx, check) {
        Ok(()) => {
            session.db.write(|t| {
                t.update(&updated)?;
                match &pin {
                    Some(pin) => t.set_pin(&updated.id, pin),
                    None => Ok(()),
                }
            })?;
            Ok(updated)
        }
        Err(Error::Conflict { explanation, .. }) if is_missing(&explanation, &updated) => {
            Err(missing(&updated, explanation))
        }
        Err(Error::Conflict { explanation, .. }) => {
            let kept = PluginRecord {
                error_message: Some(explanation.clone()),
                updated_at: record::now(),
                ..record
            };
            session.db.write(|t| t.update(&kept))?;
            Err(conflict(explanation, &kept))
        }
        Err(e) => Err(e),
    }
}

/// Whether uv's explanation says that the plugin itself (or that version of it) does not
/// exist, rather than that it conflicts with something.
pub fn is_missing(explanation: &str, record: &PluginRecord) -> bool {
    let key = record.key();
    explanation.contains(&format!("Because {key} was not found in"))
        || explanation.contains(&format!("Because there is no version of {key}=="))
}

/// A conflict, carrying the record it was recorded on.
fn conflict(explanation: String, record: &PluginRecord) -> Error {
    Error::Conflict {
        explanation,
        record: serde_json::to_value(record).ok().map(Box::new),
    }
}

/// The error for a plugin (or version) that does not exist.
pub fn missing(record: &PluginRecord, explanation: String) -> Error {
    Error::PackageNotFound {
        name: record.name.clone(),
        version: record.wanted_version().unwrap_or_default().to_string(),
        explanation,
    }
}

/// The conflict check a changed record set needs: none when its bundle is already in the
/// store; otherwise its spec, with uv found (so that a missing uv writes nothing).
fn plan_check<'a>(
    ctx: &Context,
    server: &'a ServerRepo,
    records: &[PluginRecord],
    pins: &Pins,
) -> Result<Option<(BundleSpec<'a>, Uv)>> {
    let spec = ctx.spec(server, wanted_set(records, pins)?)?;
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

/// Deletes a record (and its pin), sound or damaged. A plugin of the current bundle keeps
/// running until the next build.
pub fn remove(ctx: &Context, key: &str) -> Result<Row> {
    let (mut session, row) =
        ctx.locked(|state| find(&state.records, &state.damaged, key).map(Found::cloned))?;
    match &row {
        Row::Sound(record) => session.db.write(|t| t.delete(&record.id))?,
        Row::Damaged(damaged) => session.db.write(|t| t.delete_damaged(damaged))?,
    }
    Ok(row)
}

/// Every row: the sound records, then the damaged ones (read-only).
pub fn list(ctx: &Context) -> Result<Vec<Row>> {
    let state = ctx.read_to_show()?;
    Ok(state
        .records
        .into_iter()
        .map(Row::Sound)
        .chain(state.damaged.into_iter().map(Row::Damaged))
        .collect())
}

/// One row by id or name (read-only).
pub fn show(ctx: &Context, key: &str) -> Result<Row> {
    let state = ctx.read_to_show()?;
    Ok(find(&state.records, &state.damaged, key)?.cloned())
}
