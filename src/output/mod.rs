//! What commands print: one typed struct per command's output, serialised as is for
//! `--json` and rendered as text otherwise, and the one [`Printer`] that decides which.
//!
//! These structs are the JSON contract: a field is only ever added, never renamed or
//! removed. Their JSON Schemas in docs/json/ are generated from them (`schema.rs`).

mod activation;
mod diff;
mod gc;
mod generations;
pub mod schema;
mod status;
mod text;
mod verify;

pub use activation::*;
pub use diff::*;
pub use gc::*;
pub use generations::*;
pub use status::*;
pub use verify::*;

use crate::error::Error;
use crate::plugins::PluginRecord;
use crate::plugins::cosmo_json::CosmoManifest;
use crate::report::{Label, eprint_labelled};
use crate::store::bundle::BundlePlugin;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;

/// The version of the JSON contract, in every schema of docs/json/ as `x-schema-version`.
/// Adding a field keeps it; removing, renaming or retyping one raises it.
pub const SCHEMA_VERSION: u32 = 1;

/// Output that can be printed as text or as JSON.
pub trait Render: Serialize {
    /// Writes the human-readable form.
    fn text(&self, out: &mut dyn Write) -> std::io::Result<()>;
}

/// Prints command output on stdout, as JSON (`--json`) or text.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    /// Whether `error:` and `hint:` on stderr are coloured (never stdout).
    pub color: bool,
}

impl Printer {
    /// Prints `value`. A closed pipe (`| head`) is not an error: the command's work is done.
    pub fn print(&self, value: &impl Render) -> crate::error::Result<()> {
        let json = self.json;
        write_stdout(|out| {
            if json {
                // Through a buffer the serialiser writes to directly (not through `dyn`):
                // it writes in pieces of a few bytes.
                let mut buffer = std::io::BufWriter::with_capacity(64 * 1024, &mut *out);
                serde_json::to_writer_pretty(&mut buffer, value)?;
                buffer.flush()?;
                drop(buffer);
                writeln!(out)
            } else {
                value.text(out)
            }
        })
    }

    /// Prints an error: as a JSON object on stdout under `--json`, and always on stderr.
    pub fn error(&self, err: &Error) {
        crate::report::clear_progress();
        self.error_json(err);
        eprint_labelled(Label::Error, self.color, &err.to_string());
        if let Some(hint) = err.hint() {
            eprint_labelled(Label::Hint, self.color, &hint);
        }
    }

    /// Prints an error as a JSON object on stdout, under `--json` only.
    pub fn error_json(&self, err: &Error) {
        if self.json {
            let body = ErrorOutput::from(err);
            let _ = write_stdout(|out| {
                serde_json::to_writer_pretty(&mut *out, &body)?;
                writeln!(out)
            });
        }
    }
}

/// Writes on stdout through a buffer. A closed pipe (`| head`) is not an error: the
/// command's work is done.
fn write_stdout(
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> crate::error::Result<()> {
    crate::report::clear_progress();
    let stdout = std::io::stdout();
    // Large enough that a long listing (`generations` of thousands) is a few writes.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `{"error": {...}}`: what every command prints under `--json` when it fails.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorOutput {
    pub error: ErrorBody,
}

/// The error object.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable kind; the exit code follows from it (README.md, "Exit codes").
    #[schemars(schema_with = "schema::error_kind")]
    pub kind: &'static str,
    /// What went wrong (may span several lines: uv's explanation of a conflict).
    pub message: String,
    /// How to fix it, when there is something to say.
    pub hint: Option<String>,
    /// The process's exit code.
    pub exit_code: i32,
    /// The plugins that failed their checks (kind `plugin_check`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<crate::error::PluginFailure>,
    /// The record a conflict was recorded on (kind `conflict` from `plugin add` or
    /// `plugin update`): the FAILED record an add saved, or the updated record as kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<PluginRecord>,
    /// What the activation did (kind `activation_failed`): the failed generation's
    /// attempt, and the previous generation's after going back.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ActivationReport>")]
    pub activation: Option<serde_json::Value>,
    /// What `verify` found (kind `verify_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<VerifyOutput>")]
    pub verify: Option<serde_json::Value>,
}

impl From<&Error> for ErrorOutput {
    fn from(err: &Error) -> Self {
        let failures = match err {
            Error::PluginCheck { failures } => failures.clone(),
            _ => Vec::new(),
        };
        let record = match err {
            Error::Conflict {
                record: Some(record),
                ..
            } => PluginRecord::deserialize(record.as_ref()).ok(),
            _ => None,
        };
        let activation = match err {
            Error::ActivationFailed { report, .. } => Some(report.as_ref().clone()),
            _ => None,
        };
        let verify = match err {
            Error::VerifyFailed {
                report: Some(report),
                ..
            } => Some(report.as_ref().clone()),
            _ => None,
        };
        ErrorOutput {
            error: ErrorBody {
                kind: err.kind(),
                message: err.to_string(),
                hint: err.hint(),
                exit_code: err.exit_code(),
                failures,
                record,
                activation,
                verify,
            },
        }
    }
}

