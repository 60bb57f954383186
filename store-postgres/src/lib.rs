//! The PostgreSQL store: runs, their journals, reports and approvals, `lock:` keys, the
//! daemons' schedule fires and leader lease, in one database shared by every runner and
//! daemon (see the README, "More than one machine").
//!
//! ```text
//! lib.rs        connecting, the schema check, the Store methods (locks, fires, leader)
//! run.rs        one run: journal rows, snapshot, reports, approvals, liveness
//! ownership.rs  the owner's lease, its heartbeat, and the fenced journal writes
//! import.rs     `runbook store import DIR`: a file store's history copied in
//! ```
//!
//! The engine's store interface is synchronous (a journal write is a durability point the
//! executor waits on, as fsync was). The pool lives on a small runtime of its own; a caller
//! hands it a query and waits for the answer on its own thread.

mod import;
mod ownership;
mod run;

use chrono::{DateTime, Utc};
use runbook_engine::journal::lock::{Holder, LockError};
use runbook_engine::journal::{LockGuard, Snapshot, Store, StoreError, StoredRun};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use import::{Imported, import};
pub use run::PgRun;

refinery::embed_migrations!("migrations");

/// How a runner uses the shared store.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a run stays owned without a renewal (`--lease-ttl`): a runner that cannot
    /// renew within it stops, and another may take the run over after it.
    pub lease_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
        }
    }
}

/// What every handle of the store shares.
pub(crate) struct Shared {
    pool: deadpool_postgres::Pool,
    settings: Settings,
    /// `postgres://user@host:port/db`, never the password.
    shown: String,
}

#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

/// The store's own runtime, for the life of the process (a runtime dropped inside another
/// one's task would panic, and a handle may be dropped anywhere).
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("runbook-store")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Unavailable(format!("cannot start the store's runtime: {e}")))
}

/// How long any one exchange with the store may take: a cut network must end in an error,
/// never in a runner that hangs (an established connection would otherwise wait for TCP to
/// give up, minutes later).
pub(crate) const EXCHANGE: Duration = Duration::from_secs(10);

/// Runs `work` on the store's runtime and waits for it on this thread (which may be a worker
/// of another runtime: it blocks as an fsync would), for at most [`EXCHANGE`].
pub(crate) fn call<T: Send + 'static>(
    work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    call_within(EXCHANGE, work)
}

/// [`call`], given up after `wait`.
pub(crate) fn call_within<T: Send + 'static>(
    wait: Duration,
    work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let answer = match tokio::time::timeout(wait, work).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the store did not answer within {}s",
                wait.as_secs_f64()
            ))),
        };
        let _ = tx.send(answer);
    });
    rx.recv()
        .map_err(|_| StoreError::Unavailable("the store's task ended abnormally".into()))?
}

/// A database error as a store error, with the part an operator can act on.
pub(crate) fn db(context: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| {
        let detail = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string());
        StoreError::Unavailable(format!("{context}: {detail}"))
    }
}

pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    // The pool's own words ("error occurred while creating a new object") say nothing an
    // operator can act on: the cause is the connection's, down to the OS's ("refused").
    let (mut detail, mut source) = match &e {
        deadpool_postgres::PoolError::Backend(e) => (e.to_string(), std::error::Error::source(e)),
        other => (other.to_string(), None),
    };
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Unavailable(detail)
}

/// A connection from the pool, given up after `wait` (a cut network must not hang a runner).
pub(crate) async fn client(
    shared: &Shared,
    wait: Duration,
) -> Result<deadpool_postgres::Object, StoreError> {
    match tokio::time::timeout(wait, shared.pool.get()).await {
        Ok(got) => got.map_err(pool_error),
        Err(_) => Err(StoreError::Unavailable(format!(
            "cannot reach the store at {} within {}s",
            shared.shown,
            wait.as_secs_f64()
        ))),
    }
}

/// `postgres://user@host:port/db` of a URL, without its password.
pub fn shown_url(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

/// The schema version this binary needs (the newest embedded migration).
pub fn schema_version() -> i32 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version() as i32)
        .max()
        .unwrap_or(0)
}

