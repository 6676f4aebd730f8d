//! `generations`, `switch`, `rollback`.

use crate::error::Result;
use crate::ops::generations;
use crate::output::Printer;
use crate::state::Context;

pub fn list(ctx: &Context, out: Printer) -> Result<()> {
    out.print(&generations::list(ctx)?)
}

pub fn switch(ctx: &Context, out: Printer, number: u32) -> Result<()> {
    out.print(&generations::switch(ctx, number)?)
}

pub fn rollback(ctx: &Context, out: Printer) -> Result<()> {
    out.print(&generations::rollback(ctx)?)
}
