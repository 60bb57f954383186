//! The plan as data: what every format renders.

use serde::Serialize;
use serde_json::Value;

use super::values::PlanRenderer;
use crate::action::{Action, Effect};
use crate::compile::{ActionSpec, Playbook, Step};
use crate::load::{Backoff, Retry};
use crate::parallel::in_halves;
use crate::params::Duration;

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub playbook: String,
    pub description: Option<String>,
    pub inputs: Vec<InputView>,
    pub secrets: Vec<SecretView>,
    pub objectives: Option<ObjectivesView>,
    pub lock: Option<String>,
    pub schedules: Vec<ScheduleView>,
    /// Step ids per stage; the steps of one stage may run in parallel.
    pub stages: Vec<Vec<String>>,
    pub steps: Vec<StepView>,
    pub on_failure: Vec<ActionView>,
}

#[derive(Debug, Serialize)]
pub struct InputView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Value,
    pub value: Option<Value>,
    /// `given`, `default`, or `missing` (only `validate` allows that).
    pub source: &'static str,
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SecretView {
    pub name: String,
    /// Where the value comes from at run time (`env DB_PASSWORD`); never the value.
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct ObjectivesView {
    pub rto: Option<String>,
    pub rpo: Option<String>,
    /// How they are measured, in words.
    pub measured: String,
}

#[derive(Debug, Serialize)]
pub struct ScheduleView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub cron: String,
    pub timezone: String,
    pub overlap: Value,
}

impl ScheduleView {
    /// `weekly-vacuum: 0 3 * * 0` for a named schedule, `0 3 * * 0` otherwise: how plans
    /// name it (`cron` in code quotes when `code`).
    pub fn shown(&self, code: bool) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| format!("{n}: "))
            .unwrap_or_default();
        let cron = if code {
            format!("`{}`", self.cron)
        } else {
            self.cron.clone()
        };
        format!("{name}{cron} ({})", self.timezone)
    }
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub name: Option<String>,
    pub stage: usize,
    pub action: ActionView,
    pub needs: Vec<String>,
    pub when: Option<String>,
    /// The host it runs on (its `host:`, rendered where inputs and `item` say); none: the
    /// machine runbook runs on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub requires: Vec<ActionView>,
    pub rollback: Vec<ActionView>,
    pub idempotent: bool,
    pub continue_on_error: bool,
    pub item: Option<Value>,
}

#[derive(Debug, Serialize)]
pub struct ActionView {
    pub verb: String,
    pub summary: String,
    pub effect: Effect,
    /// Why no rollback can undo this change (data deleted, a cache flushed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irreversible: Option<String>,
    pub name: Option<String>,
    /// The condition of a side action (`requires`, `rollback`, `on_failure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub params: Value,
    pub timeout: Option<String>,
    /// True when the timeout is the playbook's default rather than the step's own.
    pub timeout_is_default: bool,
    pub retry: Option<String>,
}

impl PlanView {
    /// The steps of each stage, in the order they were declared: one pass over the steps, so
    /// rendering a plan stays linear (filtering all steps once per stage made a 10,000-step
    /// chain, which has 10,000 stages, cost 10^8 comparisons).
    pub fn steps_by_stage(&self) -> Vec<Vec<&StepView>> {
        let mut stages: Vec<Vec<&StepView>> = vec![Vec::new(); self.stages.len()];
        for step in &self.steps {
            // `stage` counts from 1.
            if let Some(stage) = step.stage.checked_sub(1).and_then(|i| stages.get_mut(i)) {
                stage.push(step);
            }
        }
        stages
    }

    /// `needs` as (index of the needed step, index of the step that waits), in step order:
    /// what every graph rendering draws.
    pub fn need_edges(&self) -> Vec<(usize, usize)> {
        let index: std::collections::HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        self.steps
            .iter()
            .enumerate()
            .flat_map(|(i, step)| step.needs.iter().map(move |need| (need.as_str(), i)))
            .map(|(need, i)| (index[need], i))
            .collect()
    }

