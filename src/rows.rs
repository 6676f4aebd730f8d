//! The plugins table follows `current`.
//!
//! Whenever `current` moves, each record in the new current bundle becomes INSTALLED at its
//! version there (`updated_version` cleared when equal); a record not in it stays FAILED if
//! it failed, becomes PENDING if it has a change waiting, and UNINSTALLED otherwise; and a
//! plugin of the bundle without a record gets one again. The generation the rows follow is
//! stored in `cosmo_bundle_state`, in the same transaction, so a command killed between
//! the flip and the row update is caught up by the next mutating command.

use crate::db::{self, Db};
use crate::error::Result;
use crate::plugin::{PluginRecord, Status, normalize};
use crate::store::BundleManifest;

/// `cosmo_bundle_state` key: the generation the rows were last made to follow.
pub const ROWS_GENERATION: &str = "rows_generation";

/// Makes every record follow the bundle `manifest` of generation `generation`.
pub fn follow(db: &mut Db, manifest: &BundleManifest, generation: u32) -> Result<()> {
    db.transaction(|db| {
        let records = db.all()?;
        let now = db::now();
        for record in &records {
            let key = normalize(record.distribution());
            let in_bundle = manifest
                .plugins
                .iter()
                .find(|p| p.name == key && p.source_type == record.source_type);
            let next = match in_bundle {
                Some(p) => installed_at(record, &p.version),
                None => not_installed(record),
            };
            if next != *record {
                db.update(&PluginRecord {
                    updated_at: now.clone(),
                    ..next
                })?;
            }
        }
        for plugin in &manifest.plugins {
            let known = records
                .iter()
                .any(|r| normalize(r.distribution()) == plugin.name);
            if !known {
                db.insert(&PluginRecord {
                    id: db::new_id(),
                    name: plugin.name.clone(),
                    source: plugin.source.clone(),
                    source_type: plugin.source_type,
                    installed_version: Some(plugin.version.clone()),
                    updated_version: None,
                    install_status: Status::Installed,
                    error_message: None,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                })?;
            }
        }
        db.set_state(ROWS_GENERATION, &generation.to_string())
    })
}

fn installed_at(record: &PluginRecord, version: &str) -> PluginRecord {
    let updated = record.updated_version.clone().filter(|u| u != version);
    PluginRecord {
        installed_version: Some(version.to_string()),
        updated_version: updated,
        install_status: Status::Installed,
        error_message: None,
        ..record.clone()
    }
}

fn not_installed(record: &PluginRecord) -> PluginRecord {
    let status = match record.install_status {
        Status::Failed => Status::Failed,
        _ if record.updated_version.is_some() => Status::Pending,
        _ => Status::Uninstalled,
    };
    PluginRecord {
        installed_version: None,
        install_status: status,
        ..record.clone()
    }
}

/// Whether the rows already follow `generation`.
pub fn follows(db: &Db, generation: u32) -> Result<bool> {
    Ok(db.state(ROWS_GENERATION)?.as_deref() == Some(generation.to_string().as_str()))
}
