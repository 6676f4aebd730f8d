//! Output of `verify`: each bundle checked against its file record.

use super::Render;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{Result, Write};
use std::path::PathBuf;

/// `verify`: the bundles checked (and, under `--json`, the `verify` of a `verify_failed`
/// error: the same object).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VerifyOutput {
    /// Whether every bundle is as recorded (or has no record to compare with).
    pub ok: bool,
    pub bundles: Vec<BundleCheckOutput>,
}

/// One bundle checked.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BundleCheckOutput {
    pub hash: String,
    pub path: PathBuf,
    /// The generations that use it.
    pub generations: Vec<u32>,
    /// `ok`, `changed`, or `no_record` (registered by an earlier version, without a file
    /// record: not checked, not damaged).
    pub status: &'static str,
    /// Recorded entries checked (0 when `bundle.json` or the file record is unreadable).
    pub entries: usize,
    /// Shared trees (`store/.trees`) checked (0 when `bundle.json` or the file record is
    /// unreadable).
    pub trees: usize,
    /// Every difference, by path.
    pub problems: Vec<ProblemOutput>,
}

/// One difference from the record.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProblemOutput {
    /// Relative to the bundle, or `.trees/<digest>/…` (relative to the store) in a shared tree.
    pub path: PathBuf,
    /// `unregistered`, `manifest_edited`, `record_edited`, `added`, `removed`,
    /// `kind_changed`, `mode_changed`, `size_changed`, `content_changed`,
    /// `target_changed`, `tree_missing` or `tree_changed`.
    pub change: &'static str,
    pub detail: String,
}

impl VerifyOutput {
    /// The problems as lines: `<hash>: <change> <path>: <detail>`.
    pub fn problem_lines(&self) -> Vec<String> {
        self.bundles
            .iter()
            .flat_map(|b| {
                b.problems.iter().map(move |p| {
                    format!(
                        "{}: {} {}: {}",
                        b.hash,
                        p.change,
                        p.path.display(),
                        p.detail
                    )
                })
            })
            .collect()
    }
}

impl Render for VerifyOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        for b in &self.bundles {
            let gens: Vec<String> = b.generations.iter().map(u32::to_string).collect();
            let used = if gens.is_empty() {
                String::new()
            } else {
                format!(" (generation {})", gens.join(", "))
            };
            match b.status {
                "ok" => writeln!(
                    out,
                    "ok         {}{used}: {} entries and {} shared trees as recorded",
                    b.hash, b.entries, b.trees
                )?,
                "no_record" => writeln!(
                    out,
                    "no record  {}{used}: registered by an earlier version without a file record; not checked",
                    b.hash
                )?,
                _ => {
                    writeln!(
                        out,
                        "CHANGED    {}{used}: {} entries and {} shared trees checked:",
                        b.hash, b.entries, b.trees
                    )?;
                    for p in &b.problems {
                        writeln!(out, "  {:<16} {}: {}", p.change, p.path.display(), p.detail)?;
                    }
                }
            }
        }
        Ok(())
    }
}
