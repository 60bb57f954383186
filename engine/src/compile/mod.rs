//! Stage 2, compile: [`RawPlaybook`] -> [`Playbook`], a petgraph DAG of typed steps.
//!
//! Resolves `needs`, rejects cycles, parses every action into its typed params, expands
//! `for_each`, and reads every template to check what it refers to. All problems are collected
//! before failing so one `validate` run shows them all.

mod error;
mod graph;
mod inputs;
mod model;
pub mod schedule;
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
    let mut compiler = Compiler::<A> {
        raw,
        source,
        errors,
        reader: TemplateReader::new(),
        ids: HashMap::new(),
        ancestry: None,
        step_ids: std::cell::OnceCell::new(),
        literal: std::cell::OnceCell::new(),
        _action: std::marker::PhantomData,
    };
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
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (index, step) in raw.steps.iter().enumerate() {
        steps.push(compiler.step(index, step, &input_values));
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
    Ok(assemble(raw, input_values, steps, &needs, on_failure))
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
    source: &'a SourceFile,
    errors: Vec<CompileError>,
    reader: TemplateReader,
    ids: HashMap<&'a str, usize>,
    /// `None` when the graph has a cycle: dependency checks would only add noise then.
    ancestry: Option<Ancestry>,
    /// Step ids for "did you mean", indexed on the first unknown one.
    step_ids: std::cell::OnceCell<Suggester<'a>>,
    /// Params taken as written when the step runs (see `reference::literal_params`).
    literal: std::cell::OnceCell<Vec<(&'static str, String)>>,
    _action: std::marker::PhantomData<A>,
}

impl<'a, A: Action> Compiler<'a, A> {
    fn check_ids(&mut self) {
        for (index, step) in self.raw.steps.iter().enumerate() {
            match self.ids.get(step.id.value.as_str()) {
                Some(&first) => self.errors.push(CompileError::DuplicateId {
                    id: step.id.value.clone(),
                    first: self.raw.steps[first].id.span,
                    span: step.id.span,
                }),
                None => {
                    self.ids.insert(&step.id.value, index);
                }
            }
        }
    }

    /// For each step, the indices of the steps it needs and where each is written.
    fn resolve_needs(&mut self) -> Vec<Vec<(usize, usize)>> {
        let mut all = Vec::with_capacity(self.raw.steps.len());
        for step in &self.raw.steps {
            let mut needs = Vec::with_capacity(step.needs.len());
            for (position, need) in step.needs.iter().enumerate() {
                match self.ids.get(need.value.as_str()) {
                    Some(&index) => needs.push((index, position)),
                    None => self.errors.push(CompileError::UnknownNeed {
                        step: step.id.value.clone(),
                        need: need.value.clone(),
                        hint: self
                            .suggest_step(&need.value)
                            .map(|best| format!("did you mean `{best}`?")),
                        span: need.span,
                    }),
                }
            }
            all.push(needs);
        }
        all
    }

    /// The steps that bound the RTO clock exist; `data_as_of` reads what a run leaves.
    fn check_objectives(&mut self, objectives: &Spanned<Objectives>) {
        let o = &objectives.value;
        for name in [&o.measure_from, &o.measure_to].into_iter().flatten() {
            if !self.raw.steps.iter().any(|s| &s.id.value == name) {
                self.errors.push(CompileError::Undeclared {
                    what: "step",
                    name: name.clone(),
                    hint: match self.suggest_step(name) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => {
                            "`measure_from` and `measure_to` name steps of this playbook".into()
                        }
                    },
                    span: objectives.span,
                });
            }
        }
        if let Some(text) = &o.data_as_of {
            self.check_text(text, objectives.span, false, &Scope::after_run());
        }
    }

    /// Vars, objectives, webhooks, lock and schedule: evaluated before any step runs.
    fn check_playbook_templates(&mut self) {
        let raw = self.raw;
        for var in &raw.vars {
            let mut path = Vec::new();
            var.value.walk_strings(&mut path, &mut |_, node, text| {
                if is_template(text) {
                    let scope = Scope {
                        steps: StepAccess::NoSteps,
                        item: false,
                        printed_in: Some(format!(
                            "var `{}` (vars are shown in plans)",
                            var.name.value
                        )),
                    };
                    self.check_text(text, node.span, false, &scope);
                }
            });
        }
        if let Some(objectives) = &raw.objectives {
            self.check_objectives(objectives);
        }
        if let Some(notify) = &raw.notify {
            // Webhooks are rendered when the run starts: inputs, vars and secrets only.
            let scope = Scope {
                steps: StepAccess::NoSteps,
                item: false,
                printed_in: None,
            };
            for spec in &notify.value {
                self.check_text(&spec.webhook, notify.span, false, &scope);
            }
        }
        if let Some(lock) = &raw.lock {
            let scope = Scope {
                steps: StepAccess::NoSteps,
                item: false,
                printed_in: Some("the lock key".into()),
            };
            self.check_text(&lock.value, lock.span, false, &scope);
        }
        let several = raw.schedules.len() > 1;
        let mut names = std::collections::HashSet::new();
        for schedule in &raw.schedules {
            // Several schedules are told apart by name, in logs, metrics and state.
            match &schedule.value.name {
                None if several => self.errors.push(CompileError::Schedule {
                    message: format!(
                        "one of {} schedules has no `name`",
                        raw.schedules.len()
                    ),
                    hint: Some(
                        "name each, e.g. `name: weekly-vacuum`: the daemon keeps what it fired per name"
                            .into(),
                    ),
                    span: schedule.span,
                }),
                Some(name) if !names.insert(name.clone()) => {
                    self.errors.push(CompileError::Schedule {
                        message: format!("two schedules are named `{name}`"),
                        hint: Some("give each schedule its own name".into()),
                        span: schedule.span,
                    })
                }
                _ => {}
            }
            if let Err((message, hint)) =
                schedule::check(&schedule.value.cron, &schedule.value.timezone)
            {
                self.errors.push(CompileError::Schedule {
                    message,
                    hint,
                    span: schedule.span,
                });
            }
            for name in schedule.value.inputs.keys() {
                if !raw.inputs.iter().any(|i| &i.name.value == name) {
                    self.errors.push(CompileError::Undeclared {
                        what: "input",
                        name: name.clone(),
                        hint: self.declared_hint(name, Root::Inputs),
                        span: schedule.span,
                    });
                }
            }
        }
    }

    fn step(
        &mut self,
        index: usize,
        step: &RawStep,
        input_values: &Map<String, Value>,
    ) -> Option<CompiledGroup<A>> {
        let item = step.for_each.is_some();
        let own = |printed: Option<String>| Scope {
            steps: StepAccess::Ancestors {
                step: index,
                itself: false,
            },
            item,
            printed_in: printed,
        };
        if let Some(name) = &step.name {
            self.check_text(
                &name.value,
                name.span,
                false,
                &own(Some("a step name".into())),
            );
        }
        if let Some(when) = &step.when {
            let expression = !is_template(&when.value);
            self.check_text(
                &when.value,
                when.span,
                expression,
                &own(Some("a `when` condition".into())),
            );
        }
        let items = step
            .for_each
            .as_ref()
            .and_then(|node| self.for_each(node, input_values));
        if step.for_each.is_none()
            && let Some(serial) = &step.serial
        {
            self.errors.push(CompileError::ForEach {
                message: "`serial` only applies to steps with `for_each`".into(),
                hint: Some("add `for_each: [...]` or remove `serial`".into()),
                span: serial.span,
            });
        }

        let action = step.action.as_ref().and_then(|raw| {
            self.action_templates(raw, &own(None));
            self.parse_action(raw)
        });
        self.check_shown_outputs(index, step);
        let mut requires = Vec::new();
        for raw in &step.requires {
            self.action_templates(raw, &own(None));
            if let Some(spec) = self.action_spec(raw) {
                if spec.action.effect() == Effect::Mutating {
                    self.errors.push(CompileError::MutatingPrecondition {
                        verb: raw.verb.value.clone(),
                        span: raw.verb.span,
                    });
                }
                requires.push(spec);
            }
        }
        let mut rollback = Vec::new();
        for raw in &step.rollback {
            let scope = Scope {
                steps: StepAccess::Ancestors {
                    step: index,
                    itself: true,
                },
                item,
                printed_in: None,
            };
            self.action_templates(raw, &scope);
            rollback.extend(self.action_spec(raw));
        }
        Some(CompiledGroup {
            items: if step.for_each.is_some() {
                Some(items?)
            } else {
                None
            },
            serial: step.serial.as_ref().map(|s| s.value.0),
            action: action?,
            requires,
            rollback,
        })
    }

    /// The items of a `for_each`: a literal list, or one template over inputs and vars.
    fn for_each(
        &mut self,
        node: &YamlNode,
        input_values: &Map<String, Value>,
    ) -> Option<Vec<Value>> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items.iter().map(YamlNode::to_json).collect(),
            NodeKind::Str(text) if is_template(text) => {
                let scope = Scope {
                    steps: StepAccess::NoSteps,
                    item: false,
                    printed_in: Some("`for_each` (items name the steps)".into()),
                };
                if !self.check_text(text, node.span, false, &scope) {
                    return None;
                }
                self.evaluate_items(text, node.span, input_values)?
            }
            _ => {
                self.errors.push(CompileError::ForEach {
                    message: format!("`for_each` must be a list, found {}", node.kind.describe()),
                    hint: Some(
                        "write `for_each: [api, web]` or `for_each: \"{{ inputs.services }}\"`"
                            .into(),
                    ),
                    span: node.span,
                });
                return None;
            }
        };
        if items.is_empty() {
            let (message, hint) = match &node.kind {
                // The list came from an input: the value given is the mistake, not this line.
                NodeKind::Str(text) => (
                    format!("`for_each: {}` has no items", text.trim()),
                    "the value given (by --input or the environment file) is an empty list; a step over nothing never runs: give it items, or skip the step with `when`",
                ),
                _ => (
                    "`for_each` has no items".to_string(),
                    "a step over nothing never runs; remove it or give it items",
                ),
            };
            self.errors.push(CompileError::ForEach {
                message,
                hint: Some(hint.into()),
                span: node.span,
            });
            return None;
        }
        Some(items)
    }

    fn evaluate_items(
        &mut self,
        text: &str,
        span: Span,
        input_values: &Map<String, Value>,
    ) -> Option<Vec<Value>> {
        let inner = text
            .trim()
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"));
        let Some(expression) = inner else {
            self.errors.push(CompileError::ForEach {
                message: "`for_each` must be a single `{{ ... }}` expression giving a list".into(),
                hint: Some("e.g. `for_each: \"{{ inputs.services }}\"`".into()),
                span,
            });
            return None;
        };
        let vars: Map<String, Value> = self
            .raw
            .vars
            .iter()
            .map(|v| (v.name.value.clone(), v.value.to_json()))
            .collect();
        // Lenient here: an input `validate` was not given is undefined, and its items unknown.
        let mut env = crate::template::environment();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        let result = crate::template::eval(
            &env,
            expression,
            &minijinja::context! {
                inputs => minijinja::Value::from(minijinja::value::Serde(input_values)),
                vars => minijinja::Value::from(minijinja::value::Serde(&vars)),
            },
        );
        match result.map(|v| (v.is_undefined(), serde_json::to_value(&v))) {
            // An input not given to `validate`: the items are unknown until run time.
            Ok((true, _)) => Some(vec![Value::String(format!("⟨{}⟩", expression.trim()))]),
            Ok((false, Ok(Value::Array(items)))) => Some(items),
            Ok((false, other)) => {
                self.errors.push(CompileError::ForEach {
                    message: format!(
                        "`for_each` must give a list, got {}",
                        other.map_or_else(|e| e.to_string(), |v| v.to_string())
                    ),
                    hint: Some("list inputs are declared with `type: list`".into()),
                    span,
                });
                None
            }
            Err(e) => {
                self.errors.push(CompileError::ForEach {
                    message: format!(
                        "cannot evaluate `for_each`: {}",
                        e.detail().unwrap_or("error")
                    ),
                    hint: None,
                    span,
                });
                None
            }
        }
    }

    /// `shell.run: "script"` / `shell.run: [argv...]`: the mapping a bare value stands for.
    fn expand_shorthand(verb: &str, params: &YamlNode) -> Option<YamlNode> {
        let shorthand = A::info(verb)?.shorthand;
        let key = match &params.kind {
            NodeKind::Str(_) => shorthand.string?,
            NodeKind::Seq(_) => shorthand.list?,
            _ => return None,
        };
        Some(YamlNode {
            kind: NodeKind::Map(vec![(
                Spanned::new(key.to_string(), params.span),
                params.clone(),
            )]),
            span: params.span,
        })
    }

    fn parse_action(&mut self, raw: &RawAction) -> Option<A> {
        let verb = &raw.verb.value;
        if A::info(verb).is_none() {
            let names: Vec<&str> = A::catalog().iter().map(|v| v.name).collect();
            let family = verb.split('.').next().unwrap_or_default();
            let siblings: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| n.starts_with(&format!("{family}.")))
                .collect();
            let hint = match did_you_mean(verb, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if !siblings.is_empty() => known_names_hint(verb, &siblings, "verbs"),
                None => {
                    let mut families: Vec<&str> =
                        names.iter().filter_map(|n| n.split('.').next()).collect();
                    families.dedup();
                    format!(
                        "actions are `<family>.<verb>`; families: {}",
                        families.join(", ")
                    )
                }
            };
            self.errors.push(CompileError::UnknownVerb {
                verb: verb.clone(),
                hint,
                span: raw.verb.span,
            });
            return None;
        }
        let params = Self::expand_shorthand(verb, &raw.params);
        match from_entry::<A>(&raw.verb, params.as_ref().unwrap_or(&raw.params)) {
            Ok(action) => match action.validate() {
                Ok(()) => Some(action),
                Err(message) => {
                    self.errors.push(CompileError::InvalidParams {
                        verb: verb.clone(),
                        message,
                        hint: None,
                        span: raw.params.span,
                    });
                    None
                }
            },
            Err(e) => {
                let hint = e.hint.or_else(|| whole_list_hint(verb, &e.message));
                self.errors.push(CompileError::InvalidParams {
                    verb: verb.clone(),
                    message: e.message,
                    hint,
                    span: e.span.unwrap_or(raw.params.span),
                });
                None
            }
        }
    }

    fn action_spec(&mut self, raw: &RawAction) -> Option<ActionSpec<A>> {
        Some(ActionSpec {
            action: self.parse_action(raw)?,
            name: raw.name.as_ref().map(|n| n.value.clone()),
            when: raw.when.as_ref().map(|w| w.value.clone()),
            timeout: raw.timeout,
            retry: raw.retry.clone(),
            span: raw.verb.span,
        })
    }

    /// Check every template in an action's params; printed params may not hold secrets, nor
    /// may its `name` (a rollback's or handler's name is printed as a step's is).
    fn action_templates(&mut self, raw: &RawAction, scope: &Scope) {
        if let Some(name) = &raw.name {
            let printed = Scope {
                steps: scope.steps,
                item: scope.item,
                printed_in: Some("a step name".into()),
            };
            self.check_text(&name.value, name.span, false, &printed);
        }
        if let Some(when) = &raw.when {
            let condition = Scope {
                steps: scope.steps,
                item: scope.item,
                printed_in: None,
            };
            self.check_text(&when.value, when.span, true, &condition);
        }
        let printed = A::info(&raw.verb.value).map_or(&[][..], |v| v.printed);
        let mut path = Vec::new();
        // A shorthand (`shell.run: "script"`) is checked as the mapping it stands for, so a
        // secret in it is refused as in `script:`.
        let expanded = Self::expand_shorthand(&raw.verb.value, &raw.params);
        let params = expanded.as_ref().unwrap_or(&raw.params);
        let mut literal = Vec::new();
        params.walk_strings(&mut path, &mut |path, node, text| {
            if !is_template(text) {
                return;
            }
            let field = path.first().map(String::as_str).unwrap_or_default();
            let at = literal_path(path);
            if self
                .literal_params()
                .iter()
                .any(|(verb, p)| *verb == raw.verb.value && *p == at)
            {
                literal.push((at, node.span));
                return;
            }
            let scope = Scope {
                steps: scope.steps,
                item: scope.item,
                printed_in: printed
                    .contains(&field)
                    .then(|| format!("`{}.{field}`, which is printed", raw.verb.value)),
            };
            self.check_text(text, node.span, false, &scope);
        });
        for (at, span) in literal {
            self.errors.push(CompileError::InvalidParams {
                verb: raw.verb.value.clone(),
                message: format!(
                    "`{at}` is taken as written when the step runs: a template there would be planned rendered and run as written"
                ),
                hint: Some(format!(
                    "write the value itself; `runbook verbs {}` shows which params take templates",
                    raw.verb.value
                )),
                span,
            });
        }
    }

    /// The params every verb takes as written (computed from the schema on first use).
    fn literal_params(&self) -> &[(&'static str, String)] {
        self.literal
            .get_or_init(crate::reference::literal_params::<A>)
    }

    /// Check one template (or bare expression); returns false if it has problems.
    fn check_text(&mut self, text: &str, span: Span, expression: bool, scope: &Scope) -> bool {
        let result = if expression {
            self.reader.expression(text)
        } else {
            self.reader.template(text)
        };
        let refs = match result {
            Ok(refs) => refs,
            Err(TemplateError::Syntax { message, range }) => {
                let span = range.map_or(span, |r| self.locate(span, text, r));
                self.errors.push(CompileError::TemplateSyntax {
                    message,
                    span,
                    hint: syntax_hint(text),
                });
                return false;
            }
            Err(TemplateError::Limit(message)) => {
                self.errors
                    .push(CompileError::TemplateLimit { message, span });
                return false;
            }
            Err(TemplateError::UnknownVariable { name, range }) => {
                let span = range.map_or(span, |r| self.locate(span, text, r));
                self.errors.push(CompileError::Undeclared {
                    what: "variable",
                    hint: match did_you_mean(&name, Root::NAMES.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "templates can read inputs, vars, secrets, steps, item (in `for_each` steps) and run"
                            .into(),
                    },
                    name,
                    span,
                });
                return false;
            }
        };
        let before = self.errors.len();
        for reference in refs {
            let at = self.locate(span, text, reference.range.clone());
            self.check_reference(&reference, at, scope);
        }
        self.errors.len() == before
    }

    fn check_reference(&mut self, reference: &Reference, span: Span, scope: &Scope) {
        let Some(name) = reference.name.as_deref() else {
            if reference.root == Root::Item && !scope.item {
                self.errors.push(CompileError::Undeclared {
                    what: "variable",
                    name: "item".into(),
                    hint: "`item` exists only in steps with `for_each`".into(),
                    span,
                });
            }
            return;
        };
        let raw = self.raw;
        match reference.root {
            Root::Inputs if !raw.inputs.iter().any(|i| i.name.value == name) => {
                self.undeclared("input", name, Root::Inputs, span)
            }
            Root::Vars if !raw.vars.iter().any(|v| v.name.value == name) => {
                self.undeclared("var", name, Root::Vars, span)
            }
            Root::Secrets if !raw.secrets.iter().any(|s| s.name.value == name) => {
                self.undeclared("secret", name, Root::Secrets, span)
            }
            Root::Secrets => {
                if let Some(place) = &scope.printed_in {
                    self.errors.push(CompileError::SecretPrinted {
                        secret: name.to_string(),
                        place: place.clone(),
                        span,
                    });
                }
            }
            Root::Steps => {
                self.check_step_reference(name, reference.member.as_deref(), span, scope)
            }
            Root::Item if !scope.item => self.errors.push(CompileError::Undeclared {
                what: "variable",
                name: "item".into(),
                hint: "`item` exists only in steps with `for_each`".into(),
                span,
            }),
            Root::Inputs | Root::Vars | Root::Item | Root::Run => {}
        }
    }

    fn check_step_reference(
        &mut self,
        name: &str,
        member: Option<&str>,
        span: Span,
        scope: &Scope,
    ) {
        let Some(&target) = self.ids.get(name) else {
            self.undeclared("step", name, Root::Steps, span);
            return;
        };
        let allowed = match scope.steps {
            StepAccess::NoSteps => false,
            StepAccess::Any => true,
            StepAccess::Ancestors { step, itself } => {
                (itself && step == target)
                    || self
                        .ancestry
                        .as_mut()
                        .is_none_or(|ancestry| ancestry.depends_on(step, target))
            }
        };
        if !allowed {
            let step = match scope.steps {
                StepAccess::Ancestors { step, .. } => self.raw.steps[step].id.value.clone(),
                StepAccess::NoSteps | StepAccess::Any => {
                    "(none; this is read before any step runs)".into()
                }
            };
            self.errors.push(CompileError::NotAncestor {
                step,
                referenced: name.to_string(),
                span,
            });
            return;
        }
        let Some(member) = member else { return };
        let Some(verb) = self.raw.steps[target]
            .action
            .as_ref()
            .map(|a| a.verb.value.as_str())
        else {
            return;
        };
        let Some(info) = A::info(verb) else { return };
        if !info.outputs.contains(&member) && !COMMON_OUTPUTS.contains(&member) {
            let known: Vec<&str> = info.outputs.iter().chain(COMMON_OUTPUTS).copied().collect();
            self.errors.push(CompileError::UnknownOutput {
                referenced: name.to_string(),
                verb: verb.to_string(),
                output: member.to_string(),
                hint: known_names_hint(member, &known, "outputs"),
                span,
            });
        }
    }

    /// `show:` and `sensitive:` name outputs the step's verb has; a `show` template may read
    /// the step's own outputs (it is rendered after the step) and never a secret.
    fn check_shown_outputs(&mut self, index: usize, step: &RawStep) {
        let verb = step.action.as_ref().map(|a| a.verb.value.as_str());
        let Some(info) = verb.and_then(A::info) else {
            return;
        };
        let mut named: Vec<&Spanned<String>> = step.sensitive.iter().collect();
        match &step.show {
            Some(show) if is_template(&show.value) => {
                let scope = Scope {
                    steps: StepAccess::Ancestors {
                        step: index,
                        itself: true,
                    },
                    item: step.for_each.is_some(),
                    printed_in: Some("`show`, which is printed".into()),
                };
                self.check_text(&show.value, show.span, false, &scope);
            }
            Some(show) => named.push(show),
            None => {}
        }
        for output in named {
            let name = output.value.trim();
            if !info.outputs.contains(&name) && !COMMON_OUTPUTS.contains(&name) {
                let known: Vec<&str> = info.outputs.iter().chain(COMMON_OUTPUTS).copied().collect();
                self.errors.push(CompileError::UnknownOutput {
                    referenced: step.id.value.clone(),
                    verb: info.name.to_string(),
                    output: name.to_string(),
                    hint: known_names_hint(name, &known, "outputs"),
                    span: output.span,
                });
            }
        }
    }

    fn undeclared(&mut self, what: &'static str, name: &str, root: Root, span: Span) {
        // Declared, with a spec the loader could not read and has already reported.
        if root != Root::Steps && self.raw.unreadable.iter().any(|n| n == name) {
            return;
        }
        let hint = self.declared_hint(name, root);
        self.errors.push(CompileError::Undeclared {
            what,
            name: name.to_string(),
            hint,
            span,
        });
    }

    /// The step id closest to a misspelled one.
    fn suggest_step(&self, given: &str) -> Option<&'a str> {
        let raw = self.raw;
        self.step_ids
            .get_or_init(|| Suggester::new(raw.steps.iter().map(|s| s.id.value.as_str())))
            .suggest(given)
    }

    fn declared_hint(&self, name: &str, root: Root) -> String {
        let raw = self.raw;
        if root == Root::Steps {
            return match self.suggest_step(name) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "no step has this id".to_string(),
            };
        }
        let (names, section): (Vec<&str>, &str) = match root {
            Root::Inputs => (
                raw.inputs.iter().map(|i| i.name.value.as_str()).collect(),
                "inputs",
            ),
            Root::Vars => (
                raw.vars.iter().map(|v| v.name.value.as_str()).collect(),
                "vars",
            ),
            Root::Secrets => (
                raw.secrets.iter().map(|s| s.name.value.as_str()).collect(),
                "secrets",
            ),
            Root::Steps | Root::Item | Root::Run => (
                raw.steps.iter().map(|s| s.id.value.as_str()).collect(),
                "steps",
            ),
        };
        match did_you_mean(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("declare it under `{section}:`"),
        }
    }

    /// The span of `range` (a piece of `text`) in the file, when the text is written there
    /// as is; otherwise (escapes, folded scalars) the whole value.
    fn locate(&self, value_span: Span, text: &str, range: std::ops::Range<usize>) -> Span {
        // minijinja's ranges may fall inside a multi-byte character (`{{ ‘quoted’ }}`).
        let range = crate::source::char_range(text, range);
        let needle = &text[range.clone()];
        let window_end = (value_span.start + text.len() * 2 + 16).min(self.source.text.len());
        let window = self
            .source
            .text
            .get(value_span.start..window_end)
            .unwrap_or("");
        // Prefer the occurrence at the same offset as in the value (after an opening quote).
        let found = [range.start, range.start + 1]
            .into_iter()
            .find(|&offset| window.get(offset..offset + needle.len()) == Some(needle))
            .or_else(|| {
                if needle.is_empty() {
                    None
                } else {
                    window.find(needle)
                }
            });
        match found {
            Some(offset) => Span::new(
                value_span.start + offset,
                value_span.start + offset + needle.len().max(1),
            ),
            None => value_span,
        }
    }
}

