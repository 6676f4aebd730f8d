//! `completions`: a shell completion script.

use crate::cli::Cli;
use crate::error::Result;
use crate::output::{CompletionsOutput, Printer};
use clap::CommandFactory;

pub fn run(out: Printer, shell: clap_complete::Shell) -> Result<()> {
    // Generated into memory: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cosmo-bundle", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        // clap_complete labels the states of subcommands as if the `-` of the name were a
        // subcommand separator, so no state matches past the first word
        // (clap-rs/clap#6421); spell the labels the way its dispatch loop does.
        script = script.replace("cosmo__subcmd__bundle__subcmd__", "cosmo__bundle__subcmd__");
    }
    out.print(&CompletionsOutput {
        shell: shell.to_string(),
        script,
    })
}
