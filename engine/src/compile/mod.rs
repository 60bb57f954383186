//! Stage 2, compile: [`RawPlaybook`] -> [`Playbook`], a petgraph DAG of typed steps.
//!
//! Resolves `needs`, rejects cycles, parses every action into its typed params, expands
//! `for_each`, and reads every template to check what it refers to. All problems are collected
//! before failing so one `validate` run shows them all.
//!
//! This file runs the passes in order ([`compile`]); each pass has a file:
//!
//! ```text
//! inputs.rs      given input values against their declarations
//! ids.rs         step ids and needs; what to say about an undeclared name
//! graph.rs       cycles, topological order, who depends on whom
//! references.rs  what templates may read (playbook-level and per reference)
//! steps.rs       one step as written: name, when, for_each, action, requires, rollback
//! for_each.rs    for_each items and the ids they expand to
//! actions.rs     a verb and its typed params; templates in params
//! assemble.rs    the DAG of expanded steps and compensations, in stages
//! ```

mod actions;
mod assemble;
mod error;
mod for_each;
mod graph;
mod ids;
mod inputs;
mod model;
mod references;
pub mod schedule;
mod steps;
pub mod templates;

pub use error::CompileError;
pub use model::*;

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::action::{Action, Effect};
use crate::load::de::{from_entry, known_names_hint};
use crate::load::node::{Node as YamlNode, NodeKind};
use crate::load::{Objectives, RawAction, RawPlaybook, RawStep};
use crate::parallel::in_halves;
use crate::params::is_template;
use crate::source::{SourceFile, Span, Spanned};
use crate::suggest::{Suggester, did_you_mean};
use graph::{Ancestry, StepGraph};
use templates::{Reference, Root, TemplateError, TemplateReader};

/// Outputs every step has, whatever its verb.
pub const COMMON_OUTPUTS: &[&str] = &["status", "duration", "attempts"];

#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// `--input name=value`, in the order given (a later one wins).
    pub inputs: Vec<(String, String)>,
    /// Values from an environment file (`--env`): below `--input`, above defaults. Names the
    /// playbook does not declare are ignored, since one file serves many playbooks.
    pub environment: Vec<(String, String)>,
    /// Report required inputs that were not given. `validate` checks a playbook on its own;
    /// `plan` and `run` need every input.
    pub require_inputs: bool,
    /// The hosts of the environment file, when one is given: a step's literal `host:` must be
    /// one of them. Without an environment file, hosts are checked when the step runs.
    pub hosts: Option<Vec<String>>,
}

impl CompileOptions {
    /// The environment's values for the `declared` inputs, then `--input`: the text each
    /// input is given, in order (the last one wins), as a run saves it for `resume`.
    pub fn given_inputs<'a>(
        &self,
        declared: impl IntoIterator<Item = &'a str>,
    ) -> Vec<(String, String)> {
        let declared: Vec<&str> = declared.into_iter().collect();
        self.environment
            .iter()
            .filter(|(name, _)| declared.contains(&name.as_str()))
            .chain(&self.inputs)
            .cloned()
            .collect()
    }
}

