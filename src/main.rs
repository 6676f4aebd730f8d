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
mod text;
mod uv;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use error::{Error, Result};
use output::Printer;
use state::Context;
use std::ffi::OsString;
use std::io::IsTerminal;

fn main() {
    process::trampoline();
    fs::safe::restrict_umask();

    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = parse(&args);
    let color = stderr_color(cli.color);
    let out = Printer {
        json: cli.json,
        color,
    };
    if let Err(err) = run(cli, out, color) {
        out.error(&err);
        std::process::exit(err.exit_code());
    }
}

/// Parses the arguments. `--help` and `--version` print as usual; a usage error is clap's
/// text on stderr, and also a `bad_input` JSON error on stdout when `--json` was given.
fn parse(args: &[OsString]) -> Cli {
    let options = args.iter().skip(1).take_while(|a| *a != "--");
    let json = options.clone().any(|a| a == "--json");
    let color = color_option(options);
    let long_version = format!(
        "{} (JSON schema {})",
        env!("CARGO_PKG_VERSION"),
        output::SCHEMA_VERSION
    );
    let err = match Cli::command()
        .color(color)
        .long_version(long_version)
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => return cli,
        Err(err) => err,
    };
    use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
    if !json || matches!(err.kind(), DisplayHelp | DisplayVersion) {
        err.exit();
    }
    let out = Printer {
        json: true,
        color: false,
    };
    out.error_json(&usage_error(&err));
    let _ = err.print();
    std::process::exit(error::exit::BAD_INPUT);
}

/// clap's error as a `bad_input` error: its first line, with the rest as the hint.
fn usage_error(err: &clap::Error) -> Error {
    let rendered = err.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let (message, hint) =
        if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            // clap shows the help: keep its usage line.
            let usage = lines.find(|l| l.starts_with("Usage:")).unwrap_or_default();
            let hint = format!("{usage}\nFor more information, try '--help'.");
            ("a subcommand is missing".to_string(), hint)
        } else {
            let first = lines.next().unwrap_or_default();
            let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
            (message, lines.collect::<Vec<_>>().join("\n"))
        };
    Error::BadInput {
        message,
        hint: Some(hint).filter(|h| !h.is_empty()),
    }
}

/// The last `--color WHEN` among the options, for clap's own messages (help, usage errors).
fn color_option<'a>(options: impl Iterator<Item = &'a OsString>) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut options = options.peekable();
    while let Some(option) = options.next() {
        let value = match option.to_str() {
            Some("--color") => options.peek().and_then(|v| v.to_str()),
            Some(o) => o.strip_prefix("--color="),
            None => None,
        };
        match value {
            Some("always") => choice = clap::ColorChoice::Always,
            Some("never") => choice = clap::ColorChoice::Never,
            Some("auto") => choice = clap::ColorChoice::Auto,
            _ => {}
        }
    }
    choice
}

/// Whether `error:`, `warning:` and `hint:` on stderr are coloured.
fn stderr_color(choice: clap::ColorChoice) -> bool {
    let no_color = std::env::var_os("NO_COLOR");
    report::use_color(choice, no_color.as_deref(), std::io::stderr().is_terminal())
}

fn run(cli: Cli, out: Printer, color: bool) -> Result<()> {
    let reporter: Box<dyn report::Reporter> = if cli.json || cli.quiet {
        Box::new(report::WarningsOnly { color })
    } else if let Some(spinner) = report::Spinner::on_terminal(color) {
        Box::new(spinner)
    } else {
        Box::new(report::Stderr { color })
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
    // A data directory that is a file is bad input for every command that uses one.
    if !matches!(
        cli.command,
        Command::Manifest(_) | Command::Completions { .. }
    ) {
        ctx.check_data_dir()?;
    }
    match &cli.command {
        Command::Plugin(cmd) => commands::plugin::run(&ctx, out, cmd),
        Command::Build(args) => commands::build::run(&ctx, out, args),
        Command::Config(cmd) => commands::config::run(&ctx, out, cmd),
        Command::Generations => commands::generations::list(&ctx, out),
        Command::Switch {
            generation,
            activation,
        } => commands::generations::switch(&ctx, out, *generation, activation.choice()),
        Command::Rollback { activation } => {
            commands::generations::rollback(&ctx, out, activation.choice())
        }
        Command::Activate { no_restart } => commands::activate::run(&ctx, out, !no_restart),
        Command::Delete { generations, force } => {
            commands::generations::delete(&ctx, out, generations, *force)
        }
        Command::Pin { generation } => commands::generations::pin(&ctx, out, *generation, true),
        Command::Unpin { generation } => commands::generations::pin(&ctx, out, *generation, false),
        Command::Label { generation, text } => {
            commands::generations::label(&ctx, out, *generation, text)
        }
        Command::Start(args) => commands::start::run(&ctx, args),
        Command::Discover => commands::discover::run(&ctx, out),
        Command::Manifest(cmd) => commands::manifest::run(out, cmd),
        Command::Completions { shell } => commands::completions::run(out, *shell),
        Command::Status => commands::status::run(&ctx, out),
        Command::Diff { from, to } => commands::diff::run(&ctx, out, *from, *to),
        Command::Verify { generations, all } => commands::verify::run(&ctx, out, generations, *all),
        Command::Gc(args) => commands::gc::run(&ctx, out, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command's words (`plugin add`, `build`), joined by `-`.
    fn leaf_commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                leaf_commands(sub, &format!("{name}-"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_command_has_a_published_json_schema() {
        let mut commands = Vec::new();
        leaf_commands(&Cli::command(), "", &mut commands);
        let stems: Vec<&str> = output::schema::all().iter().map(|(s, _)| *s).collect();
        for command in &commands {
            assert!(
                stems.contains(&command.as_str())
                    || output::schema::NO_JSON_OUTPUT.contains(&command.as_str()),
                "`{command}` has no schema in output::schema::all()"
            );
        }
        assert!(commands.len() > 10, "{commands:?}");
    }

    #[test]
    fn the_last_color_option_before_dashes_wins() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let choice = |a: &[&str]| color_option(args(a).iter());
        assert_eq!(choice(&["build"]), clap::ColorChoice::Auto);
        assert_eq!(
            choice(&["--color", "never", "build"]),
            clap::ColorChoice::Never
        );
        assert_eq!(
            choice(&["--color=never", "build", "--color=always"]),
            clap::ColorChoice::Always
        );
    }
}
