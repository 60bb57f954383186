//! The report as one self-contained HTML page (no script, no external file): the summary, the
//! recovery objectives against what was measured, a timeline drawn as SVG (each step's start
//! and duration, its retries, the rollback's compensations), and every failure's text.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::Report;
use crate::params::human;

const ROW: f64 = 22.0;
const LABEL: f64 = 210.0;
const CHART: f64 = 640.0;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let title = format!("Run report: {}", report.playbook);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    summary(&mut out, report);
    objectives(&mut out, report);
    out.push_str("<h2>Timeline</h2>\n");
    out.push_str(&timeline(report));
    found(&mut out, report);
    failures(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

fn summary(out: &mut String, report: &Report) {
    let (class, result) = match report.exit_code {
        Some(0) => (
            "ok",
            format!("{} (exit 0)", report.status.replace('_', " ")),
        ),
        Some(code) => (
            "bad",
            format!("{} (exit {code})", report.status.replace('_', " ")),
        ),
        None => ("bad", "unfinished (no end in the journal)".to_string()),
    };
    out.push_str("<table class=\"summary\">\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    };
    row(
        "Result",
        format!("<span class=\"{class}\">{}</span>", escape(&result)),
    );
    if let Some(error) = &report.error {
        row("Why", prose(error));
    }
    row("Run", format!("<code>{}</code>", escape(&report.run)));
    row(
        "Playbook file",
        format!("<code>{}</code>", escape(&report.path)),
    );
    if let Some(at) = report.started_at {
        row(
            "Started",
            format!(
                "{} by {}",
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                escape(&report.started_by)
            ),
        );
    }
    for resume in &report.resumed {
        row(
            "Resumed",
            format!(
                "{} by {}",
                resume.at.format("%Y-%m-%d %H:%M:%S UTC"),
                escape(&resume.by)
            ),
        );
    }
    if let Some(duration) = report.duration {
        row("Duration", human(duration));
    }
    out.push_str("</table>\n");
}

fn objectives(out: &mut String, report: &Report) {
    let Some(objectives) = &report.objectives else {
        return;
    };
    out.push_str("<h2>Recovery objectives</h2>\n<table class=\"grid\"><tr><th>Objective</th><th>Target</th><th>Measured</th><th>Result</th><th>Measured between</th></tr>\n");
    for (name, m) in objectives.each() {
        let (measured, verdict) = match m.measured {
            Some(v) if m.met => (human(v), "<span class=\"ok\">met</span>".to_string()),
            Some(v) => (human(v), "<span class=\"bad\">MISSED</span>".to_string()),
            None => (
                "–".to_string(),
                format!(
                    "<span class=\"bad\">not measured</span>: {}",
                    escape(m.error.as_deref().unwrap_or("?"))
                ),
            ),
        };
        let _ = writeln!(
            out,
            "<tr><td>{name}</td><td>{}</td><td>{measured}</td><td>{verdict}</td><td>{}</td></tr>",
            human(m.objective),
            prose(&m.between)
        );
    }
    out.push_str("</table>\n");
}

/// A Gantt-like SVG: one row per step, then one per compensation, on a common time axis.
fn timeline(report: &Report) -> String {
    let Some(start) = report.started_at else {
        return "<p>No events.</p>\n".into();
    };
    let end = report
        .finished_at
        .or_else(|| {
            report.started_at.map(|s| {
                s + chrono::TimeDelta::milliseconds(
                    (report.duration.unwrap_or(0.0) * 1000.0) as i64,
                )
            })
        })
        .unwrap_or(start);
    let total = offset(start, end).max(0.001);
    let x = |at: DateTime<Utc>| LABEL + offset(start, at) / total * CHART;
    let width = |seconds: f64| (seconds / total * CHART).max(2.0);

    let rows = report.steps.len() + report.rollback.len();
    let height = ROW * (rows as f64 + 2.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"timeline\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        LABEL + CHART + 20.0,
        LABEL + CHART + 20.0
    );
    // The axis: five ticks from the start to the end of the run.
    for tick in 0..=4 {
        let seconds = total * f64::from(tick) / 4.0;
        let tx = Tenths(LABEL + CHART * f64::from(tick) / 4.0);
        let _ = writeln!(
            svg,
            "<line x1=\"{tx}\" y1=\"{ROW}\" x2=\"{tx}\" y2=\"{height}\" class=\"grid\"/><text x=\"{tx}\" y=\"14\" class=\"tick\">+{}</text>",
            human(seconds)
        );
    }
    let mut y = ROW * 1.5;
    for step in &report.steps {
        let class = match step.result.as_str() {
            "succeeded" => "succeeded",
            r if r.starts_with("failed") || r == "precondition failed" => "failed",
            "skipped" => "skipped",
            "warning" => "warning",
            _ => "other",
        };
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"label\">{}</text>",
            Tenths(LABEL - 8.0),
            Tenths(y + 14.0),
            escape(&step.id)
        );
        match step.started_at {
            Some(at) => {
                let duration = step.duration.unwrap_or_else(|| offset(at, end));
                let _ = writeln!(
                    svg,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"{class}\"><title>{}: {} in {}</title></rect>",
                    Tenths(x(at)),
                    Tenths(y + 3.0),
                    Tenths(width(duration)),
                    ROW - 6.0,
                    escape(&step.id),
                    escape(&step.result),
                    human(duration)
                );
                for retry in &step.retries {
                    let _ = writeln!(
                        svg,
                        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"retry\"><title>attempt failed, retried</title></line>",
                        Tenths(x(*retry)),
                        Tenths(y + 1.0),
                        Tenths(y + ROW - 1.0)
                    );
                }
            }
            None => {
                let _ = writeln!(
                    svg,
                    "<text x=\"{}\" y=\"{}\" class=\"note\">{}</text>",
                    Tenths(LABEL + 4.0),
                    Tenths(y + 14.0),
                    escape(&step.result)
                );
            }
        }
        y += ROW;
    }
    for c in &report.rollback {
        let class = if c.result == "undone" {
            "undo"
        } else {
            "failed"
        };
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" class=\"label\">undo {}</text><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"{class}\"><title>{}: {}</title></rect>",
            Tenths(LABEL - 8.0),
            Tenths(y + 14.0),
            escape(&c.step),
            Tenths(x(c.started_at)),
            Tenths(y + 3.0),
            Tenths(width(c.duration.unwrap_or(0.0))),
            ROW - 6.0,
            escape(&c.verb),
            escape(&c.result)
        );
        y += ROW;
    }
    svg.push_str("</svg>\n<p class=\"legend\"><span class=\"k succeeded\"></span> succeeded <span class=\"k failed\"></span> failed <span class=\"k skipped\"></span> skipped <span class=\"k undo\"></span> compensation (rollback) <span class=\"k retry\"></span> a failed attempt, retried</p>\n");
    svg
}

