//! `runbook runs`: every recorded run, newest last.

use runbook_engine::journal::{RunDir, RunRecord, Store};
use serde_json::json;

use crate::Exit;
use crate::cli::{ReportFormat, RunsArgs};
use crate::console;

/// One row of the listing.
pub struct Summary {
    pub id: String,
    pub status: String,
    pub playbook: String,
    pub started: String,
    pub duration: Option<f64>,
}

/// The status of a run as an operator needs it: finished, live (and waiting for someone?),
/// or abandoned by a process that died.
pub fn summarize(run: &RunDir) -> Summary {
    let record = run
        .read_journal()
        .map(|journal| RunRecord::from_entries(&journal.entries))
        .unwrap_or_default();
    summarize_record(run, &record)
}

pub fn summarize_record(run: &RunDir, record: &RunRecord) -> Summary {
    let status = match (&record.finish, run.is_live()) {
        (Some(finish), _) => finish.status.as_str().to_string(),
        (None, true) if !record.waiting.is_empty() => {
            let steps: Vec<&str> = record.waiting.keys().map(String::as_str).collect();
            format!("waiting for approval: {}", steps.join(", "))
        }
        (None, true) if record.rollback_started => "rolling back".to_string(),
        (None, true) => "running".to_string(),
        (None, false) => "abandoned (runbook resume)".to_string(),
    };
    Summary {
        id: run.id.clone(),
        status,
        playbook: record
            .header
            .as_ref()
            .map_or_else(|| "?".to_string(), |h| h.playbook.clone()),
        started: record.started_at.map_or_else(String::new, |t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        }),
        duration: record
            .duration()
            .map(|d| d.num_milliseconds() as f64 / 1000.0),
    }
}

pub fn run(args: &RunsArgs, store: &Store) -> Exit {
    let runs = match store.runs() {
        Ok(runs) => runs,
        Err(e) => {
            sayln!("error: cannot list runs in {}: {e}", store.root().display());
            return Exit::Refused;
        }
    };
    let summaries: Vec<Summary> = runs.iter().map(summarize).collect();
    match args.format {
        ReportFormat::Json => {
            let rows: Vec<_> = summaries
                .iter()
                .map(|s| {
                    json!({
                        "id": s.id, "status": s.status, "playbook": s.playbook,
                        "started": s.started, "duration": s.duration,
                    })
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&rows).unwrap_or_default()
            );
        }
        ReportFormat::Text if summaries.is_empty() => {
            sayln!("no runs recorded under {}", store.root().display());
        }
        ReportFormat::Text => {
            outln!(
                "{:<36}  {:<19}  {:>9}  {:<20}  STATUS",
                "RUN",
                "STARTED",
                "DURATION",
                "PLAYBOOK"
            );
            for s in &summaries {
                outln!(
                    "{:<36}  {:<19}  {:>9}  {:<20}  {}",
                    s.id,
                    s.started,
                    s.duration.map(console::duration).unwrap_or_default(),
                    s.playbook,
                    s.status
                );
            }
        }
    }
    Exit::Success
}
