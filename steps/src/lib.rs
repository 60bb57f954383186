//! runbook's step families: the typed params of every verb a playbook can use.
//!
//! One module per family. Each verb's params are a struct that refuses unknown keys and says
//! whether the verb is read-only or mutating, what outputs it leaves, and which of its params
//! are printed. Families know nothing of graphs, journals or retries: that is the engine's job.

pub mod alertmanager;
pub mod approval;
pub mod assert;
mod catalog;
pub mod docker;
pub mod file;
pub mod http;
pub mod notify;
pub mod postgres;
pub mod prometheus;
pub mod shell;
pub mod wait;

pub use catalog::Action;

/// Shorthands every family uses.
pub(crate) mod prelude {
    pub use runbook_engine::action::{Effect, Verb};
    pub use runbook_engine::params::{Duration, Template, Tpl};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use std::collections::BTreeMap;

    pub fn is_false(b: &bool) -> bool {
        !*b
    }
}
