//! The plan as a Mermaid flowchart: `needs` as solid arrows, rollback as dashed ones.

use std::fmt::Write;

use super::view::PlanView;
use crate::action::Effect;

pub fn render(view: &PlanView) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, step) in view.steps.iter().enumerate() {
        let class = match step.action.effect {
            Effect::ReadOnly => "readonly",
            Effect::Mutating => "mutating",
        };
        let _ = writeln!(
            out,
            "    s{i}[\"{}<br/><small>{}</small>\"]:::{class}",
            escape(&step.id),
            step.action.verb
        );
    }
    for (need, step) in view.need_edges() {
        let _ = writeln!(out, "    s{need} --> s{step}");
    }
    for (i, step) in view.steps.iter().enumerate() {
        for (r, rollback) in step.rollback.iter().enumerate() {
            let _ = writeln!(
                out,
                "    s{i} -. rollback .-> r{i}_{r}[\"undo {}<br/><small>{}</small>\"]:::rollback",
                escape(&step.id),
                rollback.verb
            );
        }
    }
    out.push_str("    classDef readonly fill:#e8f1fb,stroke:#2f6fb0\n");
    out.push_str("    classDef mutating fill:#fdecea,stroke:#b03a2f\n");
    out.push_str("    classDef rollback fill:#fff6d6,stroke:#a07d00,stroke-dasharray:4 3\n");
    out
}

/// Mermaid labels are quoted; quotes and angle brackets inside must be entities.
fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}
