//! `manifest check`.

use crate::cli::ManifestCommand;
use crate::error::Result;
use crate::ops::manifest;
use crate::output::Printer;

pub fn run(out: Printer, cmd: &ManifestCommand) -> Result<()> {
    match cmd {
        ManifestCommand::Check { path } => out.print(&manifest::check(path)?),
    }
}
