//! `runbook diff OLD NEW`: what a change to a playbook changes in its plan, for review. Both
//! sides are compiled and compared as plan views (so a moved line or a reformatted mapping is
//! no change, and a changed input default shows up in every param it reaches). Steps are
//! matched by id: added, removed, and for the others each changed field, with `needs` edges
//! and params compared key by key.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::text::inline;
use super::view::{PlanView, StepView};
use crate::action::Action;
use crate::compile::Playbook;

/// One changed field: where, what it was, what it becomes (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Default)]
pub struct PlanDiff {
    /// Playbook-level changes: inputs, objectives, lock, schedule, on_failure, description.
    pub playbook: Vec<Change>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<(String, Vec<Change>)>,
}

impl PlanDiff {
    pub fn new<A: Action>(old: &Playbook<A>, new: &Playbook<A>) -> Self {
        let (old, new) = (PlanView::new(old), PlanView::new(new));
        let mut diff = Self {
            playbook: changes(&top(&old), &top(&new)),
            ..Self::default()
        };
        let olds: BTreeMap<&str, &StepView> =
            old.steps.iter().map(|s| (s.id.as_str(), s)).collect();
        for step in &new.steps {
            match olds.get(step.id.as_str()) {
                None => diff.added.push(step.id.clone()),
                Some(before) => {
                    let found = changes(&flatten_step(before), &flatten_step(step));
                    if !found.is_empty() {
                        diff.changed.push((step.id.clone(), found));
                    }
                }
            }
        }
        diff.removed = old
            .steps
            .iter()
            .filter(|s| !new.steps.iter().any(|n| n.id == s.id))
            .map(|s| s.id.clone())
            .collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.playbook.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
    }

    pub fn text(&self) -> String {
        if self.is_empty() {
            return "No change to the plan.\n".into();
        }
        let mut out = String::new();
        for change in &self.playbook {
            let _ = writeln!(out, "~ playbook {}", describe(change));
        }
        for id in &self.added {
            let _ = writeln!(out, "+ step {id}");
        }
        for id in &self.removed {
            let _ = writeln!(out, "- step {id}");
        }
        for (id, changes) in &self.changed {
            let _ = writeln!(out, "~ step {id}");
            for change in changes {
                let _ = writeln!(out, "    {}", describe(change));
            }
        }
        out
    }

    pub fn markdown(&self) -> String {
        if self.is_empty() {
            return "### Plan changes\n\nNo change to the plan.\n".into();
        }
        let mut out = format!(
            "### Plan changes\n\n{} step(s) added, {} removed, {} changed{}.\n",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            if self.playbook.is_empty() {
                ""
            } else {
                "; playbook settings changed"
            }
        );
        if !self.added.is_empty() {
            let _ = writeln!(out, "\n**Added:** {}", ticks(&self.added));
        }
        if !self.removed.is_empty() {
            let _ = writeln!(out, "\n**Removed:** {}", ticks(&self.removed));
        }
        let mut table = |title: &str, changes: &[Change]| {
            let _ = writeln!(
                out,
                "\n#### {title}\n\n| Field | Before | After |\n|---|---|---|"
            );
            for c in changes {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} |",
                    c.field,
                    cell(c.old.as_deref()),
                    cell(c.new.as_deref())
                );
            }
        };
        if !self.playbook.is_empty() {
            table("Playbook", &self.playbook);
        }
        for (id, changes) in &self.changed {
            table(&format!("Step `{id}`"), changes);
        }
        out
    }
}

/// The playbook-level parts of a plan, flattened.
fn top(view: &PlanView) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let value = serde_json::json!({
        "description": view.description,
        "inputs": view.inputs.iter().map(|i| (i.name.clone(), serde_json::json!({"type": i.kind, "value": i.value}))).collect::<serde_json::Map<_, _>>(),
        "secrets": view.secrets.iter().map(|s| (s.name.clone(), Value::String(s.source.clone()))).collect::<serde_json::Map<_, _>>(),
        "objectives": view.objectives,
        "lock": view.lock,
        "schedule": view.schedules,
        "on_failure": actions(&view.on_failure),
    });
    flatten("", &value, &mut fields);
    fields
}

/// A step's reviewable parts, flattened to `path -> value`; `needs` as one sorted list.
fn flatten_step(step: &StepView) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut needs = step.needs.clone();
    needs.sort();
    fields.insert("needs".into(), needs.join(", "));
    fields.insert("verb".into(), step.action.verb.clone());
    let value = serde_json::json!({
        "name": step.name,
        "when": step.when,
        "params": step.action.params,
        "timeout": step.action.timeout,
        "retry": step.action.retry,
        "requires": actions(&step.requires),
        "rollback": actions(&step.rollback),
        "idempotent": step.idempotent,
        "continue_on_error": step.continue_on_error,
    });
    flatten("", &value, &mut fields);
    fields
}

/// Side actions as one line each, joined: `docker.start { ... }; notify.webhook { ... }`.
fn actions(list: &[super::view::ActionView]) -> Value {
    let lines: Vec<String> = list
        .iter()
        .map(|a| format!("{} {}", a.verb, inline(&a.params)))
        .collect();
    if lines.is_empty() {
        Value::Null
    } else {
        Value::String(lines.join("; "))
    }
}

/// Objects become dotted paths; lists and scalars are leaves, shown inline.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        Value::Null => {}
        Value::Object(_) => {}
        Value::Array(items) if items.is_empty() => {}
        Value::String(text) => {
            out.insert(prefix.to_string(), text.clone());
        }
        other => {
            out.insert(prefix.to_string(), inline(other));
        }
    }
}

fn changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<Change> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| Change {
            field: k.clone(),
            old: old.get(k).cloned(),
            new: new.get(k).cloned(),
        })
        .collect()
}

fn describe(change: &Change) -> String {
    match (&change.old, &change.new) {
        (None, Some(new)) => format!("{}: added {new}", change.field),
        (Some(old), None) => format!("{}: removed (was {old})", change.field),
        (Some(old), Some(new)) => format!("{}: {old} -> {new}", change.field),
        (None, None) => change.field.clone(),
    }
}

fn ticks(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cell(value: Option<&str>) -> String {
    match value {
        None => "–".into(),
        Some(v) => format!("`{}`", super::markdown::cell(v)),
    }
}
