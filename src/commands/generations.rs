//! `generations`, `switch`, `rollback`.

use super::print_json;
use crate::context::Context;
use crate::error::Result;
use crate::ops::generations;

pub fn list(ctx: &Context, json: bool) -> Result<()> {
    let gens = generations::list(ctx)?;
    if json {
        return print_json(&gens);
    }
    if gens.is_empty() {
        println!("no generations yet: run `cosmo-bundle build`");
    }
    for g in &gens {
        let mark = if g.current { "*" } else { " " };
        let plugins = if g.plugins.is_empty() {
            "(clean: no plugins)".to_string()
        } else {
            g.plugins
                .iter()
                .map(|p| match &p.commit {
                    Some(c) => format!("{} {}@{}", p.name, p.version, &c[..c.len().min(12)]),
                    None => format!("{}=={}", p.name, p.version),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let missing = if g.valid { "" } else { "  [bundle missing]" };
        println!(
            "{mark} {:>4}  {}  {}  {plugins}{missing}",
            g.number, g.created_at, g.hash
        );
    }
    Ok(())
}

pub fn switch(ctx: &Context, json: bool, number: u32) -> Result<()> {
    generations::switch(ctx, number)?;
    report(json, number)
}

pub fn rollback(ctx: &Context, json: bool) -> Result<()> {
    let number = generations::rollback(ctx)?;
    report(json, number)
}

fn report(json: bool, number: u32) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({ "current": number }));
    }
    println!("generation {number} is now current (restart the server to use it)");
    Ok(())
}
