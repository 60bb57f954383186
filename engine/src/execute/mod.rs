//! Running a compiled playbook: a wavefront over the DAG with bounded parallelism, rollback of
//! what ran when something fails, and every event journaled.
//!
//! ```text
//! main phase   ready steps (all needs done) start, at most `max_parallel` at once
//!              first failure or signal: nothing new starts
//!              failure: running steps finish (bounded by their timeouts)
//!              signal:  running steps are cancelled (their process groups killed)
//! rollback     compensations of the steps that succeeded, newest first
//! on_failure   handlers, whose failures are journaled and never change the outcome
//! ```
//!
//! The executor is the only writer of the journal; `resume` rebuilds an executor from a
//! journal ([`Executor::restore`]) and calls the same [`Executor::run`].

pub mod approval;
pub mod attempt;
pub mod leftovers;
pub mod notify;
pub mod objectives;
mod per_node;
pub mod recorder;
mod running;
pub mod scope;
pub mod session;
mod step;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::action::{Action, Effect};
pub use crate::action::{Approver, BoxFuture, Outputs, ProcessLog, StepContext, StepError};
use crate::compile::{Edge, Playbook, Show};
use crate::journal::{Event, RunRecord, RunStatus, StepState};
use per_node::PerNode;
use recorder::Recorder;
use running::RunningSteps;
use scope::{Scope, Templates};
use step::{StepOutcome, StepRun, run_spec, spec_label};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Steps running at once, at most.
    pub max_parallel: usize,
    /// Read-only actions run, mutating ones are previewed; nothing is rolled back.
    pub check_mode: bool,
    /// Undo what ran when the run fails or is interrupted (`--no-rollback` turns it off).
    pub rollback: bool,
    /// Make this step fail on purpose (drills of the rollback path).
    pub fail_at: Option<String>,
}

/// A signal, shared between whoever catches it and the executor.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
    signal: Arc<Mutex<Option<String>>>,
    /// The terminal hung up (SIGHUP): the run goes on without it, and the session journals it.
    hangup: CancellationToken,
}

impl Interrupt {
    /// The operator's terminal is gone (a lost SSH session). Not a reason to stop: the run
    /// carries on, journaled as always, and `runbook show --follow` watches it from elsewhere.
    pub fn hang_up(&self) {
        self.hangup.cancel();
    }

    /// Resolves once the terminal has hung up.
    pub async fn hung_up(&self) {
        self.hangup.cancelled().await;
    }

    pub fn trigger(&self, signal: &str) {
        self.signal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| signal.to_string());
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    fn signal(&self) -> String {
        self.signal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "interrupt".into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Succeeded,
    Skipped,
    /// Failed with `continue_on_error`: dependants still run.
    FailedContinued,
    Failed,
    Cancelled,
    Previewed,
    Unknown,
}

impl State {
    /// Dependants may start after this.
    fn lets_dependants_run(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Skipped | Self::FailedContinued | Self::Previewed
        )
    }
}

/// Why the main phase stopped before the end.
#[derive(Debug, Clone)]
enum Stop {
    Failed {
        step: String,
        precondition: bool,
    },
    Interrupted(String),
    JournalBroken,
    /// This process no longer owns the run (its lease lapsed, or a write was fenced off):
    /// the next owner resumes it, so nothing is rolled back here.
    Abandoned,
}

pub struct Executor<A> {
    playbook: Arc<Playbook<A>>,
    scope: Scope,
    recorder: Arc<Recorder>,
    options: RunOptions,
    states: PerNode<State>,
    /// Where each step is declared: ready steps start in that order.
    position: PerNode<usize>,
    /// Per pending step, how many of its needs have not yet let it run: a step's end costs
    /// its own edges, not a scan of the playbook.
    waiting: PerNode<Option<usize>>,
    /// Pending steps with nothing left to wait for, by position.
    ready: BTreeSet<usize>,
    /// Steps that succeeded, in completion order.
    completed: Vec<NodeIndex>,
    /// Mutating steps that succeeded and said they changed nothing (`changed: false`).
    unchanged: std::collections::HashSet<NodeIndex>,
    stop: Option<Stop>,
    rollback_started: bool,
    compensations_done: BTreeSet<(String, usize)>,
    compensations_failed: usize,
    handlers_done: BTreeSet<usize>,
    started: Instant,
    /// What every step's context shares.
    shared: Arc<crate::action::RunShared>,
}

