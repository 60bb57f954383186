//! `runbook diff OLD NEW`

use runbook_engine::plan::PlanDiff;

use crate::Exit;
use crate::cli::{DiffArgs, DiffFormat};

pub fn run(args: &DiffArgs) -> Exit {
    // A playbook under review may add a required input; compare what can be compared.
    let Ok(options) = super::compile_options(&args.values, false) else {
        return Exit::Invalid;
    };
    let mut compiled = Vec::new();
    for path in [&args.old, &args.new] {
        match super::check(path, &options) {
            Ok((_, playbook)) => compiled.push(playbook),
            Err((source, diagnostics)) => {
                super::print_diagnostics(&source, &diagnostics);
                return Exit::Invalid;
            }
        }
    }
    let diff = PlanDiff::new(&compiled[0], &compiled[1]);
    out!(
        "{}",
        match args.format {
            DiffFormat::Text => diff.text(),
            DiffFormat::Markdown => diff.markdown(),
        }
    );
    Exit::Success
}
