//! The evidence of runs: typed events appended to a per-run journal, fsynced, read back for
//! `resume`, `runs`, `show` and reports; plus `lock:` keys.

pub mod event;
pub mod lock;
pub mod reader;
pub mod replay;
pub mod store;
pub mod writer;

pub use event::{Entry, Event, Measurement, Mode, ProcessGroup, RunStatus, named_measurements};
pub use replay::{RunRecord, StepState, StepTimes};
pub use store::{ApprovalDecision, RunDir, Store};
pub use writer::JournalWriter;
