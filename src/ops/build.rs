//! `build`: hash the wanted plugin set, reuse or build its bundle, record a generation.

use crate::db::Db;
use crate::error::{Error, PluginFailure, Result};
use crate::ops::plugins::is_missing;
use crate::output::BuildOutput;
use crate::plugins::git;
use crate::plugins::{Pins, PluginRecord, Status, record, wanted_set};
use crate::profile::Checked;
use crate::profile::index::check_label;
use crate::state::{Context, Session};
use crate::store::conflict_checks;
use crate::store::server::ServerRepo;

/// Builds (or reuses) the bundle of the wanted set and records a generation (labelled
/// `label`); with `switch`, makes it current, and activates it as `activate` says
/// (`ops::activate::plan`).
pub fn build(
    ctx: &Context,
    switch: bool,
    label: Option<&str>,
    activate: Option<bool>,
) -> Result<BuildOutput> {
    let label = label.map(check_label).transpose()?.flatten();
    let activation = match switch {
        true => crate::ops::activate::plan(ctx, activate)?,
        false => None,
    };
    let server = ctx.server()?;
    let store = ctx.store();
    // Refused before anything is written, not when the checks run.
    crate::store::plugin_checks::import_timeout()?;
    let (mut session, (spec, uv, new_pins)) = ctx.locked(|state| {
        // Git records the server wrote (or whose ref changed) get their commit pinned.
        let mut new_pins = Pins::new();
        for r in state.records.iter().filter(|r| r.needs_pin(&state.pins)) {
            let url = crate::plugins::requirement::check_git_url(&r.source)?;
            new_pins.insert(r.id.clone(), git::pin(&url, r.wanted_version())?);
        }
        let mut pins = state.pins.clone();
        pins.extend(new_pins.clone());
        let spec = ctx.spec(&server, wanted_set(&state.records, &pins)?)?;
        // A missing uv is refused before anything is written; a cache hit needs none.
        let uv = match store.load(spec.hash()) {
            Ok(Some(_)) => None,
            _ => Some(ctx.uv()?),
        };
        Ok((spec, uv, new_pins))
    })?;
    if !new_pins.is_empty() {
        session
            .db
            .write(|t| new_pins.iter().try_for_each(|(id, pin)| t.set_pin(id, pin)))?;
    }
    let hash = spec.hash().to_string();
    let path = store.path(&hash);

    // Nothing to do when the current generation is sound and has this set (a damaged or
    // dangling `current` is repaired by the new generation).
    if let Some(current) = session.state.current
        && let Checked::Sound(g, manifest) = session.profile.check(current, &session.store)?
        && g.hash == hash
    {
        // The same bundle: records that now name it otherwise (a git ref at the same
        // commit) follow it.
        crate::db::follow::follow(&mut session.db, &manifest.plugins, current)?;
        if label.is_some() {
            ctx.reporter.warn(&format!(
                "--label was not recorded: no new generation was made; label the current one with `cosmo-bundle label {current} TEXT`"
            ));
        }
        return Ok(BuildOutput {
            hash,
            generation: None,
            reused: true,
            switched: false,
            rows_pending: false,
            path,
            plugins: manifest.plugins,
            label: None,
            activation: None,
        });
    }

    let (manifest, reused) = match session.store.load(&hash) {
        Ok(Some(m)) => (m, true),
        unregistered => {
            refuse_damaged(&session, &hash, unregistered.err())?;
            let uv = match uv {
                Some(uv) => uv,
                None => ctx.uv()?,
            };
            ctx.reporter.step(&format!("building bundle {hash}"));
            let checked = conflict_checks::checked_lock(&ctx.dirs, &hash);
            match session
                .store
                .build(&spec, checked.as_deref(), &uv, ctx.reporter.as_ref())
            {
                Ok(manifest) => (manifest, false),
                Err(Error::PluginCheck { failures }) => {
                    mark_failed(&mut session.db, &failures)?;
                    return Err(Error::PluginCheck { failures });
                }
                Err(Error::Conflict { explanation, .. }) => {
                    return Err(blame(ctx, &server, &mut session, explanation)?);
                }
                Err(e) => return Err(e),
            }
        }
    };
    let generation = session.profile.add(&hash, label)?;
    crate::fault::point("after-generation-link");
    let (followed, activation) = match switch {
        true => crate::ops::activate::make_current(
            ctx,
            &mut session,
            activation.as_ref(),
            "build",
            generation.number,
            &manifest,
        )?,
        false => (true, None),
    };
    Ok(BuildOutput {
        hash,
        generation: Some(generation.number),
        reused,
        switched: switch,
        rows_pending: !followed,
        path,
        plugins: manifest.plugins,
        label: generation.label,
        activation,
    })
}

