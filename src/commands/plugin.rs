//! `plugin add|list|show|update|remove`.

use crate::cli::{AddArgs, PluginCommand};
use crate::db::table::Row;
use crate::error::Result;
use crate::ops::plugins::{self, NewSource};
use crate::output::{DamagedRecordOutput, Printer, RecordList, RecordOutput, RowOutput};
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, cmd: &PluginCommand) -> Result<()> {
    let (verb, record) = match cmd {
        PluginCommand::Add(args) => ("recorded", plugins::add(ctx, &args.name, &source(args))?),
        PluginCommand::List => return out.print(&RecordList(plugins::list(ctx)?)),
        PluginCommand::Show { plugin } => {
            return print_row(out, "shown", plugins::show(ctx, plugin)?);
        }
        PluginCommand::Update { plugin, version } => {
            ("updated", plugins::update(ctx, plugin, version.as_deref())?)
        }
        PluginCommand::Remove { plugin } => {
            return print_row(out, "removed", plugins::remove(ctx, plugin)?);
        }
    };
    out.print(&RecordOutput { verb, record })
}

/// Prints a sound record or a damaged row.
fn print_row(out: Printer, verb: &'static str, row: Row) -> Result<()> {
    out.print(&match row {
        Row::Sound(record) => RowOutput::Sound(RecordOutput { verb, record }),
        Row::Damaged(record) => RowOutput::Damaged(DamagedRecordOutput { verb, record }),
    })
}

fn source(args: &AddArgs) -> NewSource {
    match (&args.git, &args.version) {
        (Some(url), _) => NewSource::Git {
            url: url.clone(),
            rev: args.rev.clone(),
        },
        (None, version) => NewSource::Pypi {
            version: version.clone().unwrap_or_default(),
        },
    }
}
