//! Generations: list, switch, rollback, delete, pin, unpin, label.
//!
//! Every mutation checks its input on a read of the profile first (a refusal writes
//! nothing), then takes the lock and checks again on the reconciled index.

use crate::error::{Error, Result};
use crate::ops::activate as activation;
use crate::output::{
    ActivationOutput, DamageOutput, DeleteOutput, DeletedOutput, GenerationList, GenerationOutput,
    LabelOutput, PinOutput, SkippedOutput,
};
use crate::profile::{
    self, Checked, Generation, Lookup, Profile, View, describe_all, index, unknown,
};
use crate::state::{Context, Session};
use crate::store::Store;
use crate::store::bundle::{BundleManifest, BundlePlugin};
use crate::store::snapshot::SourceMode;
use crate::store::stale::RepoFiles;
use std::collections::HashMap;
use std::rc::Rc;

/// Every generation with its plugins, label, pin and damage (read-only). Reads the index,
/// `generations/` once, `current`, and each distinct bundle's manifest once.
pub fn list(ctx: &Context) -> Result<GenerationList> {
    let profile = ctx.profile();
    let store = ctx.store();
    let view = profile.view()?;
    warn_about(ctx, view);
    let current = profile.current()?;
    let under_way = activation::record::under_way(view.meta());
    if let Some(u) = under_way.as_ref().filter(|u| !u.running()) {
        ctx.reporter.warn(&format!(
            "the activation of generation {} by `{}` (started {}) was interrupted and never confirmed; {}",
            u.generation,
            u.command,
            u.started_at,
            u.hint(current)
        ));
    }
    if let Some(c) = current
        && view.get(c).is_none()
    {
        ctx.reporter.warn(&format!(
            "`current` points to generation {c}, which does not exist; `switch N`, `rollback` or `build` repairs it"
        ));
    }
    // Stale and running marks: one read of the repository's two files and of `run/`.
    let repo = crate::ops::stale::repo_files(ctx);
    let live = crate::running::live(&ctx.dirs.run());
    let mut bundles: HashMap<&str, Result<Listed, profile::Damage>> = HashMap::new();
    for g in &view.generations {
        bundles.entry(g.hash.as_str()).or_insert_with(|| {
            profile::bundle(&store, &g.hash).map(|m| Listed::new(m, repo.as_ref()))
        });
    }
    let gens = view
        .generations
        .iter()
        .map(|g| {
            let bundle = &bundles[g.hash.as_str()];
            let damage: Vec<DamageOutput> = view
                .link_damage(g)
                .iter()
                .chain(bundle.as_ref().err())
                .map(|d| DamageOutput {
                    kind: d.kind(),
                    message: d.describe(g),
                })
                .collect();
            GenerationOutput {
                number: g.number,
                hash: g.hash.clone(),
                current: current == Some(g.number),
                created_at: g.created_at.clone(),
                path: store.path(&g.hash),
                valid: bundle.is_ok(),
                plugins: bundle
                    .as_ref()
                    .map(|b| b.plugins.clone())
                    .unwrap_or_else(|_| Rc::from([])),
                label: g.label.clone(),
                pinned: g.pinned,
                damage,
                activation: activation::record::verdict(g),
                unfinished: under_way
                    .as_ref()
                    .filter(|u| u.generation == g.number)
                    .map(|u| u.output(current)),
                running: live
                    .iter()
                    .any(|r| r.generation == Some(g.number) && r.hash.as_ref() == Some(&g.hash)),
                source: bundle.as_ref().ok().map(|b| b.source),
                stale: bundle
                    .as_ref()
                    .ok()
                    .and_then(|b| b.stale.as_ref())
                    .map(|c| !c.is_empty()),
                stale_files: bundle
                    .as_ref()
                    .ok()
                    .and_then(|b| b.stale.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    Ok(GenerationList(gens))
}

/// What `generations` shows of one bundle, read once however many generations share it.
struct Listed {
    plugins: Rc<[BundlePlugin]>,
    /// `link` or `snapshot`.
    source: &'static str,
    /// The server files it is stale against; `None` when no repository was given.
    stale: Option<Vec<&'static str>>,
}

impl Listed {
    fn new(manifest: BundleManifest, repo: Option<&RepoFiles>) -> Listed {
        Listed {
            source: SourceMode::of_inputs(&manifest.inputs).name(),
            stale: repo.map(|r| r.changed(&manifest.inputs)),
            plugins: manifest.plugins.into(),
        }
    }
}

/// Warns about what a read of the profile found that is no generation.
fn warn_about(ctx: &Context, view: &View) {
    if let Some(e) = &view.index_error {
        ctx.reporter
            .warn(&format!("{e}; the generation links were read instead"));
    }
    for (n, reason) in &view.strays {
        ctx.reporter.warn(&format!(
            "{reason}; it is ignored (remove it with `cosmo-bundle delete {n}`)"
        ));
    }
}

/// Generation `number`, sound and ready to be made current, or why it cannot be.
fn sound(profile: &Profile, store: &Store, number: u32) -> Result<(Generation, BundleManifest)> {
    let checked = profile.check(number, store)?;
    if let Checked::Sound(g, manifest) = checked {
        return Ok((g, *manifest));
    }
    let message = checked.problem(number).unwrap_or_default();
    Err(match checked {
        Checked::Missing => unknown(number),
        _ => Error::damaged(
            message,
            format!(
                "switch to another generation (see `cosmo-bundle generations`), or delete this one with `cosmo-bundle delete {number}`"
            ),
        ),
    })
}

/// Makes generation `number` current (and activates it as `activate` says).
pub fn switch(ctx: &Context, number: u32, activate: Option<bool>) -> Result<ActivationOutput> {
    sound(&ctx.profile(), &ctx.store(), number)?;
    let activation = activation::plan(ctx, activate)?;
    let session = ctx.lock()?;
    let (g, manifest) = sound(&session.profile, &session.store, number)?;
    make_current(
        ctx,
        session,
        g,
        manifest,
        Vec::new(),
        ("switch", activation),
    )
}

/// Makes the highest-numbered sound generation below the current one current, passing
/// over damaged ones and those whose activation failed (and activates it as `activate`
/// says).
pub fn rollback(ctx: &Context, activate: Option<bool>) -> Result<ActivationOutput> {
    // Refused before the lock when there is no current generation; the target is found
    // under the lock, from the reconciled index.
    if ctx.profile().current()?.is_none() {
        return Err(no_current());
    }
    let activation = activation::plan(ctx, activate)?;
    let session = ctx.lock()?;
    let (g, manifest, skipped) =
        rollback_target(&session.profile, &session.store, session.state.current)?;
    for s in &skipped {
        ctx.reporter
            .warn(&format!("skipped generation {}: {}", s.number, s.reason));
    }
    make_current(ctx, session, g, manifest, skipped, ("rollback", activation))
}

fn rollback_target(
    profile: &Profile,
    store: &Store,
    current: Option<u32>,
) -> Result<(Generation, BundleManifest, Vec<SkippedOutput>)> {
    let hint = "list generations with `cosmo-bundle generations`";
    let Some(current) = current else {
        return Err(no_current());
    };
    let mut skipped = Vec::new();
    for candidate in profile.below(current)? {
        match profile.check(candidate, store)? {
            Checked::Sound(g, _) if let Some(reason) = activation::record::failed(&g) => skipped
                .push(SkippedOutput {
                    number: g.number,
                    reason,
                }),
            Checked::Sound(g, manifest) => return Ok((g, *manifest, skipped)),
            Checked::Damaged(g, damage) => skipped.push(SkippedOutput {
                number: g.number,
                reason: format!("damaged: {}", describe_all(&g, &damage)),
            }),
            Checked::Stray(_) | Checked::Missing => {}
        }
    }
    if skipped.is_empty() {
        return Err(Error::input(
            format!("generation {current} is the oldest; there is nothing to roll back to"),
            hint,
        ));
    }
    let numbers: Vec<String> = skipped.iter().map(|s| s.number.to_string()).collect();
    Err(Error::damaged(
        format!(
            "there is no sound generation below {current} to roll back to: {} damaged or failed their activation",
            numbers.join(", ")
        ),
        "see `cosmo-bundle generations`; switch to a sound generation with `cosmo-bundle switch N`",
    ))
}

fn no_current() -> Error {
    Error::input(
        "there is no current generation to roll back from",
        "list generations with `cosmo-bundle generations`",
    )
}

fn make_current(
    ctx: &Context,
    mut session: Session,
    g: Generation,
    manifest: BundleManifest,
    skipped: Vec<SkippedOutput>,
    (command, activation): (&str, Option<activation::Activation>),
) -> Result<ActivationOutput> {
    crate::ops::stale::warn_link_mode(ctx, g.number, &manifest);
    let previous = session.state.current;
    let (followed, activation) = activation::make_current(
        ctx,
        &mut session,
        activation.as_ref(),
        command,
        g.number,
        &manifest,
    )?;
    Ok(ActivationOutput {
        current: g.number,
        previous,
        rows_pending: !followed,
        path: session.store.path(&g.hash),
        hash: g.hash,
        plugins: manifest.plugins,
        label: g.label,
        skipped,
        activation,
    })
}

/// Deletes generations: their index entries and links (their bundles stay in the store).
/// Never the current one; a pinned one only with `force`.
pub fn delete(ctx: &Context, numbers: &[u32], force: bool) -> Result<DeleteOutput> {
    let mut numbers = numbers.to_vec();
    numbers.sort_unstable();
    numbers.dedup();
    let profile = ctx.profile();
    plan_delete(profile.view()?, profile.current()?, &numbers, force)?;
    let mut session = ctx.lock()?;
    let deleted = plan_delete(
        session.profile.view()?,
        session.state.current,
        &numbers,
        force,
    )?;
    session.profile.delete(&numbers)?;
    Ok(DeleteOutput { deleted })
}

fn plan_delete(
    view: &View,
    current: Option<u32>,
    numbers: &[u32],
    force: bool,
) -> Result<Vec<DeletedOutput>> {
    let mut deleted = Vec::new();
    for &n in numbers {
        if current == Some(n) {
            return Err(Error::input(
                format!("generation {n} is current and cannot be deleted"),
                "make another generation current first (`cosmo-bundle switch N` or `cosmo-bundle rollback`)",
            ));
        }
        match view.get(n) {
            Some(g) if g.pinned && !force => {
                return Err(Error::input(
                    format!("generation {n} is pinned"),
                    format!(
                        "unpin it first (`cosmo-bundle unpin {n}`), or pass --force to delete it anyway"
                    ),
                ));
            }
            Some(g) => deleted.push(DeletedOutput {
                number: n,
                hash: Some(g.hash.clone()),
                label: g.label.clone(),
                pinned: g.pinned,
            }),
            None if view.strays.contains_key(&n) => deleted.push(DeletedOutput {
                number: n,
                hash: None,
                label: None,
                pinned: false,
            }),
            None => return Err(unknown(n)),
        }
    }
    Ok(deleted)
}

/// Generation `number`, or why there is none.
fn entry(profile: &Profile, number: u32) -> Result<Generation> {
    match profile.lookup(number)? {
        Lookup::Found(g) => Ok(g),
        Lookup::Stray(reason) => Err(Error::damaged(
            format!("generation {number} is damaged: {reason}"),
            format!("delete it with `cosmo-bundle delete {number}`"),
        )),
        Lookup::Missing => Err(unknown(number)),
    }
}

/// Pins (`pinned`) or unpins generation `number`.
pub fn pin(ctx: &Context, number: u32, pinned: bool) -> Result<PinOutput> {
    entry(&ctx.profile(), number)?;
    let mut session = ctx.lock()?;
    let changed = entry(&session.profile, number)?.pinned != pinned;
    if changed {
        session.profile.update(number, |g| g.pinned = pinned)?;
    }
    Ok(PinOutput {
        number,
        pinned,
        changed,
    })
}

/// Sets (or, with an empty text, clears) generation `number`'s label.
pub fn label(ctx: &Context, number: u32, text: &str) -> Result<LabelOutput> {
    let label = index::check_label(text)?;
    entry(&ctx.profile(), number)?;
    let mut session = ctx.lock()?;
    let previous = entry(&session.profile, number)?.label;
    if previous != label {
        session
            .profile
            .update(number, |g| g.label.clone_from(&label))?;
    }
    Ok(LabelOutput {
        number,
        label,
        previous,
    })
}
