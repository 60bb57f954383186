//! `redis.command` (one command, its reply checked) and `redis.flush` (FLUSHDB/FLUSHALL,
//! which no rollback can undo: the preview counts the keys that would go).

use redis::Value;

use super::{Command, Flush};
use crate::prelude::*;

/// A reply as text: arrays one element per line, nil as the empty string.
fn reply_text(value: &Value) -> String {
    match value {
        Value::Nil => String::new(),
        Value::Okay => "OK".into(),
        Value::Int(n) => n.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(items) | Value::Set(items) => {
            items.iter().map(reply_text).collect::<Vec<_>>().join("\n")
        }
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{}\n{}", reply_text(k), reply_text(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("{other:?}"),
    }
}

impl Command {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let argv = ctx.render_list(&self.command)?;
        let mut server = self.target(ctx)?.connect(ctx).await?;
        let reply: Value = server.call(ctx, &argv).await?;
        let text = reply_text(&reply);
        let verb = argv.first().map_or("", String::as_str).to_uppercase();
        if let Some(expected) = &self.expect {
            let expected = ctx.render(expected)?;
            if text != expected {
                return Err(StepError::failed(format!(
                    "Redis {}: {verb} replied `{}`, expected `{expected}`",
                    server.name,
                    crate::tail_bytes(&ctx.redact(&text), 500)
                )));
            }
        }
        if let Some(pattern) = &self.matches
            && !pattern.is_match(&text)
        {
            return Err(StepError::failed(format!(
                "Redis {}: {verb} replied `{}`, which does not match `{pattern}`",
                server.name,
                crate::tail_bytes(&ctx.redact(&text), 500)
            )));
        }
        Ok(outputs(serde_json::json!({ "reply": text })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let argv = ctx.render_list(&self.command)?;
        let server = self.target(ctx)?.connect(ctx).await?;
        Ok(format!(
            "would send `{}` to Redis {}",
            argv.join(" "),
            server.name
        ))
    }
}

impl Flush {
    /// The keys that would go: DBSIZE of the database, or the keyspace's total.
    async fn keys(
        &self,
        ctx: &StepContext,
        server: &mut super::connect::Server,
    ) -> Result<i64, StepError> {
        if !self.all {
            return server.call(ctx, &["DBSIZE".into()]).await;
        }
        let keyspace: String = server
            .call(ctx, &["INFO".into(), "keyspace".into()])
            .await?;
        Ok(keyspace
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .filter_map(|n| n.trim().parse::<i64>().ok())
            .sum())
    }

    fn what(&self, server: &super::connect::Server) -> String {
        if self.all {
            format!("every database of Redis {}", server.name)
        } else {
            format!("Redis {}", server.name)
        }
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let mut server = self.target(ctx)?.connect(ctx).await?;
        let keys = self.keys(ctx, &mut server).await?;
        let command = if self.all { "FLUSHALL" } else { "FLUSHDB" };
        let _: Value = server.call(ctx, &[command.into()]).await?;
        Ok(outputs(serde_json::json!({ "keys_deleted": keys })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let mut server = self.target(ctx)?.connect(ctx).await?;
        let keys = self.keys(ctx, &mut server).await?;
        Ok(format!(
            "would delete {keys} keys of {} (cannot be undone)",
            self.what(&server)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_text() {
        assert_eq!(reply_text(&Value::Okay), "OK");
        assert_eq!(
            reply_text(&Value::Array(vec![
                Value::BulkString(b"maxmemory".to_vec()),
                Value::BulkString(b"0".to_vec())
            ])),
            "maxmemory\n0"
        );
        assert_eq!(reply_text(&Value::Nil), "");
    }
}
