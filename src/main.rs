//! cosmo-bundle: content-addressed plugin bundles for CosmoServer, with generations.
//!
//! Layers, lowest first (ARCHITECTURE.md): `error`, `report`, `fault`, `layout`, `fs` →
//! `plugins` → `uv` → `store` → `profile` → `db` → `output` → `state` → `ops` →
//! `commands` → `cli` and this file. A module imports only from layers below its own.

mod cli;
mod commands;
mod db;
mod error;
mod fault;
mod fs;
mod layout;
mod ops;
mod output;
mod plugins;
mod process;
mod profile;
mod report;
mod running;
mod settings;
mod state;
mod store;
mod uv;

use clap::Parser;
use cli::{Cli, Command};
use error::Result;
use output::Printer;
use state::Context;

fn main() {
    process::trampoline();
    fs::safe::restrict_umask();

    let cli = Cli::parse();
    let out = Printer { json: cli.json };
    if let Err(err) = run(cli, out) {
        out.error(&err);
        std::process::exit(err.exit_code());
    }
}

fn run(cli: Cli, out: Printer) -> Result<()> {
    let reporter: Box<dyn report::Reporter> = if cli.json || cli.quiet {
        Box::new(report::WarningsOnly)
    } else {
        Box::new(report::Stderr)
    };
    let data_dir = match cli.data_dir {
        Some(d) => d,
        None => state::default_data_dir()?,
    };
    let ctx = Context::new(
        layout::DataDir::new(std::path::absolute(&data_dir)?),
        cli.server,
        reporter,
    );
    match &cli.command {
        Command::Plugin(cmd) => commands::plugin::run(&ctx, out, cmd),
        Command::Build(args) => commands::build::run(&ctx, out, args),
        Command::Config(cmd) => commands::config::run(&ctx, out, cmd),
        Command::Generations => commands::generations::list(&ctx, out),
        Command::Switch { generation } => commands::generations::switch(&ctx, out, *generation),
        Command::Rollback => commands::generations::rollback(&ctx, out),
        Command::Start(args) => commands::start::run(&ctx, args),
        Command::Discover => commands::discover::run(&ctx, out),
        Command::Manifest(cmd) => commands::manifest::run(out, cmd),
    }
}