/// Refuses to build `hash` in place when its directory exists unregistered (or unreadable)
/// and generations point to it: a server may be running from it, so it is never deleted.
fn refuse_damaged(session: &Session, hash: &str, unreadable: Option<Error>) -> Result<()> {
    let dir = session.store.path(hash);
    let users = session.profile.view()?.referencing(hash);
    if users.is_empty() || fs_err::symlink_metadata(&dir).is_err() {
        return Ok(());
    }
    let why = match unreadable {
        Some(e) => format!("its bundle.json is unreadable: {e}"),
        None => "it has no bundle.json".to_string(),
    };
    let list: Vec<String> = users.iter().map(u32::to_string).collect();
    Err(Error::damaged(
        format!(
            "the bundle {} of this plugin set is damaged ({why}), and generation(s) {} point to it; it is not rebuilt in place, since a server may be running from it",
            dir.display(),
            list.join(", ")
        ),
        format!(
            "delete those generations with `cosmo-bundle delete {}` (switch away first if one is current), then build again",
            list.join(" ")
        ),
    ))
}

/// A build that uv found no solution for: records the conflict on the records that caused
/// it, as `plugin add` would have (they may have been written by the server, which does
/// not check), and returns the error to report. The culprits are the PENDING records: a
/// plugin that does not exist; else the one record waiting; else each one that conflicts
/// with the other records on its own; else all of them.
fn blame(
    ctx: &Context,
    server: &ServerRepo,
    session: &mut Session,
    explanation: String,
) -> Result<Error> {
    let waiting: Vec<&PluginRecord> = session
        .state
        .records
        .iter()
        .filter(|r| r.install_status == Status::Pending)
        .collect();
    let missing: Vec<&PluginRecord> = waiting
        .iter()
        .copied()
        .filter(|r| is_missing(&explanation, r))
        .collect();
    let culprits: Vec<PluginRecord> = if !missing.is_empty() {
        missing.into_iter().cloned().collect()
    } else if waiting.len() <= 1 {
        waiting.into_iter().cloned().collect()
    } else {
        let alone: Vec<PluginRecord> = waiting
            .iter()
            .filter(|c| conflicts_alone(ctx, server, &session.state, c))
            .map(|c| (*c).clone())
            .collect();
        if alone.is_empty() {
            waiting.into_iter().cloned().collect()
        } else {
            alone
        }
    };
    let failures: Vec<PluginFailure> = culprits
        .iter()
        .map(|r| PluginFailure {
            name: r.key(),
            reason: explanation.clone(),
        })
        .collect();
    mark_failed(&mut session.db, &failures)?;
    Ok(match culprits.as_slice() {
        [one] if is_missing(&explanation, one) => crate::ops::plugins::missing(one, explanation),
        _ => Error::Conflict {
            explanation,
            record: None,
        },
    })
}

/// Whether `candidate` conflicts with the records that are not waiting (uv lock of that
/// set alone).
fn conflicts_alone(
    ctx: &Context,
    server: &ServerRepo,
    state: &crate::state::State,
    candidate: &PluginRecord,
) -> bool {
    let records: Vec<PluginRecord> = state
        .records
        .iter()
        .filter(|r| r.id == candidate.id || r.install_status != Status::Pending)
        .cloned()
        .collect();
    let check = || -> Result<()> {
        let spec = ctx.spec(server, wanted_set(&records, &state.pins)?)?;
        conflict_checks::check(&spec, &ctx.dirs, &ctx.uv()?, ctx.reporter.as_ref())
    };
    matches!(check(), Err(Error::Conflict { .. }))
}

/// Marks the records of plugins that failed (their checks, or resolution) FAILED, with
/// the reason.
fn mark_failed(db: &mut Db, failures: &[PluginFailure]) -> Result<()> {
    db.write(|t| {
        let now = record::now();
        for r in t.all()? {
            if let Some(f) = failures.iter().find(|f| f.name == r.key()) {
                t.update(&PluginRecord {
                    install_status: Status::Failed,
                    error_message: Some(f.reason.clone()),
                    updated_at: now.clone(),
                    ..r
                })?;
            }
        }
        Ok(())
    })
}
