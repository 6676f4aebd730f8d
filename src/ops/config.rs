//! `config`: read and change the data directory's settings.

use crate::error::Result;
use crate::output::{ConfigOutput, SettingOutput};
use crate::settings::{KEYS, Settings};
use crate::state::Context;

fn output(settings: &Settings) -> ConfigOutput {
    ConfigOutput {
        settings: settings
            .list()
            .into_iter()
            .map(|(k, v)| SettingOutput {
                key: k.name.to_string(),
                value: v.json(),
                hashed: k.hashed,
            })
            .collect(),
    }
}

/// Every setting that is set (read-only).
pub fn list(ctx: &Context) -> Result<ConfigOutput> {
    Ok(output(&ctx.settings()?))
}

/// One setting: its value, or null when it is not set (read-only).
pub fn get(ctx: &Context, key: &str) -> Result<SettingOutput> {
    let settings = ctx.settings()?;
    let k = KEYS
        .iter()
        .find(|k| k.name == key)
        .map(|k| k.name)
        .unwrap_or(key);
    Ok(SettingOutput {
        hashed: KEYS.iter().any(|k| k.name == key && k.hashed),
        value: settings
            .get(k)?
            .map_or(serde_json::Value::Null, |v| v.json()),
        key: k.to_string(),
    })
}

/// Sets `key` to `values` (validated first: a refusal writes nothing).
pub fn set(ctx: &Context, key: &str, values: &[String]) -> Result<ConfigOutput> {
    change(ctx, |s| s.set(key, values))
}

/// Removes `key` (back to its default).
pub fn unset(ctx: &Context, key: &str) -> Result<ConfigOutput> {
    change(ctx, |s| s.unset(key))
}

/// Validates the change first (a refusal writes nothing), then makes it again under the
/// lock, on the file as it is then.
fn change(ctx: &Context, edit: impl Fn(&mut Settings) -> Result<()>) -> Result<ConfigOutput> {
    let plan = || {
        let mut settings = ctx.settings()?;
        edit(&mut settings)?;
        Ok::<_, crate::error::Error>(settings)
    };
    plan()?;
    let _lock = ctx.lock_dir()?;
    let settings = plan()?;
    settings.save(&ctx.dirs.settings())?;
    Ok(output(&settings))
}
