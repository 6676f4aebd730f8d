//! `plugin add|list|show|update|remove`.

use super::print_json;
use crate::cli::{AddArgs, PluginCommand};
use crate::context::Context;
use crate::error::Result;
use crate::ops::plugins::{self, NewSource};
use crate::plugin::PluginRecord;

pub fn run(ctx: &Context, json: bool, cmd: &PluginCommand) -> Result<()> {
    match cmd {
        PluginCommand::Add(args) => {
            let record = plugins::add(ctx, &args.name, &source(args))?;
            print_record(json, &record, "recorded")
        }
        PluginCommand::List => {
            let records = plugins::list(ctx)?;
            if json {
                return print_json(&records);
            }
            if records.is_empty() {
                println!("no plugin records");
            }
            for r in &records {
                println!(
                    "{}  {:<11}  {:<24}  installed={}  updated={}",
                    r.id,
                    r.install_status.as_db(),
                    r.name,
                    r.installed_version.as_deref().unwrap_or("-"),
                    r.updated_version.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
        PluginCommand::Show { plugin } => {
            let record = plugins::show(ctx, plugin)?;
            if json {
                return print_json(&[record]);
            }
            print_details(&record);
            Ok(())
        }
        PluginCommand::Update { plugin, version } => {
            let record = plugins::update(ctx, plugin, version)?;
            print_record(json, &record, "updated")
        }
        PluginCommand::Remove { plugin } => {
            let record = plugins::remove(ctx, plugin)?;
            print_record(json, &record, "removed")
        }
    }
}

fn source(args: &AddArgs) -> NewSource {
    match (&args.version, &args.git) {
        (_, Some(url)) => NewSource::Git {
            url: url.clone(),
            rev: args.rev.clone(),
        },
        (Some(version), None) => NewSource::Pypi {
            version: version.clone(),
        },
        (None, None) => unreachable!("clap requires --version or --git"),
    }
}

fn print_record(json: bool, record: &PluginRecord, verb: &str) -> Result<()> {
    if json {
        return print_json(&[record]);
    }
    println!(
        "{verb} {} ({}) {}",
        record.name,
        record.id,
        record.install_status.as_db()
    );
    Ok(())
}

fn print_details(r: &PluginRecord) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("id:                {}", r.id);
    println!("name:              {}", r.name);
    println!("source:            {}", r.source);
    println!("source_type:       {}", r.source_type.as_db());
    println!("install_status:    {}", r.install_status.as_db());
    println!("installed_version: {}", opt(&r.installed_version));
    println!("updated_version:   {}", opt(&r.updated_version));
    println!("error_message:     {}", opt(&r.error_message));
    println!("created_at:        {}", r.created_at);
    println!("updated_at:        {}", r.updated_at);
}