    pub fn new<A: Action>(playbook: &Playbook<A>) -> Self {
        let declared: Vec<String> = playbook.inputs.iter().map(|(n, _)| n.clone()).collect();
        let secret_names: Vec<String> = playbook.secrets.iter().map(|(n, _)| n.clone()).collect();
        let new_renderer = || {
            PlanRenderer::new(
                &declared,
                &playbook.input_values,
                &playbook.vars,
                &secret_names,
            )
        };
        let renderer = new_renderer();
        let inputs = playbook
            .inputs
            .iter()
            .map(|(name, spec)| {
                let value = playbook.input_values.get(name).cloned();
                let source = match (&value, &spec.default) {
                    (None, _) => "missing",
                    (Some(v), Some(d)) if v == d => "default",
                    (Some(_), _) => "given",
                };
                InputView {
                    name: name.clone(),
                    kind: serde_json::to_value(spec.kind).unwrap_or_default(),
                    value,
                    source,
                    description: spec.description.clone(),
                }
            })
            .collect();
        let secrets = playbook
            .secrets
            .iter()
            .map(|(name, spec)| SecretView {
                name: name.clone(),
                source: match (&spec.env, &spec.file) {
                    (Some(env), _) => format!("env {env}"),
                    (None, Some(file)) => format!("file {file}"),
                    (None, None) => "none".into(),
                },
            })
            .collect();
        // The bulk of a large plan, in two halves at once: each with its own renderer, whose
        // cache only saves work, so the views are the same either way.
        let steps = in_halves(&playbook.steps, |_, half| {
            let renderer = new_renderer();
            half.iter()
                .map(|&index| step_view(playbook, index, &renderer))
                .collect()
        });
        Self {
            playbook: playbook.name.clone(),
            description: playbook.description.clone(),
            inputs,
            secrets,
            objectives: playbook.objectives.as_ref().map(|o| ObjectivesView {
                rto: o.rto.map(|d| d.to_string()),
                rpo: o.rpo.map(|d| d.to_string()),
                measured: format!(
                    "RTO from the start of {} to the end of {}; RPO {}",
                    o.measure_from
                        .as_ref()
                        .map_or("the run".into(), |s| format!("`{s}`")),
                    o.measure_to
                        .as_ref()
                        .map_or("the run".into(), |s| format!("`{s}`")),
                    // Shown as the plan shows every run-time value, never as raw template text.
                    o.data_as_of.as_ref().map_or(
                        "not measured (no `data_as_of`)".to_string(),
                        |d| format!(
                            "from the data's time, `{}`, to the start of the RTO clock",
                            renderer.text(d, None)
                        )
                    )
                ),
            }),
            lock: playbook.lock.as_ref().map(|l| renderer.text(l, None)),
            schedules: playbook
                .schedules
                .iter()
                .map(|s| ScheduleView {
                    name: s.name.clone(),
                    cron: s.cron.clone(),
                    timezone: s.timezone.clone(),
                    overlap: serde_json::to_value(s.overlap).unwrap_or_default(),
                })
                .collect(),
            stages: playbook
                .stages
                .iter()
                .map(|stage| stage.iter().map(|&i| playbook.step(i).id.clone()).collect())
                .collect(),
            steps,
            on_failure: playbook
                .on_failure
                .iter()
                .map(|spec| action_view(spec, None, &renderer))
                .collect(),
        }
    }
}