impl<A: Action> Executor<A> {
    pub fn new(
        playbook: Arc<Playbook<A>>,
        scope: Scope,
        templates: Arc<Templates>,
        recorder: Arc<Recorder>,
        approver: Arc<dyn Approver>,
        hosts: Arc<dyn crate::action::Hosts>,
        options: RunOptions,
    ) -> Self {
        // Compensations are nodes too: they stay `Pending`, have no position, and no step
        // needs them.
        let nodes = playbook.graph.node_count();
        let states = PerNode::new(nodes, State::Pending);
        let mut position = PerNode::new(nodes, usize::MAX);
        for (at, &index) in playbook.steps.iter().enumerate() {
            position[index] = at;
        }
        let shared = Arc::new(crate::action::RunShared {
            templates,
            hosts,
            check_mode: options.check_mode,
            approver,
            processes: recorder.clone(),
            redactor: recorder.redactor(),
            simulation: Default::default(),
        });
        Self {
            playbook,
            scope,
            recorder,
            options,
            states,
            position,
            waiting: PerNode::new(nodes, None),
            ready: BTreeSet::new(),
            completed: Vec::new(),
            unchanged: std::collections::HashSet::new(),
            stop: None,
            rollback_started: false,
            compensations_done: BTreeSet::new(),
            compensations_failed: 0,
            handlers_done: BTreeSet::new(),
            started: Instant::now(),
            shared,
        }
    }

    /// Takes over a journaled run: finished steps keep their results and outputs; the steps in
    /// `rerun` (started, never finished, and allowed to run again) start over.
    pub fn restore(&mut self, record: &RunRecord) {
        let by_id: HashMap<&str, NodeIndex> = self
            .playbook
            .steps
            .iter()
            .map(|&i| (self.playbook.step(i).id.as_str(), i))
            .collect();
        for (id, state) in &record.steps {
            let Some(&index) = by_id.get(id.as_str()) else {
                continue;
            };
            let step = self.playbook.step(index);
            let restored = match state {
                StepState::Started | StepState::Cancelled => State::Pending,
                StepState::Succeeded { outputs } => {
                    if outputs.get("changed") == Some(&serde_json::Value::Bool(false)) {
                        self.unchanged.insert(index);
                    }
                    self.scope.record(index, step, outputs);
                    State::Succeeded
                }
                StepState::Skipped => {
                    self.scope.record(index, step, &status_only("skipped"));
                    State::Skipped
                }
                StepState::Failed {
                    continued: true, ..
                } => {
                    self.scope.record(index, step, &status_only("failed"));
                    State::FailedContinued
                }
                StepState::Failed { .. } | StepState::PreconditionFailed { .. } => State::Failed,
                StepState::Previewed => State::Previewed,
                StepState::Unknown => State::Unknown,
            };
            self.states[index] = restored;
        }
        self.completed = record
            .completed
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .collect();
        if let Some(step) = &record.failure {
            let precondition = matches!(
                record.steps.get(step),
                Some(StepState::PreconditionFailed { .. })
            );
            self.stop = Some(Stop::Failed {
                step: step.clone(),
                precondition,
            });
        } else if record.interrupted || record.rollback_started {
            self.stop = Some(Stop::Interrupted("interrupt (before resume)".into()));
        }
        self.rollback_started = record.rollback_started;
        self.compensations_done = record.compensations_done.clone();
        self.compensations_failed = record.compensations_failed;
        self.handlers_done = record.handlers_done.clone();
    }

