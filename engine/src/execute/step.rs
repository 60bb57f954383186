//! One step, start to end: `when` -> preconditions -> the action (or, in check mode, its
//! preview) under timeout and retry -> outputs.

use petgraph::graph::NodeIndex;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::attempt::{Attempted, attempt};
use super::recorder::Recorder;
use crate::action::{Action, Effect};
use crate::action::{Outputs, StepContext, StepError};
use crate::compile::{ActionSpec, Playbook};
use crate::journal::Event;

#[derive(Debug)]
pub enum StepOutcome {
    Skipped {
        reason: String,
    },
    Succeeded {
        outputs: Outputs,
        attempts: u32,
        duration: Duration,
    },
    Failed {
        error: String,
        attempts: u32,
        duration: Duration,
    },
    PreconditionFailed {
        precondition: String,
        error: String,
    },
    Previewed {
        preview: String,
    },
    Unknown {
        reason: String,
    },
}

pub struct StepRun<A> {
    pub playbook: Arc<Playbook<A>>,
    pub index: NodeIndex,
    pub ctx: StepContext,
    pub recorder: Arc<Recorder>,
    /// `--fail-at`: fail this step on purpose, after its preconditions, to exercise rollback.
    pub inject_failure: bool,
}

impl<A: Action> StepRun<A> {
    pub async fn run(self) -> StepOutcome {
        let step = self.playbook.step(self.index);
        let ctx = &self.ctx;
        if let Some(when) = &step.when {
            match ctx.condition(when) {
                Ok(true) => {}
                Ok(false) => {
                    return StepOutcome::Skipped {
                        reason: format!("`when` is false: {when}"),
                    };
                }
                Err(e) if e.unknown => return StepOutcome::Unknown { reason: e.message },
                Err(e) => {
                    return StepOutcome::Failed {
                        error: format!("`when`: {e}"),
                        attempts: 0,
                        duration: Duration::ZERO,
                    };
                }
            }
        }
        let start = Event::StepStarted {
            step: step.id.clone(),
            verb: step.action.verb().to_string(),
        };
        if syncs_own_start(&step.action, ctx.is_check_mode()) {
            // On disk before the step acts when it changes something: after a power loss,
            // resume must know it may have begun. The same fdatasync makes durable the
            // results it depends on, written before it.
            self.recorder.record_before_acting(start).await;
            // A change the journal cannot hold is one resume could not account for: the
            // step does not act (the run then stops, as for any journal failure).
            if self.recorder.is_broken() {
                return StepOutcome::Failed {
                    error: "not started: the journal cannot be written".into(),
                    attempts: 0,
                    duration: Duration::ZERO,
                };
            }
        } else {
            // A read-only step (or a preview) may simply run again; the results it depends
            // on were synced before it started.
            self.recorder.record_written(start);
        }
        let started = Instant::now();

        for precondition in &step.requires {
            let attempted = run_spec(precondition, ctx, &self.recorder, &step.id).await;
            match attempted.result {
                Ok(_) => {}
                Err(e) if e.unknown => return StepOutcome::Unknown { reason: e.message },
                Err(e) => {
                    return StepOutcome::PreconditionFailed {
                        precondition: spec_label(precondition),
                        error: e.message,
                    };
                }
            }
        }

        if self.inject_failure {
            return StepOutcome::Failed {
                error: "failure injected with --fail-at".into(),
                attempts: 1,
                duration: started.elapsed(),
            };
        }

        if ctx.is_check_mode() && step.action.effect() == Effect::Mutating {
            let preview = attempt(
                step.timeout.map(|t| t.0),
                None,
                |deadline| preview(&step.action, ctx, deadline),
                |_, _, _| {},
            )
            .await;
            return match preview.result {
                Ok(preview) => StepOutcome::Previewed { preview },
                Err(e) if e.unknown => StepOutcome::Unknown { reason: e.message },
                Err(e) => StepOutcome::Failed {
                    error: format!("cannot preview: {e}"),
                    attempts: 1,
                    duration: started.elapsed(),
                },
            };
        }

        let id = step.id.clone();
        let recorder = &self.recorder;
        let attempted = attempt(
            step.timeout.map(|t| t.0),
            step.retry.as_ref(),
            |deadline| run_action(&step.action, ctx, deadline),
            |n, error, delay| record_retry(recorder, &id, n, error, delay),
        )
        .await;
        let duration = started.elapsed();
        match attempted.result {
            Ok(outputs) => StepOutcome::Succeeded {
                outputs,
                attempts: attempted.attempts,
                duration,
            },
            Err(e) if e.unknown => StepOutcome::Unknown { reason: e.message },
            Err(e) => StepOutcome::Failed {
                error: e.message,
                attempts: attempted.attempts,
                duration,
            },
        }
    }
}

/// Whether a step's start must be durable before it acts: when it changes something (and
/// this is not check mode, where it only previews). Such a step syncs its start, and with it
/// every line written before; the executor syncs the results before any other step starts.
pub fn syncs_own_start<A: Action>(action: &A, check_mode: bool) -> bool {
    action.effect() == Effect::Mutating && !check_mode
}

async fn run_action<A: Action>(
    action: &A,
    ctx: &StepContext,
    deadline: Option<Instant>,
) -> Result<Outputs, StepError> {
    let ctx = ctx.clone().with_deadline(deadline);
    action.run(&ctx).await
}

async fn preview<A: Action>(
    action: &A,
    ctx: &StepContext,
    deadline: Option<Instant>,
) -> Result<String, StepError> {
    let ctx = ctx.clone().with_deadline(deadline);
    action.preview(&ctx).await
}

fn record_retry(recorder: &Recorder, step: &str, n: u32, error: &StepError, delay: Duration) {
    // Only informs: resume decides from the step's start and result, never from its
    // attempts, so this waits for the next sync.
    recorder.record_written(Event::AttemptFailed {
        step: step.to_string(),
        attempt: n,
        error: error.message.clone(),
        retry_in: delay.as_secs_f64(),
    });
    // A wait follows: the operator sees why now, in a rollback's compensations too (they
    // are not run by the main loop, which shows entries as it waits).
    recorder.show();
}

/// A precondition, compensation or failure handler: its own timeout and retry.
pub async fn run_spec<A: Action>(
    spec: &ActionSpec<A>,
    ctx: &StepContext,
    recorder: &Recorder,
    step: &str,
) -> Attempted<Outputs> {
    if let Some(when) = &spec.when {
        match ctx.condition(when) {
            Ok(true) => {}
            // Not run: zero attempts, nothing to undo or report as failed.
            Ok(false) => {
                return Attempted {
                    result: Ok(Outputs::new()),
                    attempts: 0,
                };
            }
            Err(e) => {
                return Attempted {
                    result: Err(e),
                    attempts: 0,
                };
            }
        }
    }
    attempt(
        spec.timeout.map(|t| t.0),
        spec.retry.as_ref(),
        |deadline| run_action(&spec.action, ctx, deadline),
        |n, error, delay| record_retry(recorder, step, n, error, delay),
    )
    .await
}

/// How a side action is named in messages: its `name`, else its verb.
pub fn spec_label<A: Action>(spec: &ActionSpec<A>) -> String {
    spec.name
        .clone()
        .unwrap_or_else(|| spec.action.verb().to_string())
}