/// `plugin add|show|update|remove`: one record, and what was done to it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordOutput {
    /// `recorded`, `shown`, `updated` or `removed`.
    #[serde(skip)]
    pub verb: &'static str,
    #[serde(flatten)]
    pub record: PluginRecord,
}

/// `plugin list`: the sound records, then the damaged rows (each with `damaged: true` and
/// its `problems`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct RecordList(pub Vec<crate::db::table::Row>);

/// `build`: what it did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BuildOutput {
    pub hash: String,
    /// The new generation; null when the current generation already has this set.
    pub generation: Option<u32>,
    /// Whether an existing bundle was reused (uv was not called).
    pub reused: bool,
    /// Whether `current` now points to the new generation.
    pub switched: bool,
    /// Whether the plugin rows could not follow `current` yet (the next command catches
    /// them up; `current` has moved all the same).
    pub rows_pending: bool,
    pub path: PathBuf,
    pub plugins: Vec<BundlePlugin>,
    /// The new generation's label (`--label`).
    pub label: Option<String>,
    /// The restart and health check after `current` moved; null when not activated.
    pub activation: Option<ActivationReport>,
}

/// One generation as `generations` shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GenerationOutput {
    pub number: u32,
    #[schemars(with = "String")]
    pub hash: SharedStr,
    pub current: bool,
    #[schemars(with = "String")]
    pub created_at: SharedStr,
    // Shared by the generations of one bundle.
    #[serde(serialize_with = "shared_path")]
    #[schemars(with = "PathBuf")]
    pub path: std::rc::Rc<std::path::Path>,
    /// Whether the bundle is registered in the store.
    pub valid: bool,
    // Serialised once per bundle.
    /// Shared by the generations of one bundle (read once per bundle).
    #[serde(serialize_with = "shared_plugins")]
    #[schemars(with = "Vec<BundlePlugin>")]
    pub plugins: std::rc::Rc<SharedPlugins>,
    /// The operator's note (`label`, `build --label`).
    #[schemars(with = "Option<String>")]
    pub label: Option<SharedStr>,
    /// Whether the generation is pinned (kept by every garbage collection).
    pub pinned: bool,
    /// What is wrong with the generation; empty when it is sound.
    pub damage: Vec<DamageOutput>,
    /// Its last activation verdict; null when it was never activated with a health check.
    // Boxed: most generations have neither, and `generations` holds thousands.
    pub activation: Option<Box<VerdictOutput>>,
    /// An activation of this generation that was interrupted (or is running), never
    /// confirmed; null when there is none.
    pub unfinished: Option<Box<UnfinishedOutput>>,
    /// Whether a server started by `cosmo-bundle start` runs this generation now.
    pub running: bool,
    /// What the bundle's `src/cosmoserver` is: `link` or `snapshot`; null when the bundle
    /// is unreadable.
    pub source: Option<&'static str>,
    /// Whether the bundle was built for another `pyproject.toml` or `uv.lock` than the
    /// server repository holds now; null when no repository was given (or the bundle is
    /// unreadable).
    pub stale: Option<bool>,
    /// The server files that changed since (`pyproject.toml`, `uv.lock`); empty unless
    /// stale.
    pub stale_files: Vec<&'static str>,
}

/// A piece of a text shared by many outputs (the generation index): `generations` makes
/// no string of its own per generation.
#[derive(Debug, Clone)]
pub struct SharedStr {
    text: std::rc::Rc<String>,
    start: u32,
    end: u32,
}

impl SharedStr {
    /// `part` of `text`, or a copy of `part` when it is not in `text`.
    pub fn of(text: &std::rc::Rc<String>, part: &str) -> SharedStr {
        let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let end = start.wrapping_add(part.len());
        match (text.get(start..end), u32::try_from(end)) {
            (Some(found), Ok(end)) if found.as_ptr() == part.as_ptr() => SharedStr {
                text: text.clone(),
                start: start as u32,
                end,
            },
            _ => SharedStr::from(part.to_string()),
        }
    }
}

impl From<String> for SharedStr {
    fn from(mut text: String) -> SharedStr {
        // Never longer than offsets can say (a label is at most 200 characters).
        let mut end = text.len().min(u32::MAX as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        SharedStr {
            start: 0,
            end: end as u32,
            text: std::rc::Rc::new(text),
        }
    }
}

impl std::ops::Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text[self.start as usize..self.end as usize]
    }
}

impl std::fmt::Display for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

/// Serialises a shared path as a plain path.
fn shared_path<S: serde::Serializer>(
    path: &std::rc::Rc<std::path::Path>,
    s: S,
) -> Result<S::Ok, S::Error> {
    path.as_ref().serialize(s)
}

/// The plugins of one bundle, shared by its generations: `generations` prints each
/// distinct list once and copies it for the other generations of the bundle.
#[derive(Debug, Default)]
pub struct SharedPlugins {
    pub list: Vec<BundlePlugin>,
    /// The list as `--json` prints it in a generation (see [`SharedPlugins::json`]).
    json: std::cell::OnceCell<Box<serde_json::value::RawValue>>,
    /// The list as the text form prints it.
    text: std::cell::OnceCell<String>,
}

