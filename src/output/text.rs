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
        writeln!(
            out,
            "source:            {}",
            crate::text::redact_url(&r.source)
        )?;
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
    /// One line per generation, made in one buffer and written whole: each distinct
    /// bundle's plugin list is formatted once.
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        if self.0.is_empty() {
            writeln!(out, "no generations yet: run `cosmo-bundle build`")?;
        }
        let mut line: Vec<u8> = Vec::with_capacity(256);
        for g in self.0.iter() {
            line.clear();
            line.extend_from_slice(if g.current { b"* " } else { b"  " });
            write_padded(&mut line, g.number, 4);
            line.extend_from_slice(b"  ");
            line.extend_from_slice(g.created_at.as_bytes());
            line.extend_from_slice(b"  ");
            line.extend_from_slice(g.hash.as_bytes());
            line.extend_from_slice(b"  ");
            if g.valid {
                line.extend_from_slice(g.plugins.text(plugin_list).as_bytes());
            } else {
                line.extend_from_slice(b"(plugins unknown)");
            }
            if g.pinned {
                line.extend_from_slice(b"  [pinned]");
            }
            if g.running {
                line.extend_from_slice(b"  [running]");
            }
            if g.stale == Some(true) {
                line.extend_from_slice(b"  [stale: ");
                line.extend_from_slice(g.stale_files.join(", ").as_bytes());
                line.extend_from_slice(b" changed]");
            }
            if let Some(label) = &g.label {
                line.extend_from_slice(b"  \"");
                line.extend_from_slice(label.as_bytes());
                line.extend_from_slice(b"\"");
            }
            match (g.unfinished.as_deref(), g.activation.as_deref()) {
                (Some(u), _) if u.running => line.extend_from_slice(b"  [activating]"),
                (Some(u), _) => {
                    line.extend_from_slice(b"  [UNCONFIRMED: its activation by `");
                    line.extend_from_slice(u.command.as_bytes());
                    line.extend_from_slice(b"` was interrupted]");
                }
                (None, Some(VerdictOutput::Confirmed { .. })) => {
                    line.extend_from_slice(b"  [confirmed]");
                }
                (None, Some(VerdictOutput::Failed { reason, .. })) => {
                    line.extend_from_slice(b"  [ACTIVATION FAILED: ");
                    line.extend_from_slice(reason.as_bytes());
                    line.extend_from_slice(b"]");
                }
                (None, None) => {}
            }
            if !g.damage.is_empty() {
                line.extend_from_slice(b"  DAMAGED: ");
                for (i, d) in g.damage.iter().enumerate() {
                    if i > 0 {
                        line.extend_from_slice(b"; ");
                    }
                    line.extend_from_slice(d.message.as_bytes());
                }
            }
            line.push(b'\n');
            out.write_all(&line)?;
        }
        Ok(())
    }
}

/// Appends `n` right-aligned in `width` columns (as `{:>width$}` would).
fn write_padded(line: &mut Vec<u8>, mut n: u32, width: usize) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - start;
    line.resize(line.len() + width.saturating_sub(len), b' ');
    line.extend_from_slice(&digits[start..]);
}

