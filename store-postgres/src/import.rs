//! `runbook store import DIR`: a team moving to the shared store keeps its evidence. Every run
//! of a file store is copied in with its snapshot, journal and reports; a run already in the
//! database is left as it is, so an import can be repeated.

use runbook_engine::journal::{FileStore, Store, StoreError};
use std::time::Duration;

use super::{PgStore, call, client, db};

#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    pub runs: usize,
    pub events: usize,
    /// Already in the store (imported before).
    pub skipped: usize,
    /// Could not be read: (run, why).
    pub unreadable: Vec<(String, String)>,
}

pub fn import(files: &FileStore, into: &PgStore) -> Result<Imported, StoreError> {
    let mut imported = Imported::default();
    for id in files.run_ids()? {
        let run = files.open(&id)?;
        let read = run
            .journal()
            .map_err(|e| e.to_string())
            .and_then(|journal| {
                let lines = journal
                    .entries
                    .iter()
                    .map(|entry| serde_json::to_string(entry).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<String>, String>>()?;
                let snapshot = run.snapshot().map_err(|e| e.to_string())?;
                Ok((lines, snapshot))
            });
        let (lines, snapshot) = match read {
            Ok(read) => read,
            Err(why) => {
                imported.unreadable.push((id, why));
                continue;
            }
        };
        let reports: Vec<(String, String)> = ["json", "md", "html", "junit.xml"]
            .iter()
            .filter_map(|format| Some(((*format).to_string(), run.read_report(format).ok()?)))
            .collect();
        let shared = into.shared.clone();
        let events = lines.len();
        let inserted = call(async move {
            let mut client = client(&shared, Duration::from_secs(10)).await?;
            let tx = client.transaction().await.map_err(db("importing a run"))?;
            let inserted = tx
                .execute(
                    "INSERT INTO runbook_runs (id, playbook, plan, inputs, started_by)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    &[
                        &id,
                        &snapshot.playbook,
                        &snapshot.plan,
                        &snapshot.inputs,
                        &snapshot.started_by,
                    ],
                )
                .await
                .map_err(db("importing a run"))?;
            if inserted == 0 {
                return Ok(false);
            }
            for (seq, line) in lines.iter().enumerate() {
                let seq = seq as i64 + 1;
                tx.execute(
                    "INSERT INTO runbook_events (run_id, seq, epoch, line) VALUES ($1, $2, 0, $3)",
                    &[&id, &seq, line],
                )
                .await
                .map_err(db("importing a journal"))?;
            }
            for (format, body) in &reports {
                tx.execute(
                    "INSERT INTO runbook_reports (run_id, format, body) VALUES ($1, $2, $3)",
                    &[&id, format, body],
                )
                .await
                .map_err(db("importing a report"))?;
            }
            tx.commit().await.map_err(db("importing a run"))?;
            Ok(true)
        })?;
        if inserted {
            imported.runs += 1;
            imported.events += events;
        } else {
            imported.skipped += 1;
        }
    }
    Ok(imported)
}
