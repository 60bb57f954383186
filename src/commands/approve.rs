//! `runbook approve RUN STEP [--reject]`: decide on a gate from any shell. The waiting run
//! picks the decision up and journals it; this command only checks and hands it over.

use runbook_engine::execute::session::Operator;
use runbook_engine::journal::{ApprovalDecision, RunRecord, Store};

use crate::Exit;
use crate::cli::ApproveArgs;

pub fn run(args: &ApproveArgs, store: &dyn Store) -> Exit {
    let (run, journal) = match super::open_run(store, &args.run) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let record = RunRecord::from_entries(&journal.entries);
    let Some((message, approvers)) = record.waiting.get(&args.step) else {
        let waiting: Vec<&str> = record.waiting.keys().map(String::as_str).collect();
        sayln!(
            "error: step `{}` of run {} is not waiting for approval ({})",
            args.step,
            run.id(),
            if waiting.is_empty() {
                "no step is".to_string()
            } else {
                format!("waiting: {}", waiting.join(", "))
            }
        );
        return Exit::Invalid;
    };
    let approver = args
        .approver
        .clone()
        .unwrap_or_else(|| Operator::current().user);
    if !approvers.is_empty() && !approvers.contains(&approver) {
        sayln!(
            "error: {approver} may not decide on `{}`; its approvers are {}",
            args.step,
            approvers.join(", ")
        );
        return Exit::Refused;
    }
    let decision = ApprovalDecision {
        approved: !args.reject,
        approver: approver.clone(),
        comment: args.comment.clone(),
    };
    if let Err(e) = run.write_approval(&args.step, &decision) {
        sayln!("error: cannot record the decision: {e}");
        return Exit::Refused;
    }
    let verdict = if args.reject { "rejected" } else { "approved" };
    outln!(
        "{verdict} `{}` of run {} as {approver} ({message})",
        args.step,
        run.id()
    );
    Exit::Success
}
