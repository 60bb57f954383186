//! `runbook runs`: every recorded run, newest last.

use runbook_engine::journal::{RunRecord, Store, StoredRun};
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
pub fn summarize(run: &dyn StoredRun) -> Summary {
    let record = run
        .journal()
        .map(|journal| RunRecord::from_entries(&journal.entries))
        .unwrap_or_default();
    summarize_record(run, &record)
}

pub fn summarize_record(run: &dyn StoredRun, record: &RunRecord) -> Summary {
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
        id: run.id().to_string(),
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

pub fn run(args: &RunsArgs, store: &dyn Store) -> Exit {
    let runs = match store.runs() {
        Ok(runs) => runs,
        Err(e) => {
            sayln!("error: cannot list runs in {}: {e}", store.describe());
            return Exit::Refused;
        }
    };
    let summaries: Vec<Summary> = runs.iter().map(|run| summarize(run.as_ref())).collect();
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
            sayln!("no runs recorded in {}", store.describe());
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
