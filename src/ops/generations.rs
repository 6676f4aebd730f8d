//! Generations: list, switch, rollback.

use crate::error::{Error, Result};
use crate::output::{ActivationOutput, GenerationList, GenerationOutput};
use crate::profile::Profile;
use crate::state::{Context, Session, unknown};

/// Every generation with its plugins (read-only).
pub fn list(ctx: &Context) -> Result<GenerationList> {
    let profile = ctx.profile();
    let store = ctx.store();
    let current = profile.current()?;
    let gens = profile
        .generations()?
        .into_iter()
        .map(|g| {
            let manifest = store.load(&g.hash).ok().flatten();
            GenerationOutput {
                number: g.number,
                current: current == Some(g.number),
                created_at: g
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                path: store.path(&g.hash),
                valid: manifest.is_some(),
                plugins: manifest.map(|m| m.plugins).unwrap_or_default(),
                hash: g.hash,
            }
        })
        .collect();
    Ok(GenerationList(gens))
}

/// Makes generation `number` current.
pub fn switch(ctx: &Context, number: u32) -> Result<ActivationOutput> {
    let profile = ctx.profile();
    let (session, ()) = ctx.locked(|_| match profile.get(number)? {
        Some(_) => Ok(()),
        None => Err(unknown(number)),
    })?;
    activate(ctx, session, number)
}

/// Makes the highest-numbered generation below the current one current.
pub fn rollback(ctx: &Context) -> Result<ActivationOutput> {
    let profile = ctx.profile();
    let (session, target) = ctx.locked(|state| previous(&profile, state.current))?;
    activate(ctx, session, target)
}

fn activate(ctx: &Context, mut session: Session, number: u32) -> Result<ActivationOutput> {
    let previous = session.state.current;
    let generation = session
        .profile
        .get(number)?
        .ok_or_else(|| unknown(number))?;
    let manifest = session
        .store
        .load(&generation.hash)?
        .ok_or_else(|| Error::Corrupt {
            path: session.store.path(&generation.hash),
            reason: format!("generation {number}'s bundle is not a registered bundle"),
        })?;
    let followed = session.activate_bundle(number, &manifest, ctx)?;
    Ok(ActivationOutput {
        current: number,
        previous,
        rows_pending: !followed,
        path: session.store.path(&generation.hash),
        hash: generation.hash,
        plugins: manifest.plugins,
    })
}

fn previous(profile: &Profile, current: Option<u32>) -> Result<u32> {
    let hint = "list generations with `cosmo-bundle generations`";
    let Some(current) = current else {
        return Err(Error::input(
            "there is no current generation to roll back from",
            hint,
        ));
    };
    profile
        .generations()?
        .into_iter()
        .rev()
        .find(|g| g.number < current)
        .map(|g| g.number)
        .ok_or_else(|| {
            Error::input(
                format!("generation {current} is the oldest; there is nothing to roll back to"),
                hint,
            )
        })
}
