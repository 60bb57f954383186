//! The plan as Graphviz DOT: `needs` as solid edges, rollback as dashed ones.

use std::fmt::Write;

use super::view::PlanView;
use crate::action::Effect;

pub fn render(view: &PlanView) -> String {
    let mut out = format!("digraph \"{}\" {{\n", escape(&view.playbook));
    out.push_str("    rankdir=TB;\n    node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
    for (i, step) in view.steps.iter().enumerate() {
        let color = match step.action.effect {
            Effect::ReadOnly => "#e8f1fb",
            Effect::Mutating => "#fdecea",
        };
        let _ = writeln!(
            out,
            "    s{i} [label=\"{}\\n{}\", fillcolor=\"{color}\"];",
            escape(&step.id),
            step.action.verb
        );
    }
    for (need, step) in view.need_edges() {
        let _ = writeln!(out, "    s{need} -> s{step};");
    }
    for (i, step) in view.steps.iter().enumerate() {
        for (r, rollback) in step.rollback.iter().enumerate() {
            let _ = writeln!(
                out,
                "    r{i}_{r} [label=\"undo {}\\n{}\", fillcolor=\"#fff6d6\", style=\"rounded,filled,dashed\"];",
                escape(&step.id),
                rollback.verb
            );
            let _ = writeln!(
                out,
                "    s{i} -> r{i}_{r} [style=dashed, label=\"rollback\"];"
            );
        }
    }
    out.push_str("}\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
