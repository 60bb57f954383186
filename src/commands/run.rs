//! `runbook run FILE`

use runbook_engine::execute::RunOptions;
use runbook_engine::journal::SharedStore;

use super::session::{execute, session};
use crate::Exit;
use crate::cli::RunArgs;

pub fn run(args: &RunArgs, store: SharedStore) -> Exit {
    let Ok((options, hosts)) = super::run_options(&args.values, true) else {
        return Exit::Invalid;
    };
    let (source, playbook) = match super::check(&args.file, &options) {
        Ok(checked) => checked,
        Err((source, diagnostics)) => {
            super::print_diagnostics(&source, &diagnostics);
            return Exit::Invalid;
        }
    };
    if let Some(step) = &args.fail_at {
        let known = playbook
            .steps
            .iter()
            .map(|&i| playbook.step(i))
            .any(|s| s.id == *step || s.origin == *step);
        if !known {
            sayln!("error: --fail-at `{step}`: the playbook has no such step");
            return Exit::Invalid;
        }
    }
    let run_options = RunOptions {
        max_parallel: args
            .execution
            .max_parallel
            .map_or(super::DEFAULT_MAX_PARALLEL, usize::from),
        check_mode: args.dry_run,
        rollback: !args.execution.no_rollback,
        fail_at: args.fail_at.clone(),
    };
    execute(|interrupt| {
        let session = session(store, run_options, &args.execution, interrupt, hosts);
        let given = options.given_inputs(playbook.input_values.keys().map(String::as_str));
        async move { session.start(&source, playbook, &given).await }
    })
}