pub fn compile<A: Action>(
    raw: &RawPlaybook,
    source: &SourceFile,
    options: &CompileOptions,
) -> Result<Playbook<A>, Vec<CompileError>> {
    let mut errors = Vec::new();
    let given = options.given_inputs(raw.inputs.iter().map(|i| i.name.value.as_str()));
    let input_values = inputs::resolve(&raw.inputs, &given, options.require_inputs, &mut errors);
    let mut compiler =
        Compiler::<A>::new(raw, options.hosts.as_deref(), source, HashMap::new(), None);
    compiler.errors = errors;
    compiler.check_ids();
    let needs = compiler.resolve_needs();
    let step_graph = StepGraph { needs: &needs };
    let cycles = step_graph.cycles();
    for (path, (step, position)) in &cycles {
        compiler.errors.push(CompileError::Cycle {
            cycle: path
                .iter()
                .map(|&i| raw.steps[i].id.value.clone())
                .collect(),
            span: raw.steps[*step].needs[*position].span,
        });
    }
    let order = step_graph.topological_order();
    if cycles.is_empty() {
        compiler.ancestry = Some(step_graph.ancestry(&order));
    }

    compiler.check_playbook_templates();
    // The steps of a large playbook in two halves at once, each half with a compiler of its
    // own (the same playbook and graph; its own caches, which only save work), and each
    // step's errors kept with it so that they come out in the order of the steps.
    let (hosts, ids, ancestry) = (compiler.hosts, &compiler.ids, &compiler.ancestry);
    let compiled = in_halves(&raw.steps, |start, half| {
        let mut own = Compiler::<A>::new(raw, hosts, source, ids.clone(), ancestry.clone());
        (start..)
            .zip(half)
            .map(|(index, step)| {
                let group = own.step(index, step, &input_values);
                (group, std::mem::take(&mut own.errors))
            })
            .collect()
    });
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (group, errors) in compiled {
        steps.push(group);
        compiler.errors.extend(errors);
    }
    let on_failure: Vec<ActionSpec<A>> = raw
        .on_failure
        .iter()
        .filter_map(|a| {
            compiler.action_templates(a, &Scope::after_run());
            compiler.action_spec(a)
        })
        .collect();

    // A step missing here failed to load or compile; its error is already reported.
    let steps: Option<Vec<CompiledGroup<A>>> = steps.into_iter().collect();
    let Some(steps) = steps.filter(|_| compiler.errors.is_empty()) else {
        return Err(compiler.errors);
    };
    Ok(assemble::assemble(
        raw,
        input_values,
        steps,
        &needs,
        on_failure,
    ))
}

/// One step as written, compiled: its typed parts and the `for_each` items it expands to.
struct CompiledGroup<A> {
    items: Option<Vec<Value>>,
    serial: Option<usize>,
    action: A,
    requires: Vec<ActionSpec<A>>,
    rollback: Vec<ActionSpec<A>>,
}

/// Where a template is and what it may read.
struct Scope {
    /// The step whose templates these are, and whether its own outputs are readable (in its
    /// rollback, which runs after it).
    steps: StepAccess,
    item: bool,
    /// Secrets are refused where the text is printed; this names that place.
    printed_in: Option<String>,
}

#[derive(Clone, Copy)]
enum StepAccess {
    /// No step has run yet when this is evaluated (vars, `for_each`, `lock`).
    NoSteps,
    Ancestors {
        step: usize,
        itself: bool,
    },
    Any,
}

impl Scope {
    /// `on_failure` handlers run after everything else and may read any step's outputs.
    fn after_run() -> Self {
        Self {
            steps: StepAccess::Any,
            item: false,
            printed_in: None,
        }
    }
}

struct Compiler<'a, A> {
    raw: &'a RawPlaybook,
    hosts: Option<&'a [String]>,
    source: &'a SourceFile,
    errors: Vec<CompileError>,
    reader: TemplateReader,
    ids: HashMap<&'a str, usize>,
    /// `None` when the graph has a cycle: dependency checks would only add noise then.
    ancestry: Option<Ancestry>,
    /// Step ids for "did you mean", indexed on the first unknown one.
    step_ids: std::cell::OnceCell<Suggester<'a>>,
    _action: std::marker::PhantomData<A>,
}

impl<'a, A: Action> Compiler<'a, A> {
    fn new(
        raw: &'a RawPlaybook,
        hosts: Option<&'a [String]>,
        source: &'a SourceFile,
        ids: HashMap<&'a str, usize>,
        ancestry: Option<Ancestry>,
    ) -> Self {
        Self {
            raw,
            hosts,
            source,
            errors: Vec::new(),
            reader: TemplateReader::new(),
            ids,
            ancestry,
            step_ids: std::cell::OnceCell::new(),
            _action: std::marker::PhantomData,
        }
    }
}
