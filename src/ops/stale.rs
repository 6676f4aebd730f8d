//! Stale generations, as the operator hears of them: which bundles were built for another
//! `pyproject.toml` or `uv.lock` than the server repository holds now (only when a
//! repository is given), and the warning of link mode.

use crate::state::Context;
use crate::store::bundle::BundleManifest;
use crate::store::snapshot::SourceMode;
use crate::store::stale::RepoFiles;

/// The server repository's two files, when `--server` (`COSMO_SERVER_DIR`) names one; a
/// repository that cannot be read is a warning here, not an error.
pub fn repo_files(ctx: &Context) -> Option<RepoFiles> {
    let dir = ctx.server_dir.as_ref()?;
    match RepoFiles::read(dir) {
        Ok(files) => Some(files),
        Err(e) => {
            ctx.reporter
                .warn(&format!("not checked whether generations are stale: {e}"));
            None
        }
    }
}

/// The sentence that says generation `number` is stale, when it is (`changed` names the
/// files that differ).
pub fn sentence(number: u32, changed: &[&str], repo: &RepoFiles) -> String {
    format!(
        "generation {number} is stale: it was built for another {} than {} holds now",
        changed.join(" and "),
        repo.root.display()
    )
}

/// Warns when generation `number` (its bundle's `manifest`) was built in link mode and is
/// stale: it runs the repository's current code on the dependencies it was built with.
pub fn warn_link_mode(ctx: &Context, number: u32, manifest: &BundleManifest) {
    if SourceMode::of_inputs(&manifest.inputs) != SourceMode::Link {
        return;
    }
    let Some(repo) = repo_files(ctx) else {
        return;
    };
    let changed = repo.changed(&manifest.inputs);
    if changed.is_empty() {
        return;
    }
    ctx.reporter.warn(&format!(
        "{}; with `source = link` it runs the repository's current code on the dependencies it was built with. Rebuild with `cosmo-bundle build`, or keep each generation's own code with `cosmo-bundle config set source snapshot`",
        sentence(number, &changed, &repo)
    ));
}
