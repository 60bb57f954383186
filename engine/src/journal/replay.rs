//! A run's state, rebuilt from its journal: what `resume` continues from and what `runs`,
//! `show` and `approve` look at.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

use super::event::{Entry, Event, Mode, RunStatus};

#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    /// Started and not finished: running now, or the process died under it.
    Started,
    Succeeded {
        outputs: Map<String, Value>,
    },
    Failed {
        error: String,
        continued: bool,
    },
    PreconditionFailed {
        error: String,
    },
    Skipped,
    Cancelled,
    Previewed,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Header {
    pub playbook: String,
    pub path: String,
    pub fingerprint: String,
    pub mode: Mode,
    pub inputs: Map<String, Value>,
    pub max_parallel: usize,
    pub fail_at: Option<String>,
    pub no_rollback: bool,
}

#[derive(Debug, Clone)]
pub struct Finish {
    pub status: RunStatus,
    pub exit_code: i32,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub header: Option<Header>,
    pub started_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    pub steps: BTreeMap<String, StepState>,
    /// Steps that succeeded, in the order they finished: rollback undoes them in reverse.
    pub completed: Vec<String>,
    /// The first failure that stops the run (not a `continue_on_error` one).
    pub failure: Option<String>,
    pub interrupted: bool,
    pub rollback_started: bool,
    pub rollback_finished: bool,
    /// Compensations that finished (succeeded or failed): `(step, index)`.
    pub compensations_done: BTreeSet<(String, usize)>,
    pub compensations_failed: usize,
    pub handlers_done: BTreeSet<usize>,
    /// Approval gates waiting for a decision: step -> (message, approvers).
    pub waiting: BTreeMap<String, (String, Vec<String>)>,
    pub finish: Option<Finish>,
    /// When each step started and when it last ended (succeeded, failed or was skipped).
    pub times: BTreeMap<String, StepTimes>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
}

impl RunRecord {
    pub fn from_entries(entries: &[Entry]) -> Self {
        let mut record = Self::default();
        for entry in entries {
            record.apply(entry);
        }
        record
    }

    fn set(&mut self, step: &str, state: StepState) {
        self.steps.insert(step.to_string(), state);
    }

    pub(crate) fn apply(&mut self, entry: &Entry) {
        self.last_at = Some(entry.at);
        match &entry.event {
            Event::StepStarted { step, .. } => {
                self.times.entry(step.clone()).or_default().started = Some(entry.at);
            }
            Event::StepSucceeded { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepSkipped { step, .. } => {
                self.times.entry(step.clone()).or_default().ended = Some(entry.at);
            }
            _ => {}
        }
        match &entry.event {
            Event::RunStarted {
                playbook,
                path,
                fingerprint,
                mode,
                inputs,
                max_parallel,
                fail_at,
                no_rollback,
                ..
            } => {
                self.started_at = Some(entry.at);
                self.header = Some(Header {
                    playbook: playbook.clone(),
                    path: path.clone(),
                    fingerprint: fingerprint.clone(),
                    mode: *mode,
                    inputs: inputs.clone(),
                    max_parallel: *max_parallel,
                    fail_at: fail_at.clone(),
                    no_rollback: *no_rollback,
                });
            }
            Event::StepStarted { step, .. } => self.set(step, StepState::Started),
            Event::StepSkipped { step, .. } => self.set(step, StepState::Skipped),
            Event::PreconditionFailed { step, error, .. } => {
                self.failure.get_or_insert_with(|| step.clone());
                self.set(
                    step,
                    StepState::PreconditionFailed {
                        error: error.clone(),
                    },
                );
            }
            Event::StepSucceeded { step, outputs, .. } => {
                self.completed.push(step.clone());
                self.set(
                    step,
                    StepState::Succeeded {
                        outputs: outputs.clone(),
                    },
                );
            }
            Event::StepFailed {
                step,
                error,
                continued,
                ..
            } => {
                if !continued {
                    self.failure.get_or_insert_with(|| step.clone());
                }
                self.set(
                    step,
                    StepState::Failed {
                        error: error.clone(),
                        continued: *continued,
                    },
                );
            }
            Event::StepCancelled { step, .. } => self.set(step, StepState::Cancelled),
            Event::StepPreviewed { step, .. } => self.set(step, StepState::Previewed),
            Event::StepUnknown { step, .. } => self.set(step, StepState::Unknown),
            Event::ApprovalRequested {
                step,
                message,
                approvers,
            } => {
                self.waiting
                    .insert(step.clone(), (message.clone(), approvers.clone()));
            }
            Event::ApprovalDecided { step, .. } => {
                self.waiting.remove(step);
            }
            Event::Interrupted { .. } => self.interrupted = true,
            Event::RollbackStarted { .. } => self.rollback_started = true,
            Event::CompensationSucceeded { step, index, .. } => {
                self.compensations_done.insert((step.clone(), *index));
            }
            Event::CompensationFailed { step, index, .. } => {
                self.compensations_failed += 1;
                self.compensations_done.insert((step.clone(), *index));
            }
            Event::RollbackFinished { .. } => self.rollback_finished = true,
            Event::HandlerFinished { index, .. } => {
                self.handlers_done.insert(*index);
            }
            Event::RunFinished {
                status,
                exit_code,
                error,
                ..
            } => {
                self.waiting.clear();
                self.finish = Some(Finish {
                    status: *status,
                    exit_code: *exit_code,
                    at: entry.at,
                    error: error.clone(),
                });
            }
            Event::RunResumed { .. }
            | Event::LockAcquired { .. }
            | Event::TerminalLost { .. }
            | Event::StepNoted { .. }
            | Event::ProcessStarted { .. }
            | Event::LeftoverKilled { .. }
            | Event::AttemptFailed { .. }
            | Event::CompensationStarted { .. }
            | Event::ObjectivesMeasured { .. }
            | Event::Notified { .. }
            | Event::JournalError { .. } => {}
        }
    }

    /// Steps that started and never finished.
    pub fn unfinished(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|(_, s)| **s == StepState::Started)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Whether the run had stopped going forward (a failure or a signal) and owes a rollback.
    pub fn stopping(&self) -> bool {
        self.failure.is_some() || self.interrupted || self.rollback_started
    }

    /// Wall time from start to finish, or to the last event for an unfinished run.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let start = self.started_at?;
        let end = self.finish.as_ref().map(|f| f.at).or(self.last_at)?;
        Some(end - start)
    }
}
