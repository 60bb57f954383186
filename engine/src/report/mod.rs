//! Stage 5, report: the evidence a run leaves, made from its journal alone (so a report can be
//! made again for any recorded run): who ran what, when, each step's result, the rollback, and
//! the recovery objectives measured. Written next to the journal when a run ends.

mod html;
mod junit;
mod markdown;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::journal::{Entry, Event, Measurement, Mode, StoredRun};

pub use html::render as html;
pub use junit::render as junit;
pub use markdown::render as markdown;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run: String,
    pub playbook: String,
    /// The playbook file as given on the command line.
    pub path: String,
    pub mode: Option<Mode>,
    pub started_by: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// From the first to the last journal line, resumes included, in seconds.
    pub duration: Option<f64>,
    /// `succeeded`, `rolled_back`... or `unfinished` while it runs or after a crash.
    pub status: String,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub inputs: Map<String, Value>,
    pub resumed: Vec<Resume>,
    pub steps: Vec<StepReport>,
    pub rollback: Vec<CompensationReport>,
    pub objectives: Option<ObjectivesReport>,
    /// Where each step is in `steps`: a report of 10,000 steps is built in one pass over the
    /// journal, not a scan of the steps per event.
    #[serde(skip)]
    positions: HashMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resume {
    pub at: DateTime<Utc>,
    pub by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    /// `succeeded`, `failed`, `skipped`, `cancelled`, `previewed`, `unknown`, `running`.
    pub result: String,
    pub started_at: Option<DateTime<Utc>>,
    pub duration: Option<f64>,
    pub attempts: Option<u32>,
    /// The error, the reason it was skipped, or what a preview said.
    pub note: Option<String>,
    /// When each failed attempt ended (a retry followed).
    pub retries: Vec<DateTime<Utc>>,
    /// What the step found (its `show:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompensationReport {
    pub step: String,
    pub verb: String,
    pub started_at: DateTime<Utc>,
    pub result: String,
    pub duration: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectivesReport {
    pub rto: Option<Measurement>,
    pub rpo: Option<Measurement>,
}

impl ObjectivesReport {
    /// `("RTO", ...)`, `("RPO", ...)`: those measured.
    pub fn each(&self) -> impl Iterator<Item = (&'static str, &Measurement)> {
        crate::journal::named_measurements(self.rto.as_ref(), self.rpo.as_ref())
    }
}

/// A report before its journal's first entry: nothing known, the run `unfinished`.
impl Default for Report {
    fn default() -> Self {
        Self {
            run: String::new(),
            playbook: String::new(),
            path: String::new(),
            mode: None,
            started_by: String::new(),
            started_at: None,
            finished_at: None,
            duration: None,
            status: "unfinished".into(),
            exit_code: None,
            error: None,
            inputs: Map::new(),
            resumed: Vec::new(),
            steps: Vec::new(),
            rollback: Vec::new(),
            objectives: None,
            positions: HashMap::new(),
        }
    }
}

impl Report {
    pub fn from_entries(entries: &[Entry]) -> Self {
        let mut report = Self::default();
        for entry in entries {
            report.add(entry);
        }
        report
    }

    /// One more entry of the journal, in order: a report kept as the run goes is the same as
    /// one made from its journal at the end.
    pub fn add(&mut self, entry: &Entry) {
        let started_at = *self.started_at.get_or_insert(entry.at);
        self.apply(entry);
        self.duration = Some(seconds(entry.at - started_at));
    }

    fn step(&mut self, id: &str) -> &mut StepReport {
        let position = match self.positions.get(id) {
            Some(&position) => position,
            None => {
                self.positions.insert(id.to_string(), self.steps.len());
                self.steps.push(StepReport {
                    id: id.to_string(),
                    result: "running".into(),
                    started_at: None,
                    duration: None,
                    attempts: None,
                    note: None,
                    retries: Vec::new(),
                    found: None,
                });
                self.steps.len() - 1
            }
        };
        &mut self.steps[position]
    }

    fn settle(&mut self, id: &str, result: &str, note: Option<String>) {
        let step = self.step(id);
        step.result = result.to_string();
        step.note = note;
    }

    fn apply(&mut self, entry: &Entry) {
        match &entry.event {
            Event::RunStarted {
                run,
                playbook,
                path,
                mode,
                inputs,
                user,
                host,
                ..
            } => {
                self.run = run.clone();
                self.playbook = playbook.clone();
                self.path = path.clone();
                self.mode = Some(*mode);
                self.inputs = inputs.clone();
                self.started_by = format!("{user}@{host}");
            }
            Event::RunResumed { user, host, .. } => self.resumed.push(Resume {
                at: entry.at,
                by: format!("{user}@{host}"),
            }),
            Event::StepStarted { step, .. } => {
                let step = self.step(step);
                step.started_at = Some(entry.at);
                step.result = "running".into();
            }
            Event::StepSkipped { step, reason } => {
                self.settle(step, "skipped", Some(reason.clone()))
            }
            Event::PreconditionFailed {
                step,
                precondition,
                error,
            } => self.settle(
                step,
                "precondition failed",
                Some(format!("{precondition}: {error}")),
            ),
            Event::StepSucceeded {
                step,
                attempts,
                duration,
                ..
            } => {
                let step = self.step(step);
                step.result = "succeeded".into();
                step.attempts = Some(*attempts);
                step.duration = Some(*duration);
            }
            Event::StepFailed {
                step,
                attempts,
                duration,
                error,
                continued,
                warning,
            } => {
                let step = self.step(step);
                step.result = match (*warning, *continued) {
                    (true, _) => "warning",
                    (false, true) => "failed (continued)",
                    (false, false) => "failed",
                }
                .into();
                step.attempts = Some(*attempts);
                step.duration = Some(*duration);
                step.note = Some(error.clone());
            }
            Event::StepCancelled { step, reason } => {
                self.settle(step, "cancelled", Some(reason.clone()))
            }
            Event::StepPreviewed { step, preview } => {
                self.settle(step, "previewed", Some(preview.clone()))
            }
            Event::StepUnknown { step, reason } => {
                self.settle(step, "unknown", Some(reason.clone()))
            }
            Event::CompensationStarted { step, verb, .. } => {
                self.rollback.push(CompensationReport {
                    step: step.clone(),
                    verb: verb.clone(),
                    started_at: entry.at,
                    result: "running".into(),
                    duration: None,
                    error: None,
                })
            }
            Event::CompensationSucceeded { step, duration, .. } => {
                if let Some(c) = self.compensation(step) {
                    c.result = "undone".into();
                    c.duration = Some(*duration);
                }
            }
            Event::CompensationFailed { step, error, .. } => {
                if let Some(c) = self.compensation(step) {
                    c.result = "FAILED".into();
                    c.error = Some(error.clone());
                }
            }
            Event::ObjectivesMeasured { rto, rpo } => {
                self.objectives = Some(ObjectivesReport {
                    rto: rto.clone(),
                    rpo: rpo.clone(),
                });
            }
            Event::RunFinished {
                status,
                exit_code,
                error,
                ..
            } => {
                self.finished_at = Some(entry.at);
                self.status = serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                self.exit_code = Some(*exit_code);
                self.error = error.clone();
            }
            Event::AttemptFailed { step, .. } => self.step(step).retries.push(entry.at),
            Event::StepNoted { step, note } => self.step(step).found = Some(note.clone()),
            Event::Notified { .. }
            | Event::LockAcquired { .. }
            | Event::ApprovalRequested { .. }
            | Event::ApprovalDecided { .. }
            | Event::Interrupted { .. }
            | Event::TerminalLost { .. }
            | Event::ProcessStarted { .. }
            | Event::LeftoverKilled { .. }
            | Event::RollbackStarted { .. }
            | Event::RollbackFinished { .. }
            | Event::HandlerFinished { .. }
            | Event::JournalError { .. } => {}
        }
    }

    /// The newest compensation of `step` still running.
    fn compensation(&mut self, step: &str) -> Option<&mut CompensationReport> {
        self.rollback
            .iter_mut()
            .rev()
            .find(|c| c.step == step && c.result == "running")
    }

    pub fn json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn seconds(delta: chrono::TimeDelta) -> f64 {
    delta.num_milliseconds() as f64 / 1000.0
}

/// A run's report, from its journal as it stands. (Here, not in `journal`: the journal is
/// the stage below reports and knows nothing of them.)
pub fn of(run: &dyn StoredRun) -> std::io::Result<Report> {
    let journal = run
        .journal()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Report::from_entries(&journal.entries))
}

/// Writes a run's report in every format with its journal, and returns it. `kept` is the
/// report its process built from each entry it journaled (see
/// [`crate::execute::recorder::Recorder::take_report`]); without it, the report is made
/// from the journal.
pub fn write_all(run: &dyn StoredRun, kept: Option<Report>) -> std::io::Result<Report> {
    let report = match kept {
        Some(report) => report,
        None => of(run)?,
    };
    // The HTML page on a second thread, the rest on this one: after a long run the four
    // renderings are a large part of the time between its last step and its exit.
    let (html, json, md, junit) = std::thread::scope(|scope| {
        let html = scope.spawn(|| html(&report));
        let (json, md, junit) = (report.json(), markdown(&report), junit(&report));
        (html.join(), json, md, junit)
    });
    let html = html.map_err(|_| std::io::Error::other("rendering the HTML report failed"))?;
    let all = [
        ("json", json),
        ("md", md),
        ("html", html),
        ("junit.xml", junit),
    ];
    run.write_reports(&all)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RunStatus;

    fn entry(at: &str, event: Event) -> Entry {
        Entry {
            at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            event,
        }
    }

    /// A run where `b` failed once, was retried, failed, and `a` was undone.
    fn failed_run() -> Report {
        let started = |step: &str| Event::StepStarted {
            step: step.into(),
            verb: "shell.run".into(),
        };
        Report::from_entries(&[
            entry(
                "2026-11-21T10:00:00Z",
                Event::RunStarted {
                    run: "r1".into(),
                    playbook: "drill".into(),
                    path: "drill.yml".into(),
                    fingerprint: String::new(),
                    mode: Mode::Run,
                    inputs: Map::new(),
                    max_parallel: 4,
                    fail_at: None,
                    no_rollback: false,
                    user: "alice".into(),
                    host: "vm".into(),
                    pid: 1,
                },
            ),
            entry("2026-11-21T10:00:00Z", started("a")),
            entry(
                "2026-11-21T10:00:02Z",
                Event::StepSucceeded {
                    step: "a".into(),
                    attempts: 1,
                    duration: 2.0,
                    outputs: Map::new(),
                },
            ),
            entry("2026-11-21T10:00:02Z", started("b")),
            entry(
                "2026-11-21T10:00:03Z",
                Event::AttemptFailed {
                    step: "b".into(),
                    attempt: 1,
                    error: "boom".into(),
                    retry_in: 1.0,
                },
            ),
            entry(
                "2026-11-21T10:00:05Z",
                Event::StepFailed {
                    step: "b".into(),
                    attempts: 2,
                    duration: 3.0,
                    error: "disk <full> & \"gone\"".into(),
                    continued: false,
                    warning: false,
                },
            ),
            entry(
                "2026-11-21T10:00:05Z",
                Event::CompensationStarted {
                    step: "a".into(),
                    index: 0,
                    verb: "shell.run".into(),
                },
            ),
            entry(
                "2026-11-21T10:00:06Z",
                Event::CompensationSucceeded {
                    step: "a".into(),
                    index: 0,
                    duration: 1.0,
                },
            ),
            entry(
                "2026-11-21T10:00:06Z",
                Event::RunFinished {
                    status: RunStatus::RolledBack,
                    exit_code: 1,
                    duration: 6.0,
                    error: Some("step `b` failed".into()),
                },
            ),
        ])
    }

    #[test]
    fn html_draws_each_step_retry_and_compensation_on_the_timeline() {
        let html = html(&failed_run());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"), "self-contained, no script");
        // a: 0-2 s of 6 s, so at the label edge and a third of the chart wide.
        assert!(
            html.contains(
                r#"<rect x="210.0" y="36.0" width="213.3" height="16" class="succeeded">"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"class="failed"><title>b: failed in 3.0s</title>"#),
            "{html}"
        );
        assert!(html.contains(r#"class="retry""#), "{html}");
        assert!(html.contains(">undo a</text>"), "{html}");
        assert!(
            html.contains("disk &lt;full&gt; &amp; &quot;gone&quot;"),
            "escaped: {html}"
        );
    }

    /// A step that failed under `continue_on_error` is a failure in every report.
    #[test]
    fn a_continued_failure_is_a_failure_in_junit_and_markdown_alike() {
        let report = Report::from_entries(&[
            entry(
                "2026-11-21T10:00:00Z",
                Event::StepStarted {
                    step: "warmup".into(),
                    verb: "http.check".into(),
                },
            ),
            entry(
                "2026-11-21T10:00:01Z",
                Event::StepFailed {
                    step: "warmup".into(),
                    attempts: 1,
                    duration: 1.0,
                    error: "503".into(),
                    continued: true,
                    warning: false,
                },
            ),
        ]);
        let xml = junit(&report);
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(
            xml.contains(r#"<failure message="failed (continued)" type="continued">503</failure>"#),
            "{xml}"
        );
        assert!(markdown(&report).contains("failed (continued)"));
    }

    #[test]
    fn junit_counts_failures_and_escapes_text() {
        let xml = junit(&failed_run());
        assert!(
            xml.contains(r#"tests="2" failures="1" errors="0" skipped="0" time="6.000""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<testcase classname="drill" name="b" time="3.000"><failure message="failed">disk &lt;full&gt; &amp; "gone"</failure></testcase>"#), "{xml}");
    }
}
