//! `completions`: a shell completion script.

use crate::cli::Cli;
use crate::error::Result;
use crate::output::{CompletionsOutput, Printer};
use clap::CommandFactory;

pub fn run(out: Printer, shell: clap_complete::Shell) -> Result<()> {
    // Generated into memory: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cosmo-bundle", &mut script);
    out.print(&CompletionsOutput {
        shell: shell.to_string(),
        script: String::from_utf8_lossy(&script).into_owned(),
    })
}
