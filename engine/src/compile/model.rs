//! The compiled playbook: a petgraph DAG of typed steps. This is what `plan` renders and what
//! the executor will run; nothing in it refers to a step by an unresolved name.

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::load::{InputSpec, Objectives, Retry, Schedule, SecretSpec};
use crate::params::Duration;
use crate::source::Span;

#[derive(Debug, Clone)]
pub struct Playbook<A> {
    pub name: String,
    pub description: Option<String>,
    pub inputs: Vec<(String, InputSpec)>,
    /// The value of every input for this compilation: given, else its default. Required inputs
    /// that were not given (allowed by `validate`) are absent.
    pub input_values: Map<String, Value>,
    pub secrets: Vec<(String, SecretSpec)>,
    /// Vars as written (they may contain templates over inputs).
    pub vars: Vec<(String, Value)>,
    pub objectives: Option<Objectives>,
    pub lock: Option<String>,
    pub notify: Vec<crate::load::NotifySpec>,
    /// When the daemon runs it: none, one, or several (each with its name and inputs).
    pub schedules: Vec<Schedule>,
    pub default_timeout: Option<Duration>,
    pub default_retry: Option<Retry>,
    pub graph: DiGraph<Node<A>, Edge>,
    /// Steps in declaration order (after `for_each` expansion), for stable output.
    pub steps: Vec<NodeIndex>,
    /// Steps grouped by the earliest wave they can run in: every step of stage N only needs
    /// steps of stages < N, so the steps of one stage may run in parallel.
    pub stages: Vec<Vec<NodeIndex>>,
    pub on_failure: Vec<ActionSpec<A>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// From a step to a step that needs it (the order of execution).
    Needs,
    /// From a step to one of its compensations, run if a later failure rolls back.
    Rollback,
}

#[derive(Debug, Clone)]
pub enum Node<A> {
    Step(Step<A>),
    Compensation(Compensation<A>),
}

impl<A> Node<A> {
    pub fn as_step(&self) -> Option<&Step<A>> {
        match self {
            Self::Step(step) => Some(step),
            Self::Compensation(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Step<A> {
    /// Unique id; `restart[api]` for an item of a `for_each` step.
    pub id: String,
    /// The id as written; differs from `id` for `for_each` items.
    pub origin: String,
    /// The `for_each` item this step runs for.
    pub item: Option<Value>,
    pub name: Option<String>,
    pub action: A,
    pub when: Option<String>,
    /// The host it runs on (a template over inputs and `item`), its rollback too.
    pub host: Option<String>,
    pub requires: Vec<ActionSpec<A>>,
    pub timeout: Option<Duration>,
    /// The timeout is the playbook's `defaults.timeout`, not the step's own.
    pub timeout_inherited: bool,
    pub retry: Option<Retry>,
    /// Declared idempotent, or read-only (safe to run again after a crash).
    pub idempotent: bool,
    pub continue_on_error: bool,
    /// What the step found, shown once it succeeded (console, `show`, every report).
    pub show: Option<Show>,
    /// Outputs that are secrets made during the run: redacted from then on, everywhere.
    pub sensitive: Vec<String>,
    /// `warning`: a failure is a warning, and the run goes on.
    pub severity: crate::load::Severity,
    pub stage: usize,
    pub span: Span,
}

/// `show:` of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Show {
    /// One of the step's outputs, by name (`show: stdout`).
    Output(String),
    /// A template over inputs and outputs, the step's own included (`"{{ steps.disk.stdout }}"`).
    Template(String),
}

/// An action outside the main flow (precondition, compensation, failure handler), with its
/// own timeout and retry.
#[derive(Debug, Clone)]
pub struct ActionSpec<A> {
    pub action: A,
    pub name: Option<String>,
    /// A condition: the action runs only when it holds.
    pub when: Option<String>,
    pub timeout: Option<Duration>,
    pub retry: Option<Retry>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Compensation<A> {
    /// The step this undoes.
    pub step: String,
    /// Where that step ran: its undo runs there too.
    pub host: Option<String>,
    pub item: Option<Value>,
    pub spec: ActionSpec<A>,
}

impl<A: Action> Playbook<A> {
    pub fn step(&self, index: NodeIndex) -> &Step<A> {
        self.graph[index]
            .as_step()
            .expect("plan indices in `steps` and `stages` are steps")
    }

    /// The steps a step needs, in declaration order.
    pub fn needs_of(&self, index: NodeIndex) -> Vec<&Step<A>> {
        let mut needs: Vec<NodeIndex> = self
            .graph
            .edges_directed(index, petgraph::Direction::Incoming)
            .filter(|e| *e.weight() == Edge::Needs)
            .map(|e| petgraph::visit::EdgeRef::source(&e))
            .collect();
        needs.sort();
        needs.into_iter().map(|i| self.step(i)).collect()
    }

    /// A step's compensations in the order they were written.
    pub fn rollback_of(&self, index: NodeIndex) -> Vec<&Compensation<A>> {
        let mut comps: Vec<NodeIndex> = self
            .graph
            .edges_directed(index, petgraph::Direction::Outgoing)
            .filter(|e| *e.weight() == Edge::Rollback)
            .map(|e| petgraph::visit::EdgeRef::target(&e))
            .collect();
        comps.sort();
        comps
            .into_iter()
            .filter_map(|i| match &self.graph[i] {
                Node::Compensation(c) => Some(c),
                Node::Step(_) => None,
            })
            .collect()
    }
}
