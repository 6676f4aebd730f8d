//! Generations: list, switch, rollback.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::BundlePlugin;
use serde::Serialize;

/// A generation as `generations` shows it.
#[derive(Debug, Serialize)]
pub struct GenerationView {
    pub number: u32,
    pub hash: String,
    pub current: bool,
    pub created_at: String,
    pub path: String,
    /// Whether the bundle is registered in the store.
    pub valid: bool,
    pub plugins: Vec<BundlePlugin>,
}

/// Every generation with its plugins (read-only).
pub fn list(ctx: &Context) -> Result<Vec<GenerationView>> {
    let profile = ctx.profile();
    let store = ctx.store();
    let current = profile.current()?;
    profile
        .generations()?
        .into_iter()
        .map(|g| {
            let manifest = store.load(&g.hash).ok().flatten();
            Ok(GenerationView {
                number: g.number,
                current: current == Some(g.number),
                created_at: g
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                path: store.path(&g.hash).to_string_lossy().into_owned(),
                valid: manifest.is_some(),
                plugins: manifest.map(|m| m.plugins).unwrap_or_default(),
                hash: g.hash,
            })
        })
        .collect()
}

/// Makes generation `number` current.
pub fn switch(ctx: &Context, number: u32) -> Result<()> {
    if ctx.profile().get(number)?.is_none() {
        return Err(unknown(number));
    }
    ctx.begin()?.activate(number)
}

/// Makes the highest-numbered generation below the current one current; returns it.
pub fn rollback(ctx: &Context) -> Result<u32> {
    // Checked before taking the lock so that a refused rollback writes nothing, and again
    // under the lock, where the decision is made.
    previous(&ctx.profile())?;
    let mut session = ctx.begin()?;
    let target = previous(&session.profile)?;
    session.activate(target)?;
    Ok(target)
}

fn previous(profile: &crate::profile::Profile) -> Result<u32> {
    let hint = "list generations with `cosmo-bundle generations`";
    let Some(current) = profile.current()? else {
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

fn unknown(number: u32) -> Error {
    Error::input(
        format!("generation {number} does not exist"),
        "list them with `cosmo-bundle generations`",
    )
}
