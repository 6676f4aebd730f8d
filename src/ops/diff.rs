//! `diff [A [B]]`: what changed between two generations (read-only): their plugins, every
//! package of their `uv.lock`, and which hash inputs differ.
//!
//! With no argument, A is the generation `rollback` would go back to (the highest-numbered
//! sound one below `current`) and B the current one; with one, B is the current one.

use crate::error::{Error, Result};
use crate::output::{
    DiffOutput, DiffSide, LockedPackage, PackageChange, PackageChanges, PluginChange,
};
use crate::profile::{Checked, Generation, Profile, unknown};
use crate::state::Context;
use crate::store::Store;
use crate::store::bundle::{BundleManifest, BundlePlugin};
use std::collections::BTreeMap;

/// The changes from generation `a` to generation `b` (defaults as the module says).
pub fn diff(ctx: &Context, a: Option<u32>, b: Option<u32>) -> Result<DiffOutput> {
    let profile = ctx.profile();
    let store = ctx.store();
    let current = || {
        profile.current()?.ok_or_else(|| {
            Error::input(
                "there is no current generation to compare with",
                "name two generations: `cosmo-bundle diff A B` (see `cosmo-bundle generations`)",
            )
        })
    };
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, current()?),
        (None, _) => {
            let b = current()?;
            (previous(&profile, &store, b)?, b)
        }
    };
    let (ga, ma) = sound(&profile, &store, a)?;
    let (gb, mb) = sound(&profile, &store, b)?;
    let (added, removed, changed) = plugins(&ma.plugins, &mb.plugins);
    let packages = if ga.hash == gb.hash {
        PackageChanges::default()
    } else {
        packages(&store, &ga.hash, &gb.hash)?
    };
    Ok(DiffOutput {
        inputs: inputs(&ma, &mb),
        from: side(ga),
        to: side(gb),
        added,
        removed,
        changed,
        packages,
    })
}

fn side(g: Generation) -> DiffSide {
    DiffSide {
        number: g.number,
        hash: g.hash,
        label: g.label,
    }
}

/// The generation before `current` that `rollback` would make current.
fn previous(profile: &Profile, store: &Store, current: u32) -> Result<u32> {
    for candidate in profile.below(current)? {
        if let Checked::Sound(..) = profile.check(candidate, store)? {
            return Ok(candidate);
        }
    }
    Err(Error::input(
        format!("there is no sound generation below the current one ({current}) to compare with"),
        "name two generations: `cosmo-bundle diff A B` (see `cosmo-bundle generations`)",
    ))
}

/// Generation `number` with its bundle's manifest, or why it cannot be compared.
fn sound(profile: &Profile, store: &Store, number: u32) -> Result<(Generation, BundleManifest)> {
    match profile.check(number, store)? {
        Checked::Sound(g, m) => Ok((g, *m)),
        Checked::Missing => Err(unknown(number)),
        other => Err(Error::damaged(
            other.problem(number).unwrap_or_default(),
            format!(
                "compare other generations, or delete this one with `cosmo-bundle delete {number}`"
            ),
        )),
    }
}

/// Plugins added, removed and changed, each sorted by name.
fn plugins(
    from: &[BundlePlugin],
    to: &[BundlePlugin],
) -> (Vec<BundlePlugin>, Vec<BundlePlugin>, Vec<PluginChange>) {
    let by_name = |ps: &[BundlePlugin]| -> BTreeMap<String, BundlePlugin> {
        ps.iter().map(|p| (p.name.clone(), p.clone())).collect()
    };
    let (from, to) = (by_name(from), by_name(to));
    let added = to
        .iter()
        .filter(|(n, _)| !from.contains_key(*n))
        .map(|(_, p)| p.clone())
        .collect();
    let removed = from
        .iter()
        .filter(|(n, _)| !to.contains_key(*n))
        .map(|(_, p)| p.clone())
        .collect();
    let changed = from
        .iter()
        .filter_map(|(name, a)| {
            let b = to.get(name)?;
            let same = a.source_type == b.source_type
                && a.source == b.source
                && a.version == b.version
                && a.resolved_version == b.resolved_version
                && a.commit == b.commit;
            (!same).then(|| PluginChange {
                name: name.clone(),
                from: a.clone(),
                to: b.clone(),
            })
        })
        .collect();
    (added, removed, changed)
}

/// Every package of the two bundles' `uv.lock` that was added, removed or changed.
fn packages(store: &Store, from: &str, to: &str) -> Result<PackageChanges> {
    let read = |hash: &str| -> Result<BTreeMap<String, LockedPackage>> {
        let lock = crate::uv::lock_file::read(&store.path(hash).join("uv.lock"))?;
        Ok(lock
            .into_iter()
            .map(|(name, r)| {
                let package = LockedPackage {
                    name: name.clone(),
                    version: r.version,
                    commit: r.commit,
                };
                (name, package)
            })
            .collect())
    };
    let (from, to) = (read(from)?, read(to)?);
    let mut changes = PackageChanges::default();
    for (name, b) in &to {
        match from.get(name) {
            None => changes.added.push(b.clone()),
            Some(a) if a != b => changes.changed.push(PackageChange {
                name: name.clone(),
                from: a.clone(),
                to: b.clone(),
            }),
            Some(_) => {}
        }
    }
    changes.removed = from
        .iter()
        .filter(|(n, _)| !to.contains_key(*n))
        .map(|(_, p)| p.clone())
        .collect();
    Ok(changes)
}

/// The names of the hash inputs that differ; a map input (the settings) by key.
fn inputs(a: &BundleManifest, b: &BundleManifest) -> Vec<String> {
    let value = |m: &BundleManifest| serde_json::to_value(&m.inputs).unwrap_or_default();
    let (a, b) = (value(a), value(b));
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut changed = Vec::new();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if x == y {
            continue;
        }
        match (x.and_then(|v| v.as_object()), y.and_then(|v| v.as_object())) {
            (Some(x), Some(y)) => {
                let inner: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                changed.extend(
                    inner
                        .into_iter()
                        .filter(|k| x.get(*k) != y.get(*k))
                        .map(|k| format!("{key}.{k}")),
                );
            }
            _ => changed.push(key.clone()),
        }
    }
    changed
}
