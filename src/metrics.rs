//! The daemon's metrics for Prometheus: a node-exporter textfile, per scheduled playbook.

use chrono::{DateTime, Utc};

use crate::scheduled::Scheduled;

/// The last outcome of a playbook's scheduled runs, for the metrics.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub finished: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub rto: Option<f64>,
    pub rto_objective: Option<f64>,
    pub skipped_overlap: u64,
    pub missed: u64,
    /// Fires this daemon ran (a fire claimed by another daemon sharing the store is theirs).
    pub fired: u64,
    /// Fires another daemon claimed first.
    pub claimed_elsewhere: u64,
}

/// Prometheus text format, for node-exporter's textfile collector: the seeds' Alertmanager can
/// alert on a drill that failed (`runbook_last_run_exit_code != 0`), or that did not run
/// (`time() - runbook_last_run_timestamp_seconds > ...`).
pub fn metrics(rows: &[(&Scheduled, &Outcome, Option<DateTime<Utc>>)]) -> String {
    type Value = fn(&Outcome, Option<DateTime<Utc>>) -> Option<f64>;
    let families: [(&str, &str, &str, Value); 10] = [
        (
            "runbook_last_run_exit_code",
            "gauge",
            "Exit code of the last scheduled run (0 success, 6 objectives missed).",
            |o, _| o.exit_code.map(f64::from),
        ),
        (
            "runbook_last_run_timestamp_seconds",
            "gauge",
            "When the last scheduled run finished.",
            |o, _| o.finished.map(|t| t.timestamp() as f64),
        ),
        (
            "runbook_last_run_duration_seconds",
            "gauge",
            "How long the last scheduled run took.",
            |o, _| o.duration,
        ),
        (
            "runbook_last_rto_seconds",
            "gauge",
            "Recovery time measured by the last run.",
            |o, _| o.rto,
        ),
        (
            "runbook_rto_objective_seconds",
            "gauge",
            "The playbook's RTO objective.",
            |o, _| o.rto_objective,
        ),
        (
            "runbook_next_run_timestamp_seconds",
            "gauge",
            "When the schedule fires next.",
            |_, next| next.map(|t| t.timestamp() as f64),
        ),
        (
            "runbook_runs_skipped_total",
            "counter",
            "Fires skipped because the previous run was still going.",
            |o, _| Some(o.skipped_overlap as f64),
        ),
        (
            "runbook_runs_missed_total",
            "counter",
            "Fires missed while the daemon was down, beyond the catch-up window.",
            |o, _| Some(o.missed as f64),
        ),
        (
            "runbook_fires_run_total",
            "counter",
            "Fires this daemon ran (each fire of a shared store runs on one daemon only).",
            |o, _| Some(o.fired as f64),
        ),
        (
            "runbook_fires_claimed_elsewhere_total",
            "counter",
            "Fires another daemon sharing the store claimed, and so ran, first.",
            |o, _| Some(o.claimed_elsewhere as f64),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in families {
        let samples: Vec<String> = rows
            .iter()
            .filter_map(|(s, o, next)| {
                // A named schedule (one of several) is a label of its own.
                let schedule = s
                    .schedule
                    .name
                    .as_ref()
                    .map(|n| format!(",schedule=\"{}\"", n.replace('"', "'")))
                    .unwrap_or_default();
                Some(format!(
                    "{name}{{playbook=\"{}\",file=\"{}\"{schedule}}} {}",
                    s.name.replace('"', "'"),
                    s.path.display().to_string().replace('"', "'"),
                    value(o, *next)?
                ))
            })
            .collect();
        if samples.is_empty() {
            continue;
        }
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for sample in samples {
            out.push_str(&sample);
            out.push('\n');
        }
    }
    out
}
