//! Generations: list, switch, rollback, delete, pin, unpin, label.
//!
//! Every mutation checks its input on a read of the profile first (a refusal writes
//! nothing), then takes the lock and checks again on the reconciled index.

use crate::error::{Error, Result};
use crate::ops::activate as activation;
use crate::output::{
    ActivationOutput, DamageOutput, DeleteOutput, DeletedOutput, GenerationList, GenerationOutput,
    LabelOutput, PinOutput, Rows, SharedPlugins, SharedStr, SkippedOutput, UnfinishedOutput,
    VerdictOutput,
};
use crate::profile::{
    self, Checked, Generation, Listing, Lookup, Profile, View, describe_all, index, unknown,
};
use crate::running::RunRecord;
use crate::state::{Context, Session};
use crate::store::Store;
use crate::store::bundle::BundleManifest;
use crate::store::snapshot::SourceMode;
use crate::store::stale::RepoFiles;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::rc::Rc;

/// Every generation with its plugins, label, pin, damage, activation and marks (read-only).
/// Reads the index, `generations/` once (unless `profile.seen` says nothing changed),
/// `current`, and each distinct bundle's manifest once.
pub fn list(ctx: &Context) -> Result<GenerationList> {
    let profile = ctx.profile();
    let store = ctx.store();
    let current = profile.current()?;
    let index = ctx.dirs.profile_index();
    let listing = profile.into_listing()?;
    let (count, meta) = match &listing {
        Listing::Lines(lines) => (lines.len(), Cow::Owned(lines.other(&index)?)),
        Listing::View(view) => (view.generations.len(), Cow::Borrowed(view.meta())),
    };
    if let Listing::View(view) = &listing {
        warn_about(ctx, view);
    }
    let under_way = activation::record::under_way(&meta);
    if let Some(u) = under_way.as_ref().filter(|u| !u.running()) {
        ctx.reporter.warn(&format!(
            "the activation of generation {} by `{}` (started {}) was interrupted and never confirmed; {}",
            u.generation,
            u.command,
            u.started_at,
            u.hint(current)
        ));
    }
    let exists = |n| match &listing {
        Listing::Lines(lines) => lines.contains(n),
        Listing::View(view) => view.get(n).is_some(),
    };
    if let Some(c) = current
        && !exists(c)
    {
        ctx.reporter.warn(&format!(
            "`current` points to generation {c}, which does not exist; `switch N`, `rollback` or `build` repairs it"
        ));
    }
    let mut out = Outputs {
        store: &store,
        repo: crate::ops::stale::repo_files(ctx),
        bundles: HashMap::default(),
        listing: Listed {
            current,
            unfinished: under_way.map(|u| (u.generation, u.output(current))),
            // Running marks: one read of `run/`.
            live: crate::running::live(&ctx.dirs.run()),
            bundles: Vec::new(),
            rows: Vec::with_capacity(count),
        },
    };
    match &listing {
        Listing::Lines(lines) => {
            let text = lines.shared_text();
            for entry in lines.listed(&index) {
                out.push(entry?, Some(&text), None);
            }
        }
        Listing::View(view) => {
            for g in &view.generations {
                out.push(index::Listed::from(g), None, view.link_damage(g));
            }
        }
    }
    let listed = Rc::new(out.listing);
    let len = listed.rows.len();
    Ok(GenerationList(Rows::new(len, move |i| listed.output(i))))
}

/// What `generations` shows of one bundle, read once however many generations share it.
struct BundleInfo {
    path: Rc<Path>,
    plugins: Rc<SharedPlugins>,
    /// `link` or `snapshot`.
    source: &'static str,
    /// The server files it is stale against; `None` when no repository was given.
    stale: Option<Vec<&'static str>>,
}

/// One distinct bundle: what is shown of it, or its path and damage.
type Bundle = Result<BundleInfo, (Rc<Path>, profile::Damage)>;

/// One generation of the listing, as little as its output is made of when printed.
struct Row {
    number: u32,
    pinned: bool,
    /// Its bundle in [`Listed::bundles`].
    bundle: u32,
    hash: SharedStr,
    created_at: SharedStr,
    label: Option<SharedStr>,
    /// The damage of its link and its activation verdict (rare).
    extra: Option<Box<(Option<profile::Damage>, Option<VerdictOutput>)>>,
}

/// The generations of a listing, each made into its output when printed.
struct Listed {
    current: Option<u32>,
    /// The generation whose activation is under way, and how it is shown.
    unfinished: Option<(u32, UnfinishedOutput)>,
    /// The servers running now.
    live: Vec<RunRecord>,
    bundles: Vec<Bundle>,
    rows: Vec<Row>,
}

