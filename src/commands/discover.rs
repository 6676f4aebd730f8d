//! `discover` and `manifest check`.

use super::print_json;
use crate::context::Context;
use crate::error::Result;
use crate::manifest;
use crate::ops::discover;
use std::path::Path;

pub fn discover(ctx: &Context, json: bool) -> Result<()> {
    let report = discover::discover(ctx)?;
    if json {
        return print_json(&report);
    }
    for r in &report.rejected {
        ctx.reporter
            .warn(&format!("rejected {}: {}", r.path.display(), r.reason));
    }
    for f in &report.found {
        let added = report
            .added
            .iter()
            .any(|a| Some(&a.id) == f.record_id.as_ref());
        let state = if added {
            "added (UNINSTALLED)"
        } else {
            "already recorded"
        };
        println!(
            "{:<24} {:<5} {}  {state}",
            f.distribution,
            f.source_type.as_db(),
            f.path.display()
        );
    }
    println!(
        "{} found, {} added, {} rejected",
        report.found.len(),
        report.added.len(),
        report.rejected.len()
    );
    Ok(())
}

pub fn check(json: bool, path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let m = manifest::load(path, dir)?;
    if json {
        return print_json(&m);
    }
    println!(
        "{}: valid ({} {}, class {})",
        path.display(),
        m.name,
        m.version,
        m.plugin_class
    );
    Ok(())
}