    /// Runs to the end (or continues a restored run) and journals how it finished.
    pub async fn run(mut self, interrupt: Interrupt) -> RunStatus {
        if self.stop.is_none() {
            self.main_phase(&interrupt).await;
        }
        let (mut status, mut error) = self.finish_phase().await;
        if status == RunStatus::Abandoned {
            // Nothing more is ours to journal: the run goes on under its next owner.
            return status;
        }
        if status == RunStatus::Succeeded
            && let Some(objectives) = &self.playbook.objectives
        {
            let data_as_of = objectives.data_as_of.as_ref().map(|text| {
                self.context("objectives", None, None)
                    .render_str(text)
                    .map_err(|e| e.message)
            });
            let history = self.recorder.history();
            let (rto, rpo) =
                objectives::measure(objectives, &history, chrono::Utc::now(), data_as_of);
            let missed = objectives::missed(rto.as_ref(), rpo.as_ref());
            self.recorder.record(Event::ObjectivesMeasured { rto, rpo });
            if let Some(missed) = missed {
                status = RunStatus::ObjectivesMissed;
                error = Some(missed);
            }
        }
        self.recorder.record(Event::RunFinished {
            status,
            exit_code: status.exit_code(),
            duration: self.started.elapsed().as_secs_f64(),
            error,
        });
        status
    }

    async fn main_phase(&mut self, interrupt: &Interrupt) {
        // The running steps are polled here, in the executor's own future, not as a task
        // each: a step's end is seen in the same turn of the runtime that finished it, with
        // no task to allocate, schedule and join (docs/decisions.md, "The running steps in
        // the executor's own future").
        let mut running = RunningSteps::new();
        let lost = self.recorder.lost();
        let recorder = self.recorder.clone();
        self.count_waiting();
        loop {
            if lost.is_cancelled() {
                self.abandon(&mut running);
                return;
            }
            if self.recorder.is_broken() && self.stop.is_none() {
                self.stop = Some(Stop::JournalBroken);
            }
            let starting = self.take_ready(running.len());
            // Results are durable before anything that may depend on them acts: one
            // fdatasync for all the steps that finished together. A step that syncs its own
            // start before it acts makes them durable with it (they are written before it),
            // so when only such steps start, theirs is the one sync (docs/decisions.md,
            // "A mutating step's start syncs the results before it").
            if starting.is_empty() || starting.iter().any(|&index| !self.syncs_own_start(index)) {
                self.recorder.flush();
            }
            for index in starting {
                self.states[index] = State::Running;
                running.start(index, self.step_run(index).run());
            }
            if running.is_empty() {
                return;
            }
            tokio::select! {
                // While the steps work, the console and the report catch up with the journal.
                finished = running.finished(|| recorder.show()) => {
                    // Every step that finished together, before one flush.
                    for (index, outcome) in finished {
                        self.settle(index, outcome);
                    }
                }
                () = lost.cancelled() => {
                    self.abandon(&mut running);
                    return;
                }
                () = interrupt.token.cancelled(), if !matches!(self.stop, Some(Stop::Interrupted(_))) => {
                    let signal = interrupt.signal();
                    self.recorder.record(Event::Interrupted { signal: signal.clone() });
                    self.stop = Some(Stop::Interrupted(signal.clone()));
                    for index in running.cancel() {
                        self.states[index] = State::Cancelled;
                        self.recorder.record(Event::StepCancelled {
                            step: self.playbook.step(index).id.clone(),
                            reason: format!("run interrupted ({signal})"),
                        });
                    }
                    return;
                }
            }
        }
    }

    /// The run is no longer ours: what runs is cancelled (its process groups killed), and
    /// nothing is journaled or rolled back (the next owner decides from the journal).
    fn abandon(&mut self, running: &mut RunningSteps) {
        self.stop = Some(Stop::Abandoned);
        for index in running.cancel() {
            self.states[index] = State::Cancelled;
        }
    }

