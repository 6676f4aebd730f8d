//! `build`: hash the wanted plugin set, reuse or build its bundle, record a generation.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::hash;
use crate::plugin::{PluginRecord, Requirement};
use crate::profile::Generation;
use crate::python::PythonRequest;
use crate::store::{BundleManifest, BundleSpec};
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
    let python = PythonRequest::from_option(ctx.python.as_deref())?;
    let env = hash::resolution_env();
    let store = ctx.store();

    // Read-only first pass: fail on bad records or a missing uv before writing anything.
    let records = match ctx.read_db()? {
        Some(db) => db.all()?,
        None => Vec::new(),
    };
    let spec = BundleSpec {
        server: &server,
        plugins: wanted_set(&records)?,
        python: python.clone(),
        env: env.clone(),
    };
    let mut uv = match store.load(&spec.hash_inputs().hash()) {
        Ok(Some(_)) => None,
        _ => Some(Uv::find()?),
    };

    let mut session = ctx.begin()?;
    let spec = BundleSpec {
        server: &server,
        plugins: wanted_set(&session.db.all()?)?,
        python,
        env,
    };
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
            let uv = match uv.take() {
                Some(uv) => uv,
                None => Uv::find()?,
            };
            ctx.reporter.step(&format!("building bundle {hash}"));
            (
                session.store.build(&spec, &uv, ctx.reporter.as_ref())?,
                false,
            )
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
