//! The `runbook` command: parses arguments and wires the engine to the step families.

mod cli;
mod commands;
mod exit;

use clap::Parser;

pub use exit::Exit;

/// The engine compiled with runbook's step families.
pub type Playbook = runbook_engine::compile::Playbook<runbook_steps::Action>;

pub fn run() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let exit = match cli.command {
        cli::Command::Validate(args) => commands::validate::run(&args),
        cli::Command::Plan(args) => commands::plan::run(&args),
        cli::Command::Schema => commands::schema::run(),
    };
    exit.into()
}
