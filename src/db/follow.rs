//! Rows follow `current`.
//!
//! Whenever `current` moves, each record whose plugin is in the new current bundle becomes
//! INSTALLED at its version there (`updated_version` cleared when equal); a record not in
//! it stays FAILED if it failed, becomes PENDING if it has a change waiting, and
//! UNINSTALLED otherwise; and a plugin of the bundle without a record gets one again. A
//! record and a bundle plugin match on the normalised distribution *and* the source type.
//! The generation the rows follow is stored in `cosmo_bundle_state` in the same
//! transaction, so a command killed between the flip and the row update is caught up by
//! the next mutating command.

use super::table::{Db, Table};
use crate::error::Result;
use crate::plugins::{Pin, Pins, PluginRecord, Status, record};

use crate::store::bundle::BundlePlugin;

/// `cosmo_bundle_state` key: the generation the rows were last made to follow.
pub const ROWS_GENERATION: &str = "rows_generation";

/// One change that makes the rows follow a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Update(PluginRecord),
    Insert(PluginRecord),
    /// The git record with this id is pinned to the commit the bundle has.
    Pin(String, Pin),
}

/// The changes that make `records` (with their git `pins`) follow a bundle with `plugins`
/// (pure). A git record whose pinned commit is the bundle's is installed at its own ref
/// (the same commit under another ref name is the same bundle); otherwise at the bundle's
/// ref, and its pin follows the bundle's commit, so that `rollback` sticks (unless the
/// record waits for another ref, whose pin it keeps).
pub fn plan(
    records: &[PluginRecord],
    pins: &Pins,
    plugins: &[BundlePlugin],
    now: &str,
) -> Vec<Change> {
    let matches =
        |r: &PluginRecord, p: &BundlePlugin| r.key() == p.name && r.source_type == p.source_type;
    let mut changes = Vec::new();
    let pin = |id: &str, p: &BundlePlugin| {
        p.commit.as_ref().map(|commit| {
            Change::Pin(
                id.to_string(),
                Pin {
                    url: p.source.clone(),
                    rev: p.version.clone(),
                    commit: commit.clone(),
                },
            )
        })
    };
    for r in records {
        let in_bundle = plugins.iter().find(|p| matches(r, p));
        let same_commit = |p: &BundlePlugin| {
            p.commit.is_some() && r.pin(pins).map(|pin| &pin.commit) == p.commit.as_ref()
        };
        let next = match in_bundle {
            Some(p) if same_commit(p) => installed_at(r, r.wanted_version().unwrap_or(&p.version)),
            Some(p) => {
                // A record waiting for another ref keeps that ref's pin.
                if r.updated_version.as_deref().is_none_or(|u| u == p.version) {
                    changes.extend(pin(&r.id, p));
                }
                installed_at(r, &p.version)
            }
            None => not_installed(r),
        };
        if next != *r {
            changes.push(Change::Update(PluginRecord {
                updated_at: now.to_string(),
                ..next
            }));
        }
    }
    for p in plugins {
        if !records.iter().any(|r| matches(r, p)) {
            let mut r =
                PluginRecord::new(&p.name, p.source_type, &p.source, Status::Installed, None);
            r.installed_version = Some(p.version.clone());
            r.created_at = now.to_string();
            r.updated_at = now.to_string();
            let pinned = pin(&r.id, p);
            changes.push(Change::Insert(r));
            changes.extend(pinned);
        }
    }
    changes
}

fn installed_at(r: &PluginRecord, version: &str) -> PluginRecord {
    PluginRecord {
        installed_version: Some(version.to_string()),
        updated_version: r.updated_version.clone().filter(|u| u != version),
        install_status: Status::Installed,
        error_message: None,
        ..r.clone()
    }
}

fn not_installed(r: &PluginRecord) -> PluginRecord {
    let status = match r.install_status {
        Status::Failed => Status::Failed,
        _ if r.updated_version.is_some() => Status::Pending,
        _ => Status::Uninstalled,
    };
    PluginRecord {
        installed_version: None,
        install_status: status,
        ..r.clone()
    }
}

/// Makes every record follow `plugins`, the bundle of generation `generation`, in one
/// transaction that also records that generation (nothing is written when the rows
/// already follow it).
pub fn follow(db: &mut Db, plugins: &[BundlePlugin], generation: u32) -> Result<()> {
    {
        let t = db.read();
        if follows(&t, generation)? && plan(&t.all()?, &t.pins()?, plugins, "").is_empty() {
            return Ok(());
        }
    }
    db.write(|t| {
        for change in plan(&t.all()?, &t.pins()?, plugins, &record::now()) {
            match change {
                Change::Update(r) => t.update(&r)?,
                Change::Insert(r) => t.insert(&r)?,
                Change::Pin(id, pin) => t.set_pin(&id, &pin)?,
            }
        }
        t.set_state(ROWS_GENERATION, &generation.to_string())
    })
}

