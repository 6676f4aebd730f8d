//! Plugins: their records (rows of the `plugins` table), their requirements as bundle
//! inputs, and their `cosmo.json` manifests.

pub mod cosmo_json;
pub mod git;
pub mod record;
pub mod requirement;

pub use git::Pin;
pub use record::{Pins, PluginRecord, SourceType, Status, wanted_set};
pub use requirement::{DistName, PluginSource, Requirement, normalize};
