//! Output of `diff`: what changed between two generations.

use super::Render;
use crate::store::bundle::BundlePlugin;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{Result, Write};

/// `diff A B`: what changed from generation A to generation B.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffOutput {
    pub from: DiffSide,
    pub to: DiffSide,
    /// Plugins in B but not in A.
    pub added: Vec<BundlePlugin>,
    /// Plugins in A but not in B.
    pub removed: Vec<BundlePlugin>,
    /// Plugins in both whose source, version, resolved version or commit differ.
    pub changed: Vec<PluginChange>,
    /// Every package of the two bundles' `uv.lock` that was added, removed or changed.
    pub packages: PackageChanges,
    /// The hash inputs that differ (`server_pyproject`, `server_uv_lock`,
    /// `server_source`, `settings.KEY`, `python_path`, ...), by name.
    pub inputs: Vec<String>,
}

/// One side of a diff.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffSide {
    pub number: u32,
    pub hash: String,
    pub label: Option<String>,
}

/// A plugin in both generations, as it is in each.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PluginChange {
    pub name: String,
    pub from: BundlePlugin,
    pub to: BundlePlugin,
}

/// The locked packages that changed.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct PackageChanges {
    pub added: Vec<LockedPackage>,
    pub removed: Vec<LockedPackage>,
    pub changed: Vec<PackageChange>,
}

/// A package as `uv.lock` pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LockedPackage {
    /// Normalised name.
    pub name: String,
    pub version: Option<String>,
    /// The commit of a git source.
    pub commit: Option<String>,
}

/// A package locked in both generations, in another version or at another commit.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PackageChange {
    pub name: String,
    pub from: LockedPackage,
    pub to: LockedPackage,
}

fn plugin_text(p: &BundlePlugin) -> String {
    match &p.commit {
        Some(c) => format!("{} {} @ {}", p.name, p.version, &c[..c.len().min(12)]),
        None => format!("{} {}", p.name, p.version),
    }
}

fn package_text(p: &LockedPackage) -> String {
    let version = p.version.as_deref().unwrap_or("(no version)");
    match &p.commit {
        Some(c) => format!("{version} @ {}", &c[..c.len().min(12)]),
        None => version.to_string(),
    }
}

impl Render for DiffOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        writeln!(out, "generation {} -> {}", self.from.number, self.to.number)?;
        if self.from.hash == self.to.hash {
            return writeln!(out, "no changes: both are bundle {}", self.to.hash);
        }
        let plugins = self.added.len() + self.removed.len() + self.changed.len();
        if plugins == 0 {
            writeln!(out, "plugins: unchanged")?;
        } else {
            writeln!(out, "plugins:")?;
        }
        for p in &self.added {
            writeln!(out, "  + {}", plugin_text(p))?;
        }
        for p in &self.removed {
            writeln!(out, "  - {}", plugin_text(p))?;
        }
        for c in &self.changed {
            writeln!(
                out,
                "  ~ {} -> {}",
                plugin_text(&c.from),
                plugin_text(&c.to)
                    .strip_prefix(&format!("{} ", c.name))
                    .unwrap_or_default()
            )?;
        }
        let p = &self.packages;
        if p.added.len() + p.removed.len() + p.changed.len() == 0 {
            writeln!(out, "locked packages: unchanged")?;
        } else {
            writeln!(out, "locked packages:")?;
        }
        for a in &p.added {
            writeln!(out, "  + {} {}", a.name, package_text(a))?;
        }
        for r in &p.removed {
            writeln!(out, "  - {} {}", r.name, package_text(r))?;
        }
        for c in &p.changed {
            writeln!(
                out,
                "  ~ {} {} -> {}",
                c.name,
                package_text(&c.from),
                package_text(&c.to)
            )?;
        }
        if !self.inputs.is_empty() {
            writeln!(out, "inputs changed: {}", self.inputs.join(", "))?;
        }
        Ok(())
    }
}
