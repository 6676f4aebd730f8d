//! The JSON Schemas of the JSON output, published in docs/json/: generated from the output
//! structs by the test below, which fails when docs/json/ differs from what the code
//! generates (`UPDATE_SCHEMAS=1 cargo test` rewrites them).

use schemars::{Schema, SchemaGenerator, json_schema};

/// The schema of the error `kind`: one of the kinds in `error::KINDS`.
pub fn error_kind(_: &mut SchemaGenerator) -> Schema {
    let kinds: Vec<&str> = crate::error::KINDS.iter().map(|(k, _, _)| *k).collect();
    json_schema!({
        "type": "string",
        "enum": kinds,
    })
}

/// The schema of a setting's value.
pub fn setting_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["string", "boolean", "array", "null"],
        "items": { "type": "string" },
    })
}

/// Commands whose success prints no JSON (only their errors do): `start` becomes the server.
#[cfg(test)]
pub const NO_JSON_OUTPUT: &[&str] = &["start"];

/// Every published schema: the file name stem (a command's words joined by `-`, or
/// `error`) and the schema.
#[cfg(test)]
pub fn all() -> Vec<(&'static str, Schema)> {
    use super::*;
    vec![
        root::<ErrorOutput>("error"),
        root::<RecordOutput>("plugin-add"),
        root::<RecordList>("plugin-list"),
        root::<RowOutput>("plugin-show"),
        root::<RecordOutput>("plugin-update"),
        root::<RowOutput>("plugin-remove"),
        root::<BuildOutput>("build"),
        root::<ConfigOutput>("config-list"),
        root::<SettingOutput>("config-get"),
        root::<ConfigOutput>("config-set"),
        root::<ConfigOutput>("config-unset"),
        root::<GenerationList>("generations"),
        root::<ActivationOutput>("switch"),
        root::<ActivationOutput>("rollback"),
        root::<DeleteOutput>("delete"),
        root::<PinOutput>("pin"),
        root::<PinOutput>("unpin"),
        root::<LabelOutput>("label"),
        root::<DiscoverOutput>("discover"),
        root::<ManifestOutput>("manifest-check"),
        root::<CompletionsOutput>("completions"),
        root::<ActivateOutput>("activate"),
        root::<StatusOutput>("status"),
        root::<DiffOutput>("diff"),
        root::<VerifyOutput>("verify"),
        root::<GcOutput>("gc"),
    ]
}

/// The root schema of `T` for the file `<stem>.schema.json`, with its version and title.
/// Objects do not refuse unknown properties: a later version of the same
/// `x-schema-version` may add fields.
#[cfg(test)]
fn root<T: schemars::JsonSchema>(stem: &'static str) -> (&'static str, Schema) {
    // The shape as written (a field skipped when empty is not required; a null one is).
    let generator = schemars::generate::SchemaSettings::default()
        .for_serialize()
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let title = match stem {
        "error" => "cosmo-bundle --json: the error object".to_string(),
        _ => format!("cosmo-bundle {} --json", stem.replace('-', " ")),
    };
    let mut value = schema.as_value().clone();
    allow_unknown_properties(&mut value);
    let map = value.as_object_mut().expect("a root schema is an object");
    let mut ordered = serde_json::Map::new();
    ordered.insert("$schema".into(), map.remove("$schema").unwrap_or_default());
    ordered.insert("x-schema-version".into(), super::SCHEMA_VERSION.into());
    ordered.insert("title".into(), title.into());
    map.remove("title");
    ordered.append(map);
    (stem, Schema::from(ordered))
}

/// Drops every `"additionalProperties": false`.
#[cfg(test)]
fn allow_unknown_properties(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            map.values_mut().for_each(allow_unknown_properties);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(allow_unknown_properties),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::SCHEMA_VERSION;
    use std::path::PathBuf;

    fn docs_json() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/json")
    }

    /// The file's text: pretty JSON with a final newline.
    fn text(schema: &Schema) -> String {
        serde_json::to_string_pretty(schema).unwrap() + "\n"
    }

    #[test]
    fn docs_json_holds_exactly_the_generated_schemas() {
        let dir = docs_json();
        let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| v == "1");
        let mut stale = Vec::new();
        for (stem, schema) in all() {
            let path = dir.join(format!("{stem}.schema.json"));
            let want = text(&schema);
            if fs_err::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                if update {
                    fs_err::create_dir_all(&dir).unwrap();
                    fs_err::write(&path, want).unwrap();
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
        let known: Vec<String> = all()
            .iter()
            .map(|(stem, _)| format!("{stem}.schema.json"))
            .collect();
        for entry in fs_err::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".schema.json") && !known.contains(&name) {
                stale.push(format!("{name} (no output struct generates it)"));
            }
        }
        assert!(
            stale.is_empty(),
            "docs/json/ differs from the output structs: {stale:?}\n\
             regenerate with `UPDATE_SCHEMAS=1 cargo test docs_json`, review and commit"
        );
    }

    #[test]
    fn every_schema_names_its_version_and_the_error_kinds_are_the_published_ones() {
        for (stem, schema) in all() {
            let version = schema.get("x-schema-version");
            assert_eq!(version, Some(&SCHEMA_VERSION.into()), "{stem}");
        }
        let (_, error) = &all()[0];
        let kinds = &error.as_value()["$defs"]["ErrorBody"]["properties"]["kind"]["enum"];
        let want: Vec<&str> = crate::error::KINDS.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(kinds, &serde_json::json!(want));
    }

    #[test]
    fn readme_lists_every_error_kind_with_its_exit_code() {
        let readme =
            fs_err::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        for (kind, code, meaning) in crate::error::KINDS {
            assert!(
                readme.contains(&format!("| `{kind}` | {code} |")),
                "README.md has no row `| `{kind}` | {code} |` in its error kinds table"
            );
            // The row's meaning starts with the schema's (it may say more).
            assert!(
                readme.contains(&format!("| `{kind}` | {code} | {meaning}")),
                "README.md's row of `{kind}` does not start with its meaning in KINDS: {meaning}"
            );
        }
    }
}
