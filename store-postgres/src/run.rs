//! One run in the shared store: its journal rows read back as the journal file would be,
//! its snapshot, reports and approvals, and whether an owner's lease is current.

use runbook_engine::journal::reader::{self, Journal, ReadError};
use runbook_engine::journal::{
    ApprovalDecision, Liveness, Operator, Ownership, Snapshot, StoreError, StoredRun,
};
use std::sync::Arc;
use std::time::Duration;

use super::{Shared, call, client, db};

pub struct PgRun {
    id: String,
    shared: Arc<Shared>,
}

impl PgRun {
    pub(crate) fn new(id: &str, shared: Arc<Shared>) -> Self {
        Self {
            id: id.to_string(),
            shared,
        }
    }

    /// The journal's lines in order, as one text (the journal file's format).
    pub(crate) fn journal_text(&self) -> Result<String, StoreError> {
        let (shared, id) = (self.shared.clone(), self.id.clone());
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let rows = client
                .query(
                    "SELECT line FROM runbook_events WHERE run_id = $1 ORDER BY seq",
                    &[&id],
                )
                .await
                .map_err(db("reading the journal"))?;
            let mut text = String::new();
            for row in rows {
                text.push_str(row.get::<_, &str>(0));
                text.push('\n');
            }
            Ok(text)
        })
    }
}

impl StoredRun for PgRun {
    fn id(&self) -> &str {
        &self.id
    }

    fn journal(&self) -> Result<Journal, ReadError> {
        let text = self
            .journal_text()
            .map_err(|e| ReadError::Io(std::io::Error::other(e.to_string())))?;
        reader::parse(&text)
    }

    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let (shared, id) = (self.shared.clone(), self.id.clone());
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let row = client
                .query_opt(
                    "SELECT playbook, plan, inputs, started_by FROM runbook_runs WHERE id = $1",
                    &[&id],
                )
                .await
                .map_err(db("reading the run's snapshot"))?
                .ok_or_else(|| StoreError::Refused(format!("no run {id} in the store")))?;
            Ok(Snapshot {
                playbook: row.get(0),
                plan: row.get(1),
                inputs: row.get(2),
                started_by: row.get(3),
            })
        })
    }

    fn hold(&self, owner: &Operator) -> Result<Box<dyn Ownership>, StoreError> {
        super::ownership::take(self.shared.clone(), &self.id, owner)
    }

    fn liveness(&self) -> Liveness {
        let (shared, id) = (self.shared.clone(), self.id.clone());
        let live = call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let row = client
                .query_opt(
                    "SELECT owner_host, owner_pid FROM runbook_runs
                      WHERE id = $1 AND owner IS NOT NULL AND lease_until > now()",
                    &[&id],
                )
                .await
                .map_err(db("reading the run's owner"))?;
            // A lease still runs, but an owner of this host whose process is gone is dead.
            Ok(row.is_some_and(|r| {
                let (host, pid): (String, i64) = (r.get(0), r.get(1));
                !Operator::is_gone_here(&host, pid as u32)
            }))
        });
        // A store that cannot be asked cannot say someone works on the run.
        if live.unwrap_or(false) {
            Liveness::Live
        } else {
            Liveness::Idle
        }
    }

    fn write_reports(&self, reports: &[(&str, String)]) -> Result<(), StoreError> {
        let (shared, id) = (self.shared.clone(), self.id.clone());
        let reports: Vec<(String, String)> = reports
            .iter()
            .map(|(format, body)| ((*format).to_string(), body.clone()))
            .collect();
        call(async move {
            let mut client = client(&shared, Duration::from_secs(10)).await?;
            let tx = client
                .transaction()
                .await
                .map_err(db("writing the reports"))?;
            for (format, body) in &reports {
                tx.execute(
                    "INSERT INTO runbook_reports (run_id, format, body) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, format) DO UPDATE SET body = EXCLUDED.body",
                    &[&id, format, body],
                )
                .await
                .map_err(db("writing the reports"))?;
            }
            tx.commit().await.map_err(db("writing the reports"))
        })
    }

    fn read_report(&self, extension: &str) -> Result<String, StoreError> {
        let (shared, id, format) = (self.shared.clone(), self.id.clone(), extension.to_string());
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let row = client
                .query_opt(
                    "SELECT body FROM runbook_reports WHERE run_id = $1 AND format = $2",
                    &[&id, &format],
                )
                .await
                .map_err(db("reading the report"))?;
            row.map(|r| r.get(0))
                .ok_or_else(|| StoreError::Refused(format!("run {id} has no {format} report")))
        })
    }

    fn journal_location(&self) -> String {
        format!("{} (run {})", self.shared.shown, self.id)
    }

    fn report_location(&self, extension: &str) -> String {
        let format = match extension {
            "md" => "markdown",
            "junit.xml" => "junit",
            other => other,
        };
        format!("runbook report {} --format {format}", self.id)
    }

    fn write_approval(&self, step: &str, decision: &ApprovalDecision) -> Result<(), StoreError> {
        let (shared, id, step) = (self.shared.clone(), self.id.clone(), step.to_string());
        let decision = serde_json::to_string(decision)
            .map_err(|e| StoreError::Unavailable(format!("encoding the decision: {e}")))?;
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            client
                .execute(
                    "INSERT INTO runbook_approvals (run_id, step, decision) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, step) DO UPDATE SET decision = EXCLUDED.decision, decided_at = now()",
                    &[&id, &step, &decision],
                )
                .await
                .map_err(db("recording the decision"))?;
            Ok(())
        })
    }

    fn read_approval(&self, step: &str) -> Option<ApprovalDecision> {
        let (shared, id, step) = (self.shared.clone(), self.id.clone(), step.to_string());
        let text = call(async move {
            let client = client(&shared, Duration::from_secs(5)).await?;
            let row = client
                .query_opt(
                    "SELECT decision FROM runbook_approvals WHERE run_id = $1 AND step = $2",
                    &[&id, &step],
                )
                .await
                .map_err(db("reading a decision"))?;
            Ok(row.map(|r| r.get::<_, String>(0)))
        })
        .ok()??;
        serde_json::from_str(&text).ok()
    }
}
