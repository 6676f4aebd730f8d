//! `gc`: delete old generations (never the current or a pinned one), then every bundle no
//! remaining generation or running server uses, checked locks no build will use, shared
//! trees and files nothing links, and leftovers of killed commands.

use crate::error::{Error, Result};
use crate::output::{GcBundleOutput, GcGenerationOutput, GcOutput};
use crate::plugins::wanted_set;
use crate::profile::Generation;
use crate::state::Context;
use crate::store::gc::{self as store_gc, StorePlan};
use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What `gc` was asked for.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Keep the newest N generations (by number).
    pub keep: Option<u32>,
    /// Keep generations younger than this.
    pub older_than: Option<chrono::Duration>,
    pub dry_run: bool,
}

/// Reads a duration: a whole number and a unit, `s`, `m`, `h`, `d` or `w` (`30d`, `12h`).
pub fn parse_duration(text: &str) -> Result<chrono::Duration> {
    let bad = || {
        Error::input(
            format!("--older-than {text:?} is not a duration"),
            "give a whole number and a unit: 45s, 90m, 12h, 30d or 2w (0d keeps no generation for its age)",
        )
    };
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let number: i64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .filter(|s| *s >= 0 && *s <= 100 * 365 * 86_400)
        .map(chrono::Duration::seconds)
        .ok_or_else(bad)
}

