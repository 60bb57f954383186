//! `runbook resume RUN`

use runbook_engine::execute::RunOptions;
use runbook_engine::execute::session::Resume;
use runbook_engine::journal::SharedStore;

use super::session::{execute, session};
use crate::Exit;
use crate::cli::ResumeArgs;

pub fn run(args: &ResumeArgs, store: SharedStore) -> Exit {
    // What the run started with (`--fail-at`, `--no-rollback`, `--max-parallel`) is in its
    // journal; the session takes it from there.
    let Ok(hosts) = super::hosts(args.env.as_deref()) else {
        return Exit::Invalid;
    };
    let options = RunOptions {
        max_parallel: super::DEFAULT_MAX_PARALLEL,
        check_mode: false,
        rollback: !args.execution.no_rollback,
        fail_at: None,
    };
    let request = Resume {
        query: &args.run,
        force: args.force,
        rerun: &args.rerun,
        max_parallel: args.execution.max_parallel.map(usize::from),
    };
    execute(|interrupt| {
        let session = session(store, options, &args.execution, interrupt, hosts);
        async move {
            session
                .resume(request, |source, options| {
                    runbook_engine::check::<runbook_steps::Action>(source, options)
                })
                .await
        }
    })
}
