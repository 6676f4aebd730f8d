//! `diff`.

use crate::error::Result;
use crate::ops::diff;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, a: Option<u32>, b: Option<u32>) -> Result<()> {
    out.print(&diff::diff(ctx, a, b)?)
}