    /// Counts, for every pending step, the needs it still waits for, and queues those that
    /// wait for none. Once per main phase (a resumed run starts from any state); after that
    /// [`Self::settled`] keeps the counts.
    fn count_waiting(&mut self) {
        self.waiting.fill(None);
        self.ready.clear();
        let mut unknown = Vec::new();
        for (position, &index) in self.playbook.steps.iter().enumerate() {
            if self.states[index] != State::Pending {
                continue;
            }
            let needs: Vec<State> = self.needs(index).map(|n| self.states[n]).collect();
            if needs.contains(&State::Unknown) {
                unknown.push(index);
            }
            let waiting = needs.iter().filter(|s| !s.lets_dependants_run()).count();
            self.waiting[index] = Some(waiting);
            if waiting == 0 {
                self.ready.insert(position);
            }
        }
        for index in unknown {
            self.become_unknown(index);
        }
    }

    /// A step ended in `state`: its dependants wait for one need less, or (check mode) are
    /// unknown too.
    fn settled(&mut self, index: NodeIndex, state: State) {
        let dependants: Vec<NodeIndex> = self.dependants(index).collect();
        if state == State::Unknown {
            for dependant in dependants {
                self.become_unknown(dependant);
            }
        } else if state.lets_dependants_run() {
            for dependant in dependants {
                if let Some(waiting) = &mut self.waiting[dependant] {
                    *waiting = waiting.saturating_sub(1);
                    if *waiting == 0 && self.states[dependant] == State::Pending {
                        self.ready.insert(self.position[dependant]);
                    }
                }
            }
        }
    }

    /// Check mode: a step that needs an unknown step is unknown too, and so on down; each
    /// journaled in declaration order.
    fn become_unknown(&mut self, index: NodeIndex) {
        let mut found = BTreeSet::new();
        let mut stack = vec![index];
        while let Some(node) = stack.pop() {
            if self.states[node] == State::Pending && found.insert(self.position[node]) {
                stack.extend(self.dependants(node));
            }
        }
        for position in found {
            let node = self.playbook.steps[position];
            self.ready.remove(&position);
            self.states[node] = State::Unknown;
            self.recorder.record_written(Event::StepUnknown {
                step: self.playbook.step(node).id.clone(),
                reason: "a step it needs is unknown".into(),
            });
        }
    }

    fn needs(&self, index: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.playbook
            .graph
            .edges_directed(index, Direction::Incoming)
            .filter(|e| *e.weight() == Edge::Needs)
            .map(|e| petgraph::visit::EdgeRef::source(&e))
    }

    fn dependants(&self, index: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.playbook
            .graph
            .edges_directed(index, Direction::Outgoing)
            .filter(|e| *e.weight() == Edge::Needs)
            .map(|e| petgraph::visit::EdgeRef::target(&e))
    }

    /// The ready steps that start now, as many as `running` leaves room for (none once the
    /// run stops going forward), in declaration order.
    fn take_ready(&mut self, running: usize) -> Vec<NodeIndex> {
        if self.stop.is_some() {
            return Vec::new();
        }
        let room = self.options.max_parallel.max(1).saturating_sub(running);
        let mut starting = Vec::with_capacity(room.min(self.ready.len()));
        while starting.len() < room {
            let Some(position) = self.ready.pop_first() else {
                break;
            };
            starting.push(self.playbook.steps[position]);
        }
        starting
    }

    /// Whether the step syncs its start before it acts ([`step::syncs_own_start`]).
    fn syncs_own_start(&self, index: NodeIndex) -> bool {
        step::syncs_own_start(&self.playbook.step(index).action, self.options.check_mode)
    }

    fn step_run(&self, index: NodeIndex) -> StepRun<A> {
        let step = self.playbook.step(index);
        StepRun {
            playbook: self.playbook.clone(),
            index,
            ctx: self.context(&step.id, step.host.as_ref(), step.item.as_ref()),
            recorder: self.recorder.clone(),
            inject_failure: self.options.fail_at.as_deref() == Some(step.id.as_str())
                || self.options.fail_at.as_deref() == Some(step.origin.as_str()),
        }
    }

