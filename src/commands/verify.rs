//! `verify`.

use crate::error::Result;
use crate::ops::verify;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, generations: &[u32], all: bool) -> Result<()> {
    out.print(&verify::verify(ctx, generations, all)?)
}
