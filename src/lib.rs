//! The `runbook` command: parses arguments and wires the engine to the step families.

// First, so that its macros (`outln!`, `sayln!`...) are seen by every module below.
#[macro_use]
mod output;

mod cli;
mod commands;
mod console;
mod exit;
mod logs;
mod metrics;
mod progress;
mod scheduled;

use clap::Parser;

pub use exit::Exit;

/// The engine compiled with runbook's step families.
pub type Playbook = runbook_engine::compile::Playbook<runbook_steps::Action>;

pub fn run() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logs::init(cli.log_format == cli::LogFormat::Json);
    let store = match &cli.lock_dir {
        Some(locks) => runbook_engine::journal::Store::with_locks(&cli.state_dir, locks),
        None => runbook_engine::journal::Store::new(&cli.state_dir),
    };
    let exit = match cli.command {
        cli::Command::Validate(args) => commands::validate::run(&args),
        cli::Command::Plan(args) => commands::plan::run(&args),
        cli::Command::Schema => commands::schema::run(),
        cli::Command::Verbs(args) => commands::verbs::run(&args),
        cli::Command::Run(args) => commands::run::run(&args, store),
        cli::Command::Resume(args) => commands::resume::run(&args, store),
        cli::Command::Runs(args) => commands::runs::run(&args, &store),
        cli::Command::Show(args) => commands::show::run(&args, &store),
        cli::Command::Report(args) => commands::report::run(&args, &store),
        cli::Command::Diff(args) => commands::diff::run(&args),
        cli::Command::Daemon(args) => commands::daemon::run(&args, &cli.state_dir),
        cli::Command::Schedule(args) => commands::schedule::run(&args, &cli.state_dir),
        cli::Command::Approve(args) => commands::approve::run(&args, &store),
        cli::Command::Completions(args) => commands::cli_docs::completions(args.shell),
        cli::Command::Man => commands::cli_docs::man(),
    };
    exit.into()
}
