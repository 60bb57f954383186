//! `redis.*`: one Redis server through the `redis` crate (the maintained Rust client), in
//! place of the seeds' `docker exec redis redis-cli ...`. Passwords are secrets: they go in
//! `password` (or the URL) and never into an error, which names the server as host:port.

use crate::prelude::*;

/// On a step's `host:`: a server the runner reaches.
const FAMILY_ON_HOSTS: bool = false;

mod connect;
mod info;
mod ops;

pub use info::InfoExpect;

macro_rules! redis_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// `redis://host:port/db` or `unix:///path/redis.sock`. Default: `redis://127.0.0.1:6379`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub url: Option<Template>,
            /// ACL user (Redis 6+); default: `default`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub username: Option<Template>,
            /// `"{{ secrets.redis_password }}"`: never printed, never in an error.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub password: Option<Template>,
            /// Database number, overriding the URL's.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub db: Option<Tpl<i64>>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            fn target(&self, ctx: &StepContext) -> Result<connect::Target, StepError> {
                let render = |t: &Option<Template>| t.as_ref().map(|t| ctx.render(t)).transpose();
                Ok(connect::Target {
                    url: render(&self.url)?.unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
                    username: render(&self.username)?,
                    password: render(&self.password)?,
                    db: self.db.as_ref().map(|d| ctx.resolve(d)).transpose()?,
                })
            }
        }
    };
}

redis_params! {
    /// Check that the server answers PING.
    pub struct Ping {}
}
family_verb!(
    Ping,
    ReadOnly,
    "Check that a Redis server answers PING",
    ["latency_ms"]
);

redis_params! {
    /// INFO, parsed into outputs, with thresholds.
    pub struct Info {
        /// Limits the step fails on (memory, last save age, clients, persistence).
        #[serde(default, skip_serializing_if = "InfoExpect::is_empty")]
        pub expect: InfoExpect,
    }
}
family_verb!(
    Info,
    ReadOnly,
    "Read a Redis server's INFO: memory, eviction policy, persistence, clients",
    [
        "version",
        "role",
        "used_memory",
        "maxmemory",
        "memory_percent",
        "maxmemory_policy",
        "last_save_age_seconds",
        "changes_since_last_save",
        "last_bgsave_status",
        "aof_enabled",
        "aof_last_write_status",
        "connected_clients",
        "keys",
        "info"
    ]
);

redis_params! {
    /// One command, with an expectation on its reply.
    pub struct Command {
        /// The command as argv: `[CONFIG, GET, maxmemory]`. Printed in plans: no secret here.
        pub command: TemplateList,
        /// The command only reads (`GET`, `DBSIZE`, `CONFIG GET`): it runs in check mode too.
        #[serde(default, skip_serializing_if = "is_false")]
        pub read_only: bool,
        /// The reply, as text (an array joined by newlines), must equal this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expect: Option<Template>,
        /// ... or match this regular expression.
        #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
        pub matches: Option<Pattern>,
    }
}

impl Verb for Command {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Run one Redis command and check its reply";
    const OUTPUTS: &'static [&'static str] = &["reply"];
    const PRINTED: &'static [&'static str] = &["command"];

    fn effect(&self) -> Effect {
        Effect::read_only_if(self.read_only)
    }

    fn validate(&self) -> Result<(), String> {
        if self.command.is_empty_list() {
            return Err("`command` is empty; give the command as a list: `[DBSIZE]`".into());
        }
        Ok(())
    }

    execute_and_forecast!();
}

redis_params! {
    /// Delete every key of one database (`FLUSHDB`) or of all (`FLUSHALL`).
    pub struct Flush {
        /// Every database (`FLUSHALL`) instead of the selected one.
        #[serde(default, skip_serializing_if = "is_false")]
        pub all: bool,
    }
}

impl Verb for Flush {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str =
        "Delete every key of a Redis database (FLUSHDB) or of all (FLUSHALL)";
    const OUTPUTS: &'static [&'static str] = &["keys_deleted"];

    fn irreversible(&self) -> Option<&'static str> {
        Some("the keys flushed are gone; only a restart from a saved RDB/AOF could bring them back")
    }

    execute_and_forecast!();
}
