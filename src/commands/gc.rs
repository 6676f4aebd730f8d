//! `gc`.

use crate::cli::GcArgs;
use crate::error::Result;
use crate::ops::gc::{self, GcOptions};
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer, args: &GcArgs) -> Result<()> {
    let opts = GcOptions {
        keep: args.keep,
        older_than: args
            .older_than
            .as_deref()
            .map(gc::parse_duration)
            .transpose()?,
        dry_run: args.dry_run,
    };
    out.print(&gc::gc(ctx, &opts)?)
}
