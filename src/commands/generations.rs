//! `generations`, `switch`, `rollback`, `delete`, `pin`, `unpin`, `label`.

use crate::error::Result;
use crate::ops::generations;
use crate::output::Printer;
use crate::state::Context;

pub fn list(ctx: &Context, out: Printer) -> Result<()> {
    out.print(&generations::list(ctx)?)
}

pub fn switch(ctx: &Context, out: Printer, number: u32, activate: Option<bool>) -> Result<()> {
    out.print(&generations::switch(ctx, number, activate)?)
}

pub fn rollback(ctx: &Context, out: Printer, activate: Option<bool>) -> Result<()> {
    out.print(&generations::rollback(ctx, activate)?)
}

pub fn delete(ctx: &Context, out: Printer, numbers: &[u32], force: bool) -> Result<()> {
    out.print(&generations::delete(ctx, numbers, force)?)
}

pub fn pin(ctx: &Context, out: Printer, number: u32, pinned: bool) -> Result<()> {
    out.print(&generations::pin(ctx, number, pinned)?)
}

pub fn label(ctx: &Context, out: Printer, number: u32, text: &str) -> Result<()> {
    out.print(&generations::label(ctx, number, text)?)
}
