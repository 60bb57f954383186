//! `runbook show RUN`: the timeline of one run, from its journal.

use runbook_engine::journal::Store;

use super::runs::summarize_record;
use crate::Exit;
use crate::cli::ShowArgs;
use crate::console::{describe, duration};
use runbook_engine::journal::RunRecord;

pub fn run(args: &ShowArgs, store: &Store) -> Exit {
    let (run, journal) = match super::open_run(store, &args.run) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let summary = summarize_record(&run, &RunRecord::from_entries(&journal.entries));
    println!("run       {}", summary.id);
    println!("playbook  {}", summary.playbook);
    println!("started   {}", summary.started);
    if let Some(seconds) = summary.duration {
        println!("duration  {}", duration(seconds));
    }
    println!("status    {}", summary.status);
    println!("journal   {}", run.journal_path().display());
    println!();
    let start = journal.entries.first().map(|e| e.at);
    for entry in &journal.entries {
        let offset = start.map_or(0.0, |s| (entry.at - s).num_milliseconds() as f64 / 1000.0);
        println!(
            "{:>9}  {}",
            format!("+{}", duration(offset)),
            describe(&entry.event)
        );
    }
    if journal.torn {
        println!("           (the last journal line was cut short by a crash and is ignored)");
    }
    Exit::Success
}
