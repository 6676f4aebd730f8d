//! cosmo-bundle: content-addressed plugin bundles for CosmoServer, with generations.

mod cli;
mod commands;
mod context;
mod db;
mod error;
mod fault;
mod fsutil;
mod hash;
mod loadcheck;
mod lock;
mod manifest;
mod ops;
mod plugin;
mod profile;
mod python;
mod report;
mod resolve;
mod rows;
mod server;
mod store;
mod uv;
mod uvlock;

use clap::Parser;
use cli::{Cli, Command};
use context::Context;
use error::Result;

fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    if let Err(err) = run(cli) {
        if json {
            let body = serde_json::json!({ "error": {
                "kind": err.kind(),
                "message": err.to_string(),
                "hint": err.hint(),
                "exit_code": err.exit_code(),
            }});
            println!(
                "{}",
                serde_json::to_string_pretty(&body).expect("serialisable")
            );
        }
        eprintln!("error: {err}");
        if let Some(hint) = err.hint() {
            eprintln!("hint: {hint}");
        }
        std::process::exit(err.exit_code());
    }
}

fn run(cli: Cli) -> Result<()> {
    let reporter: Box<dyn report::Reporter> = if cli.json || cli.quiet {
        Box::new(report::WarningsOnly)
    } else {
        Box::new(report::Stderr)
    };
    let data_dir = match cli.data_dir {
        Some(d) => d,
        None => context::default_data_dir()?,
    };
    let ctx = Context {
        data_dir,
        server_dir: cli.server,
        python: cli.python,
        reporter,
    };
    match &cli.command {
        Command::Plugin(cmd) => commands::plugin::run(&ctx, cli.json, cmd),
        Command::Build(args) => commands::build::run(&ctx, cli.json, args),
        Command::Generations => commands::generations::list(&ctx, cli.json),
        Command::Switch { generation } => {
            commands::generations::switch(&ctx, cli.json, *generation)
        }
        Command::Rollback => commands::generations::rollback(&ctx, cli.json),
        Command::Start(args) => commands::start::run(&ctx, args),
        Command::Discover => commands::discover::discover(&ctx, cli.json),
        Command::Manifest(cli::ManifestCommand::Check { path }) => {
            commands::discover::check(cli.json, path)
        }
    }
}
