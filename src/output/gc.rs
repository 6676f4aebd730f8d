//! Output of `gc`: what a garbage collection deleted (or, with `--dry-run`, would delete).

use super::Render;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{Result, Write};
use std::path::PathBuf;

/// `gc`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GcOutput {
    /// Whether nothing was changed (`--dry-run`: what would go).
    pub dry_run: bool,
    /// Generations deleted.
    pub generations: Vec<GcGenerationOutput>,
    /// Bundles deleted.
    pub bundles: Vec<GcBundleOutput>,
    /// Bundles kept only because a server started by `cosmo-bundle start` runs from them
    /// (deleted by a `gc` after that server has exited).
    pub kept_running: Vec<GcBundleOutput>,
    /// Shared trees (`store/.trees`) deleted.
    pub trees: usize,
    /// Shared files (`store/.links`) deleted.
    pub links: usize,
    /// Snapshots of the server's source (`store/.sources/<digest>`) no kept bundle links.
    pub sources: Vec<String>,
    /// Checked locks (`resolved/<hash>.lock`) deleted.
    pub locks: Vec<String>,
    /// Other leftovers deleted: unregistered store directories, temporary files, records
    /// of servers that have exited (paths relative to the data directory).
    pub leftovers: Vec<PathBuf>,
    /// Bytes freed (`--dry-run`: that would be freed): the blocks of every inode that
    /// nothing kept links any more, each inode counted once.
    pub freed_bytes: u64,
}

/// A deleted generation.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GcGenerationOutput {
    pub number: u32,
    pub hash: String,
    pub created_at: String,
    pub label: Option<String>,
}

/// A bundle deleted (or kept for a running server).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GcBundleOutput {
    pub hash: String,
    /// Whether it was registered (an unregistered directory is a leftover of a build).
    pub registered: bool,
    /// The pids of the servers running from it (for `kept_running`).
    pub pids: Vec<u32>,
}

impl Render for GcOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for g in &self.generations {
            let label = g
                .label
                .as_deref()
                .map(|l| format!(" {l:?}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{verb} generation {} ({}, {}){label}",
                g.number, g.hash, g.created_at
            )?;
        }
        for b in &self.bundles {
            let what = if b.registered {
                "bundle"
            } else {
                "unregistered directory"
            };
            writeln!(out, "{verb} {what} store/{}", b.hash)?;
        }
        for b in &self.kept_running {
            let pids: Vec<String> = b.pids.iter().map(u32::to_string).collect();
            writeln!(
                out,
                "kept bundle store/{}: a server started by cosmo-bundle runs from it (pid {}); a gc after it exits deletes it",
                b.hash,
                pids.join(", ")
            )?;
        }
        for d in &self.sources {
            writeln!(out, "{verb} snapshot store/.sources/{d}")?;
        }
        for l in &self.locks {
            writeln!(out, "{verb} resolved/{l}.lock")?;
        }
        for l in &self.leftovers {
            writeln!(out, "{verb} leftover {}", l.display())?;
        }
        writeln!(
            out,
            "{verb} {} shared tree(s) and {} shared file(s); {} {}",
            self.trees,
            self.links,
            if self.dry_run { "would free" } else { "freed" },
            super::status::human_bytes(self.freed_bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_bytes_are_in_the_units_status_uses() {
        let gc = GcOutput {
            dry_run: true,
            generations: Vec::new(),
            bundles: Vec::new(),
            kept_running: Vec::new(),
            trees: 0,
            links: 3,
            sources: Vec::new(),
            locks: Vec::new(),
            leftovers: Vec::new(),
            freed_bytes: 12288,
        };
        let mut text = Vec::new();
        gc.text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.ends_with(&format!(
                "would free {}\n",
                super::super::status::human_bytes(12288)
            )),
            "{text}"
        );
        assert!(text.ends_with("would free 12.0 KiB\n"), "{text}");
    }
}