/// The generations a collection deletes: none unless `keep` or `older_than` is given;
/// then each that is not current, not pinned, not among the newest `keep` (by number) and
/// not younger than `older_than`.
pub fn doomed_generations(
    generations: &[Generation],
    current: Option<u32>,
    opts: &GcOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Generation> {
    if opts.keep.is_none() && opts.older_than.is_none() {
        return Vec::new();
    }
    let mut numbers: Vec<u32> = generations.iter().map(|g| g.number).collect();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    let newest: BTreeSet<u32> = numbers
        .into_iter()
        .take(opts.keep.unwrap_or(0) as usize)
        .collect();
    generations
        .iter()
        .filter(|g| Some(g.number) != current && !g.pinned && !newest.contains(&g.number))
        .filter(|g| match opts.older_than {
            None => true,
            Some(age) => chrono::DateTime::parse_from_rfc3339(&g.created_at)
                .map(|t| now.signed_duration_since(t) >= age)
                .unwrap_or(true),
        })
        .cloned()
        .collect()
}

/// The whole plan, made under the lock, before anything is deleted.
struct Plan {
    generations: Vec<Generation>,
    store: StorePlan,
    kept_running: Vec<GcBundleOutput>,
    locks: Vec<String>,
    /// Leftovers outside the store: `tmp/` entries, `.tmp-*` names, dead servers' records.
    leftovers: Vec<PathBuf>,
}

/// Runs a collection (or, with `dry_run`, says what it would delete and free).
pub fn gc(ctx: &Context, opts: &GcOptions) -> Result<GcOutput> {
    let _lock = ctx.lock_dir()?;
    let mut profile = ctx.profile();
    let (plan, out) = report(ctx, &profile, opts)?;
    if opts.dry_run {
        return Ok(out);
    }
    let store = ctx.store();
    // Generations first (their links, then the index): no generation ever points at a
    // bundle that is being deleted.
    profile.reconcile(&store)?;
    let numbers: Vec<u32> = plan.generations.iter().map(|g| g.number).collect();
    if !numbers.is_empty() {
        profile.delete(&numbers)?;
    }
    crate::fault::point("gc-after-generations");
    store_gc::execute(&store, &plan.store)?;
    for hash in &plan.locks {
        store_gc::remove(&ctx.dirs.resolved_lock(hash))?;
    }
    for path in &plan.leftovers {
        store_gc::remove(path)?;
    }
    Ok(out)
}

/// What `gc` with `opts` would delete and free, read without the lock and without
/// writing anything (for `status`: `GcOptions::default()` is what a plain `gc` frees).
/// Another command running meanwhile may change it; `gc --dry-run` plans under the lock.
pub fn preview(
    ctx: &Context,
    profile: &crate::profile::Profile,
    opts: &GcOptions,
) -> Result<GcOutput> {
    let opts = GcOptions {
        dry_run: true,
        ..opts.clone()
    };
    report(ctx, profile, &opts).map(|(_, out)| out)
}

/// The plan, and its output (what goes, and the bytes it frees).
fn report(
    ctx: &Context,
    profile: &crate::profile::Profile,
    opts: &GcOptions,
) -> Result<(Plan, GcOutput)> {
    let store = ctx.store();
    let plan = plan(ctx, profile, &store, opts)?;
    let mut paths = store_gc::paths(&store, &plan.store);
    paths.extend(plan.locks.iter().map(|h| ctx.dirs.resolved_lock(h)));
    paths.extend(plan.leftovers.iter().cloned());
    let freed_bytes = store_gc::freed_bytes(&paths);
    let root = ctx.dirs.root();
    let mut leftovers: Vec<PathBuf> = plan
        .leftovers
        .iter()
        .chain(plan.store.leftovers.iter())
        .map(|p| p.strip_prefix(root).unwrap_or(p).to_path_buf())
        .collect();
    leftovers.sort();
    let out = GcOutput {
        dry_run: opts.dry_run,
        generations: plan
            .generations
            .iter()
            .map(|g| GcGenerationOutput {
                number: g.number,
                hash: g.hash.clone(),
                created_at: g.created_at.clone(),
                label: g.label.clone(),
            })
            .collect(),
        bundles: plan
            .store
            .bundles
            .iter()
            .map(|(hash, registered)| GcBundleOutput {
                hash: hash.clone(),
                registered: *registered,
                pids: Vec::new(),
            })
            .collect(),
        kept_running: plan.kept_running.clone(),
        trees: plan.store.trees.len(),
        sources: plan.store.sources.clone(),
        links: plan.store.links.len(),
        locks: plan.locks.clone(),
        leftovers,
        freed_bytes,
    };
    Ok((plan, out))
}

fn plan(
    ctx: &Context,
    profile: &crate::profile::Profile,
    store: &crate::store::Store,
    opts: &GcOptions,
) -> Result<Plan> {
    // The index alone while the links are as the last locked command left them (no
    // listing of `generations/`); else the full view, with its damage.
    let view = if profile.listing_unchanged() {
        profile.indexed()?
    } else {
        profile.view()?
    };
    if let Some(e) = &view.index_error {
        return Err(Error::damaged(
            format!("the generation index is damaged: {e}"),
            format!(
                "repair {0}, or move it away: the next command rebuilds it from the generation links (labels and pins are lost)",
                ctx.dirs.profile_index().display()
            ),
        ));
    }
    let current = profile.current()?;
    let mut generations = doomed_generations(&view.generations, current, opts, chrono::Utc::now());
    // An activation that was interrupted is finished (or reverted) from both its
    // generations: neither goes.
    if let Some(under_way) = crate::ops::activate::record::under_way(view.meta()) {
        generations
            .retain(|g| g.number != under_way.generation && Some(g.number) != under_way.previous);
    }
    let doomed: BTreeSet<u32> = generations.iter().map(|g| g.number).collect();
    let mut keep: BTreeSet<String> = view
        .generations
        .iter()
        .filter(|g| !doomed.contains(&g.number))
        .map(|g| g.hash.clone())
        .collect();
    // Bundles running servers use, beyond the generations kept.
    let mut running: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut leftovers = Vec::new();
    for (path, record) in crate::running::all(&ctx.dirs.run()) {
        if !record.alive() {
            leftovers.push(path);
            continue;
        }
        let hash = record
            .hash
            .clone()
            .or_else(|| {
                record
                    .dir
                    .strip_prefix(store.root())
                    .ok()
                    .and_then(|p| p.to_str().map(str::to_string))
            })
            .filter(|h| store_gc::is_hash(h));
        if let Some(hash) = hash {
            running.entry(hash).or_default().push(record.pid);
        }
    }
    let kept_running: Vec<GcBundleOutput> = running
        .iter()
        .filter(|(hash, _)| !keep.contains(*hash) && store.path(hash).exists())
        .map(|(hash, pids)| GcBundleOutput {
            hash: hash.clone(),
            registered: store.path(hash).join("bundle.json").exists(),
            pids: pids.clone(),
        })
        .collect();
    keep.extend(running.into_keys());
    let store_plan = store_gc::plan(store, &keep)?;
    let locks = doomed_locks(ctx, store)?;
    // Temporary projects of conflict checks, and `.tmp-*` names of atomic writes and flips
    // (`generations/` holds none while it is as the last locked command left it).
    let mut dirs = vec![ctx.dirs.tmp(), ctx.dirs.root().to_path_buf()];
    if !profile.listing_unchanged() {
        dirs.push(ctx.dirs.generations());
    }
    dirs.extend([ctx.dirs.resolved(), ctx.dirs.run()]);
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let temporary = entry
                .file_name()
                .to_string_lossy()
                .starts_with(crate::layout::TMP_PREFIX);
            if dir == ctx.dirs.tmp() || temporary {
                leftovers.push(entry.path());
            }
        }
    }
    leftovers.sort();
    leftovers.dedup();
    Ok(Plan {
        generations,
        store: store_plan,
        kept_running,
        locks,
        leftovers,
    })
}

