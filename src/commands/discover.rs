//! `discover`.

use crate::error::Result;
use crate::ops::discover;
use crate::output::Printer;
use crate::state::Context;

pub fn run(ctx: &Context, out: Printer) -> Result<()> {
    let report = discover::discover(ctx)?;
    for r in &report.rejected {
        ctx.reporter
            .warn(&format!("rejected {}: {}", r.path.display(), r.reason));
    }
    out.print(&report)
}
