//! Output of `status`: the state of the box at a glance.

use super::{DamageOutput, Render};
use crate::plugins::PluginRecord;
use crate::store::bundle::BundlePlugin;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{Result, Write};
use std::path::PathBuf;

/// `status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusOutput {
    /// The current generation; null when there is none (or `current` points to a
    /// generation that does not exist: see `problems`).
    pub current: Option<CurrentOutput>,
    /// How many generations there are.
    pub generations: usize,
    /// Records waiting for a build (`PENDING`).
    pub pending: Vec<PluginRecord>,
    /// Records that failed (`FAILED`), with the reason in `error_message`.
    pub failed: Vec<PluginRecord>,
    /// Servers started by `cosmo-bundle start` that are running now.
    pub servers: Vec<ServerOutput>,
    /// Whether the current generation is stale against the server repository.
    pub repository: RepositoryOutput,
    pub store: StoreOutput,
    /// What else needs the operator's attention, one sentence each (a dangling `current`,
    /// damaged plugin rows, a damaged generation index).
    pub problems: Vec<String>,
    /// An activation that was interrupted (or is running now), never confirmed, and the
    /// generation it activates; null when there is none.
    pub unfinished_activation: Option<UnfinishedActivation>,
}

/// An activation under way, on the generation it activates.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UnfinishedActivation {
    pub generation: u32,
    #[serde(flatten)]
    pub unfinished: super::UnfinishedOutput,
}

/// The current generation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CurrentOutput {
    pub number: u32,
    pub hash: String,
    pub created_at: String,
    pub label: Option<String>,
    pub pinned: bool,
    pub path: PathBuf,
    /// `link` or `snapshot`; null when the bundle is unreadable.
    pub source: Option<&'static str>,
    pub plugins: Vec<BundlePlugin>,
    /// What is wrong with it; empty when it is sound.
    pub damage: Vec<DamageOutput>,
    /// Its last activation verdict (restart and health check); null when it was never
    /// activated with a health check.
    pub activation: Option<super::VerdictOutput>,
}

/// A running server, from its `run/<pid>.json` record (alive: its pid exists with the
/// recorded start time).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ServerOutput {
    pub pid: u32,
    /// The generation it was started from; null for `start --clean`.
    pub generation: Option<u32>,
    /// Its bundle; null for `start --clean`.
    pub hash: Option<String>,
    /// Whether it runs the server repository without plugins (`start --clean`).
    pub clean: bool,
    pub host: String,
    pub port: u16,
    pub started_at: String,
    pub dir: PathBuf,
    /// Whether it runs another bundle than the current generation's: restart it to use
    /// the current one.
    pub restart_needed: bool,
}

/// The current generation against the server repository.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RepositoryOutput {
    /// The server repository compared with; null when none was given (not checked).
    pub path: Option<PathBuf>,
    /// Whether it was compared (a repository was given, and there is a readable current
    /// generation).
    pub checked: bool,
    /// Whether the current generation was built for another `pyproject.toml` or `uv.lock`
    /// than the repository holds now; null when not checked.
    pub stale: Option<bool>,
    /// The files that changed since (`pyproject.toml`, `uv.lock`).
    pub changed: Vec<&'static str>,
}

/// The store's disk use.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StoreOutput {
    pub path: PathBuf,
    /// Bytes of disk the store's files use, each inode counted once.
    pub bytes: u64,
    /// Bytes `gc` could free (its dry run); null when not measured.
    pub gc_reclaimable_bytes: Option<u64>,
    /// Whether the store is on the same file system as uv's cache (so uv hardlinks
    /// packages instead of copying them); null when not checked.
    pub same_file_system_as_uv_cache: Option<bool>,
}

/// Bytes in a binary unit a person reads at once: the one byte formatter of text output.
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// The first line of a text (a record's error message can be uv's whole explanation).
/// The line of a failure that says why: uv's `cause:` (or `Because …`) line when
/// there is one, else the first line; trimmed.
fn reason_line(text: &str) -> &str {
    let why = text.lines().map(str::trim).find_map(|l| {
        let l = l.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        l.strip_prefix("cause:")
            .map(str::trim)
            .or_else(|| l.starts_with("Because ").then_some(l))
    });
    why.unwrap_or_else(|| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    })
}

