//! `runbook report RUN`: the report of a recorded run, in any format, made from its journal.

use runbook_engine::journal::Store;
use runbook_engine::report::{self, Report};

use crate::Exit;
use crate::cli::{ReportArgs, ReportKind};

pub fn run(args: &ReportArgs, store: &dyn Store) -> Exit {
    let (_, journal) = match super::open_run(store, &args.run) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let report = Report::from_entries(&journal.entries);
    let text = match args.format {
        ReportKind::Json => report.json(),
        ReportKind::Markdown => report::markdown(&report),
        ReportKind::Html => report::html(&report),
        ReportKind::Junit => report::junit(&report),
    };
    match &args.output {
        None => {
            out!("{text}");
            Exit::Success
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => Exit::Success,
            Err(e) => {
                sayln!("error: cannot write {}: {e}", path.display());
                Exit::Refused
            }
        },
    }
}
