//! `activate`.

use crate::error::Result;
use crate::ops::activate;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, restart: bool) -> Result<()> {
    out.print(&activate::activate(ctx, restart)?)
}