impl PgStore {
    /// Connects to `url` and checks the schema is the one this binary knows (`check`; false
    /// only for `store migrate`, which makes it so).
    pub fn connect(url: &str, settings: Settings, check: bool) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Refused(format!(
                "the store URL is not a PostgreSQL URL ({e}); expected postgres://USER:PASSWORD@HOST:PORT/DB"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        // A cut network shows up as a dead connection within seconds, not TCP's minutes.
        config.keepalives_idle(Duration::from_secs(5));
        config.keepalives_interval(Duration::from_secs(2));
        config.keepalives_retries(3);
        config.application_name("runbook");
        let shown = shown_url(&config);
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = {
            // The pool's timers need the runtime it runs on.
            let _entered = runtime()?.enter();
            deadpool_postgres::Pool::builder(manager)
                .max_size(8)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Unavailable(format!("cannot set up the pool: {e}")))?
        };
        let store = Self {
            shared: Arc::new(Shared {
                pool,
                settings,
                shown,
            }),
        };
        let shared = store.shared.clone();
        let version = call(async move {
            let client = client(&shared, Duration::from_secs(10))
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot reach the store at {}: {e}",
                        shared.shown
                    ))
                })?;
            let exists: bool = client
                .query_one(
                    "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                    &[],
                )
                .await
                .map_err(db("reading the schema version"))?
                .get(0);
            if !exists {
                return Ok(None);
            }
            let row = client
                .query_one("SELECT MAX(version) FROM refinery_schema_history", &[])
                .await
                .map_err(db("reading the schema version"))?;
            Ok(row.get::<_, Option<i32>>(0))
        })?;
        if check {
            let needed = schema_version();
            match version {
                Some(v) if v == needed => {}
                Some(v) if v > needed => {
                    return Err(StoreError::Refused(format!(
                        "the store at {} has schema version {v}, newer than this runbook knows ({needed}); upgrade runbook on this host",
                        store.shared.shown
                    )));
                }
                found => {
                    return Err(StoreError::Refused(format!(
                        "the store at {} has schema version {}, this runbook needs {needed}; run `runbook store migrate` (with the same RUNBOOK_STORE)",
                        store.shared.shown,
                        found.map_or("none (empty database)".to_string(), |v| v.to_string())
                    )));
                }
            }
        }
        Ok(store)
    }

    /// Applies the embedded migrations that the database lacks; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        let shared = self.shared.clone();
        call(async move {
            let mut client = client(&shared, Duration::from_secs(10)).await?;
            let client: &mut tokio_postgres::Client = &mut client;
            let report = migrations::runner()
                .run_async(client)
                .await
                .map_err(|e| StoreError::Unavailable(format!("migrating the store: {e}")))?;
            Ok(report
                .applied_migrations()
                .iter()
                .map(|m| m.version() as i32)
                .collect())
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Takes a `lock:` key if it is free, expired, already this run's, or (`dead_run`) still
    /// held by that run: `None`, or who holds it.
    fn take_key(
        &self,
        holder: &Holder,
        dead_run: Option<&str>,
    ) -> Result<Option<Holder>, StoreError> {
        let shared = self.shared.clone();
        let (key, run) = (holder.key.clone(), holder.run.clone());
        let holder_json = serde_json::to_string(holder).unwrap_or_default();
        let dead_run = dead_run.unwrap_or("").to_string();
        let ttl = interval(shared.settings.lease_ttl);
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let taken = client
                .query_opt(
                    "INSERT INTO runbook_locks (key, run_id, holder, expires_at)
                     VALUES ($1, $2, $3, now() + $4::text::interval)
                     ON CONFLICT (key) DO UPDATE
                       SET run_id = EXCLUDED.run_id, holder = EXCLUDED.holder,
                           expires_at = EXCLUDED.expires_at
                       WHERE runbook_locks.expires_at < now()
                          OR runbook_locks.run_id = EXCLUDED.run_id
                          OR runbook_locks.run_id = $5
                     RETURNING key",
                    &[&key, &run, &holder_json, &ttl, &dead_run],
                )
                .await
                .map_err(db("taking the lock"))?;
            if taken.is_some() {
                return Ok(None);
            }
            let current = client
                .query_opt("SELECT holder FROM runbook_locks WHERE key = $1", &[&key])
                .await
                .map_err(db("reading the lock's holder"))?
                .map(|r| r.get::<_, String>(0));
            // A holder that cannot be read still holds the key.
            Ok(Some(
                current
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_else(|| Holder {
                        key: key.clone(),
                        run: "?".into(),
                        playbook: "?".into(),
                        pid: 0,
                        user: "?".into(),
                        host: "?".into(),
                        since: Utc::now(),
                    }),
            ))
        })
    }

    fn run(&self, id: &str) -> PgRun {
        PgRun::new(id, self.shared.clone())
    }
}

