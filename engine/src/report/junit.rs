//! The report as JUnit XML, for CI systems: one test case per step and per measured objective.
//! A failed step or a missed objective is a failure, a skipped step is skipped, a compensation
//! that failed is an error (the systems need a person). A step that failed under
//! `continue_on_error` is a failure too (`type="continued"`), as the Markdown and HTML reports
//! show it: the run went on, but the step did fail.

use std::fmt::Write;

use super::Report;

pub fn render(report: &Report) -> String {
    let mut cases = String::new();
    let (mut failures, mut errors, mut skipped, mut tests) = (0, 0, 0, 0);
    for step in &report.steps {
        tests += 1;
        let time = step.duration.unwrap_or(0.0);
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\">",
            attr(&report.playbook),
            attr(&step.id)
        );
        match step.result.as_str() {
            "succeeded" => {}
            // A warning passes, and says what it found where CI systems show test output.
            "warning" => {
                let _ = write!(
                    cases,
                    "<system-err>warning: {}</system-err>",
                    text(step.note.as_deref().unwrap_or(""))
                );
            }
            "skipped" => {
                skipped += 1;
                let _ = write!(
                    cases,
                    "<skipped message=\"{}\"/>",
                    attr(step.note.as_deref().unwrap_or(""))
                );
            }
            r => {
                failures += 1;
                let note = step.note.as_deref().unwrap_or(r);
                let kind = if r == "failed (continued)" {
                    " type=\"continued\""
                } else {
                    ""
                };
                let _ = write!(
                    cases,
                    "<failure message=\"{}\"{kind}>{}</failure>",
                    attr(r),
                    text(note)
                );
            }
        }
        if let Some(found) = &step.found {
            let _ = write!(cases, "<system-out>{}</system-out>", text(found));
        }
        cases.push_str("</testcase>\n");
    }
    for c in report.rollback.iter().filter(|c| c.result != "undone") {
        tests += 1;
        errors += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}.rollback\" name=\"undo {}\"><error message=\"compensation failed\">{}</error></testcase>",
            attr(&report.playbook),
            attr(&c.step),
            text(c.error.as_deref().unwrap_or(&c.result))
        );
    }
    if let Some(objectives) = &report.objectives {
        for (name, m) in objectives.each() {
            tests += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}.objectives\" name=\"{name}\" time=\"{:.3}\">",
                attr(&report.playbook),
                m.measured.unwrap_or(0.0)
            );
            if !m.met {
                failures += 1;
                let why = match m.measured {
                    Some(v) => format!("{name} {v:.1}s measured, objective {:.1}s", m.objective),
                    None => format!("{name} not measured: {}", m.error.as_deref().unwrap_or("?")),
                };
                let _ = write!(cases, "<failure message=\"{}\"/>", attr(&why));
            }
            cases.push_str("</testcase>\n");
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" id=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">\n{cases}  </testsuite>\n</testsuites>\n",
        attr(&report.playbook),
        attr(&report.run),
        report.duration.unwrap_or(0.0),
        report
            .started_at
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default()
    )
}

fn text(value: &str) -> String {
    // XML 1.0 cannot hold most control characters, not even escaped, and a command's output
    // (a colour code's ESC) would make the whole file unreadable to the CI system.
    let printable: String = value
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect();
    printable
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn attr(value: &str) -> String {
    text(value).replace('"', "&quot;").replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    use super::{attr, text};

    #[test]
    fn text_is_escaped_and_control_characters_cannot_break_the_xml() {
        assert_eq!(
            text("a < b & \u{1b}[31mred\u{1b}[0m"),
            "a &lt; b &amp; \u{fffd}[31mred\u{fffd}[0m"
        );
        assert_eq!(attr("say \"hi\"\nbye"), "say &quot;hi&quot;&#10;bye");
    }
}
