//! `build`.

use crate::cli::BuildArgs;
use crate::error::Result;
use crate::ops::build;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, args: &BuildArgs) -> Result<()> {
    out.print(&build::build(
        ctx,
        !args.no_switch,
        args.label.as_deref(),
        args.activation.choice(),
    )?)
}