impl Render for StatusOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        match &self.current {
            None => writeln!(
                out,
                "current:     none (build one with `cosmo-bundle build`)"
            )?,
            Some(c) => {
                let label = c
                    .label
                    .as_ref()
                    .map(|l| format!(", \"{l}\""))
                    .unwrap_or_default();
                let pin = if c.pinned { " [pinned]" } else { "" };
                writeln!(
                    out,
                    "current:     generation {} ({}{label}){pin}",
                    c.number, c.created_at
                )?;
                let source = c
                    .source
                    .map(|s| format!(", source {s}"))
                    .unwrap_or_default();
                writeln!(out, "             bundle {}{source}", c.hash)?;
                if !c.damage.is_empty() {
                    let what: Vec<&str> = c.damage.iter().map(|d| d.message.as_str()).collect();
                    writeln!(out, "             DAMAGED: {}", what.join("; "))?;
                }
                if c.damage.is_empty() {
                    writeln!(out, "plugins:     {}", super::text::plugin_list(&c.plugins))?;
                } else {
                    writeln!(out, "plugins:     (plugins unknown)")?;
                }
                match &c.activation {
                    Some(super::VerdictOutput::Confirmed { at, .. }) => {
                        writeln!(out, "activation:  confirmed healthy at {at}")?
                    }
                    Some(super::VerdictOutput::Failed { at, reason, .. }) => {
                        writeln!(out, "activation:  FAILED at {at}: {reason}")?
                    }
                    None => {}
                }
            }
        }
        writeln!(out, "generations: {}", self.generations)?;
        if self.pending.is_empty() {
            writeln!(out, "pending:     none")?;
        }
        for r in &self.pending {
            writeln!(
                out,
                "pending:     {} {} (waiting for `cosmo-bundle build`)",
                r.name,
                r.updated_version.as_deref().unwrap_or("-")
            )?;
        }
        for r in &self.failed {
            writeln!(
                out,
                "failed:      {}: {}",
                r.name,
                reason_line(r.error_message.as_deref().unwrap_or("(no reason recorded)"))
            )?;
        }
        if self.servers.is_empty() {
            writeln!(
                out,
                "servers:     none started by `cosmo-bundle start` is running"
            )?;
        }
        for s in &self.servers {
            let what = match s.generation {
                _ if s.clean => "the server repository without plugins (--clean)".to_string(),
                Some(g) => format!("generation {g}"),
                None => "an unknown generation".to_string(),
            };
            let restart = match (&self.current, s.restart_needed) {
                (Some(c), true) => format!(": restart needed (current is generation {})", c.number),
                _ => String::new(),
            };
            writeln!(
                out,
                "servers:     pid {} on {}:{} runs {what}{restart}",
                s.pid, s.host, s.port
            )?;
        }
        let r = &self.repository;
        match (&r.path, r.stale) {
            (None, _) => writeln!(
                out,
                "repository:  not checked for staleness (give --server or COSMO_SERVER_DIR)"
            )?,
            (Some(p), None) => writeln!(out, "repository:  {}: not checked", p.display())?,
            (Some(p), Some(false)) => writeln!(out, "repository:  {}: up to date", p.display())?,
            (Some(p), Some(true)) => writeln!(
                out,
                "repository:  {}: STALE, {} changed since the current generation was built (`cosmo-bundle build`)",
                p.display(),
                r.changed.join(" and ")
            )?,
        }
        let s = &self.store;
        let gc = s
            .gc_reclaimable_bytes
            .map_or_else(|| "not measured".to_string(), human_bytes);
        writeln!(
            out,
            "store:       {} (each file counted once); gc could free: {gc}",
            human_bytes(s.bytes)
        )?;
        let same = match s.same_file_system_as_uv_cache {
            None => "not checked",
            Some(true) => "on the store's file system (packages are hardlinked)",
            Some(false) => "on another file system than the store (packages are copied)",
        };
        writeln!(out, "uv cache:    {same}")?;
        if let Some(u) = &self.unfinished_activation {
            let state = if u.unfinished.running {
                "is running now"
            } else {
                "was interrupted and never confirmed"
            };
            writeln!(
                out,
                "activation:  of generation {} by `{}` (started {}) {state}; {}",
                u.generation, u.unfinished.command, u.unfinished.started_at, u.unfinished.hint
            )?;
        }
        for p in &self.problems {
            writeln!(out, "problem:     {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_shows_the_line_that_says_why() {
        let uv = "error: No solution found when resolving dependencies\n  cause: Because a depends on b>=2, a is unusable.\n         And because you require a, fail.";
        assert_eq!(reason_line(uv), "Because a depends on b>=2, a is unusable.");
        let fancy = "  × No solution found when resolving dependencies:\n  ╰─▶ Because a depends on b>=2, a is unusable.";
        assert_eq!(
            reason_line(fancy),
            "Because a depends on b>=2, a is unusable."
        );
        assert_eq!(
            reason_line("\n  plugin check failed: no Plugin class  \nmore"),
            "plugin check failed: no Plugin class"
        );
    }

    #[test]
    fn bytes_read_at_once() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
