//! `xf completions SHELL`: the shell's completion script, made from the same definition the command line is
//! parsed with.

use clap::CommandFactory;

pub fn run(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut crate::Cli::command(),
        "xf",
        &mut std::io::stdout(),
    );
}
