//! `start`: replace this process with the server.

use crate::cli::StartArgs;
use crate::error::Result;
use crate::ops::start::{self, StartOptions, server_command};
use crate::state::Context;

pub fn run(ctx: &Context, args: &StartArgs) -> Result<()> {
    let opts = StartOptions {
        clean: args.clean,
        dev: args.dev,
        host: args.host.clone(),
        port: args.port,
        extra: args.extra.clone(),
        verify: !args.no_verify,
    };
    let launch = server_command(ctx, &opts)?;
    // exec only returns on failure; on success the server owns this process.
    Err(start::exec(ctx, launch))
}
