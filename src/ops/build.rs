//! `build`: hash the wanted plugin set, reuse or build its bundle, record a generation.

use crate::db::Db;
use crate::error::{Error, PluginFailure, Result};
use crate::output::BuildOutput;
use crate::plugins::{PluginRecord, Status, record, wanted_set};
use crate::state::Context;
use crate::store::conflict_checks;

/// Builds (or reuses) the bundle of the wanted set and records a generation; with
/// `switch`, makes it current.
pub fn build(ctx: &Context, switch: bool) -> Result<BuildOutput> {
    let server = ctx.server()?;
    let store = ctx.store();
    let (mut session, (spec, uv)) = ctx.locked(|state| {
        let spec = ctx.spec(&server, wanted_set(&state.records)?)?;
        // A missing uv is refused before anything is written; a cache hit needs none.
        let uv = match store.load(spec.hash())? {
            Some(_) => None,
            None => Some(ctx.uv()?),
        };
        Ok((spec, uv))
    })?;
    let hash = spec.hash().to_string();
    let path = store.path(&hash);

    if let Some(current) = session.state.current
        && session
            .profile
            .get(current)?
            .is_some_and(|g| g.hash == hash)
        && let Some(manifest) = session.store.load(&hash)?
    {
        return Ok(BuildOutput {
            hash,
            generation: None,
            reused: true,
            switched: false,
            path,
            plugins: manifest.plugins,
        });
    }

    let (manifest, reused) = match session.store.load(&hash)? {
        Some(m) => (m, true),
        None => {
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
                Err(e) => return Err(e),
            }
        }
    };
    let generation = session.profile.add(&hash)?;
    crate::fault::point("after-generation-link");
    if switch {
        session.activate_bundle(generation.number, &manifest)?;
    }
    Ok(BuildOutput {
        hash,
        generation: Some(generation.number),
        reused,
        switched: switch,
        path,
        plugins: manifest.plugins,
    })
}

/// Marks the records of plugins that failed their checks FAILED, with the reason.
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
