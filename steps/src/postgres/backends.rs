//! `postgres.terminate_backends`: the pool-exhaustion remedy of the seeds (3.1), with the
//! filters written down instead of typed into psql under stress.

use serde_json::json;
use tokio_postgres::Client;

use super::TerminateBackends;
use super::connect::{Target, reason};
use crate::prelude::*;

/// Client backends matching the filters, oldest first; never this connection, never
/// PostgreSQL's own workers. A backend's age is how long it has been in its state: an active
/// one since its query started, one idle in a transaction since the transaction began, an
/// idle one since it went idle.
const MATCHING: &str = "
    SELECT pid, coalesce(datname, ''), coalesce(state, ''), coalesce(application_name, ''),
           extract(epoch FROM now() - CASE state
               WHEN 'active' THEN query_start
               WHEN 'idle' THEN state_change
               ELSE coalesce(xact_start, state_change) END)::float8 AS age
    FROM pg_stat_activity
    WHERE backend_type = 'client backend'
      AND pid <> pg_backend_pid()
      AND ($1::text IS NULL OR datname = $1)
      AND (cardinality($2::text[]) = 0 OR state = ANY($2))
      AND ($3::text IS NULL OR application_name = $3)
    ORDER BY age DESC NULLS LAST";

struct Backend {
    pid: i32,
    database: String,
    state: String,
    application: String,
    age: f64,
}

impl Backend {
    fn describe(&self) -> String {
        let app = if self.application.is_empty() {
            String::new()
        } else {
            format!(", {}", self.application)
        };
        format!(
            "{} ({}, {} for {}s{app})",
            self.pid,
            self.database,
            self.state,
            self.age.round()
        )
    }
}

impl TerminateBackends {
    async fn matching(
        &self,
        ctx: &StepContext,
    ) -> Result<(Target, Client, Vec<Backend>), StepError> {
        let target = self.target(ctx).await?;
        let database = self
            .target_database
            .as_ref()
            .map(|d| ctx.render(d))
            .transpose()?;
        let application = self
            .application_name
            .as_ref()
            .map(|a| ctx.render(a))
            .transpose()?;
        let older_than = self
            .older_than
            .as_ref()
            .map(|d| ctx.resolve(d))
            .transpose()?
            .map(|d| d.0.as_secs_f64());
        let client = target.connect().await?;
        let rows = client
            .query(MATCHING, &[&database, &self.states, &application])
            .await
            .map_err(|e| {
                StepError::failed(format!(
                    "listing backends on {}: {}",
                    target.label(),
                    reason(&e)
                ))
            })?;
        let backends = rows
            .iter()
            .map(|row| Backend {
                pid: row.get(0),
                database: row.get(1),
                state: row.get(2),
                application: row.get(3),
                age: row.get::<_, Option<f64>>(4).unwrap_or(0.0),
            })
            .filter(|b| older_than.is_none_or(|min| b.age > min))
            .collect();
        Ok((target, client, backends))
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (target, client, backends) = self.matching(ctx).await?;
        let pids: Vec<i32> = backends.iter().map(|b| b.pid).collect();
        // A backend that ended meanwhile yields false: it is not reported as terminated.
        let rows = client
            .query(
                "SELECT pid FROM unnest($1::int[]) AS pid WHERE pg_terminate_backend(pid)",
                &[&pids],
            )
            .await
            .map_err(|e| {
                StepError::failed(format!(
                    "terminating backends on {}: {}",
                    target.label(),
                    reason(&e)
                ))
            })?;
        let terminated: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        Ok(outputs(
            json!({ "pids": terminated, "count": terminated.len() }),
        ))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (target, _, backends) = self.matching(ctx).await?;
        if backends.is_empty() {
            return Ok(format!(
                "would terminate nothing on {}: no backend matches",
                target.label()
            ));
        }
        let listed: Vec<String> = backends.iter().map(Backend::describe).collect();
        Ok(format!(
            "would terminate {} backend{} on {}: {}",
            backends.len(),
            if backends.len() == 1 { "" } else { "s" },
            target.label(),
            listed.join(", ")
        ))
    }
}