/// The checked locks (`resolved/<hash>.lock`) no build will use: a lock spares `uv lock`
/// only for a build of exactly its set, and only until that set is built. So a lock goes
/// when its bundle is registered, or (with the server repository known) when it is not the
/// lock of the current records' wanted set. Without the server repository, the locks of
/// unbuilt sets stay.
fn doomed_locks(ctx: &Context, store: &crate::store::Store) -> Result<Vec<String>> {
    let Ok(entries) = fs::read_dir(ctx.dirs.resolved()) else {
        return Ok(Vec::new());
    };
    let wanted: Option<String> = (|| {
        let server = ctx.server().ok()?;
        let state = ctx.read().ok()?;
        let set = wanted_set(&state.records, &state.pins).ok()?;
        Some(ctx.spec(&server, set).ok()?.hash().to_string())
    })();
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(hash) = name.strip_suffix(".lock").filter(|h| store_gc::is_hash(h)) else {
            continue;
        };
        let built = store.path(hash).join("bundle.json").exists();
        let other_set = wanted.as_deref().is_some_and(|w| w != hash);
        if built || other_set {
            out.push(hash.to_string());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(number: u32, age_days: i64, pinned: bool) -> Generation {
        let at = chrono::Utc::now() - chrono::Duration::days(age_days);
        Generation {
            created_at: crate::profile::index::rfc3339(at),
            pinned,
            ..Generation::new(number, &"a".repeat(32), None)
        }
    }

    #[test]
    fn durations_read_every_unit_and_refuse_the_rest() {
        let d = |t: &str| parse_duration(t).map(|d| d.num_seconds()).ok();
        assert_eq!(d("30d"), Some(30 * 86_400));
        assert_eq!(d("12h"), Some(43_200));
        assert_eq!(d("2w"), Some(14 * 86_400));
        assert_eq!(d("90m"), Some(5_400));
        assert_eq!(d("45s"), Some(45));
        assert_eq!(d("0d"), Some(0));
        for bad in ["", "d", "10", "-1d", "1y", "1.5d", "x3d", "99999999999999w"] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_current_pinned_newest_and_young_generations_stay() {
        let gens: Vec<Generation> = (1..=10)
            .map(|n| generation(n, 20 - i64::from(n), n == 2))
            .collect();
        let numbers = |opts: GcOptions| -> Vec<u32> {
            doomed_generations(&gens, Some(4), &opts, chrono::Utc::now())
                .iter()
                .map(|g| g.number)
                .collect()
        };
        assert!(
            numbers(GcOptions::default()).is_empty(),
            "no flag: no generation"
        );
        assert_eq!(
            numbers(GcOptions {
                keep: Some(3),
                ..Default::default()
            }),
            [1, 3, 5, 6, 7]
        );
        // Generation n is 20 - n days old: older than 14 days are 1..=6.
        assert_eq!(
            numbers(GcOptions {
                older_than: Some(chrono::Duration::days(14)),
                ..Default::default()
            }),
            [1, 3, 5, 6]
        );
        assert_eq!(
            numbers(GcOptions {
                keep: Some(5),
                older_than: Some(chrono::Duration::days(13)),
                ..Default::default()
            }),
            [1, 3, 5]
        );
    }
}
