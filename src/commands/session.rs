//! What `run` and `resume` share: a tokio runtime, signal handling, and how a session's
//! outcome becomes an exit code.

use runbook_engine::execute::session::{Finished, Session, SessionError};
use runbook_engine::execute::{Interrupt, RunOptions};
use runbook_engine::journal::RunStatus;
use runbook_engine::journal::SharedStore;
use std::future::Future;

use crate::Exit;
use crate::cli::ExecutionArgs;

pub fn session(
    store: SharedStore,
    options: RunOptions,
    execution: &ExecutionArgs,
    interrupt: Interrupt,
    hosts: std::sync::Arc<dyn runbook_engine::action::Hosts>,
) -> Session {
    Session {
        hosts,
        observer: crate::console::live(&store.command_prefix()),
        store,
        options,
        prompt: !execution.no_prompt,
        interrupt,
        env: |name| std::env::var(name).ok(),
        notifier: Some(std::sync::Arc::new(runbook_steps::notify::RunNotifier)),
        webhooks: execution.webhooks.notify.clone(),
        // Set by the daemon for the runs it starts.
        started_by: std::env::var("RUNBOOK_DAEMON")
            .ok()
            .filter(|d| !d.is_empty()),
    }
}

/// Runs a session on a fresh runtime, with SIGINT and SIGTERM turned into an [`Interrupt`].
pub fn execute<F, Fut>(start: F) -> Exit
where
    F: FnOnce(Interrupt) -> Fut,
    Fut: Future<Output = Result<Finished, SessionError>>,
{
    let runtime = match super::session_runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    runtime.block_on(async {
        let interrupt = Interrupt::default();
        let watcher = tokio::spawn(watch_signals(interrupt.clone()));
        let outcome = start(interrupt).await;
        watcher.abort();
        match outcome {
            Ok(finished) if finished.status == RunStatus::Abandoned => {
                sayln!(
                    "error: this runner lost run {id}: its lease in the store could not be renewed, or another runner took the run over. It stopped what was running and rolled nothing back.\nhint: `runbook runs` shows who has it now; `runbook resume {id}` continues it from any host once nobody does",
                    id = finished.run.id()
                );
                Exit::from(finished.status)
            }
            Ok(finished) => {
                sayln!(
                    "journal: {}\n  runbook show {}",
                    finished.run.journal_location(),
                    finished.run.id()
                );
                match &finished.reports {
                    Ok(()) => sayln!("report:  {}", finished.run.report_location("md")),
                    Err(e) => sayln!("warning: the run's report could not be written: {e}"),
                }
                Exit::from(finished.status)
            }
            Err(error) => report(error),
        }
    })
}

fn report(error: SessionError) -> Exit {
    match error {
        SessionError::Invalid(source, diagnostics) => {
            super::print_diagnostics(&source, &diagnostics);
            Exit::Invalid
        }
        SessionError::Secrets(_) => {
            sayln!("error: {error}");
            Exit::Invalid
        }
        SessionError::Lock(_) | SessionError::Refused(_) | SessionError::Io(_) => {
            sayln!("error: {error}");
            Exit::Refused
        }
    }
}

/// The first SIGINT/SIGTERM stops the run (and rolls back); later ones are only
/// acknowledged, so a second Ctrl-C cannot leave the systems half rolled back. `resume` can
/// finish a rollback that `kill -9` cut short.
///
/// SIGHUP (the SSH session was lost) does not stop the run: a restore cut in the middle by a
/// flaky connection, and rolled back, would be the worse outcome. The run goes on, journaled
/// as always, its console lines going nowhere; `runbook show --follow RUN` watches it from a
/// new session, and `runbook approve` answers its gates.
async fn watch_signals(interrupt: Interrupt) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        sayln!("warning: cannot watch signals; Ctrl-C will kill runbook without rollback");
        return;
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => {
                interrupt.hang_up();
                continue;
            }
        };
        if interrupt.is_triggered() {
            sayln!(
                "{name} again: finishing the rollback first (kill -9 stops it; `runbook resume` completes it later)"
            );
        } else {
            interrupt.trigger(name);
        }
    }
}
