//! Plugin records: one row of the `plugins` table, with the contract's column names.

use super::git::Pin;
use super::requirement::{
    DistName, PluginSource, Requirement, check_git_rev, check_git_url, check_version, normalize,
};
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The git pins of the records, by record id.
pub type Pins = BTreeMap<String, Pin>;

/// Declares a column enum stored by its upper-case Python enum name, with its one list of
/// names (used by the database, JSON output and parsing alike).
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value with its stored name.
            pub const ALL: &'static [($name, &'static str)] = &[$(($name::$variant, $text)),+];

            /// The stored name.
            pub fn as_db(self) -> &'static str {
                Self::ALL.iter().find(|(v, _)| *v == self).map(|(_, t)| *t).unwrap_or_default()
            }

            /// Parses a stored name; `None` for anything the contract does not know.
            pub fn from_db(text: &str) -> Option<Self> {
                Self::ALL.iter().find(|(_, t)| *t == text).map(|(v, _)| *v)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_db())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($text),+] })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::from_db(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {text:?}", stringify!($name)))
                })
            }
        }
    };
}

db_enum! {
    /// Where a plugin comes from.
    SourceType { Pypi = "PYPI", Git = "GIT" }
}

db_enum! {
    /// A record's install status.
    Status {
        Uninstalled = "UNINSTALLED",
        Pending = "PENDING",
        Installed = "INSTALLED",
        Failed = "FAILED",
    }
}

/// One row of the `plugins` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginRecord {
    pub id: String,
    pub name: String,
    /// The distribution (PyPI) or the git URL; as output, a URL's user information is `***@`.
    #[serde(serialize_with = "crate::text::serialize_redacted")]
    pub source: String,
    pub source_type: SourceType,
    pub installed_version: Option<String>,
    pub updated_version: Option<String>,
    pub install_status: Status,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The current time as the contract stores it: naive UTC, microseconds.
pub fn now() -> String {
    chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// A fresh id: a UUID4 as 32 lower-case hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl PluginRecord {
    /// A new record with a fresh id and both timestamps set to now.
    pub fn new(
        name: &str,
        source_type: SourceType,
        source: &str,
        status: Status,
        updated_version: Option<String>,
    ) -> PluginRecord {
        let now = now();
        PluginRecord {
            id: new_id(),
            name: name.to_string(),
            source: source.to_string(),
            source_type,
            installed_version: None,
            updated_version,
            install_status: status,
            error_message: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// The distribution uv installs: `source` for PyPI records, `name` for git records.
    pub fn distribution(&self) -> &str {
        match self.source_type {
            SourceType::Pypi => &self.source,
            SourceType::Git => &self.name,
        }
    }

    /// The normalised distribution name: the key records and bundle plugins match on.
    pub fn key(&self) -> String {
        normalize(self.distribution())
    }

    /// The version a build wants: `updated_version` if set, else `installed_version`.
    pub fn wanted_version(&self) -> Option<&str> {
        self.updated_version
            .as_deref()
            .or(self.installed_version.as_deref())
    }

    /// Whether a build includes this record.
    pub fn is_wanted(&self) -> bool {
        matches!(self.install_status, Status::Pending | Status::Installed)
    }

    /// The pin of this git record's wanted ref, when `pins` has one that still applies.
    pub fn pin<'p>(&self, pins: &'p Pins) -> Option<&'p Pin> {
        let pin = pins.get(&self.id)?;
        (self.source_type == SourceType::Git
            && pin.url == self.source
            && Some(pin.rev.as_str()) == self.wanted_version())
        .then_some(pin)
    }

    /// Whether this record is wanted by a build and is a git record without a pin.
    pub fn needs_pin(&self, pins: &Pins) -> bool {
        self.is_wanted() && self.source_type == SourceType::Git && self.pin(pins).is_none()
    }

    /// The requirement this record contributes to a bundle (git records: at their pin).
    pub fn requirement(&self, pins: &Pins) -> Result<Requirement> {
        let what = format!("plugin record {} ({:?})", self.id, self.name);
        let dist = DistName::parse(self.distribution()).map_err(|e| {
            Error::input(
                format!("{what}: {e}"),
                "fix or remove the record with `cosmo-bundle plugin remove`",
            )
        })?;
        let version = self.wanted_version().ok_or_else(|| {
            Error::input(
                format!("{what} has neither updated_version nor installed_version"),
                "set one with `cosmo-bundle plugin update NAME --version V`",
            )
        })?;
        let source = match self.source_type {
            SourceType::Pypi => PluginSource::Pypi {
                version: check_version(version)?,
            },
            SourceType::Git => {
                let url = check_git_url(&self.source)?;
                let rev = check_git_rev(version)?;
                let pin = self.pin(pins).ok_or_else(|| {
                    Error::input(
                        format!("{what}: git ref {rev:?} has no pinned commit"),
                        format!("pin it with `cosmo-bundle plugin update {}`", self.name),
                    )
                })?;
                PluginSource::Git {
                    url,
                    rev,
                    commit: pin.commit.clone(),
                }
            }
        };
        Ok(Requirement { dist, source })
    }
}

/// The wanted set: the requirement of every PENDING or INSTALLED record, sorted by
/// distribution; two records wanting one distribution are refused.
pub fn wanted_set(records: &[PluginRecord], pins: &Pins) -> Result<Vec<Requirement>> {
    let mut reqs: Vec<Requirement> = records
        .iter()
        .filter(|r| r.is_wanted())
        .map(|r| r.requirement(pins))
        .collect::<Result<_>>()?;
    reqs.sort_by(|a, b| a.dist.cmp(&b.dist));
    if let Some(w) = reqs.windows(2).find(|w| w[0].dist == w[1].dist) {
        return Err(Error::input(
            format!(
                "two plugin records want the distribution {:?}",
                w[0].dist.as_str()
            ),
            "remove one of them with `cosmo-bundle plugin remove ID`",
        ));
    }
    Ok(reqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, status: Status, updated: Option<&str>) -> PluginRecord {
        let mut r = PluginRecord::new(
            name,
            SourceType::Pypi,
            name,
            status,
            updated.map(str::to_string),
        );
        r.installed_version = Some("1.0.0".into());
        r
    }

    #[test]
    fn enum_names_round_trip_and_unknown_ones_are_refused() {
        for (v, t) in Status::ALL {
            assert_eq!(Status::from_db(t), Some(*v));
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{t}\""));
        }
        assert_eq!(SourceType::from_db("pypi"), None);
        assert!(serde_json::from_str::<SourceType>("\"SVN\"").is_err());
    }

    #[test]
    fn the_wanted_set_is_pending_and_installed_records_sorted_at_their_wanted_version() {
        let records = vec![
            record("Zig_Switch", Status::Installed, None),
            record("hue", Status::Pending, Some("2.0")),
            record("gone", Status::Uninstalled, None),
            record("broken", Status::Failed, Some("3.0")),
        ];
        let set: Vec<String> = wanted_set(&records, &Pins::new())
            .unwrap()
            .iter()
            .map(Requirement::pep508)
            .collect();
        assert_eq!(set, ["hue==2.0", "zig-switch==1.0.0"]);
        let twice = vec![
            record("a-b", Status::Installed, None),
            record("A_B", Status::Pending, Some("2")),
        ];
        assert!(wanted_set(&twice, &Pins::new()).is_err());
    }
}
