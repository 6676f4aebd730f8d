//! `config get|set|unset|list`.

use crate::cli::ConfigCommand;
use crate::error::Result;
use crate::ops::config;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, cmd: &ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::List => out.print(&config::list(ctx)?),
        ConfigCommand::Get { key } => out.print(&config::get(ctx, key)?),
        ConfigCommand::Set { key, values } => out.print(&config::set(ctx, key, values)?),
        ConfigCommand::Unset { key } => out.print(&config::unset(ctx, key)?),
    }
}
