//! The report for people: an auditor reading a DR drill, a reviewer of an incident.

use std::fmt::Write;

use super::{Report, StepReport};
use crate::journal::Measurement;
use crate::params::human;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Run report: {}\n", report.playbook);
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| Run | `{}` |", report.run);
    let _ = writeln!(out, "| Playbook file | `{}` |", report.path);
    let status = match report.exit_code {
        Some(code) => format!("**{}** (exit {code})", report.status.replace('_', " ")),
        None => "**unfinished** (no end in the journal: running, or crashed; see `runbook resume`)"
            .into(),
    };
    let _ = writeln!(out, "| Result | {status} |");
    if let Some(error) = &report.error {
        let _ = writeln!(out, "| Why | {} |", cell(error));
    }
    if let Some(at) = report.started_at {
        let _ = writeln!(
            out,
            "| Started | {} by {} |",
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            report.started_by
        );
    }
    for resume in &report.resumed {
        let _ = writeln!(
            out,
            "| Resumed | {} by {} |",
            resume.at.format("%Y-%m-%d %H:%M:%S UTC"),
            resume.by
        );
    }
    if let Some(duration) = report.duration {
        let _ = writeln!(out, "| Duration | {} |", human(duration));
    }

    if let Some(objectives) = &report.objectives {
        out.push_str("\n## Recovery objectives\n\n");
        out.push_str("| Objective | Target | Measured | Result | Measured between |\n|---|---|---|---|---|\n");
        for (name, m) in objectives.each() {
            let _ = writeln!(out, "{}", objective_row(name, m));
        }
    }

    if !report.inputs.is_empty() {
        out.push_str("\n## Inputs\n\n| Input | Value |\n|---|---|\n");
        for (name, value) in &report.inputs {
            let _ = writeln!(out, "| {name} | `{}` |", cell(&value.to_string()));
        }
    }

    out.push_str("\n## Steps\n\n| Step | Result | Started | Duration | Attempts | Note |\n|---|---|---|---|---|---|\n");
    for step in &report.steps {
        let started = match (step.started_at, report.started_at) {
            (Some(at), Some(start)) => format!(
                "+{}",
                human((at - start).num_milliseconds() as f64 / 1000.0)
            ),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {started} | {} | {} | {} |",
            step.id,
            mark(&step.result),
            step.duration.map_or("–".into(), human),
            step.attempts.map_or("–".into(), |a| a.to_string()),
            step.note.as_deref().map(cell).unwrap_or_default()
        );
    }

    let found: Vec<&StepReport> = report.steps.iter().filter(|s| s.found.is_some()).collect();
    if !found.is_empty() {
        out.push_str("\n## What the steps found\n");
        for step in found {
            let _ = write!(
                out,
                "\n`{}`:\n\n```text\n{}\n```\n",
                step.id,
                step.found.as_deref().unwrap_or("").replace("```", "'''")
            );
        }
    }

    if !report.rollback.is_empty() {
        out.push_str("\n## Rollback (newest first)\n\n| Undid | Action | Result | Duration | Error |\n|---|---|---|---|---|\n");
        for c in &report.rollback {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} | {} |",
                c.step,
                c.verb,
                c.result,
                c.duration.map_or("–".into(), human),
                c.error.as_deref().map(cell).unwrap_or_default()
            );
        }
    }
    out
}

fn objective_row(name: &str, m: &Measurement) -> String {
    let (measured, result) = match m.measured {
        Some(measured) if m.met => (human(measured), "✅ met".to_string()),
        Some(measured) => (human(measured), "❌ **missed**".to_string()),
        None => (
            "–".into(),
            format!(
                "❌ not measured: {}",
                cell(m.error.as_deref().unwrap_or("?"))
            ),
        ),
    };
    format!(
        "| {name} | {} | {measured} | {result} | {} |",
        human(m.objective),
        m.between
    )
}

fn mark(result: &str) -> String {
    match result {
        "succeeded" => "✅ succeeded".into(),
        "skipped" => "⏭ skipped".into(),
        "warning" => "⚠️ warning".into(),
        r if r.starts_with("failed") || r == "precondition failed" => format!("❌ {r}"),
        other => other.to_string(),
    }
}

/// Text safe inside a table cell: one line, no pipes, not too long.
fn cell(text: &str) -> String {
    let line = text.replace('|', "\\|").replace('\n', " ");
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line
    }
}
