//! runbook's step families: the typed params of every verb a playbook can use.
//!
//! One module per family. Each verb's params are a struct that refuses unknown keys and says
//! whether the verb is read-only or mutating, what outputs it leaves, and which of its params
//! are printed. Families know nothing of graphs, journals or retries: that is the engine's job.

/// `Verb::run` and `Verb::preview` of a mutating verb: its inherent `execute` and `forecast`.
macro_rules! execute_and_forecast {
    () => {
        fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
            Box::pin(self.execute(ctx))
        }
        fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
            Box::pin(self.forecast(ctx))
        }
    };
}

/// `impl Verb` for a verb whose params validate themselves with `$check` (none: serde's
/// checks are all) and whose inherent `execute` does the work. Whether it runs on a step's
/// `host:` is its family's `FAMILY_ON_HOSTS`. Read-only verbs run in check
/// mode too; mutating ones also `forecast`, from live state, what they would do.
macro_rules! family_verb {
    ($name:ident, $effect:ident, $summary:literal, [$($out:literal),*]) => {
        family_verb!($name, $effect, no_rules_beyond_serde, $summary, [$($out),*]);
        impl $name {
            fn no_rules_beyond_serde(&self) -> Result<(), String> {
                Ok(())
            }
        }
    };
    ($name:ident, ReadOnly, $check:ident, $summary:literal, [$($out:literal),*]) => {
        impl Verb for $name {
            const EFFECT: Effect = Effect::ReadOnly;
            const ON_HOSTS: bool = FAMILY_ON_HOSTS;
            const SUMMARY: &'static str = $summary;
            const OUTPUTS: &'static [&'static str] = &[$($out),*];
            fn validate(&self) -> Result<(), String> {
                self.$check()
            }
            fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
                Box::pin(self.execute(ctx))
            }
        }
    };
    ($name:ident, Mutating, $check:ident, $summary:literal, [$($out:literal),*]) => {
        impl Verb for $name {
            const EFFECT: Effect = Effect::Mutating;
            const ON_HOSTS: bool = FAMILY_ON_HOSTS;
            const SUMMARY: &'static str = $summary;
            const OUTPUTS: &'static [&'static str] = &[$($out),*];
            fn validate(&self) -> Result<(), String> {
                self.$check()
            }
            execute_and_forecast!();
        }
    };
}

pub mod alertmanager;
pub mod approval;
pub mod assert;
mod catalog;
pub mod compose;
pub mod docker;
pub mod file;
pub mod guard;
pub mod host;
pub mod http;
pub mod nginx;
pub mod notify;
pub mod postgres;
mod process;
pub mod prometheus;
pub mod redis;
pub mod remote;
pub mod s3;
pub mod shell;
pub mod tls;
pub mod wait;

pub use catalog::Action;

/// Shorthands every family uses.
pub(crate) mod prelude {
    pub use runbook_engine::action::{Effect, Shorthand, Verb};
    pub use runbook_engine::execute::{BoxFuture, Outputs, StepContext, StepError};
    pub use runbook_engine::params::{Duration, Pattern, Template, TemplateList, Tpl};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use std::collections::BTreeMap;

    pub fn is_false(b: &bool) -> bool {
        !*b
    }

    pub fn is_true(b: &bool) -> bool {
        *b
    }

    /// serde's `default = "yes"`: a flag that is on unless turned off.
    pub fn yes() -> bool {
        true
    }

    /// Outputs from `json!({...})`.
    pub fn outputs(value: serde_json::Value) -> Outputs {
        match value {
            serde_json::Value::Object(map) => map,
            _ => Outputs::new(),
        }
    }
}

/// How long before a step's deadline a polling verb (`wait.until`, `docker.wait`...) stops,
/// to report what it last saw instead of being cut off by the timeout with nothing to say.
const REPORT_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// One poll, cut off `REPORT_MARGIN` before `deadline`: `None` when it was (a slow engine or
/// server must not eat the time left to report).
pub(crate) async fn poll_within<T>(
    deadline: Option<tokio::time::Instant>,
    poll: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        None => Some(poll.await),
        Some(d) => {
            let cutoff = d.checked_sub(REPORT_MARGIN).unwrap_or(d);
            tokio::time::timeout_at(cutoff, poll).await.ok()
        }
    }
}

/// Whether there is time to sleep `interval` and poll again before the cutoff, counting the
/// next poll as twice the last one: a loaded machine slows polls down.
pub(crate) fn time_for_another_poll(
    deadline: Option<tokio::time::Instant>,
    interval: std::time::Duration,
    last_poll: std::time::Duration,
) -> bool {
    deadline
        .is_none_or(|d| tokio::time::Instant::now() + interval + last_poll * 2 + REPORT_MARGIN < d)
}

/// Text for error messages: the last lines of a command's output, or of a response body.
pub(crate) fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Keeps at most `limit` bytes from the end of `text`, cut at a character boundary.
pub(crate) fn tail_bytes(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
