//! `runbook show RUN`: the timeline of one run, from its journal.

use runbook_engine::journal::Store;

use super::runs::summarize_record;
use crate::Exit;
use crate::cli::ShowArgs;
use crate::console::{describe, duration};
use chrono::{DateTime, Utc};
use runbook_engine::journal::{Entry, Event, RunRecord, StoredRun};

pub fn run(args: &ShowArgs, store: &dyn Store) -> Exit {
    let (run, journal) = match super::open_run(store, &args.run) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let summary = summarize_record(run.as_ref(), &RunRecord::from_entries(&journal.entries));
    outln!("run       {}", summary.id);
    outln!("playbook  {}", summary.playbook);
    outln!("started   {}", summary.started);
    if let Some(seconds) = summary.duration {
        outln!("duration  {}", duration(seconds));
    }
    outln!("status    {}", summary.status);
    outln!("journal   {}", run.journal_location());
    outln!();
    let start = journal.entries.first().map(|e| e.at);
    print_entries(&journal.entries, start);
    if args.follow {
        return follow(run.as_ref(), journal.entries.len(), start);
    }
    if journal.torn {
        outln!("           (the last journal line was cut short by a crash and is ignored)");
    }
    Exit::Success
}

fn print_entries(entries: &[Entry], start: Option<DateTime<Utc>>) {
    for entry in entries {
        let offset = start.map_or(0.0, |s| (entry.at - s).num_milliseconds() as f64 / 1000.0);
        outln!(
            "{:>9}  {}",
            format!("+{}", duration(offset)),
            describe(&entry.event)
        );
    }
}

/// How often `--follow` looks at the journal: well under a human's notice.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Prints what the run journals after the first `seen` entries, until it finishes (the exit
/// is the run's) or no process holds it any more (it crashed: `runbook resume`).
fn follow(run: &dyn StoredRun, mut seen: usize, mut start: Option<DateTime<Utc>>) -> Exit {
    loop {
        // Whether it was live *before* reading: a run that ends between the two is still read
        // to its end on this pass.
        let live = run.is_live();
        let entries = match run.journal() {
            Ok(journal) => journal.entries,
            Err(e) => {
                sayln!("error: reading the journal of {}: {e}", run.id());
                return Exit::Refused;
            }
        };
        let new = entries.get(seen..).unwrap_or_default();
        start = start.or_else(|| new.first().map(|e| e.at));
        print_entries(new, start);
        seen = entries.len();
        if let Some(status) = entries.iter().rev().find_map(|e| match &e.event {
            Event::RunFinished { status, .. } => Some(*status),
            _ => None,
        }) {
            return Exit::from(status);
        }
        if !live {
            outln!(
                "           (nobody works on this run any more: it crashed or was killed; `runbook resume {}` continues it)",
                run.id()
            );
            return Exit::Refused;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}
