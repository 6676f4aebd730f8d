//! `status`: the state of the box at a glance, read-only.
//!
//! Reads the records, `current`, the generation index (never every generation), the
//! current bundle's manifest, the `run/` records, the server repository's two files (when
//! one is given) and the store's disk use. Its cost does not grow with the number of
//! generations beyond reading the index.

use crate::error::Result;
use crate::output::{
    CurrentOutput, DamageOutput, RepositoryOutput, ServerOutput, StatusOutput, StoreOutput,
    UnfinishedActivation,
};
use crate::plugins::Status;
use crate::profile::{Checked, describe_all};
use crate::state::Context;
use crate::store::snapshot::SourceMode;

/// The status of the data directory (and of the server repository, when one is given).
pub fn status(ctx: &Context) -> Result<StatusOutput> {
    let state = ctx.read_to_show()?;
    let profile = ctx.profile();
    let store = ctx.store();
    // The index alone: its cost does not include listing every generation's link.
    let view = profile.indexed()?;
    let mut problems = Vec::new();
    if let Some(e) = &view.index_error {
        problems.push(format!("{e}; the generation links were read instead"));
    }
    if !state.damaged.is_empty() {
        problems.push(format!(
            "{} plugin row(s) are damaged and never built: see `cosmo-bundle plugin list`",
            state.damaged.len()
        ));
    }

    let mut manifest = None;
    let current = match state.current {
        None => None,
        Some(number) => match profile.check(number, &store)? {
            Checked::Sound(g, m) => {
                let activation = crate::ops::activate::record::verdict(&g);
                let out = CurrentOutput {
                    number,
                    hash: g.hash.clone(),
                    created_at: g.created_at,
                    label: g.label,
                    pinned: g.pinned,
                    path: store.path(&g.hash),
                    source: Some(SourceMode::of_inputs(&m.inputs).name()),
                    plugins: m.plugins.clone(),
                    damage: Vec::new(),
                    activation,
                };
                manifest = Some(m);
                Some(out)
            }
            Checked::Damaged(g, damage) => {
                problems.push(format!(
                    "the current generation {number} is damaged: {}; switch to a sound one with `cosmo-bundle switch N`",
                    describe_all(&g, &damage)
                ));
                Some(CurrentOutput {
                    activation: crate::ops::activate::record::verdict(&g),
                    number,
                    path: store.path(&g.hash),
                    source: None,
                    plugins: Vec::new(),
                    damage: damage
                        .iter()
                        .map(|d| DamageOutput {
                            kind: d.kind(),
                            message: d.describe(&g),
                        })
                        .collect(),
                    hash: g.hash,
                    created_at: g.created_at,
                    label: g.label,
                    pinned: g.pinned,
                })
            }
            missing => {
                problems.push(format!(
                    "`current` is dangling: {}; `switch N`, `rollback` or `build` repairs it",
                    missing.problem(number).unwrap_or_default()
                ));
                None
            }
        },
    };

    let current_hash = current.as_ref().map(|c| c.hash.as_str());
    let servers = crate::running::live(&ctx.dirs.run())
        .into_iter()
        .map(|r| ServerOutput {
            clean: r.hash.is_none(),
            restart_needed: r.hash.is_some()
                && current_hash.is_some()
                && r.hash.as_deref() != current_hash,
            pid: r.pid,
            generation: r.generation,
            hash: r.hash,
            host: r.host,
            port: r.port,
            started_at: r.started_at,
            dir: r.dir,
        })
        .collect();

    let repo = crate::ops::stale::repo_files(ctx);
    let changed = match (&repo, &manifest) {
        (Some(repo), Some(m)) => Some(repo.changed(&m.inputs)),
        _ => None,
    };
    let repository = RepositoryOutput {
        path: repo.as_ref().map(|r| r.root.clone()),
        checked: changed.is_some(),
        stale: changed.as_ref().map(|c| !c.is_empty()),
        changed: changed.unwrap_or_default(),
    };

    let with = |status: Status| {
        state
            .records
            .iter()
            .filter(|r| r.install_status == status)
            .cloned()
            .collect::<Vec<_>>()
    };
    Ok(StatusOutput {
        current,
        generations: view.generations.len(),
        pending: with(Status::Pending),
        failed: with(Status::Failed),
        servers,
        repository,
        store: StoreOutput {
            bytes: crate::fs::usage::disk_usage(store.root())?,
            gc_reclaimable_bytes: gc_reclaimable(ctx, &profile),
            same_file_system_as_uv_cache: same_file_system_as_uv_cache(ctx),
            path: store.root().to_path_buf(),
        },
        problems,
        unfinished_activation: crate::ops::activate::record::under_way(view.meta()).map(|u| {
            UnfinishedActivation {
                generation: u.generation,
                unfinished: u.output(state.current),
            }
        }),
    })
}

/// What a plain `gc` (no retention options) would free now: unused bundles, shared trees
/// and files, leftovers (read without the lock; `None` when it cannot be read).
fn gc_reclaimable(ctx: &Context, profile: &crate::profile::Profile) -> Option<u64> {
    crate::ops::gc::preview(ctx, profile, &Default::default())
        .ok()
        .map(|p| p.freed_bytes)
}

/// Whether the store and uv's cache are on one file system (uv hard-links packages
/// instead of copying them); `None` when uv runs without a cache.
fn same_file_system_as_uv_cache(ctx: &Context) -> Option<bool> {
    crate::store::share::cache_sharing(&ctx.dirs.store()).map(|s| s.same_file_system)
}
