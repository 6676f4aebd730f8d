//! `status`.

use crate::error::Result;
use crate::ops::status;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer) -> Result<()> {
    out.print(&status::status(ctx)?)
}
