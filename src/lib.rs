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
use runbook_engine::journal::SharedStore;

pub use exit::Exit;

/// The engine compiled with runbook's step families.
pub type Playbook = runbook_engine::compile::Playbook<runbook_steps::Action>;

pub fn run() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    // Before the first thread (logs, store, runtime): the guard is forked from this one.
    if matches!(cli.command, cli::Command::Run(_) | cli::Command::Resume(_))
        && let Err(e) = runbook_steps::guard::start()
    {
        eprintln!(
            "warning: no guard process ({e}); started programs get the kernel's death signal instead"
        );
    }
    logs::init(cli.log_format == cli::LogFormat::Json);
    // Commands that keep no runs never touch a store (a plan in CI needs no database).
    let exit = match &cli.command {
        cli::Command::Validate(args) => commands::validate::run(args),
        cli::Command::Plan(args) => commands::plan::run(args),
        cli::Command::Schema => commands::schema::run(),
        cli::Command::Verbs(args) => commands::verbs::run(args),
        cli::Command::Diff(args) => commands::diff::run(args),
        cli::Command::Completions(args) => commands::cli_docs::completions(args.shell),
        cli::Command::Man => commands::cli_docs::man(),
        cli::Command::Schedule(args) => commands::schedule::run(args, &cli.state_dir),
        cli::Command::Store(command) => commands::store::run(command, &cli),
        cli::Command::Run(args) => with_store(&cli, |store| commands::run::run(args, store)),
        cli::Command::Resume(args) => with_store(&cli, |store| commands::resume::run(args, store)),
        cli::Command::Runs(args) => with_store(&cli, |store| commands::runs::run(args, &*store)),
        cli::Command::Show(args) => with_store(&cli, |store| commands::show::run(args, &*store)),
        cli::Command::Report(args) => {
            with_store(&cli, |store| commands::report::run(args, &*store))
        }
        cli::Command::Approve(args) => {
            with_store(&cli, |store| commands::approve::run(args, &*store))
        }
        cli::Command::Daemon(args) => {
            with_store(&cli, |store| commands::daemon::run(args, &cli, store))
        }
    };
    runbook_steps::guard::stop();
    output::flush_soon();
    exit.into()
}

fn with_store(cli: &cli::Cli, command: impl FnOnce(SharedStore) -> Exit) -> Exit {
    match open_store(cli, true) {
        Ok(store) => command(store),
        Err(exit) => exit,
    }
}

/// The store every command that keeps runs uses, chosen here once: PostgreSQL with
/// `--store`/RUNBOOK_STORE, else the state directory on this machine. `check`: the schema
/// must be this binary's (false only for `store migrate`).
pub(crate) fn open_store(cli: &cli::Cli, check: bool) -> Result<SharedStore, Exit> {
    use runbook_engine::journal::{FileStore, StoreError};
    match cli.store.as_deref().filter(|url| !url.trim().is_empty()) {
        Some(url) => {
            let settings = runbook_store_postgres::Settings {
                lease_ttl: cli.lease_ttl,
            };
            match runbook_store_postgres::PgStore::connect(url, settings, check) {
                Ok(store) => Ok(std::sync::Arc::new(store)),
                Err(e) => {
                    sayln!("error: {e}");
                    if matches!(e, StoreError::Unavailable(_)) {
                        sayln!(
                            "hint: check RUNBOOK_STORE (postgres://USER:PASSWORD@HOST:PORT/DB) and that the server accepts connections from this host; without it, runs are kept in --state-dir"
                        );
                    }
                    Err(Exit::Invalid)
                }
            }
        }
        None => Ok(std::sync::Arc::new(match &cli.lock_dir {
            Some(locks) => FileStore::with_locks(&cli.state_dir, locks),
            None => FileStore::new(&cli.state_dir),
        })),
    }
}