/// The steps' `show:`: what diagnostic steps found.
fn found(out: &mut String, report: &Report) {
    let found: Vec<_> = report.steps.iter().filter(|s| s.found.is_some()).collect();
    if found.is_empty() {
        return;
    }
    out.push_str("<h2>What the steps found</h2>\n");
    for step in found {
        let _ = writeln!(
            out,
            "<h3><code>{}</code></h3><pre>{}</pre>",
            escape(&step.id),
            escape(step.found.as_deref().unwrap_or(""))
        );
    }
}

fn failures(out: &mut String, report: &Report) {
    let failed: Vec<(&str, &str)> = report
        .steps
        .iter()
        .filter(|s| s.result.starts_with("failed") || s.result == "precondition failed")
        .map(|s| (s.id.as_str(), s.note.as_deref().unwrap_or("")))
        .chain(
            report
                .rollback
                .iter()
                .filter_map(|c| c.error.as_deref().map(|e| (c.step.as_str(), e))),
        )
        .collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("<h2>Failures</h2>\n");
    for (step, error) in failed {
        let _ = writeln!(
            out,
            "<h3><code>{}</code></h3><pre>{}</pre>",
            escape(step),
            escape(error)
        );
    }
}

/// A coordinate to a tenth, as `{:.1}` prints it, through integers: for a long run the exact
/// float formatting behind `{:.1}` was half the time of this report, the longest of the four
/// written at the end of a run. (A value half-way between two tenths may round the other way
/// than `{:.1}` would: a twentieth of a pixel.)
struct Tenths(f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0 * 10.0).round();
        // Beyond what an i64 holds exactly (never on a chart 870 pixels wide): as before.
        if !tenths.is_finite() || tenths.abs() >= 1e15 {
            return write!(f, "{:.1}", self.0);
        }
        // The sign of the value, as `{:.1}` prints it: -0.02 is "-0.0".
        let sign = if self.0.is_sign_negative() { "-" } else { "" };
        let tenths = (tenths as i64).unsigned_abs();
        write!(f, "{sign}{}.{}", tenths / 10, tenths % 10)
    }
}

