//! What `runbook daemon` and `runbook schedule` share: the scheduled playbooks of a directory,
//! the daemon's memory of what it fired (so missed runs can be caught up after a restart), its
//! clock (settable, so a schedule can be rehearsed), and the metrics it leaves for Prometheus.

use chrono::{DateTime, Utc};
use runbook_engine::compile::CompileOptions;
use runbook_engine::load::Schedule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A playbook with a `schedule:`.
pub struct Scheduled {
    pub path: PathBuf,
    pub name: String,
    pub schedule: Schedule,
}

impl Scheduled {
    /// `--env` and `--input` arguments of its runs.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(environment) = &self.schedule.environment {
            let base = self.path.parent().unwrap_or(Path::new("."));
            args.push("--env".into());
            args.push(base.join(environment).display().to_string());
        }
        for (name, value) in &self.schedule.inputs {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            args.push("--input".into());
            args.push(format!("{name}={text}"));
        }
        args
    }
}

/// The scheduled playbooks under `dir` (its `*.yml`, not recursively), in path order. A
/// playbook that does not compile is reported and left out; the others still run.
pub fn find(dir: &Path) -> (Vec<Scheduled>, Vec<String>) {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect(),
        Err(e) => return (Vec::new(), vec![format!("{}: {e}", dir.display())]),
    };
    paths.sort();
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let options = CompileOptions::default();
    for path in paths {
        match crate::commands::check(&path, &options) {
            Ok((_, playbook)) => {
                if let Some(schedule) = playbook.schedule.clone() {
                    found.push(Scheduled {
                        path,
                        name: playbook.name.clone(),
                        schedule,
                    });
                }
            }
            Err((source, diagnostics)) => problems.push(format!(
                "{}: {} problem(s), not scheduled ({})",
                source.name(),
                diagnostics.len(),
                diagnostics
                    .first()
                    .map(|d| d.message.clone())
                    .unwrap_or_default()
            )),
        }
    }
    (found, problems)
}

/// What the daemon fired, per playbook path, kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub last_fired: BTreeMap<String, DateTime<Utc>>,
}

impl State {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("daemon/state.json")
    }

    pub fn load(state_dir: &Path) -> Self {
        std::fs::read_to_string(Self::path(state_dir))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Written aside and renamed: a crash leaves the old state or the new one, never half.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        write_atomically(
            &Self::path(state_dir),
            &serde_json::to_string_pretty(self).unwrap_or_default(),
        )
    }
}

/// The daemon's clock: the real one, or one that starts at a chosen instant and may run
/// faster (`--clock-start`, `--clock-speed`), to rehearse a quarterly schedule in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: std::time::Instant,
    start: DateTime<Utc>,
    speed: f64,
}

impl Clock {
    pub fn new(start: Option<DateTime<Utc>>, speed: f64) -> Self {
        Self {
            started: std::time::Instant::now(),
            start: start.unwrap_or_else(Utc::now),
            speed,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed().as_secs_f64() * self.speed;
        self.start + chrono::TimeDelta::milliseconds((elapsed * 1000.0) as i64)
    }

    /// Real time until the clock shows `at`.
    pub fn real_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        let seconds = (at - self.now()).num_milliseconds() as f64 / 1000.0 / self.speed;
        std::time::Duration::from_secs_f64(seconds.max(0.0))
    }
}

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
}

/// Prometheus text format, for node-exporter's textfile collector: the seeds' Alertmanager can
/// alert on a drill that failed (`runbook_last_run_exit_code != 0`), or that did not run
/// (`time() - runbook_last_run_timestamp_seconds > ...`).
pub fn metrics(rows: &[(&Scheduled, &Outcome, Option<DateTime<Utc>>)]) -> String {
    let mut out = String::new();
    let families: [(&str, &str, &str); 8] = [
        (
            "runbook_last_run_exit_code",
            "gauge",
            "Exit code of the last scheduled run (0 success, 6 objectives missed).",
        ),
        (
            "runbook_last_run_timestamp_seconds",
            "gauge",
            "When the last scheduled run finished.",
        ),
        (
            "runbook_last_run_duration_seconds",
            "gauge",
            "How long the last scheduled run took.",
        ),
        (
            "runbook_last_rto_seconds",
            "gauge",
            "Recovery time measured by the last run.",
        ),
        (
            "runbook_rto_objective_seconds",
            "gauge",
            "The playbook's RTO objective.",
        ),
        (
            "runbook_next_run_timestamp_seconds",
            "gauge",
            "When the schedule fires next.",
        ),
        (
            "runbook_runs_skipped_total",
            "counter",
            "Fires skipped because the previous run was still going.",
        ),
        (
            "runbook_runs_missed_total",
            "counter",
            "Fires missed while the daemon was down, beyond the catch-up window.",
        ),
    ];
    for (index, (name, kind, help)) in families.iter().enumerate() {
        let samples: Vec<String> = rows
            .iter()
            .filter_map(|(s, o, next)| {
                let value = match index {
                    0 => o.exit_code.map(f64::from),
                    1 => o.finished.map(|t| t.timestamp() as f64),
                    2 => o.duration,
                    3 => o.rto,
                    4 => o.rto_objective,
                    5 => next.map(|t| t.timestamp() as f64),
                    6 => Some(o.skipped_overlap as f64),
                    _ => Some(o.missed as f64),
                }?;
                Some(format!(
                    "{name}{{playbook=\"{}\",file=\"{}\"}} {value}",
                    s.name.replace('"', "'"),
                    s.path.display().to_string().replace('"', "'")
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

pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text)?;
    std::fs::rename(aside, path)
}
