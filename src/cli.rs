//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Build, activate and roll back CosmoServer plugin bundles.
#[derive(Debug, Parser)]
#[command(name = "cosmo-bundle", version, about)]
pub struct Cli {
    /// Data directory (default: $XDG_DATA_HOME/cosmoserver).
    #[arg(long, global = true, env = "COSMO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// CosmoServer repository (holds pyproject.toml and src/cosmoserver/); only read.
    #[arg(long, global = true, env = "COSMO_SERVER_DIR", value_name = "DIR")]
    pub server: Option<PathBuf>,

    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Do not print progress.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Colour `error:`, `warning:` and `hint:` on stderr: auto (a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_name = "WHEN", default_value_t = clap::ColorChoice::Auto)]
    pub color: clap::ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage plugin records.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Build the bundle of the wanted plugin set and make it a new generation.
    Build(BuildArgs),
    /// Read or change the data directory's settings (indexes, find-links, Python, ...).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List generations with their plugins.
    Generations,
    /// Make generation GEN current.
    Switch {
        /// Generation number (see `generations`).
        generation: u32,
        #[command(flatten)]
        activation: ActivationArgs,
    },
    /// Make the generation before the current one current.
    Rollback {
        #[command(flatten)]
        activation: ActivationArgs,
    },
    /// Restart the server and check the current generation's health (finishes an interrupted activation).
    Activate {
        /// Do not restart: check the server as it runs now.
        #[arg(long)]
        no_restart: bool,
    },
    /// Delete generations (never the current one); their bundles stay in the store.
    Delete {
        /// Generation numbers (see `generations`).
        #[arg(required = true, value_name = "GEN")]
        generations: Vec<u32>,
        /// Delete pinned generations too.
        #[arg(long)]
        force: bool,
    },
    /// Pin generation GEN: garbage collection keeps it.
    Pin {
        /// Generation number (see `generations`).
        generation: u32,
    },
    /// Unpin generation GEN.
    Unpin {
        /// Generation number (see `generations`).
        generation: u32,
    },
    /// Set the label of generation GEN (an empty TEXT clears it).
    Label {
        /// Generation number (see `generations`).
        generation: u32,
        /// A short note: one line, at most 200 characters.
        text: String,
    },
    /// Run CosmoServer from the current generation (or clean from the repository).
    Start(StartArgs),
    /// Record the plugins found in <data-dir>/plugins/*/cosmo.json as UNINSTALLED.
    Discover,
    /// Work with cosmo.json plugin manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Show the current generation, what waits for a build, failures, running servers and the store.
    Status,
    /// Show what changed between two generations (default: the previous and the current one).
    Diff {
        /// The generation to compare from (default: the one `rollback` would go back to).
        #[arg(value_name = "A")]
        from: Option<u32>,
        /// The generation to compare to (default: the current one).
        #[arg(value_name = "B")]
        to: Option<u32>,
    },
    /// Check generations' bundles against their file records (default: the current one).
    Verify {
        /// Generation numbers (see `generations`).
        #[arg(value_name = "GEN", conflicts_with = "all")]
        generations: Vec<u32>,
        /// Check every generation's bundle.
        #[arg(long)]
        all: bool,
    },
    /// Delete old generations and everything in the store that nothing uses any more.
    Gc(GcArgs),
    /// Print a shell completion script (bash: `source <(cosmo-bundle completions bash)`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show every setting that is set.
    List,
    /// Show one setting.
    Get {
        /// Setting name, e.g. find-links.
        key: String,
    },
    /// Set a setting (a list setting takes one or more values).
    Set {
        /// Setting name, e.g. find-links.
        key: String,
        /// The value, or the values of a list setting.
        #[arg(num_args = 1.., allow_hyphen_values = false)]
        values: Vec<String>,
    },
    /// Remove a setting (back to its default).
    Unset {
        /// Setting name.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Validate a cosmo.json file.
    Check {
        /// Path of the cosmo.json.
        path: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Run from the server repository with its own environment, without plugins.
    #[arg(long)]
    pub clean: bool,
    /// Development mode (`fastapi dev`: auto-reload) instead of production (`fastapi run`).
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (1-65535).
    #[arg(long, default_value_t = 8000, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Start even when the bundle differs from its file record (see `verify`).
    #[arg(long)]
    pub no_verify: bool,
    /// Further arguments for `fastapi run` / `fastapi dev`.
    #[arg(last = true, value_name = "EXTRA")]
    pub extra: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Record the new generation without making it current.
    #[arg(long, conflicts_with = "activate")]
    pub no_switch: bool,
    /// A short note for the new generation (one line, at most 200 characters).
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    #[command(flatten)]
    pub activation: ActivationArgs,
}

/// `--activate` / `--no-activate` of the commands that move `current`.
#[derive(Debug, Args)]
pub struct ActivationArgs {
    /// After `current` moves, run the `restart` command and wait for the server to answer
    /// healthy; go back when it does not (the default once `restart` is set).
    #[arg(long, conflicts_with = "no_activate")]
    pub activate: bool,
    /// Do not restart the server or check its health.
    #[arg(long)]
    pub no_activate: bool,
}

impl ActivationArgs {
    /// `Some(true)` for `--activate`, `Some(false)` for `--no-activate`, else `None`.
    pub fn choice(&self) -> Option<bool> {
        match (self.activate, self.no_activate) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Record a new plugin (PENDING until the next build is activated).
    Add(AddArgs),
    /// List plugin records.
    List,
    /// Show one plugin record.
    Show {
        /// Record id or name.
        plugin: String,
    },
    /// Change the version a plugin will be built at (its updated_version).
    Update {
        /// Record id or name.
        plugin: String,
        /// New version (PyPI plugins) or git branch, tag or commit (git plugins); for a
        /// git plugin without it, pin the newest commit of its branch.
        #[arg(long, visible_alias = "rev", value_name = "VERSION")]
        version: Option<String>,
    },
    /// Delete a plugin record.
    Remove {
        /// Record id or name.
        plugin: String,
    },
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("origin").required(true).args(["version", "git"]))]
pub struct AddArgs {
    /// Distribution name, e.g. zigbee-switch.
    pub name: String,
    /// Exact PyPI version (a PyPI plugin).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Git repository URL: https://, ssh:// or file:// (a git plugin).
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// Branch, tag or commit of the git repository (default: its default branch).
    #[arg(long, requires = "git", conflicts_with = "version", value_name = "REV")]
    pub rev: Option<String>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep the newest N generations (the current one among them if it is one of the
    /// newest; current and pinned generations are kept in any case).
    #[arg(long, value_name = "N")]
    pub keep: Option<u32>,
    /// Keep generations younger than DURATION (`30d`, `12h`, `2w`, `90m`, `45s`; `0d`: none).
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Change nothing: print what would be deleted and the bytes it would free.
    #[arg(long)]
    pub dry_run: bool,
}
