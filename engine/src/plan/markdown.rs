//! The plan as a pull-request comment: a summary a reviewer reads first, the graph, then each
//! stage's steps in full. Written for someone who has never seen runbook.

use serde_json::Value;
use std::fmt::Write;

use super::text::{action_line, inline};
use super::view::{PlanView, StepView};
use crate::action::Effect;

pub fn render(view: &PlanView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Plan: `{}`\n", view.playbook);
    if let Some(description) = &view.description {
        let _ = writeln!(out, "{description}\n");
    }
    let mutating: Vec<&StepView> = view
        .steps
        .iter()
        .filter(|s| s.action.effect == Effect::Mutating)
        .collect();
    let unprotected: Vec<String> = mutating
        .iter()
        .filter(|s| s.rollback.is_empty())
        .map(|s| match &s.action.irreversible {
            Some(_) => format!("`{}` (cannot be undone)", s.id),
            None => format!("`{}`", s.id),
        })
        .collect();
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| Steps | {} in {} stages ({} change state, {} only read) |",
        view.steps.len(),
        view.stages.len(),
        mutating.len(),
        view.steps.len() - mutating.len()
    );
    let _ = writeln!(
        out,
        "| Without rollback | {} |",
        if unprotected.is_empty() {
            "none: every step that changes state can be undone".to_string()
        } else {
            unprotected.join(", ")
        }
    );
    if let Some(o) = &view.objectives {
        let _ = writeln!(
            out,
            "| Objectives | RTO {} · RPO {} ({}) |",
            o.rto.as_deref().unwrap_or("–"),
            o.rpo.as_deref().unwrap_or("–"),
            prose_cell(&o.measured)
        );
    }
    if let Some(lock) = &view.lock {
        let _ = writeln!(out, "| Lock | `{lock}` (one run at a time) |");
    }
    for s in &view.schedules {
        let _ = writeln!(out, "| Schedule | {} |", s.shown(true));
    }
    for input in &view.inputs {
        let value = input.value.as_ref().map_or_else(
            || "_not given_".to_string(),
            |v| format!("`{}`", cell(&inline(v))),
        );
        let _ = writeln!(
            out,
            "| Input `{}` | {value} ({}) |",
            input.name, input.source
        );
    }
    for secret in &view.secrets {
        let _ = writeln!(
            out,
            "| Secret `{}` | from {} (never shown) |",
            secret.name, secret.source
        );
    }

    out.push_str("\n```mermaid\n");
    out.push_str(&super::mermaid::render(view));
    out.push_str("```\n\n");
    out.push_str(
        "<sub>Boxes are steps, arrows point from a step to the steps that wait for it. \
         Blue steps only read; red steps change state; dashed yellow boxes are the \
         compensations run, newest first, if a later step fails.</sub>\n\n",
    );

    for (number, (ids, steps)) in view.stages.iter().zip(view.steps_by_stage()).enumerate() {
        let parallel = if ids.len() > 1 {
            " — these steps may run in parallel"
        } else {
            ""
        };
        let _ = writeln!(out, "### Stage {}{parallel}\n", number + 1);
        for step in steps {
            step_markdown(&mut out, step);
        }
    }
    if !view.on_failure.is_empty() {
        out.push_str("### If the run fails\n\nAfter the rollback, these run:\n\n");
        for action in &view.on_failure {
            let _ = writeln!(out, "- `{}`", cell(&action_line(action)));
        }
    }
    out
}

fn step_markdown(out: &mut String, step: &StepView) {
    let effect = match step.action.effect {
        Effect::ReadOnly => "only reads",
        Effect::Mutating => "**changes state**",
    };
    let _ = writeln!(
        out,
        "#### `{}` · `{}` · {effect}\n",
        step.id, step.action.verb
    );
    let title = step
        .name
        .clone()
        .unwrap_or_else(|| step.action.summary.clone());
    let _ = writeln!(out, "{title}.\n");
    if let Value::Object(params) = &step.action.params
        && !params.is_empty()
    {
        out.push_str("| Parameter | Value |\n|---|---|\n");
        for (key, value) in params {
            let _ = writeln!(out, "| `{key}` | `{}` |", cell(&inline(value)));
        }
        out.push('\n');
    }
    let mut facts = Vec::new();
    if !step.needs.is_empty() {
        facts.push(format!(
            "**Waits for:** {}",
            step.needs
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(host) = &step.host {
        facts.push(format!("**On host:** `{}`", cell(host)));
    }
    if let Some(when) = &step.when {
        facts.push(format!("**Only when:** `{}`", cell(when)));
    }
    for require in &step.requires {
        facts.push(format!(
            "**Checked first:** `{}`",
            cell(&action_line(require))
        ));
    }
    if let Some(timeout) = &step.action.timeout {
        let from = if step.action.timeout_is_default {
            " (playbook default)"
        } else {
            ""
        };
        facts.push(format!("**Timeout:** {timeout}{from}"));
    }
    if let Some(retry) = &step.action.retry {
        facts.push(format!("**Retry:** {retry}"));
    }
    if step.continue_on_error {
        facts.push("**On error:** the run continues".into());
    }
    match (step.action.effect, step.rollback.is_empty()) {
        (_, false) => {
            for rollback in &step.rollback {
                facts.push(format!("**Undo:** `{}`", cell(&action_line(rollback))));
            }
        }
        (Effect::Mutating, true) => facts.push(match &step.action.irreversible {
            Some(why) => format!("**Undo:** impossible: {} ⚠️", cell(why)),
            None => "**Undo:** none declared ⚠️".into(),
        }),
        (Effect::ReadOnly, true) => {}
    }
    for fact in facts {
        let _ = writeln!(out, "- {fact}");
    }
    out.push('\n');
}

/// Table cells and inline code cannot hold `|` or backticks as is.
pub(super) fn cell(text: &str) -> String {
    prose_cell(text).replace('`', "'")
}

/// A table cell of prose, whose code spans stay code.
fn prose_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
