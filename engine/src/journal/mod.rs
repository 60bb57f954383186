//! The evidence of runs: typed events appended to a per-run journal, durable before the run
//! goes on, read back for `resume`, `runs`, `show` and reports; plus `lock:` keys. Where they
//! are kept is a [`Store`] (files by default; PostgreSQL in `runbook-store-postgres`).

pub mod event;
pub mod lock;
pub mod operator;
pub mod reader;
pub mod replay;
pub mod store;
pub mod writer;

pub use event::{Entry, Event, Measurement, Mode, ProcessGroup, RunStatus, named_measurements};
pub use operator::Operator;
pub use replay::{RunRecord, StepState, StepTimes};
pub use store::{
    ApprovalDecision, FileStore, FindError, JournalSink, Liveness, LockGuard, Ownership,
    SharedStore, Snapshot, Store, StoreError, StoredRun,
};
pub use writer::JournalWriter;