impl Listed {
    /// The output of the `i`th generation.
    fn output(&self, i: usize) -> GenerationOutput {
        let row = &self.rows[i];
        let bundle = &self.bundles[row.bundle as usize];
        let (link_damage, activation) = match row.extra.as_deref() {
            Some((damage, verdict)) => (damage.as_ref(), verdict.clone().map(Box::new)),
            None => (None, None),
        };
        let damage = link_damage
            .into_iter()
            .chain(bundle.as_ref().err().map(|(_, d)| d))
            .map(|d| DamageOutput {
                kind: d.kind(),
                message: d.describe_at(row.number, &row.hash),
            })
            .collect();
        let info = bundle.as_ref().ok();
        GenerationOutput {
            number: row.number,
            hash: row.hash.clone(),
            current: self.current == Some(row.number),
            created_at: row.created_at.clone(),
            path: match bundle {
                Ok(b) => b.path.clone(),
                Err((path, _)) => path.clone(),
            },
            valid: info.is_some(),
            plugins: info.map(|b| b.plugins.clone()).unwrap_or_default(),
            label: row.label.clone(),
            pinned: row.pinned,
            damage,
            activation,
            unfinished: self
                .unfinished
                .as_ref()
                .filter(|(n, _)| *n == row.number)
                .map(|(_, u)| Box::new(u.clone())),
            running: self
                .live
                .iter()
                .any(|r| r.generation == Some(row.number) && r.hash.as_deref() == Some(&*row.hash)),
            source: info.map(|b| b.source),
            stale: info.and_then(|b| b.stale.as_ref()).map(|c| !c.is_empty()),
            stale_files: info.and_then(|b| b.stale.clone()).unwrap_or_default(),
        }
    }
}

/// The generations of a listing, read into rows one by one.
struct Outputs<'a> {
    store: &'a Store,
    repo: Option<RepoFiles>,
    /// Each distinct bundle's place in `listing.bundles`.
    bundles: HashMap<String, u32, BuildHasherDefault<HexHasher>>,
    listing: Listed,
}

impl Outputs<'_> {
    /// Adds generation `g`, whose text is borrowed from `text` where it can be, and whose
    /// link has `link_damage`.
    fn push(
        &mut self,
        g: index::Listed,
        text: Option<&Rc<String>>,
        link_damage: Option<profile::Damage>,
    ) {
        let bundle = match self.bundles.get(g.hash.as_ref()) {
            Some(i) => *i,
            None => {
                let path: Rc<Path> = self.store.path(&g.hash).into();
                let bundle = match profile::bundle(self.store, &g.hash) {
                    Ok(m) => Ok(BundleInfo {
                        path,
                        source: SourceMode::of_inputs(&m.inputs).name(),
                        stale: self.repo.as_ref().map(|r| r.changed(&m.inputs)),
                        plugins: Rc::new(SharedPlugins::new(m.plugins)),
                    }),
                    Err(damage) => Err((path, damage)),
                };
                let i = self.listing.bundles.len() as u32;
                self.listing.bundles.push(bundle);
                self.bundles.insert(g.hash.to_string(), i);
                i
            }
        };
        let shared = |part: Cow<str>| match (text, part) {
            (Some(text), Cow::Borrowed(part)) => SharedStr::of(text, part),
            (_, part) => SharedStr::from(part.into_owned()),
        };
        // An entry with no other keys (a plain line) has no verdict.
        let verdict = g
            .other
            .get(activation::record::VERDICT)
            .and_then(|v| serde_json::from_value::<VerdictOutput>(v.clone()).ok());
        let extra =
            (link_damage.is_some() || verdict.is_some()).then(|| Box::new((link_damage, verdict)));
        self.listing.rows.push(Row {
            number: g.number,
            pinned: g.pinned,
            bundle,
            hash: shared(g.hash),
            created_at: shared(g.created_at),
            label: g.label.map(shared),
            extra,
        });
    }
}

/// Hashes a bundle hash (random hex digits, from the index) eight bytes at a time: a map
/// of bundles is looked up once per generation.
#[derive(Default)]
struct HexHasher(u64);

impl Hasher for HexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
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
    if let Checked::Missing = checked {
        return Err(unknown(number));
    }
    // The current generation cannot be deleted: another one must be made current first.
    let hint = if profile.current().ok().flatten() == Some(number) {
        format!(
            "make another generation current: `cosmo-bundle switch N` to a sound one (see `cosmo-bundle generations`), or change the plugin set and `cosmo-bundle build`; then `cosmo-bundle delete {number}` removes this one"
        )
    } else {
        format!(
            "switch to another generation (see `cosmo-bundle generations`), or delete this one with `cosmo-bundle delete {number}`"
        )
    };
    Err(Error::damaged(message, hint))
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
    let mut any_damaged = false;
    for candidate in profile.below(current)? {
        match profile.check(candidate, store)? {
            Checked::Sound(g, _) if let Some(reason) = activation::record::failed(&g) => skipped
                .push(SkippedOutput {
                    number: g.number,
                    reason,
                }),
            Checked::Sound(g, manifest) => return Ok((g, *manifest, skipped)),
            Checked::Damaged(g, damage) => {
                any_damaged = true;
                skipped.push(SkippedOutput {
                    number: g.number,
                    reason: format!("damaged: {}", describe_all(&g, &damage)),
                });
            }
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
    if !any_damaged {
        // Only failed activations below: nothing is wrong with the data directory.
        let (which, verb) = match numbers.as_slice() {
            [one] => (format!("generation {one}"), "failed its"),
            _ => (
                format!("generations {}", numbers.join(", ")),
                "failed their",
            ),
        };
        return Err(Error::input(
            format!(
                "there is nothing to roll back to below generation {current}: {which} {verb} activation"
            ),
            format!("`cosmo-bundle switch {}` tries it again", skipped[0].number),
        ));
    }
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
