//! `postgres.ready`, `postgres.query` and `postgres.exec`: one connection, one round trip.

use bytes::BytesMut;
use serde_json::{Value, json};
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, SimpleQueryMessage};

use super::connect::reason;
use super::{Exec, Query, Ready};
use crate::prelude::*;

/// Rows kept in the `rows` output (it is journaled); `row_count` and expectations see all.
const ROWS_KEPT: usize = 1000;

impl Ready {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let target = self.target(ctx).await?;
        let client = target.connect().await?;
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), \
                 current_setting('server_version_num')::int, pg_is_in_recovery()",
                &[],
            )
            .await
            .map_err(|e| {
                StepError::failed(format!("{} is not ready: {}", target.label(), reason(&e)))
            })?;
        Ok(outputs(json!({
            "version": row.get::<_, String>(0),
            "version_num": row.get::<_, i32>(1),
            "in_recovery": row.get::<_, bool>(2),
        })))
    }
}

impl Query {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let target = self.target(ctx).await?;
        let sql = ctx.render(&self.sql)?;
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| ctx.render(p))
            .collect::<Result<_, _>>()?;
        let mut client = target.connect().await?;
        let rows = rows_as_json(&mut client, &sql, &params)
            .await
            .map_err(|e| StepError::failed(format!("query on {}: {e}", target.label())))?;
        let mut results = outputs(json!({ "row_count": rows.len() }));
        results.insert("rows".into(), Value::Array(rows));
        if let Some(expect) = &self.expect {
            let count = results["row_count"].as_u64().unwrap_or(0);
            let bound = |b: &Option<Tpl<u64>>| b.as_ref().map(|b| ctx.resolve(b)).transpose();
            let (min, max) = (bound(&expect.min_rows)?, bound(&expect.max_rows)?);
            if min.is_some_and(|min| count < min) || max.is_some_and(|max| count > max) {
                return Err(StepError::failed(format!(
                    "expected {} rows, got {count}",
                    match (min, max) {
                        (Some(min), Some(max)) => format!("{min} to {max}"),
                        (Some(min), None) => format!("at least {min}"),
                        (None, Some(max)) => format!("at most {max}"),
                        (None, None) => unreachable!("a bound was crossed"),
                    }
                )));
            }
            for that in &expect.that {
                if !ctx.condition_with(that, &results)? {
                    return Err(StepError::failed(format!(
                        "expected `{that}`; rows: {}",
                        preview_rows(&results["rows"])
                    )));
                }
            }
        }
        if let Some(Value::Array(rows)) = results.get_mut("rows") {
            rows.truncate(ROWS_KEPT);
        }
        Ok(results)
    }
}

/// The first rows as compact JSON for an error message.
fn preview_rows(rows: &Value) -> String {
    let shown: Vec<&Value> = rows
        .as_array()
        .map(|r| r.iter().take(3).collect())
        .unwrap_or_default();
    let more = rows.as_array().map_or(0, |r| r.len().saturating_sub(3));
    let text = serde_json::to_string(&shown).unwrap_or_default();
    if more > 0 {
        format!("{text} and {more} more")
    } else {
        text
    }
}

/// Runs a query in a read-only transaction (the verb is read-only, and check mode runs it
/// for real) and returns its rows as JSON objects, columns in order. PostgreSQL itself turns
/// each row into JSON, so every type converts as it would in `row_to_json`: numbers stay
/// numbers, timestamps become ISO text, enums their labels.
pub(super) async fn rows_as_json(
    client: &mut Client,
    sql: &str,
    params: &[String],
) -> Result<Vec<Value>, String> {
    let inner = sql.trim().trim_end_matches(';').trim_end();
    let wrapped = format!("SELECT row_to_json(q)::text FROM ({inner}\n) AS q");
    let transaction = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(|e| reason(&e))?;
    let args: Vec<TextParam> = params.iter().map(|p| TextParam(p)).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let rows = transaction
        .query(&wrapped, &refs)
        .await
        .map_err(|e| reason(&e))?;
    transaction.commit().await.map_err(|e| reason(&e))?;
    rows.iter()
        .map(|row| {
            let text: String = row.get(0);
            serde_json::from_str(&text).map_err(|e| format!("row as JSON: {e}"))
        })
        .collect()
}

/// A parameter sent as text, as psql sends it: the server parses it as whatever type the
/// statement needs (`$1` compared with an int column is an int).
#[derive(Debug)]
struct TextParam<'a>(&'a str);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

impl Exec {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let target = self.target(ctx).await?;
        let sql = ctx.render(&self.sql)?;
        let mut client = target.connect().await?;
        let messages = if self.transaction {
            let transaction = client
                .transaction()
                .await
                .map_err(|e| StepError::failed(format!("{}: {}", target.label(), reason(&e))))?;
            // Dropping the transaction on error rolls it back.
            let messages = transaction.simple_query(&sql).await.map_err(|e| {
                StepError::failed(format!(
                    "statement failed on {}, the transaction was rolled back and nothing \
                     changed: {}",
                    target.label(),
                    reason(&e)
                ))
            })?;
            transaction.commit().await.map_err(|e| {
                StepError::failed(format!("commit on {}: {}", target.label(), reason(&e)))
            })?;
            messages
        } else {
            client.simple_query(&sql).await.map_err(|e| {
                StepError::failed(format!(
                    "statement failed on {} (no transaction: the statements before it stay \
                     applied): {}",
                    target.label(),
                    reason(&e)
                ))
            })?
        };
        let rows_affected: u64 = messages
            .iter()
            .map(|m| match m {
                SimpleQueryMessage::CommandComplete(n) => *n,
                _ => 0,
            })
            .sum();
        Ok(outputs(json!({ "rows_affected": rows_affected })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let target = self.target(ctx).await?;
        let sql = ctx.render(&self.sql)?;
        // Connecting proves the target is there; the statements themselves cannot be tried.
        target.connect().await?;
        let first = sql.trim().lines().next().unwrap_or_default();
        let more = if sql.trim().lines().count() > 1 {
            " …"
        } else {
            ""
        };
        Ok(format!(
            "would run {} on {}: {first}{more}",
            if self.transaction {
                "in one transaction"
            } else {
                "without a transaction"
            },
            target.label()
        ))
    }
}
