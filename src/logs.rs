//! `--log-format json`: every line runbook would print on stderr (run events, the daemon's
//! decisions, errors) becomes one JSON object through `tracing`, with levels a log pipeline
//! can filter (`RUST_LOG=warn`). The text console stays the default.

use std::sync::OnceLock;

use runbook_engine::journal::{Entry, Event};

static JSON: OnceLock<bool> = OnceLock::new();

/// Chosen once, at the edge (the CLI); before it, and by default, logs are text.
pub fn init(json: bool) {
    if json {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .try_init();
    }
    let _ = JSON.set(json);
}

pub fn json() -> bool {
    JSON.get().copied().unwrap_or(false)
}

/// A line the text console would print, as a log record: its level read from how it starts.
pub fn line(text: &str) {
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    if text.starts_with("error") {
        tracing::error!(target: "runbook", "{text}");
    } else if text.starts_with("warning") {
        tracing::warn!(target: "runbook", "{text}");
    } else {
        tracing::info!(target: "runbook", "{text}");
    }
}

/// A journaled run event, with its kind, run and step as fields.
pub fn event(run: &str, entry: &Entry, text: &str) {
    let kind = serde_json::to_value(&entry.event)
        .ok()
        .and_then(|v| v["event"].as_str().map(String::from))
        .unwrap_or_default();
    let step = entry.event.step().unwrap_or("");
    match &entry.event {
        Event::StepFailed { warning: false, .. }
        | Event::CompensationFailed { .. }
        | Event::JournalError { .. }
        | Event::PreconditionFailed { .. } => {
            tracing::error!(target: "runbook::run", run, event = kind, step, "{text}")
        }
        Event::StepFailed { .. } | Event::AttemptFailed { .. } | Event::Interrupted { .. } => {
            tracing::warn!(target: "runbook::run", run, event = kind, step, "{text}")
        }
        _ => tracing::info!(target: "runbook::run", run, event = kind, step, "{text}"),
    }
}
