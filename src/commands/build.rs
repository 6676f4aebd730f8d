//! `build`.

use super::print_json;
use crate::cli::BuildArgs;
use crate::context::Context;
use crate::error::Result;
use crate::ops::build;

pub fn run(ctx: &Context, json: bool, args: &BuildArgs) -> Result<()> {
    let out = build::build(ctx, !args.no_switch)?;
    if json {
        return print_json(&serde_json::json!({
            "hash": out.hash,
            "generation": out.generation.as_ref().map(|g| g.number),
            "reused": out.reused,
            "switched": out.switched,
            "path": ctx.store().path(&out.hash),
            "plugins": out.manifest.plugins,
        }));
    }
    let Some(generation) = out.generation else {
        println!(
            "nothing to do: the current generation already has this plugin set ({})",
            out.hash
        );
        return Ok(());
    };
    let how = if out.reused {
        "reused existing bundle"
    } else {
        "built bundle"
    };
    println!("{how} {}", out.hash);
    if out.switched {
        println!("generation {} is now current", generation.number);
    } else {
        println!(
            "recorded generation {} (not current: use `cosmo-bundle switch {}`)",
            generation.number, generation.number
        );
    }
    Ok(())
}
