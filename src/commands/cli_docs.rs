//! `runbook completions SHELL` and `runbook man`: the CLI's own documentation, generated from
//! its clap definition so that it cannot drift from the arguments runbook accepts.

use clap::CommandFactory;

use crate::Exit;
use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> Exit {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "runbook", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Exit::Success
}

pub fn man() -> Exit {
    let mut page = Vec::new();
    match clap_mangen::Man::new(Cli::command()).render(&mut page) {
        Ok(()) => {
            out!("{}", String::from_utf8_lossy(&page));
            Exit::Success
        }
        Err(e) => {
            sayln!("error: cannot render the man page: {e}");
            Exit::Refused
        }
    }
}