fn offset(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// Escaped text whose `code spans` (as runbook writes step ids in messages) become `<code>`.
fn prose(text: &str) -> String {
    if !text.matches('`').count().is_multiple_of(2) {
        return escape(text);
    }
    text.split('`')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            0 => escape(part),
            _ => format!("<code>{}</code>", escape(part)),
        })
        .collect()
}

/// Text as HTML shows it: `&`, `<`, `>` and `"` as entities. One pass over the text (a long
/// run's report escapes every step's id and result).
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d2430;max-width:60em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse}td,th{padding:.25em .7em;text-align:left;vertical-align:top}\
table.grid td,table.grid th{border:1px solid #ccd3dd}table.summary th{color:#5a6472;font-weight:normal}\
.ok{color:#17803d;font-weight:bold}.bad{color:#b3261e;font-weight:bold}\
pre{background:#f6f7f9;padding:.7em;white-space:pre-wrap}\
svg text{font:12px system-ui,sans-serif}svg .label{text-anchor:end}svg .tick{text-anchor:middle;fill:#5a6472}\
svg .grid{stroke:#e3e7ec}rect.succeeded,.k.succeeded{fill:#3a9d5d;background:#3a9d5d}\
rect.failed,.k.failed{fill:#d2453b;background:#d2453b}rect.skipped,.k.skipped{fill:#b8bec7;background:#b8bec7}rect.warning,.k.warning{fill:#e0a526;background:#e0a526}\
rect.other{fill:#7b8ea8}rect.undo,.k.undo{fill:#e0a800;background:#e0a800}\
line.retry{stroke:#b3261e;stroke-width:2}.k.retry{background:#b3261e}\
.legend{color:#5a6472}.k{display:inline-block;width:.9em;height:.9em;margin:0 .2em 0 .8em;vertical-align:-.1em}";

#[cfg(test)]
mod tests {
    use super::{Tenths, escape, prose};

    #[test]
    fn tenths_print_as_one_decimal_does() {
        // Coordinates as the timeline makes them, none half-way between two tenths.
        for k in 0..20_000 {
            let value = f64::from(k) * 0.0437 - 30.0;
            let halfway = ((value * 10.0).fract().abs() - 0.5).abs() < 1e-6;
            if !halfway {
                assert_eq!(Tenths(value).to_string(), format!("{value:.1}"), "{value}");
            }
        }
        assert_eq!(Tenths(850.0).to_string(), "850.0");
        assert_eq!(Tenths(2.0).to_string(), "2.0");
    }

    #[test]
    fn escaping_turns_markup_into_entities() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry</a> · ✓"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&lt;/a&gt; · ✓"
        );
    }

    #[test]
    fn code_spans_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            prose("the end of `health-web` <b>"),
            "the end of <code>health-web</code> &lt;b&gt;"
        );
        // An unpaired backtick is text, not the start of a span that never ends.
        assert_eq!(prose("it's `odd"), "it's `odd");
    }
}