impl SharedPlugins {
    pub fn new(list: Vec<BundlePlugin>) -> SharedPlugins {
        SharedPlugins {
            list,
            ..SharedPlugins::default()
        }
    }

    /// The list as JSON, laid out as the [`Printer`] lays out the `plugins` of a
    /// generation: pretty, two levels deep (an object in the top array).
    fn json(&self) -> &serde_json::value::RawValue {
        self.json.get_or_init(|| {
            let pretty = serde_json::to_string_pretty(&self.list).expect("plugins serialise");
            let indented = pretty.replace('\n', "\n    ");
            serde_json::value::RawValue::from_string(indented).expect("valid JSON stays valid")
        })
    }

    /// The list as text, made by `make` once.
    fn text(&self, make: impl FnOnce(&[BundlePlugin]) -> String) -> &str {
        self.text.get_or_init(|| make(&self.list))
    }
}

/// Serialises shared plugins as a plain array, from the JSON made once per list.
fn shared_plugins<S: serde::Serializer>(
    plugins: &std::rc::Rc<SharedPlugins>,
    s: S,
) -> Result<S::Ok, S::Error> {
    plugins.json().serialize(s)
}

/// `generations`.
#[derive(Debug, JsonSchema)]
#[serde(transparent)]
pub struct GenerationList(#[schemars(with = "Vec<GenerationOutput>")] pub Rows<GenerationOutput>);

impl Serialize for GenerationList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Outputs made one at a time as they are printed (a list of thousands never holds them
/// all): `make(i)` makes the `i`th of `len`.
pub struct Rows<T> {
    len: usize,
    make: Box<dyn Fn(usize) -> T>,
}

impl<T> Rows<T> {
    pub fn new(len: usize, make: impl Fn(usize) -> T + 'static) -> Rows<T> {
        Rows {
            len,
            make: Box::new(make),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each output in turn, made now.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).map(|i| (self.make)(i))
    }
}

impl<T: Clone + 'static> From<Vec<T>> for Rows<T> {
    fn from(items: Vec<T>) -> Rows<T> {
        Rows::new(items.len(), move |i| items[i].clone())
    }
}

impl<T> std::fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Rows({})", self.len)
    }
}

impl<T: Serialize> Serialize for Rows<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// `switch` and `rollback`: the generation now current, and the one before.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActivationOutput {
    pub current: u32,
    pub previous: Option<u32>,
    /// Whether the plugin rows could not follow `current` yet (see `BuildOutput`).
    pub rows_pending: bool,
    pub hash: String,
    pub path: PathBuf,
    pub plugins: Vec<BundlePlugin>,
    /// The label of the generation now current.
    pub label: Option<String>,
    /// Damaged generations, and generations whose activation failed, that `rollback`
    /// passed over, highest first.
    pub skipped: Vec<SkippedOutput>,
    /// The restart and health check after `current` moved; null when not activated.
    pub activation: Option<ActivationReport>,
}

/// `config list|set|unset`: every setting that is set.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigOutput {
    pub settings: Vec<SettingOutput>,
}

/// One setting (`config get`): its value (null when not set) and whether it is hashed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingOutput {
    pub key: String,
    /// A string, a boolean, a list of strings, or null when not set.
    #[schemars(schema_with = "schema::setting_value")]
    pub value: serde_json::Value,
    /// Whether the setting decides what a bundle is (part of the bundle hash).
    pub hashed: bool,
}

/// `manifest check`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ManifestOutput {
    pub path: PathBuf,
    pub valid: bool,
    pub manifest: CosmoManifest,
}

/// `discover`: what a scan of the plugins directory found, added and rejected.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct DiscoverOutput {
    pub found: Vec<Found>,
    pub added: Vec<PluginRecord>,
    pub rejected: Vec<Rejected>,
}

/// A plugin directory with a valid manifest.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Found {
    pub path: PathBuf,
    pub distribution: String,
    pub source_type: crate::plugins::SourceType,
    pub source: String,
    pub manifest: CosmoManifest,
    /// The id of the record it has (an existing one, or the one just added).
    pub record_id: Option<String>,
    /// Where the manifest was found (the root, `src/<package>/` or `<package>/`).
    pub manifest_path: PathBuf,
    /// The ref to build it at: the branch the clone is on, or its commit when HEAD is
    /// detached (`cosmo-bundle plugin update NAME --rev REV` makes the record PENDING).
    pub rev: String,
    /// The commit the clone's HEAD is at.
    pub commit: String,
}

/// A manifest that was refused.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rejected {
    pub path: PathBuf,
    pub reason: String,
}

/// `completions SHELL`: the script (as is in text mode).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CompletionsOutput {
    /// `bash`, `zsh`, `fish`, `elvish` or `powershell`.
    pub shell: String,
    pub script: String,
}