    fn context(
        &self,
        step: &str,
        host: Option<&String>,
        item: Option<&serde_json::Value>,
    ) -> StepContext {
        StepContext::new(
            step.to_string(),
            host.cloned(),
            self.scope.values(item),
            self.shared.clone(),
        )
    }

    /// Check mode: whether a step comes after a change that was only previewed, so the live
    /// state it observes is not the state a real run would give it.
    fn after_a_preview(&self, index: NodeIndex) -> bool {
        let mut stack: Vec<NodeIndex> = self.needs(index).collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(node) = stack.pop() {
            if !seen.insert(node) {
                continue;
            }
            if matches!(self.states[node], State::Previewed | State::Unknown) {
                return true;
            }
            stack.extend(self.needs(node));
        }
        false
    }

    /// Journals a step's outcome and makes its outputs visible to later steps. Written, not
    /// yet synced: the main loop flushes the outcomes of every step that finished together
    /// before it starts another.
    fn settle(&mut self, index: NodeIndex, outcome: StepOutcome) {
        let outcome = match outcome {
            StepOutcome::Failed { error, .. }
                if self.options.check_mode && self.after_a_preview(index) =>
            {
                StepOutcome::Unknown {
                    reason: format!(
                        "fails against the current state, which a previewed step before it would change: {error}"
                    ),
                }
            }
            other => other,
        };
        let playbook = self.playbook.clone();
        let step = playbook.step(index);
        let id = step.id.clone();
        let state = match outcome {
            StepOutcome::Skipped { reason } => {
                self.scope.record(index, step, &status_only("skipped"));
                self.recorder
                    .record_written(Event::StepSkipped { step: id, reason });
                State::Skipped
            }
            StepOutcome::Succeeded {
                mut outputs,
                attempts,
                duration,
            } => {
                outputs.insert("status".into(), "succeeded".into());
                outputs.insert("duration".into(), duration.as_secs_f64().into());
                outputs.insert("attempts".into(), attempts.into());
                if outputs.get("changed") == Some(&serde_json::Value::Bool(false)) {
                    self.unchanged.insert(index);
                }
                // Before anything is written: from here on these values are secrets.
                self.shared.redactor.add(
                    step.sensitive
                        .iter()
                        .filter_map(|name| outputs.get(name))
                        .flat_map(texts_of),
                );
                self.scope.record(index, step, &outputs);
                self.completed.push(index);
                let note = step
                    .show
                    .as_ref()
                    .map(|show| self.shown(show, &outputs, step.item.as_ref()));
                self.recorder.record_written(Event::StepSucceeded {
                    step: id.clone(),
                    attempts,
                    duration: duration.as_secs_f64(),
                    outputs,
                });
                if let Some(note) = note {
                    self.recorder
                        .record_written(Event::StepNoted { step: id, note });
                }
                State::Succeeded
            }
            StepOutcome::Failed {
                error,
                attempts,
                duration,
            } => {
                let warning = step.severity == crate::load::Severity::Warning;
                let continued = step.continue_on_error || warning;
                self.recorder.record_written(Event::StepFailed {
                    step: id.clone(),
                    attempts,
                    duration: duration.as_secs_f64(),
                    error,
                    continued,
                    warning,
                });
                if continued {
                    self.scope.record(index, step, &status_only("failed"));
                    State::FailedContinued
                } else {
                    self.stop_for(id, false);
                    State::Failed
                }
            }
            StepOutcome::PreconditionFailed {
                precondition,
                error,
            } => {
                self.recorder.record_written(Event::PreconditionFailed {
                    step: id.clone(),
                    precondition,
                    error,
                });
                self.stop_for(id, true);
                State::Failed
            }
            StepOutcome::Previewed { preview } => {
                self.recorder
                    .record_written(Event::StepPreviewed { step: id, preview });
                State::Previewed
            }
            StepOutcome::Unknown { reason } => {
                self.recorder
                    .record_written(Event::StepUnknown { step: id, reason });
                State::Unknown
            }
        };
        self.states[index] = state;
        self.settled(index, state);
    }