fn step_view<A: Action>(
    playbook: &Playbook<A>,
    index: petgraph::graph::NodeIndex,
    renderer: &PlanRenderer,
) -> StepView {
    let step: &Step<A> = playbook.step(index);
    let item = step.item.as_ref();
    StepView {
        id: step.id.clone(),
        name: step.name.as_ref().map(|n| renderer.text(n, item)),
        stage: step.stage + 1,
        action: ActionView {
            verb: step.action.verb().to_string(),
            summary: summary::<A>(step.action.verb()),
            effect: step.action.effect(),
            irreversible: step.action.irreversible().map(str::to_string),
            name: None,
            when: None,
            params: params(&step.action, item, renderer),
            timeout: step.timeout.map(|t| t.to_string()),
            timeout_is_default: step.timeout_inherited,
            retry: step.retry.as_ref().map(describe_retry),
        },
        needs: playbook
            .needs_of(index)
            .into_iter()
            .map(|s| s.id.clone())
            .collect(),
        when: step.when.clone(),
        // A host that renders to nothing is this machine (as the executor takes it).
        host: step
            .host
            .as_ref()
            .map(|h| renderer.text(h, item))
            .filter(|h| !h.trim().is_empty()),
        requires: step
            .requires
            .iter()
            .map(|r| action_view(r, item, renderer))
            .collect(),
        rollback: playbook
            .rollback_of(index)
            .into_iter()
            .map(|c| action_view(&c.spec, c.item.as_ref(), renderer))
            .collect(),
        idempotent: step.idempotent,
        continue_on_error: step.continue_on_error,
        item: step.item.clone(),
    }
}

fn action_view<A: Action>(
    spec: &ActionSpec<A>,
    item: Option<&Value>,
    renderer: &PlanRenderer,
) -> ActionView {
    ActionView {
        verb: spec.action.verb().to_string(),
        summary: summary::<A>(spec.action.verb()),
        effect: spec.action.effect(),
        irreversible: spec.action.irreversible().map(str::to_string),
        name: spec.name.as_ref().map(|n| renderer.text(n, item)),
        when: spec.when.clone(),
        params: params(&spec.action, item, renderer),
        timeout: spec.timeout.map(|t: Duration| t.to_string()),
        timeout_is_default: false,
        retry: spec.retry.as_ref().map(describe_retry),
    }
}

fn summary<A: Action>(verb: &str) -> String {
    A::info(verb)
        .map(|i| i.summary.to_string())
        .unwrap_or_default()
}

/// The action's params (without the `{verb: ...}` wrapper), rendered for the plan.
fn params<A: Action>(action: &A, item: Option<&Value>, renderer: &PlanRenderer) -> Value {
    let tagged = serde_json::to_value(action).expect("actions serialize");
    let inner = match tagged {
        Value::Object(map) => map
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Value::Null),
        other => other,
    };
    renderer.value(&inner, item)
}

pub fn describe_retry(retry: &Retry) -> String {
    let mut text = format!("{} attempts, {} apart", retry.attempts, retry.delay);
    if retry.backoff == Backoff::Exponential {
        text = format!("{} attempts, {} then doubling", retry.attempts, retry.delay);
        if let Some(max) = retry.max_delay {
            text.push_str(&format!(" up to {max}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, stage: usize) -> StepView {
        StepView {
            id: id.into(),
            name: None,
            stage,
            action: ActionView {
                verb: "assert.that".into(),
                summary: String::new(),
                effect: Effect::ReadOnly,
                irreversible: None,
                name: None,
                when: None,
                params: Value::Null,
                timeout: None,
                timeout_is_default: true,
                retry: None,
            },
            needs: vec![],
            when: None,
            host: None,
            requires: vec![],
            rollback: vec![],
            idempotent: false,
            continue_on_error: false,
            item: None,
        }
    }

    #[test]
    fn steps_are_grouped_by_stage_in_declared_order() {
        let view = PlanView {
            playbook: "p".into(),
            description: None,
            inputs: vec![],
            secrets: vec![],
            objectives: None,
            lock: None,
            schedules: vec![],
            stages: vec![vec!["a".into(), "c".into()], vec!["b".into(), "d".into()]],
            // Declared order interleaves the stages, as a playbook may.
            steps: vec![step("b", 2), step("a", 1), step("d", 2), step("c", 1)],
            on_failure: vec![],
        };
        let ids: Vec<Vec<&str>> = view
            .steps_by_stage()
            .iter()
            .map(|stage| stage.iter().map(|s| s.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [["a", "c"], ["b", "d"]]);
    }
}