/// Whether the rows already follow `generation`.
pub fn follows(t: &Table, generation: u32) -> Result<bool> {
    Ok(t.state(ROWS_GENERATION)?.as_deref() == Some(generation.to_string().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::SourceType;

    const NOW: &str = "2026-01-01 00:00:00.000000";

    fn rec(
        name: &str,
        status: Status,
        installed: Option<&str>,
        updated: Option<&str>,
    ) -> PluginRecord {
        let mut r = PluginRecord::new(
            name,
            SourceType::Pypi,
            name,
            status,
            updated.map(Into::into),
        );
        r.installed_version = installed.map(Into::into);
        r
    }

    fn plugin(name: &str, version: &str) -> BundlePlugin {
        BundlePlugin {
            name: name.into(),
            source_type: SourceType::Pypi,
            source: name.into(),
            version: version.into(),
            requirement: format!("{name}=={version}"),
            resolved_version: Some(version.into()),
            commit: None,
            manifest: None,
            other: Default::default(),
        }
    }

    fn updated(changes: &[Change]) -> Vec<(String, Status, Option<String>, Option<String>)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Update(r) | Change::Insert(r) => Some((
                    r.name.clone(),
                    r.install_status,
                    r.installed_version.clone(),
                    r.updated_version.clone(),
                )),
                Change::Pin(..) => None,
            })
            .collect()
    }

    #[test]
    fn records_in_the_bundle_become_installed_at_its_version() {
        let records = [rec("a", Status::Pending, None, Some("2.0"))];
        let changes = plan(&records, &Pins::new(), &[plugin("a", "2.0")], NOW);
        assert_eq!(
            updated(&changes),
            [("a".into(), Status::Installed, Some("2.0".into()), None)]
        );
        let Change::Update(r) = &changes[0] else {
            panic!()
        };
        assert_eq!(r.updated_at, NOW);
        assert_eq!(r.id, records[0].id);
    }

    #[test]
    fn records_not_in_the_bundle_keep_failed_or_wait_or_are_uninstalled() {
        let records = [
            rec("failed", Status::Failed, None, Some("1")),
            rec("waiting", Status::Installed, Some("1"), Some("2")),
            rec("gone", Status::Installed, Some("1"), None),
        ];
        let changes = plan(&records, &Pins::new(), &[], NOW);
        assert_eq!(
            updated(&changes),
            [
                ("waiting".into(), Status::Pending, None, Some("2".into())),
                ("gone".into(), Status::Uninstalled, None, None),
            ]
        );
    }

    #[test]
    fn unchanged_rows_are_not_touched_and_missing_rows_come_back() {
        let records = [rec("a", Status::Installed, Some("1"), None)];
        let changes = plan(
            &records,
            &Pins::new(),
            &[plugin("a", "1"), plugin("b", "3")],
            NOW,
        );
        assert_eq!(
            updated(&changes),
            [("b".into(), Status::Installed, Some("3".into()), None)]
        );
        assert!(matches!(changes[0], Change::Insert(_)));
    }

    #[test]
    fn a_record_of_another_source_type_does_not_match() {
        let mut git = rec("a", Status::Installed, Some("v1"), None);
        git.source_type = SourceType::Git;
        let changes = plan(&[git], &Pins::new(), &[plugin("a", "1")], NOW);
        assert_eq!(
            updated(&changes),
            [
                ("a".into(), Status::Uninstalled, None, None),
                ("a".into(), Status::Installed, Some("1".into()), None),
            ]
        );
    }

    #[test]
    fn git_records_are_pinned_to_the_bundles_commit() {
        let mut git = rec("a", Status::Pending, None, Some("main"));
        git.source_type = SourceType::Git;
        git.source = "file:///r".into();
        let mut p = plugin("a", "main");
        p.source_type = SourceType::Git;
        p.source = "file:///r".into();
        p.commit = Some("c".repeat(40));
        let changes = plan(&[git.clone()], &Pins::new(), &[p.clone()], NOW);
        assert!(changes.contains(&Change::Pin(
            git.id.clone(),
            Pin {
                url: "file:///r".into(),
                rev: "main".into(),
                commit: "c".repeat(40)
            }
        )));
        // The same commit under another ref: installed at the record's own ref, pin kept.
        let mut tagged = git.clone();
        tagged.updated_version = Some("v1".into());
        let pins: Pins = [(
            git.id.clone(),
            Pin {
                url: "file:///r".into(),
                rev: "v1".into(),
                commit: "c".repeat(40),
            },
        )]
        .into();
        let changes = plan(&[tagged], &pins, &[p], NOW);
        assert_eq!(
            updated(&changes),
            [("a".into(), Status::Installed, Some("v1".into()), None)]
        );
        assert!(!changes.iter().any(|c| matches!(c, Change::Pin(..))));
    }

    #[test]
    fn follow_records_the_generation_in_the_same_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open_rw(&dir.path().join("cosmo.db")).unwrap();
        assert!(!follows(&db.read(), 3).unwrap());
        follow(&mut db, &[plugin("a", "1")], 3).unwrap();
        assert!(follows(&db.read(), 3).unwrap());
        assert_eq!(db.read().all().unwrap().len(), 1);
    }
}
