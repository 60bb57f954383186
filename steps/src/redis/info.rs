//! `redis.info` and `redis.ping`: INFO's `key:value` lines read into typed outputs (memory,
//! eviction policy, persistence and the age of the last save, AOF, clients, keys), and the
//! limits a step fails on.

use serde_json::{Value, json};
use std::collections::HashMap;

use super::{Info, Ping};
use crate::prelude::*;

/// What `redis.info` fails on; each limit is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfoExpect {
    /// Memory used as a percent of `maxmemory` (of the host's memory when no maxmemory is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_percent: Option<Tpl<f64>>,
    /// The last successful RDB save is at most this old (`25h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_last_save_age: Option<Tpl<Duration>>,
    /// At most this many connected clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clients: Option<Tpl<u64>>,
    /// The eviction policy must be this (`allkeys-lru`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxmemory_policy: Option<Template>,
    /// AOF must be on (`true`) or off (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aof_enabled: Option<bool>,
    /// The replication role must be this (`master`, `slave`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Template>,
}

impl InfoExpect {
    pub fn is_empty(&self) -> bool {
        self.max_memory_percent.is_none()
            && self.max_last_save_age.is_none()
            && self.max_clients.is_none()
            && self.maxmemory_policy.is_none()
            && self.aof_enabled.is_none()
            && self.role.is_none()
    }
}

/// INFO's text as `field -> value`.
fn parse(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The outputs `redis.info` leaves, from the parsed fields and the time now.
fn summarize(fields: &HashMap<String, String>, now_unix: i64) -> Outputs {
    let number = |key: &str| fields.get(key).and_then(|v| v.parse::<i64>().ok());
    let text = |key: &str| fields.get(key).cloned();
    let used = number("used_memory");
    let max = number("maxmemory").filter(|m| *m > 0);
    let limit = max.or_else(|| number("total_system_memory").filter(|m| *m > 0));
    let percent = used.zip(limit).map(|(u, l)| {
        let p = u as f64 * 100.0 / l as f64;
        (p * 100.0).round() / 100.0
    });
    let keys: i64 = fields
        .iter()
        .filter(|(k, _)| k.starts_with("db") && k[2..].parse::<u32>().is_ok())
        .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
        .filter_map(|n| n.parse::<i64>().ok())
        .sum();
    outputs(json!({
        "version": text("redis_version"),
        "role": text("role"),
        "used_memory": used,
        "maxmemory": number("maxmemory"),
        "memory_percent": percent,
        "maxmemory_policy": text("maxmemory_policy"),
        "last_save_age_seconds": number("rdb_last_save_time").map(|t| (now_unix - t).max(0)),
        "changes_since_last_save": number("rdb_changes_since_last_save"),
        "last_bgsave_status": text("rdb_last_bgsave_status"),
        "aof_enabled": number("aof_enabled").map(|a| a == 1),
        "aof_last_write_status": text("aof_last_write_status"),
        "connected_clients": number("connected_clients"),
        "keys": keys,
    }))
}

impl InfoExpect {
    /// Every limit that is not met, in words.
    fn unmet(&self, ctx: &StepContext, out: &Outputs) -> Result<Vec<String>, StepError> {
        let mut unmet = Vec::new();
        let number = |key: &str| out.get(key).and_then(Value::as_f64);
        if let Some(max) = &self.max_memory_percent {
            let max = ctx.resolve(max)?;
            match number("memory_percent") {
                Some(p) if p > max => unmet.push(format!("memory at {p}% (limit {max}%)")),
                Some(_) => {}
                None => unmet.push("memory use is not reported".into()),
            }
        }
        if let Some(max) = &self.max_last_save_age {
            let max = ctx.resolve(max)?;
            match number("last_save_age_seconds") {
                Some(age) if age > max.0.as_secs_f64() => unmet.push(format!(
                    "the last save is {}s old (limit {max})",
                    age as i64
                )),
                Some(_) => {}
                None => unmet.push("the last save time is not reported".into()),
            }
            if out.get("last_bgsave_status").and_then(Value::as_str) == Some("err") {
                unmet.push("the last background save failed (rdb_last_bgsave_status:err)".into());
            }
        }
        if let Some(max) = &self.max_clients {
            let max = ctx.resolve(max)?;
            if let Some(n) = number("connected_clients")
                && n > max as f64
            {
                unmet.push(format!("{n} clients connected (limit {max})"));
            }
        }
        let text = |key: &str| {
            out.get(key)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        };
        if let Some(policy) = &self.maxmemory_policy {
            let want = ctx.render(policy)?;
            if text("maxmemory_policy") != want {
                unmet.push(format!(
                    "the eviction policy is {} (expected {want})",
                    text("maxmemory_policy")
                ));
            }
        }
        if let Some(want) = self.aof_enabled
            && out.get("aof_enabled").and_then(Value::as_bool) != Some(want)
        {
            unmet.push(format!("AOF is {}", if want { "off" } else { "on" }));
        }
        if let Some(role) = &self.role {
            let want = ctx.render(role)?;
            if text("role") != want {
                unmet.push(format!("the role is {} (expected {want})", text("role")));
            }
        }
        Ok(unmet)
    }
}

impl Info {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let mut server = self.target(ctx)?.connect(ctx).await?;
        let text: String = server
            .call(ctx, &["INFO".into(), "everything".into()])
            .await?;
        let fields = parse(&text);
        let mut out = summarize(&fields, chrono::Utc::now().timestamp());
        let unmet = self.expect.unmet(ctx, &out)?;
        if !unmet.is_empty() {
            return Err(StepError::failed(format!(
                "Redis {}: {}",
                server.name,
                unmet.join("; ")
            )));
        }
        let all: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        out.insert("info".into(), Value::Object(all.into_iter().collect()));
        Ok(out)
    }
}

impl Ping {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let started = std::time::Instant::now();
        let mut server = self.target(ctx)?.connect(ctx).await?;
        let pong: String = server.call(ctx, &["PING".into()]).await?;
        if pong != "PONG" {
            return Err(StepError::failed(format!(
                "Redis {} answered PING with `{pong}`",
                server.name
            )));
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(outputs(json!({ "latency_ms": (ms * 10.0).round() / 10.0 })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_become_typed_outputs() {
        let text = "# Server\r\nredis_version:7.0.15\r\n# Memory\r\nused_memory:1000\r\nmaxmemory:4000\r\nmaxmemory_policy:allkeys-lru\r\ntotal_system_memory:100000\r\n# Persistence\r\nrdb_last_save_time:1000\r\nrdb_changes_since_last_save:3\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n# Clients\r\nconnected_clients:7\r\n# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\ndb3:keys=2,expires=1,avg_ttl=9\r\n";
        let out = summarize(&parse(text), 1600);
        assert_eq!(out["version"], "7.0.15");
        assert_eq!(out["memory_percent"], 25.0);
        assert_eq!(out["last_save_age_seconds"], 600);
        assert_eq!(out["aof_enabled"], false);
        assert_eq!(out["connected_clients"], 7);
        assert_eq!(out["keys"], 7);
        let unlimited = summarize(
            &parse("used_memory:1000\r\nmaxmemory:0\r\ntotal_system_memory:100000\r\n"),
            0,
        );
        assert_eq!(
            unlimited["memory_percent"], 1.0,
            "without maxmemory: of the host's memory"
        );
    }
}
