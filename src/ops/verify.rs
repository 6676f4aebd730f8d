//! `verify`: check generations' bundles against their file records (read-only).

use crate::error::{Error, Result};
use crate::output::{BundleCheckOutput, ProblemOutput, VerifyOutput};
use crate::profile::unknown;
use crate::state::Context;
use crate::store::verify::{self, Outcome, Problem};
use std::collections::{BTreeMap, HashMap};

/// Checks the bundles of `generations` (every generation with `all`; else the current
/// one). Fails with `verify_failed` (its report attached) when one differs.
pub fn verify(ctx: &Context, generations: &[u32], all: bool) -> Result<VerifyOutput> {
    let profile = ctx.profile();
    let store = ctx.store();
    let view = profile.view()?;
    let numbers: Vec<u32> = if all {
        view.generations.iter().map(|g| g.number).collect()
    } else if !generations.is_empty() {
        generations.to_vec()
    } else {
        vec![profile.current()?.ok_or_else(|| {
            Error::input(
                "there is no current generation to verify",
                "name generations (`cosmo-bundle verify 3 4`) or pass --all",
            )
        })?]
    };
    // Bundle hash -> the generations that use it, in bundle order of first use.
    let mut bundles: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for n in numbers {
        let g = view.get(n).ok_or_else(|| unknown(n))?;
        bundles.entry(g.hash.clone()).or_default().push(n);
    }
    let mut trees = HashMap::new();
    let mut out = VerifyOutput {
        ok: true,
        bundles: Vec::new(),
    };
    for (hash, gens) in bundles {
        let outcome = verify::verify(&store, &hash, &mut trees)?;
        let (status, entries, trees_checked, problems) = match outcome {
            Outcome::Verified { entries, trees } => ("ok", entries, trees, Vec::new()),
            Outcome::NoRecord => ("no_record", 0, 0, Vec::new()),
            Outcome::Changed {
                problems,
                entries,
                trees,
            } => ("changed", entries, trees, problems),
        };
        out.ok &= problems.is_empty();
        out.bundles.push(BundleCheckOutput {
            path: store.path(&hash),
            hash,
            generations: gens,
            status,
            entries,
            trees: trees_checked,
            problems: problems.iter().map(problem_output).collect(),
        });
    }
    if out.ok {
        return Ok(out);
    }
    Err(failed(
        &out,
        "find what changed it, then rebuild the bundle: a changed package file is also changed in uv's cache (a hard link into it), so clear that package first with `uv cache clean PACKAGE`; delete the generations that use the bundle (`cosmo-bundle delete N`, after `switch` away from it), `cosmo-bundle gc`, then `cosmo-bundle build` (`plugin update NAME --version V` makes a plugin PENDING again)",
    ))
}

/// A problem as output.
pub fn problem_output(p: &Problem) -> ProblemOutput {
    ProblemOutput {
        path: p.path.clone(),
        change: p.change.kind(),
        detail: p.detail.clone(),
    }
}

/// The `verify_failed` error for a report with problems.
pub fn failed(out: &VerifyOutput, hint: &str) -> Error {
    let lines = out.problem_lines();
    let changed = out.bundles.iter().filter(|b| b.status == "changed").count();
    Error::VerifyFailed {
        message: format!(
            "{changed} bundle(s) differ from their file record:\n  {}",
            lines.join("\n  ")
        ),
        hint: Some(hint.to_string()),
        report: Some(Box::new(
            serde_json::to_value(out).expect("the verify output serialises"),
        )),
    }
}
