//! Output of the generation metadata commands (`delete`, `pin`, `unpin`, `label`), of
//! damage, and of damaged plugin rows.

use super::{RecordOutput, Render};
use crate::db::table::DamagedRecord;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{Result, Write};

/// One thing wrong with a generation.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DamageOutput {
    /// `link_missing`, `not_a_link`, `link_elsewhere`, `bundle_missing`,
    /// `bundle_unregistered` or `bundle_unreadable`.
    pub kind: &'static str,
    pub message: String,
}

/// A generation `rollback` passed over because it is damaged.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SkippedOutput {
    pub number: u32,
    pub reason: String,
}

/// `delete`: the generations deleted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteOutput {
    pub deleted: Vec<DeletedOutput>,
}

/// One deleted generation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedOutput {
    pub number: u32,
    /// Its bundle's hash; null for a name in `generations/` that was no generation.
    pub hash: Option<String>,
    pub label: Option<String>,
    pub pinned: bool,
}

/// `pin` and `unpin`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PinOutput {
    pub number: u32,
    pub pinned: bool,
    /// Whether the pin changed (false when it already was as asked).
    pub changed: bool,
}

/// `label`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LabelOutput {
    pub number: u32,
    /// The new label; null when cleared.
    pub label: Option<String>,
    pub previous: Option<String>,
}

/// `plugin show|remove` of a damaged row.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DamagedRecordOutput {
    /// `shown` or `removed`.
    #[serde(skip)]
    pub verb: &'static str,
    #[serde(flatten)]
    pub record: DamagedRecord,
}

/// `plugin show|remove`: a sound record or a damaged row.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RowOutput {
    Sound(RecordOutput),
    Damaged(DamagedRecordOutput),
}

impl Render for RowOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        match self {
            RowOutput::Sound(r) => r.text(out),
            RowOutput::Damaged(d) => d.text(out),
        }
    }
}

impl Render for DeleteOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        for d in &self.deleted {
            match &d.hash {
                Some(hash) => writeln!(out, "deleted generation {} ({hash})", d.number)?,
                None => writeln!(out, "removed generations/{} (no generation)", d.number)?,
            }
        }
        match self.deleted.iter().filter(|d| d.hash.is_some()).count() {
            0 => Ok(()),
            1 => writeln!(
                out,
                "its bundle stays in the store until a garbage collection removes it"
            ),
            _ => writeln!(
                out,
                "their bundles stay in the store until a garbage collection removes them"
            ),
        }
    }
}

impl Render for PinOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        let state = if self.pinned { "pinned" } else { "not pinned" };
        let already = if self.changed { "" } else { " (already)" };
        writeln!(out, "generation {} is {state}{already}", self.number)
    }
}

impl Render for LabelOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        match &self.label {
            Some(label) => writeln!(out, "generation {} is labelled {label:?}", self.number),
            None => writeln!(out, "generation {} has no label", self.number),
        }
    }
}

impl Render for DamagedRecordOutput {
    fn text(&self, out: &mut dyn Write) -> Result<()> {
        let r = &self.record;
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
        if self.verb != "shown" {
            return writeln!(
                out,
                "{} damaged record {} ({})",
                self.verb,
                opt(&r.id),
                opt(&r.name)
            );
        }
        writeln!(out, "DAMAGED: {}", r.problems.join("; "))?;
        writeln!(out, "id:                {}", opt(&r.id))?;
        writeln!(out, "name:              {}", opt(&r.name))?;
        writeln!(
            out,
            "source:            {}",
            crate::text::redact_url(&opt(&r.source))
        )?;
        writeln!(out, "source_type:       {}", opt(&r.source_type))?;
        writeln!(out, "install_status:    {}", opt(&r.install_status))?;
        writeln!(out, "installed_version: {}", opt(&r.installed_version))?;
        writeln!(out, "updated_version:   {}", opt(&r.updated_version))?;
        writeln!(out, "error_message:     {}", opt(&r.error_message))?;
        writeln!(out, "created_at:        {}", opt(&r.created_at))?;
        writeln!(out, "updated_at:        {}", opt(&r.updated_at))?;
        writeln!(
            out,
            "remove it with `cosmo-bundle plugin remove {}`",
            r.id.as_deref().or(r.name.as_deref()).unwrap_or("ID")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted(numbers: &[u32]) -> String {
        let out = DeleteOutput {
            deleted: numbers
                .iter()
                .map(|&number| DeletedOutput {
                    number,
                    hash: Some("0123456789abcdef0123456789abcdef".into()),
                    label: None,
                    pinned: false,
                })
                .collect(),
        };
        let mut text = Vec::new();
        out.text(&mut text).unwrap();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn delete_speaks_of_one_bundle_or_of_several() {
        let one = deleted(&[3]);
        assert!(
            one.ends_with("its bundle stays in the store until a garbage collection removes it\n"),
            "{one}"
        );
        let two = deleted(&[3, 4]);
        assert!(
            two.ends_with(
                "their bundles stay in the store until a garbage collection removes them\n"
            ),
            "{two}"
        );
    }
}
