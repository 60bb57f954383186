//! A connection to one Redis server (the maintained `redis` crate, multiplexed over tokio),
//! named in errors by host, port and database only: a password in `url` or `password` never
//! reaches a message, and the client's own error text is redacted too.

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo};
use std::time::Duration as StdDuration;

use crate::prelude::*;

/// How long a connection or a reply may take when the step has no deadline of its own.
const DEFAULT_WAIT: StdDuration = StdDuration::from_secs(10);

/// A connected server and how to name it.
pub(super) struct Server {
    pub connection: MultiplexedConnection,
    /// `127.0.0.1:6379 db 0`
    pub name: String,
}

/// What the step's params say about the server, rendered.
pub(super) struct Target {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
}

impl Target {
    pub async fn connect(&self, ctx: &StepContext) -> Result<Server, StepError> {
        let mut info = self.url.as_str().into_connection_info().map_err(|e| {
            StepError::failed(format!(
                "`url` is not a Redis URL (redis://host:port/db, unix:///path): {}",
                ctx.redact(&e.to_string())
            ))
        })?;
        let mut settings = info.redis_settings().clone();
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        if let Some(db) = self.db {
            settings = settings.set_db(db);
        }
        let name = format!("{} db {}", describe_addr(info.addr()), settings.db());
        info = info.set_redis_settings(settings);
        let client = Client::open(info).map_err(|e| {
            StepError::failed(format!("Redis {name}: {}", ctx.redact(&e.to_string())))
        })?;
        let wait = ctx.deadline().map_or(DEFAULT_WAIT, |d| {
            d.saturating_duration_since(tokio::time::Instant::now())
        });
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(wait))
            .set_response_timeout(Some(wait));
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| {
                StepError::failed(format!(
                    "cannot connect to Redis {name}: {}",
                    explain(&ctx.redact(&e.to_string()))
                ))
            })?;
        Ok(Server { connection, name })
    }
}

impl Server {
    /// Sends one command; errors name the server and the command's verb, not its arguments.
    pub async fn call<T: redis::FromRedisValue>(
        &mut self,
        ctx: &StepContext,
        argv: &[String],
    ) -> Result<T, StepError> {
        let mut command = redis::cmd(argv.first().map_or("PING", String::as_str));
        for arg in argv.iter().skip(1) {
            command.arg(arg);
        }
        command
            .query_async(&mut self.connection)
            .await
            .map_err(|e| {
                StepError::failed(format!(
                    "Redis {}: {} failed: {}",
                    self.name,
                    argv.first().map_or("PING", String::as_str).to_uppercase(),
                    explain(&ctx.redact(&e.to_string()))
                ))
            })
    }
}

fn describe_addr(addr: &ConnectionAddr) -> String {
    match addr {
        ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port} (TLS)"),
        ConnectionAddr::Unix(path) => path.display().to_string(),
        _ => "(an address)".to_string(),
    }
}

/// The client's words with what to do about the common ones.
fn explain(error: &str) -> String {
    if error.contains("NOAUTH") || error.contains("Authentication required") {
        format!("{error} (give `password`)")
    } else if error.contains("WRONGPASS") || error.to_lowercase().contains("authentication failed")
    {
        format!("{error} (the password is not the server's)")
    } else {
        error.to_string()
    }
}