impl Store for PgStore {
    fn describe(&self) -> String {
        self.shared.shown.clone()
    }

    fn command_prefix(&self) -> String {
        // RUNBOOK_STORE holds the password: the other shell sets it, it is never printed.
        String::new()
    }

    fn create_run(&self, id: &str, snapshot: &Snapshot) -> Result<Arc<dyn StoredRun>, StoreError> {
        let shared = self.shared.clone();
        let (id_owned, snapshot) = (id.to_string(), snapshot.clone());
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            client
                .execute(
                    "INSERT INTO runbook_runs (id, playbook, plan, inputs, started_by) VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &id_owned,
                        &snapshot.playbook,
                        &snapshot.plan,
                        &snapshot.inputs,
                        &snapshot.started_by,
                    ],
                )
                .await
                .map_err(db("recording the run"))?;
            Ok(())
        })?;
        Ok(Arc::new(self.run(id)))
    }

    fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let shared = self.shared.clone();
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let rows = client
                .query("SELECT id FROM runbook_runs ORDER BY id", &[])
                .await
                .map_err(db("listing runs"))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn open(&self, id: &str) -> Result<Arc<dyn StoredRun>, StoreError> {
        Ok(Arc::new(self.run(id)))
    }

    fn lock(&self, holder: &Holder) -> Result<LockGuard, LockError> {
        let io = |e: StoreError| LockError::Io {
            key: holder.key.clone(),
            error: std::io::Error::other(e.to_string()),
        };
        let mut current = self.take_key(holder, None).map_err(io)?;
        // A holder of this host whose process is gone (kill -9) holds nothing any more: its
        // key is taken at once, as the kernel releases a dead process's flock.
        if let Some(dead) = current
            .as_ref()
            .filter(|h| runbook_engine::journal::Operator::is_gone_here(&h.host, h.pid))
        {
            current = self.take_key(holder, Some(&dead.run)).map_err(io)?;
        }
        if let Some(current) = current {
            return Err(LockError::Held {
                key: holder.key.clone(),
                holder: Some(Box::new(current)),
            });
        }
        Ok(Box::new(ownership::HeldKey {
            shared: self.shared.clone(),
            key: holder.key.clone(),
            run: holder.run.clone(),
        }))
    }

    fn claim_fire(
        &self,
        schedule: &str,
        at: DateTime<Utc>,
        daemon: &str,
    ) -> Result<bool, StoreError> {
        let shared = self.shared.clone();
        let (schedule, daemon) = (schedule.to_string(), daemon.to_string());
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let inserted = client
                .execute(
                    "INSERT INTO runbook_fires (schedule, scheduled_for, daemon) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&schedule, &at, &daemon],
                )
                .await
                .map_err(db("claiming a schedule fire"))?;
            Ok(inserted == 1)
        })
    }

    fn claimed_fires(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let shared = self.shared.clone();
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let rows = client
                .query(
                    "SELECT schedule, MAX(scheduled_for) FROM runbook_fires GROUP BY schedule",
                    &[],
                )
                .await
                .map_err(db("reading the claimed fires"))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn abandoned_daemon_runs(&self) -> Result<Vec<String>, StoreError> {
        let shared = self.shared.clone();
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            // An owner that ends a run gives it up (owner NULL); one that died leaves its name
            // and a lease that lapses.
            let rows = client
                .query(
                    "SELECT id FROM runbook_runs
                      WHERE started_by IS NOT NULL AND owner IS NOT NULL AND lease_until < now()
                      ORDER BY id",
                    &[],
                )
                .await
                .map_err(db("listing abandoned runs"))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn lead(&self, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let shared = self.shared.clone();
        let holder = holder.to_string();
        let ttl = interval(ttl);
        call(async move {
            let client = client(&shared, Duration::from_secs(10)).await?;
            let led = client
                .query_opt(
                    "INSERT INTO runbook_leases (role, holder, expires_at)
                     VALUES ('daemon-leader', $1, now() + $2::text::interval)
                     ON CONFLICT (role) DO UPDATE
                       SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                       WHERE runbook_leases.holder = EXCLUDED.holder
                          OR runbook_leases.expires_at < now()
                     RETURNING holder",
                    &[&holder, &ttl],
                )
                .await
                .map_err(db("renewing the leader lease"))?;
            Ok(led.is_some())
        })
    }
}

/// A duration as PostgreSQL interval text (`1500 milliseconds`).
pub(crate) fn interval(duration: Duration) -> String {
    format!("{} milliseconds", duration.as_millis())
}
