//! Where runs live: the interface every store implements, chosen once at the edge (the CLI)
//! and invisible to the executor and the reports.
//!
//! ```text
//! Store           the runs, `lock:` keys, and the daemon's claims on schedule fires
//!  └ StoredRun    one run: its journal, the snapshot it started from, reports, approvals
//!     └ Ownership the right to write the run's journal, held by one process at a time
//!        └ JournalSink   writes redacted lines; sync() makes them survive a machine crash
//! ```
//!
//! Two implementations: [`file::FileStore`] (`.runbook/`, the embedded default) and the
//! PostgreSQL store of the `runbook-store-postgres` crate. The interface is synchronous on
//! purpose: a journal write is a durability point the executor waits on (an fsync here, a
//! commit there), exactly as the file store's fsync always was.

pub mod file;

use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use super::lock::{Holder, LockError};
use super::operator::Operator;
use super::reader::{Journal, ReadError};
pub use crate::action::ApprovalDecision;
pub use file::{FileStore, write_atomically};

/// A store shared by every part of a command.
pub type SharedStore = Arc<dyn Store>;

/// What went wrong talking to a store.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The store cannot be reached or read (the database is down, a file is unreadable).
    Unavailable(String),
    /// The store refuses: the run is owned by another process, a schema is of another version.
    Refused(String),
    /// This process no longer owns the run: another took it over after its lease expired.
    /// Nothing it writes is accepted any more.
    Fenced(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(m) | Self::Refused(m) | Self::Fenced(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FindError {
    NoRuns(String),
    NotFound(String),
    Ambiguous(String, Vec<String>),
    Store(StoreError),
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRuns(store) => write!(f, "no runs recorded in {store}"),
            Self::NotFound(query) => {
                write!(
                    f,
                    "no run `{query}`; `runbook runs` lists the recorded runs"
                )
            }
            Self::Ambiguous(query, ids) => {
                write!(f, "`{query}` matches several runs: {}", ids.join(", "))
            }
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

/// What a run starts from, kept with it so that `show`, `report` and `resume` work from any
/// host that reaches the store. Secrets are redacted out of the plan before it gets here.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The playbook text as it was read.
    pub playbook: String,
    /// The compiled plan, as JSON.
    pub plan: String,
    /// The inputs given (`[[name, value], ...]`; inputs are not secrets).
    pub inputs: String,
    /// The daemon that started the run, if one did: daemons take over only their own kind.
    pub started_by: Option<String>,
}

/// A held `lock:` key; dropping it releases the key.
pub type LockGuard = Box<dyn Send + Sync>;

pub trait Store: Send + Sync {
    /// Where runs are kept, for messages (never with a password).
    fn describe(&self) -> String;

    /// The global options another shell types to reach this store (`runbook {this} approve`):
    /// empty for the default, else `--state-dir DIR` (the PostgreSQL store is named by
    /// `RUNBOOK_STORE`, which carries a password, so it is never printed).
    fn command_prefix(&self) -> String;

    /// A new, time-ordered run id (v7 ids sort by creation time).
    fn new_run_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }

    fn create_run(&self, id: &str, snapshot: &Snapshot) -> Result<Arc<dyn StoredRun>, StoreError>;

    /// Every run's id, oldest first.
    fn run_ids(&self) -> Result<Vec<String>, StoreError>;

    fn open(&self, id: &str) -> Result<Arc<dyn StoredRun>, StoreError>;

    /// Takes `holder.key`, or says who holds it.
    fn lock(&self, holder: &Holder) -> Result<LockGuard, LockError>;

    /// Claims one fire of a schedule (`schedule` is the daemon's key, `path#name`): true for
    /// exactly one caller per `(schedule, at)`, however many daemons share the store.
    fn claim_fire(
        &self,
        schedule: &str,
        at: DateTime<Utc>,
        daemon: &str,
    ) -> Result<bool, StoreError>;

    /// The newest claimed fire of every schedule, as every daemon sharing the store sees it
    /// (the file store has one daemon per state directory, which keeps its own).
    fn claimed_fires(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        Ok(Vec::new())
    }

    /// Whether `holder` leads the daemons (catch-up, takeover of abandoned runs) for the next
    /// `ttl`; the current leader renews, another takes over once the lease expired.
    fn lead(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError>;

    /// Runs a daemon started whose owner stopped renewing its lease without giving the run
    /// up (it died, or lost the store): the daemons' leader takes them over. The file store's
    /// runs die with their host, so it has none to offer.
    fn abandoned_daemon_runs(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// Every run, oldest first.
    fn runs(&self) -> Result<Vec<Arc<dyn StoredRun>>, StoreError> {
        self.run_ids()?.iter().map(|id| self.open(id)).collect()
    }

    /// A run by full id, unique prefix, or `last`.
    fn find(&self, query: &str) -> Result<Arc<dyn StoredRun>, FindError> {
        let ids = self.run_ids().map_err(FindError::Store)?;
        if ids.is_empty() {
            return Err(FindError::NoRuns(self.describe()));
        }
        let id = if query == "last" || query == "latest" {
            ids.last().expect("not empty").clone()
        } else {
            let matches: Vec<String> = ids.into_iter().filter(|i| i.starts_with(query)).collect();
            match matches.len() {
                0 => return Err(FindError::NotFound(query.to_string())),
                1 => matches.into_iter().next().expect("one"),
                _ => return Err(FindError::Ambiguous(query.to_string(), matches)),
            }
        };
        self.open(&id).map_err(FindError::Store)
    }
}

/// Whether someone works on a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    /// A process owns it (and, in a shared store, renews its lease).
    Live,
    /// Nobody does: finished, or abandoned by a process that died or lost the store.
    Idle,
}

pub trait StoredRun: Send + Sync {
    fn id(&self) -> &str;

    fn journal(&self) -> Result<Journal, ReadError>;

    fn snapshot(&self) -> Result<Snapshot, StoreError>;

    /// Becomes the one process that writes this run's journal, or says who is.
    fn hold(&self, owner: &Operator) -> Result<Box<dyn Ownership>, StoreError>;

    fn liveness(&self) -> Liveness;

    fn is_live(&self) -> bool {
        self.liveness() == Liveness::Live
    }

    /// Replaces the run's reports (`json`, `md`, `html`, `junit.xml`).
    fn write_reports(&self, reports: &[(&str, String)]) -> Result<(), StoreError>;

    fn read_report(&self, extension: &str) -> Result<String, StoreError>;

    /// Where an operator finds the journal and a report, for the end of a run.
    fn journal_location(&self) -> String;
    fn report_location(&self, extension: &str) -> String;

    /// Records a decision atomically, so the waiting run never reads half of one.
    fn write_approval(&self, step: &str, decision: &ApprovalDecision) -> Result<(), StoreError>;

    fn read_approval(&self, step: &str) -> Option<ApprovalDecision>;
}

/// The right to write a run's journal. Dropping it gives the run up.
pub trait Ownership: Send + Sync {
    /// The journal, opened for appending by this owner.
    fn journal(&self) -> Result<Box<dyn JournalSink>, StoreError>;

    /// Cancelled when this process can no longer be sure it owns the run (its lease could not
    /// be renewed): it must stop at once, start nothing and roll nothing back.
    fn lost(&self) -> CancellationToken;
}

/// Appends journal lines (already redacted, one JSON object each).
///
/// Two levels of durability, because they cost very differently: a written line outlives
/// this process (`kill -9`, a panic), a synced one outlives the machine (power loss).
pub trait JournalSink: Send {
    /// Hands the line to the store. When it returns, the line outlives this process: it is
    /// in the kernel's hands (file store) or committed (PostgreSQL).
    fn write(&mut self, line: &str) -> Result<(), StoreError>;
    /// Makes every line written so far survive a machine crash too (fdatasync): one call
    /// covers all of them, which is how lines that come together share one.
    fn sync(&mut self) -> Result<(), StoreError>;
}
