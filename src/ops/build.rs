//! `build`: hash the wanted plugin set, reuse or build its bundle, record a generation.

use crate::context::Context;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::loadcheck::PluginFailure;
use crate::plugin::{PluginRecord, Requirement, Status, normalize};
use crate::profile::Generation;
use crate::resolve;
use crate::store::BundleManifest;
use crate::uv::Uv;

/// What a build did.
#[derive(Debug)]
pub struct BuildOutcome {
    pub hash: String,
    /// The new generation; `None` when the set equals the current generation's.
    pub generation: Option<Generation>,
    /// Whether an existing bundle was reused (uv was not called).
    pub reused: bool,
    /// Whether `current` now points to the new generation.
    pub switched: bool,
    pub manifest: BundleManifest,
}

/// The wanted set: every PENDING or INSTALLED record, sorted by distribution name.
pub fn wanted_set(records: &[PluginRecord]) -> Result<Vec<Requirement>> {
    let mut reqs: Vec<Requirement> = records
        .iter()
        .filter(|r| r.is_wanted())
        .map(PluginRecord::requirement)
        .collect::<Result<_>>()?;
    reqs.sort_by(|a, b| a.dist.cmp(&b.dist));
    if let Some(w) = reqs.windows(2).find(|w| w[0].dist == w[1].dist) {
        return Err(Error::input(
            format!(
                "two plugin records want the distribution {:?}",
                w[0].dist.as_str()
            ),
            "remove one of them with `cosmo-bundle plugin remove ID`",
        ));
    }
    Ok(reqs)
}

/// Builds (or reuses) the bundle of the wanted set and records a generation.
pub fn build(ctx: &Context, switch: bool) -> Result<BuildOutcome> {
    let server = ctx.server()?;
    let store = ctx.store();

    // Read-only first pass: fail on bad records or a missing uv before writing anything.
    let records = match ctx.read_db()? {
        Some(db) => db.all()?,
        None => Vec::new(),
    };
    let spec = ctx.spec(&server, wanted_set(&records)?)?;
    let uv = match store.load(&spec.hash_inputs().hash()) {
        Ok(Some(_)) => None,
        _ => Some(Uv::find()?),
    };

    let mut session = ctx.begin()?;
    let spec = ctx.spec(&server, wanted_set(&session.db.all()?)?)?;
    let hash = spec.hash_inputs().hash();

    if let Some(current) = session.profile.current()?
        && let Some(gen_) = session.profile.get(current)?
        && gen_.hash == hash
        && let Some(manifest) = session.store.load(&hash)?
    {
        session.activate(current)?;
        return Ok(BuildOutcome {
            hash,
            generation: None,
            reused: true,
            switched: false,
            manifest,
        });
    }

    let (manifest, reused) = match session.store.load(&hash)? {
        Some(m) => (m, true),
        None => {
            let uv = match uv {
                Some(uv) => uv,
                None => Uv::find()?,
            };
            ctx.reporter.step(&format!("building bundle {hash}"));
            let checked = resolve::checked_lock(&ctx.data_dir, &hash);
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
    if switch {
        session.activate(generation.number)?;
    }
    Ok(BuildOutcome {
        hash,
        generation: Some(generation),
        reused,
        switched: switch,
        manifest,
    })
}

/// Marks the records of plugins that failed their checks FAILED, with the reason.
fn mark_failed(db: &mut Db, failures: &[PluginFailure]) -> Result<()> {
    db.transaction(|db| {
        let now = db::now();
        for record in db.all()? {
            let key = normalize(record.distribution());
            if let Some(f) = failures.iter().find(|f| f.name == key) {
                db.update(&PluginRecord {
                    install_status: Status::Failed,
                    error_message: Some(f.reason.clone()),
                    updated_at: now.clone(),
                    ..record
                })?;
            }
        }
        Ok(())
    })
}
