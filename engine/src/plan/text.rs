//! The plan for a terminal: stages, then each step with its params, guards and rollback.

use serde_json::Value;
use std::fmt::Write;

use super::view::{ActionView, PlanView, StepView};

pub fn render(view: &PlanView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan: {}", view.playbook);
    if let Some(description) = &view.description {
        let _ = writeln!(out, "  {description}");
    }
    for input in &view.inputs {
        let value = input
            .value
            .as_ref()
            .map_or_else(|| "(not given)".to_string(), inline);
        let _ = writeln!(out, "Input   {} = {value} ({})", input.name, input.source);
    }
    for secret in &view.secrets {
        let _ = writeln!(out, "Secret  {} from {}", secret.name, secret.source);
    }
    if let Some(o) = &view.objectives {
        let _ = writeln!(
            out,
            "Objectives  RTO {}  RPO {}  ({})",
            o.rto.as_deref().unwrap_or("-"),
            o.rpo.as_deref().unwrap_or("-"),
            o.measured
        );
    }
    if let Some(lock) = &view.lock {
        let _ = writeln!(out, "Lock    {lock}");
    }
    for s in &view.schedules {
        let _ = writeln!(out, "Schedule  {}", s.shown(false));
    }
    let _ = writeln!(
        out,
        "{} steps in {} stages",
        view.steps.len(),
        view.stages.len()
    );
    for (number, (ids, steps)) in view.stages.iter().zip(view.steps_by_stage()).enumerate() {
        let _ = writeln!(
            out,
            "\nStage {}{}",
            number + 1,
            if ids.len() > 1 { " (in parallel)" } else { "" }
        );
        for step in steps {
            step_text(&mut out, step);
        }
    }
    if !view.on_failure.is_empty() {
        let _ = writeln!(out, "\nOn failure (after rollback)");
        for action in &view.on_failure {
            let _ = writeln!(out, "  - {}", action_line(action));
        }
    }
    out
}

fn step_text(out: &mut String, step: &StepView) {
    let _ = writeln!(
        out,
        "  {}  {}  [{}]{}",
        step.id,
        step.action.verb,
        step.action.effect.as_str(),
        step.name
            .as_ref()
            .map_or(String::new(), |n| format!("  \"{n}\""))
    );
    if !step.needs.is_empty() {
        let _ = writeln!(out, "      needs: {}", step.needs.join(", "));
    }
    if let Some(host) = &step.host {
        let _ = writeln!(out, "      on host: {host}");
    }
    if let Some(when) = &step.when {
        let _ = writeln!(out, "      when: {when}");
    }
    for require in &step.requires {
        let _ = writeln!(out, "      requires: {}", action_line(require));
    }
    if let Value::Object(params) = &step.action.params {
        for (key, value) in params {
            let _ = writeln!(out, "      {key}: {}", inline(value));
        }
    }
    if let Some(timeout) = &step.action.timeout {
        let _ = writeln!(
            out,
            "      timeout: {timeout}{}",
            if step.action.timeout_is_default {
                " (default)"
            } else {
                ""
            }
        );
    }
    if let Some(retry) = &step.action.retry {
        let _ = writeln!(out, "      retry: {retry}");
    }
    if step.continue_on_error {
        let _ = writeln!(
            out,
            "      continue on error: a failure here does not stop the run"
        );
    }
    for rollback in &step.rollback {
        let _ = writeln!(out, "      rollback: {}", action_line(rollback));
    }
    if let Some(why) = &step.action.irreversible {
        let _ = writeln!(out, "      cannot be undone: {why}");
    }
}

/// `verb { params } (timeout 1m, retry 3 attempts...)` on one line.
pub fn action_line(action: &ActionView) -> String {
    let mut line = action.verb.clone();
    if let Some(name) = &action.name {
        line = format!("{name}: {line}");
    }
    if action.params.as_object().is_some_and(|p| !p.is_empty()) {
        line.push(' ');
        line.push_str(&inline(&action.params));
    }
    let extras: Vec<String> = [
        action.when.as_ref().map(|w| format!("when {w}")),
        action.timeout.as_ref().map(|t| format!("timeout {t}")),
        action.retry.as_ref().map(|r| format!("retry {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extras.is_empty() {
        line.push_str(&format!(" ({})", extras.join(", ")));
    }
    line
}

/// A value in YAML flow style: `{ project: goodgo, services: [api, web] }`.
pub fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::String(s) if needs_quotes(s) => format!("{s:?}"),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{k}: {}", inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.contains([',', '[', ']', '{', '}', '#', '\n', '"'])
        || s.contains(": ")
        || s.starts_with(' ')
        || s.ends_with(' ')
        || matches!(s, "true" | "false" | "null")
        || s.parse::<f64>().is_ok()
}