/// Build the graph of expanded steps and their compensations, and group steps into stages.
fn assemble<A: Action>(
    raw: &RawPlaybook,
    input_values: Map<String, Value>,
    groups: Vec<CompiledGroup<A>>,
    needs: &[Vec<(usize, usize)>],
    on_failure: Vec<ActionSpec<A>>,
) -> Playbook<A> {
    let mut graph: DiGraph<Node<A>, Edge> = DiGraph::new();
    let mut nodes_of: Vec<Vec<NodeIndex>> = Vec::with_capacity(groups.len());
    let mut steps = Vec::new();
    for (raw_step, group) in raw.steps.iter().zip(&groups) {
        let items: Vec<Option<Value>> = match &group.items {
            Some(items) => items.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        let labels = item_labels(&items);
        let mut nodes = Vec::with_capacity(items.len());
        for (item, label) in items.into_iter().zip(labels) {
            let id = match label {
                Some(label) => format!("{}[{label}]", raw_step.id.value),
                None => raw_step.id.value.clone(),
            };
            let effect = group.action.effect();
            let index = graph.add_node(Node::Step(Step {
                id,
                origin: raw_step.id.value.clone(),
                item,
                name: raw_step.name.as_ref().map(|n| n.value.clone()),
                action: group.action.clone(),
                when: raw_step.when.as_ref().map(|w| w.value.clone()),
                requires: group.requires.clone(),
                timeout: raw_step.timeout.or(raw.defaults.timeout),
                timeout_inherited: raw_step.timeout.is_none() && raw.defaults.timeout.is_some(),
                retry: raw_step
                    .retry
                    .clone()
                    .or_else(|| raw.defaults.retry.clone()),
                idempotent: raw_step.idempotent.unwrap_or(effect == Effect::ReadOnly),
                continue_on_error: raw_step.continue_on_error,
                show: raw_step.show.as_ref().map(|s| {
                    if is_template(&s.value) {
                        Show::Template(s.value.clone())
                    } else {
                        Show::Output(s.value.trim().to_string())
                    }
                }),
                sensitive: raw_step.sensitive.iter().map(|s| s.value.clone()).collect(),
                severity: raw_step.severity,
                stage: 0,
                span: raw_step.span,
            }));
            nodes.push(index);
            steps.push(index);
        }
        if let Some(batch) = group.serial {
            // `serial: N`: each batch of N items waits for the whole previous batch.
            let batches: Vec<&[NodeIndex]> = nodes.chunks(batch).collect();
            for pair in batches.windows(2) {
                for &before in pair[0] {
                    for &after in pair[1] {
                        graph.add_edge(before, after, Edge::Needs);
                    }
                }
            }
        }
        nodes_of.push(nodes);
    }
    for (step, step_needs) in needs.iter().enumerate() {
        for &(need, _) in step_needs {
            for &before in &nodes_of[need] {
                for &after in &nodes_of[step] {
                    graph.add_edge(before, after, Edge::Needs);
                }
            }
        }
    }

    let order =
        petgraph::algo::toposort(&graph, None).expect("cycles were rejected before assembling");
    let mut stage_of = vec![0usize; graph.node_count()];
    for &index in &order {
        let stage = graph
            .neighbors_directed(index, petgraph::Direction::Incoming)
            .map(|pred| stage_of[pred.index()] + 1)
            .max()
            .unwrap_or(0);
        stage_of[index.index()] = stage;
    }
    let stage_count = stage_of.iter().copied().max().map_or(0, |m| m + 1);
    let mut stages = vec![Vec::new(); if steps.is_empty() { 0 } else { stage_count }];
    for &index in &steps {
        let stage = stage_of[index.index()];
        if let Node::Step(step) = &mut graph[index] {
            step.stage = stage;
        }
        stages[stage].push(index);
    }

    for (group, nodes) in groups.iter().zip(&nodes_of) {
        for &index in nodes {
            let (step, item) = match &graph[index] {
                Node::Step(s) => (s.id.clone(), s.item.clone()),
                Node::Compensation(_) => unreachable!("only steps were added so far"),
            };
            for spec in &group.rollback {
                let comp = graph.add_node(Node::Compensation(Compensation {
                    step: step.clone(),
                    item: item.clone(),
                    spec: spec.clone(),
                }));
                graph.add_edge(index, comp, Edge::Rollback);
            }
        }
    }

    Playbook {
        name: raw.name.value.clone(),
        description: raw.description.clone(),
        inputs: raw
            .inputs
            .iter()
            .map(|i| (i.name.value.clone(), i.value.clone()))
            .collect(),
        input_values,
        secrets: raw
            .secrets
            .iter()
            .map(|s| (s.name.value.clone(), s.value.clone()))
            .collect(),
        vars: raw
            .vars
            .iter()
            .map(|v| (v.name.value.clone(), v.value.to_json()))
            .collect(),
        objectives: raw.objectives.as_ref().map(|o| o.value.clone()),
        notify: raw
            .notify
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_default(),
        lock: raw.lock.as_ref().map(|l| l.value.clone()),
        schedules: raw.schedules.iter().map(|s| s.value.clone()).collect(),
        default_timeout: raw.defaults.timeout,
        default_retry: raw.defaults.retry.clone(),
        graph,
        steps,
        stages,
        on_failure,
    }
}

/// `restart[api]` when items are distinct words or numbers, `restart[0]` otherwise.
fn item_labels(items: &[Option<Value>]) -> Vec<Option<String>> {
    let words: Vec<Option<String>> = items
        .iter()
        .map(|item| match item {
            Some(Value::String(s)) if !s.is_empty() && !s.contains([']', '[']) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let distinct = words.iter().all(Option::is_some)
        && words.iter().collect::<std::collections::HashSet<_>>().len() == words.len();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            None => None,
            Some(_) if distinct => words[i].clone(),
            Some(_) => Some(i.to_string()),
        })
        .collect()
}

/// A hint for the template mistakes that are not a typo of syntax: characters pasted from a
/// document or a non-ASCII name.
fn syntax_hint(text: &str) -> Option<String> {
    use std::ops::Not;
    if text.contains(['‘', '’', '“', '”']) {
        return Some(
            "typographic quotes (‘ ’ “ ”), pasted from a document, are not quotes in templates: type ' or \""
                .into(),
        );
    }
    templates::code_is_ascii(text).not().then(|| {
        "names in templates are ASCII letters, digits and `_`; other text goes in quotes: `{{ 'café' }}`"
            .into()
    })
}

/// A list param given one template (`argv: "{{ inputs.cmd }}"`): which params take a whole
/// list from one template, and what to write instead.
fn whole_list_hint(verb: &str, message: &str) -> Option<String> {
    let template = message
        .strip_prefix("expected a sequence, found the string \"")?
        .strip_suffix('"')?;
    if !is_template(template) {
        return None;
    }
    let instead = if verb == "shell.run" {
        format!(" here, write the command line as a script: `script: \"{template}\"`")
    } else {
        " here, write the list in YAML, one template per item: `[\"{{ item }}\", ...]`".to_string()
    };
    Some(format!(
        "a whole list from one template is taken only by docker's `services` and `docker.exec`'s `command`;{instead}"
    ))
}

/// A param's path as `literal_params` writes it: `expect.stdout`, list items as `tables[]`.
fn literal_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str("[]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}