impl Render for ActivationOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        if let Some(activation) = &self.activation {
            writeln!(out, "generation {} is now current", self.current)?;
            return activation_lines(activation, out);
        }
        if self.previous == Some(self.current) {
            return writeln!(
                out,
                "generation {} was already current; nothing restarted (`cosmo-bundle activate` restarts and checks it)",
                self.current
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn plugin(name: &str, commit: Option<&str>) -> BundlePlugin {
        serde_json::from_value(serde_json::json!({
            "name": name, "source_type": if commit.is_some() { "GIT" } else { "PYPI" },
            "source": name, "version": "1.0.0", "requirement": format!("{name}==1.0.0"),
            "resolved_version": "1.0.0", "commit": commit,
            "manifest": {"name": "Tab\there \"quoted\"", "version": "1.0.0",
                         "plugin_class": "a.B", "description": "d\nline", "url_prefix": "/a"},
            "extra": [1, {"x": []}]}))
        .unwrap()
    }

    /// Two generations of one bundle, one of another, one of a damaged bundle.
    fn list() -> GenerationList {
        let shared = Rc::new(SharedPlugins::new(vec![
            plugin("zigbee-switch", None),
            plugin("hue-lights", Some("0123456789abcdef0123")),
        ]));
        let clean = Rc::new(SharedPlugins::new(Vec::new()));
        let g = |number: u32, plugins: &Rc<SharedPlugins>, valid: bool| GenerationOutput {
            number,
            hash: format!("{number:032x}").into(),
            current: number == 2,
            created_at: "2026-11-24T23:49:26Z".to_string().into(),
            path: Rc::from(std::path::Path::new("/data/store/x")),
            valid,
            plugins: plugins.clone(),
            label: (number == 1).then(|| "before \"zigbee\"".to_string().into()),
            pinned: number == 3,
            activation: match number {
                1 => Some(Box::new(VerdictOutput::Confirmed {
                    at: "2026-11-24T23:50:00Z".into(),
                    url: None,
                })),
                3 => Some(Box::new(VerdictOutput::Failed {
                    at: "2026-11-24T23:50:00Z".into(),
                    kind: "timeout".into(),
                    reason: "no answer".into(),
                })),
                _ => None,
            },
            unfinished: (number == 2).then(|| {
                Box::new(UnfinishedOutput {
                    previous: Some(1),
                    command: "switch".into(),
                    started_at: "2026-11-24T23:50:00Z".into(),
                    running: false,
                    hint: "run activate".into(),
                })
            }),
            running: number == 3,
            source: valid.then_some("link"),
            stale: valid.then_some(number == 1),
            stale_files: if number == 1 {
                vec!["uv.lock"]
            } else {
                Vec::new()
            },
            damage: if valid {
                Vec::new()
            } else {
                vec![
                    DamageOutput {
                        kind: "link_missing",
                        message: "generations/12345 is missing".into(),
                    },
                    DamageOutput {
                        kind: "bundle_missing",
                        message: "its bundle is gone".into(),
                    },
                ]
            },
        };
        GenerationList(Rows::from(vec![
            g(1, &shared, true),
            g(2, &clean, true),
            g(3, &shared, true),
            g(12345, &clean, false),
        ]))
    }

    #[test]
    fn the_generations_text_is_one_line_per_generation_in_fixed_columns() {
        let mut out = Vec::new();
        list().text(&mut out).unwrap();
        let hash = |n: u32| format!("{n:032x}");
        let plugins = "zigbee-switch==1.0.0, hue-lights 1.0.0@0123456789ab";
        let expected = [
            format!(
                "     1  2026-11-24T23:49:26Z  {}  {plugins}  [stale: uv.lock changed]  \"before \"zigbee\"\"  [confirmed]",
                hash(1)
            ),
            format!(
                "*    2  2026-11-24T23:49:26Z  {}  (clean: no plugins)  [UNCONFIRMED: its activation by `switch` was interrupted]",
                hash(2)
            ),
            format!(
                "     3  2026-11-24T23:49:26Z  {}  {plugins}  [pinned]  [running]  [ACTIVATION FAILED: no answer]",
                hash(3)
            ),
            format!(
                "  12345  2026-11-24T23:49:26Z  {}  (plugins unknown)  DAMAGED: generations/12345 is missing; its bundle is gone",
                hash(12345)
            ),
        ];
        assert_eq!(String::from_utf8(out).unwrap(), expected.join("\n") + "\n");
        let mut out = Vec::new();
        GenerationList(Rows::from(Vec::new()))
            .text(&mut out)
            .unwrap();
        assert_eq!(out, b"no generations yet: run `cosmo-bundle build`\n");
    }

    #[test]
    fn shared_plugins_print_as_the_printer_prints_any_json() {
        /// A generation as it was printed before its parts were shared.
        #[derive(serde::Serialize)]
        struct Plain<'a> {
            number: u32,
            hash: &'a str,
            current: bool,
            created_at: &'a str,
            path: &'a std::path::Path,
            valid: bool,
            plugins: &'a [BundlePlugin],
            label: Option<&'a str>,
            pinned: bool,
            damage: &'a [DamageOutput],
            activation: Option<&'a VerdictOutput>,
            unfinished: Option<&'a UnfinishedOutput>,
            running: bool,
            source: Option<&'a str>,
            stale: Option<bool>,
            stale_files: &'a [&'static str],
        }
        let list = list();
        let outputs: Vec<GenerationOutput> = list.0.iter().collect();
        let plain: Vec<Plain> = outputs
            .iter()
            .map(|g| Plain {
                number: g.number,
                hash: &g.hash,
                current: g.current,
                created_at: &g.created_at,
                path: &g.path,
                valid: g.valid,
                plugins: &g.plugins.list,
                label: g.label.as_deref(),
                pinned: g.pinned,
                damage: &g.damage,
                activation: g.activation.as_deref(),
                unfinished: g.unfinished.as_deref(),
                running: g.running,
                source: g.source,
                stale: g.stale,
                stale_files: &g.stale_files,
            })
            .collect();
        // Byte for byte, twice (the second time from the JSON made once).
        for _ in 0..2 {
            assert_eq!(
                serde_json::to_string_pretty(&list).unwrap(),
                serde_json::to_string_pretty(&plain).unwrap()
            );
        }
        let value = serde_json::to_value(&list).unwrap();
        assert_eq!(value[0]["plugins"][1]["commit"], "0123456789abcdef0123");
        assert_eq!(value[1]["plugins"], serde_json::json!([]));
    }
}
