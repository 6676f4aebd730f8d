//! `start`: replace this process with the server.

use crate::cli::StartArgs;
use crate::error::Result;
use crate::ops::start::{StartOptions, server_command};
use crate::state::Context;
use std::os::unix::process::CommandExt;

pub fn run(ctx: &Context, args: &StartArgs) -> Result<()> {
    let opts = StartOptions {
        clean: args.clean,
        dev: args.dev,
        host: args.host.clone(),
        port: args.port,
        extra: args.extra.clone(),
    };
    let (mut cmd, dir) = server_command(ctx, &opts)?;
    ctx.reporter
        .step(&format!("starting CosmoServer from {}", dir.display()));
    // exec only returns on failure; on success the server owns this process.
    let err = cmd.exec();
    Err(crate::fs::with_path(err, std::path::Path::new(cmd.get_program())).into())
}
