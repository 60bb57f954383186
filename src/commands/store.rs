//! `runbook store migrate|import DIR`: operating the shared PostgreSQL store.

use runbook_engine::journal::FileStore;
use runbook_store_postgres::{PgStore, Settings};

use crate::Exit;
use crate::cli::{Cli, StoreCommand};

pub fn run(command: &StoreCommand, cli: &Cli) -> Exit {
    let Some(url) = cli.store.as_deref().filter(|u| !u.trim().is_empty()) else {
        sayln!(
            "error: `runbook store` works on the shared store: set RUNBOOK_STORE=postgres://USER:PASSWORD@HOST:PORT/DB"
        );
        return Exit::Invalid;
    };
    let settings = Settings {
        lease_ttl: cli.lease_ttl,
    };
    // `migrate` is what makes the schema right, so only it may start from another version.
    let check = !matches!(command, StoreCommand::Migrate);
    let store = match PgStore::connect(url, settings, check) {
        Ok(store) => store,
        Err(e) => {
            sayln!("error: {e}");
            return Exit::Invalid;
        }
    };
    match command {
        StoreCommand::Migrate => match store.migrate() {
            Ok(applied) if applied.is_empty() => {
                outln!(
                    "the store is at schema version {}: nothing to do",
                    runbook_store_postgres::schema_version()
                );
                Exit::Success
            }
            Ok(applied) => {
                let versions: Vec<String> = applied.iter().map(ToString::to_string).collect();
                outln!(
                    "applied migration(s) {}: the store is at schema version {}",
                    versions.join(", "),
                    runbook_store_postgres::schema_version()
                );
                Exit::Success
            }
            Err(e) => {
                sayln!("error: {e}");
                Exit::Refused
            }
        },
        StoreCommand::Import(args) => {
            let files = FileStore::new(&args.dir);
            match runbook_store_postgres::import(&files, &store) {
                Ok(imported) => {
                    outln!(
                        "imported {} run(s) ({} events) from {}; {} already in the store",
                        imported.runs,
                        imported.events,
                        args.dir.display(),
                        imported.skipped
                    );
                    for (run, why) in &imported.unreadable {
                        sayln!("warning: run {run} not imported: {why}");
                    }
                    if imported.unreadable.is_empty() {
                        Exit::Success
                    } else {
                        Exit::Failed
                    }
                }
                Err(e) => {
                    sayln!("error: {e}");
                    Exit::Refused
                }
            }
        }
    }
}