    fn stop_for(&mut self, step: String, precondition: bool) {
        if self.stop.is_none() {
            self.stop = Some(Stop::Failed { step, precondition });
        }
    }

    /// After the main phase: roll back and run handlers if it stopped early; decide the status.
    async fn finish_phase(&mut self) -> (RunStatus, Option<String>) {
        let Some(stop) = self.stop.clone() else {
            let status = if self.options.check_mode {
                RunStatus::Checked
            } else {
                RunStatus::Succeeded
            };
            return (status, None);
        };
        let reason = match &stop {
            Stop::Failed {
                step,
                precondition: true,
            } => format!("a precondition of `{step}` failed"),
            Stop::Failed { step, .. } => format!("step `{step}` failed"),
            Stop::Interrupted(signal) => format!("interrupted ({signal})"),
            Stop::JournalBroken => "the journal could not be written".to_string(),
            Stop::Abandoned => "this runner lost the run to another owner".to_string(),
        };
        if matches!(stop, Stop::Abandoned) {
            return (RunStatus::Abandoned, Some(reason));
        }
        if self.options.check_mode {
            // What the real run would end with: a precondition failing before any change
            // (none previewed either) is exit 4 there, so here too.
            let previewed = self.states.values().any(|s| *s == State::Previewed);
            let status = match stop {
                Stop::Failed {
                    precondition: true, ..
                } if !previewed && !self.changed_anything() => RunStatus::PreconditionFailed,
                _ => RunStatus::Failed,
            };
            return (status, Some(reason));
        }

        let nothing_changed = !self.changed_anything();
        let unprotected: Vec<String> = self
            .completed
            .iter()
            .filter(|&&i| self.changed(i) && self.playbook.rollback_of(i).is_empty())
            .map(|&i| self.playbook.step(i).id.clone())
            .collect();

        let mut rolled_back = false;
        if self.options.rollback && self.has_compensations() {
            self.rollback(&reason).await;
            rolled_back = true;
        }
        self.handlers().await;

        let mut error = reason;
        if !unprotected.is_empty() {
            error.push_str(&format!(
                "; changed without a rollback: {}",
                unprotected.join(", ")
            ));
        }
        let status = match stop {
            _ if self.compensations_failed > 0 => RunStatus::RollbackFailed,
            Stop::Interrupted(_) => RunStatus::Interrupted,
            Stop::Failed {
                precondition: true, ..
            } if nothing_changed => RunStatus::PreconditionFailed,
            _ if rolled_back => RunStatus::RolledBack,
            Stop::Failed { .. } | Stop::JournalBroken | Stop::Abandoned => RunStatus::Failed,
        };
        (status, Some(error))
    }

