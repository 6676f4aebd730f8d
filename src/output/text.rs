//! The text form of each output.

use super::*;
use std::io::{Result, Write};

impl Render for RecordOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        let r = &self.record;
        if self.verb != "shown" {
            return writeln!(
                out,
                "{} {} ({}) {}",
                self.verb,
                r.name,
                r.id,
                r.install_status.as_db()
            );
        }
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(out, "id:                {}", r.id)?;
        writeln!(out, "name:              {}", r.name)?;
        writeln!(out, "source:            {}", r.source)?;
        writeln!(out, "source_type:       {}", r.source_type.as_db())?;
        writeln!(out, "install_status:    {}", r.install_status.as_db())?;
        writeln!(out, "installed_version: {}", opt(&r.installed_version))?;
        writeln!(out, "updated_version:   {}", opt(&r.updated_version))?;
        writeln!(out, "error_message:     {}", opt(&r.error_message))?;
        writeln!(out, "created_at:        {}", r.created_at)?;
        writeln!(out, "updated_at:        {}", r.updated_at)
    }
}

impl Render for RecordList {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        if self.0.is_empty() {
            writeln!(out, "no plugin records")?;
        }
        for row in &self.0 {
            let r = match row {
                crate::db::table::Row::Sound(r) => r,
                crate::db::table::Row::Damaged(d) => {
                    writeln!(
                        out,
                        "{}  {:<11}  {:<24}  {}",
                        d.id.as_deref().unwrap_or("(no id)"),
                        "DAMAGED",
                        d.name.as_deref().unwrap_or("(no name)"),
                        d.problems.join("; "),
                    )?;
                    continue;
                }
            };
            writeln!(
                out,
                "{}  {:<11}  {:<24}  installed={}  updated={}",
                r.id,
                r.install_status.as_db(),
                r.name,
                r.installed_version.as_deref().unwrap_or("-"),
                r.updated_version.as_deref().unwrap_or("-"),
            )?;
        }
        Ok(())
    }
}

impl Render for BuildOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        let Some(generation) = self.generation else {
            return writeln!(
                out,
                "nothing to do: the current generation already has this plugin set ({})",
                self.hash
            );
        };
        let how = if self.reused {
            "reused existing bundle"
        } else {
            "built bundle"
        };
        writeln!(out, "{how} {}", self.hash)?;
        if let Some(activation) = &self.activation {
            writeln!(out, "generation {generation} is now current")?;
            return activation_lines(activation, out);
        }
        if self.switched {
            writeln!(
                out,
                "generation {generation} is now current (restart the server to use it)"
            )
        } else {
            writeln!(
                out,
                "recorded generation {generation} (not current: use `cosmo-bundle switch {generation}`)"
            )
        }
    }
}

/// `name==version`, or `name ref@commit` for git plugins.
pub(super) fn plugin_list(plugins: &[BundlePlugin]) -> String {
    if plugins.is_empty() {
        return "(clean: no plugins)".to_string();
    }
    plugins
        .iter()
        .map(|p| match &p.commit {
            Some(c) => format!("{} {}@{}", p.name, p.version, &c[..c.len().min(12)]),
            None => format!("{}=={}", p.name, p.version),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Render for GenerationList {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        if self.0.is_empty() {
            writeln!(out, "no generations yet: run `cosmo-bundle build`")?;
        }
        for g in &self.0 {
            let mark = if g.current { "*" } else { " " };
            let plugins = if g.valid {
                plugin_list(&g.plugins)
            } else {
                "(plugins unknown)".to_string()
            };
            let pin = if g.pinned { "  [pinned]" } else { "" };
            let label = g
                .label
                .as_ref()
                .map(|l| format!("  \"{l}\""))
                .unwrap_or_default();
            let damage = if g.damage.is_empty() {
                String::new()
            } else {
                let what: Vec<&str> = g.damage.iter().map(|d| d.message.as_str()).collect();
                format!("  DAMAGED: {}", what.join("; "))
            };
            let activation = match (&g.unfinished, &g.activation) {
                (Some(u), _) if u.running => "  [activating]".to_string(),
                (Some(u), _) => format!(
                    "  [UNCONFIRMED: its activation by `{}` was interrupted]",
                    u.command
                ),
                (None, Some(VerdictOutput::Confirmed { .. })) => "  [confirmed]".to_string(),
                (None, Some(VerdictOutput::Failed { reason, .. })) => {
                    format!("  [ACTIVATION FAILED: {reason}]")
                }
                (None, None) => String::new(),
            };
            let running = if g.running { "  [running]" } else { "" };
            let stale = if g.stale == Some(true) {
                format!("  [stale: {} changed]", g.stale_files.join(", "))
            } else {
                String::new()
            };
            writeln!(
                out,
                "{mark} {:>4}  {}  {}  {plugins}{pin}{running}{stale}{label}{activation}{damage}",
                g.number, g.created_at, g.hash,
            )?;
        }
        Ok(())
    }
}

impl Render for ActivationOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        if let Some(activation) = &self.activation {
            writeln!(out, "generation {} is now current", self.current)?;
            return activation_lines(activation, out);
        }
        writeln!(
            out,
            "generation {} is now current (restart the server to use it)",
            self.current
        )
    }
}

/// The lines of an activation that succeeded.
fn activation_lines(activation: &ActivationReport, out: &mut dyn Write) -> Result<()> {
    for line in activation.lines() {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

impl Render for ManifestOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        let m = &self.manifest;
        writeln!(
            out,
            "{}: valid ({} {}, class {})",
            self.path.display(),
            m.name,
            m.version,
            m.plugin_class
        )
    }
}

impl Render for DiscoverOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        for f in &self.found {
            let added = self
                .added
                .iter()
                .any(|a| Some(&a.id) == f.record_id.as_ref());
            let state = if added {
                format!(
                    "added (UNINSTALLED): build it with `cosmo-bundle plugin update {} --rev {}`",
                    f.distribution, f.rev
                )
            } else {
                "already recorded".to_string()
            };
            writeln!(
                out,
                "{:<24} {:<5} {}  {state}",
                f.distribution,
                f.source_type.as_db(),
                f.path.display()
            )?;
        }
        writeln!(
            out,
            "{} found, {} added, {} rejected",
            self.found.len(),
            self.added.len(),
            self.rejected.len()
        )
    }
}

impl Render for ConfigOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        if self.settings.is_empty() {
            writeln!(
                out,
                "no settings (uv's defaults apply): see `cosmo-bundle config set --help`"
            )?;
        }
        for s in &self.settings {
            writeln!(out, "{} = {}", s.key, s.value)?;
        }
        Ok(())
    }
}

impl Render for SettingOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        match &self.value {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::String(s) => writeln!(out, "{s}"),
            serde_json::Value::Array(items) => {
                for item in items {
                    writeln!(out, "{}", item.as_str().unwrap_or_default())?;
                }
                Ok(())
            }
            other => writeln!(out, "{other}"),
        }
    }
}

impl Render for CompletionsOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        out.write_all(self.script.as_bytes())
    }
}
