//! `runbook resume RUN`

use runbook_engine::execute::RunOptions;
use runbook_engine::journal::Store;

use super::session::{execute, session};
use crate::Exit;
use crate::cli::ResumeArgs;

pub fn run(args: &ResumeArgs, store: Store) -> Exit {
    let options = RunOptions {
        max_parallel: usize::from(args.execution.max_parallel),
        check_mode: false,
        rollback: !args.execution.no_rollback,
        fail_at: None,
    };
    execute(|interrupt| {
        let session = session(store, options, &args.execution, interrupt);
        async move {
            session
                .resume(&args.run, args.force, &args.rerun, |source, options| {
                    runbook_engine::check::<runbook_steps::Action>(source, options)
                })
                .await
        }
    })
}