    /// The text of a step's `show:`, from its outputs (a template that fails to render says
    /// why instead: showing is never a reason to fail a step that worked).
    fn shown(&self, show: &Show, outputs: &Outputs, item: Option<&serde_json::Value>) -> String {
        match show {
            Show::Output(name) => match outputs.get(name) {
                Some(serde_json::Value::String(text)) => text.trim_end().to_string(),
                Some(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
                None => format!("(no output `{name}`)"),
            },
            Show::Template(text) => self
                .shared
                .templates
                .render(text, &self.scope.values(item))
                .map(|t| t.trim_end().to_string())
                .unwrap_or_else(|e| format!("(`show` could not be rendered: {e})")),
        }
    }

    /// Whether a completed step changed something: a mutating verb, unless its outputs say
    /// it found nothing to do (`changed: false`, as `docker.start` of running containers).
    fn changed(&self, index: NodeIndex) -> bool {
        self.playbook.step(index).action.effect() == Effect::Mutating
            && !self.unchanged.contains(&index)
    }

    fn changed_anything(&self) -> bool {
        self.completed.iter().any(|&i| self.changed(i))
    }

    fn has_compensations(&self) -> bool {
        self.completed
            .iter()
            .any(|&i| !self.playbook.rollback_of(i).is_empty())
    }

    /// Compensations of the steps that succeeded, newest first, each in the order written.
    /// A failed compensation does not stop the others: undoing as much as possible leaves
    /// the least for the person who has to finish by hand.
    async fn rollback(&mut self, reason: &str) {
        if !self.rollback_started {
            self.recorder.record(Event::RollbackStarted {
                reason: reason.to_string(),
            });
            self.rollback_started = true;
        }
        let playbook = self.playbook.clone();
        for &index in self.completed.clone().iter().rev() {
            for (position, compensation) in playbook.rollback_of(index).into_iter().enumerate() {
                if self.recorder.lost().is_cancelled() {
                    // The next owner finishes the rollback from the journal.
                    return;
                }
                let step_id = playbook.step(index).id.clone();
                if self
                    .compensations_done
                    .contains(&(step_id.clone(), position))
                {
                    continue;
                }
                let ctx = self.context(
                    &step_id,
                    compensation.host.as_ref(),
                    compensation.item.as_ref(),
                );
                let label = spec_label(&compensation.spec);
                self.recorder.record(Event::CompensationStarted {
                    step: step_id.clone(),
                    index: position,
                    // A name may say which item it undoes (`Put {{ item }} back`).
                    verb: ctx.render_str(&label).unwrap_or(label),
                });
                let started = Instant::now();
                let attempted = run_spec(&compensation.spec, &ctx, &self.recorder, &step_id).await;
                match attempted.result {
                    Ok(_) => self.recorder.record(Event::CompensationSucceeded {
                        step: step_id.clone(),
                        index: position,
                        duration: started.elapsed().as_secs_f64(),
                    }),
                    Err(e) => {
                        self.compensations_failed += 1;
                        self.recorder.record(Event::CompensationFailed {
                            step: step_id.clone(),
                            index: position,
                            error: e.message,
                        });
                    }
                }
                self.compensations_done.insert((step_id, position));
            }
        }
        self.recorder.record(Event::RollbackFinished {
            failed: self.compensations_failed,
        });
    }

    /// `on_failure` handlers (usually notifications). Their failures are journaled and never
    /// change how the run ended.
    async fn handlers(&mut self) {
        let playbook = self.playbook.clone();
        for (index, spec) in playbook.on_failure.iter().enumerate() {
            if self.handlers_done.contains(&index) {
                continue;
            }
            let ctx = self.context("on_failure", None, None);
            let attempted = run_spec(spec, &ctx, &self.recorder, "on_failure").await;
            self.recorder.record(Event::HandlerFinished {
                index,
                verb: spec_label(spec),
                skipped: attempted.attempts == 0 && attempted.result.is_ok(),
                error: attempted.result.err().map(|e| e.message),
            });
            self.handlers_done.insert(index);
        }
    }
}

fn status_only(status: &str) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("status".into(), status.into());
    outputs
}

/// Every text inside an output value: what a sensitive output must hide (a token, or each
/// field of a generated credential). Not the JSON of a whole list or mapping: replacing that
/// in a journal line would leave the line invalid JSON, and its texts are hidden already.
fn texts_of(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(text) => vec![text.clone()],
        serde_json::Value::Array(items) => items.iter().flat_map(texts_of).collect(),
        serde_json::Value::Object(map) => map.values().flat_map(texts_of).collect(),
        // `null`, `true` and `false` hide nothing, and redacting them everywhere would
        // break every JSON line of the journal (`"old_env": {"DEBUG": null}`).
        serde_json::Value::Null | serde_json::Value::Bool(_) => Vec::new(),
        number => vec![number.to_string()],
    }
}

#[cfg(test)]
mod tests;
