//! One shape for every problem found in a playbook, whatever stage found it, and its two
//! renderings: for people (source line, caret, hint) and for machines (JSON).

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term::{self, Chars, Config};
use serde::Serialize;

use crate::source::{SourceFile, Span};

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Stable, documented kind of problem (`needs-cycle`, `unknown-key`, ...).
    pub code: &'static str,
    pub message: String,
    /// Where the problem is; `None` for problems outside the file (a bad `--input`).
    pub span: Option<Span>,
    pub label: Option<String>,
    pub hint: Option<String>,
    /// Other places that explain this one ("first defined here").
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Self {
            code,
            message: message.into(),
            span: Some(span),
            label: None,
            hint: None,
            related: Vec::new(),
        }
    }

    /// A problem that has no place in the file.
    pub fn global(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            span: None,
            ..Self::error(code, message, Span::default())
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// Human rendering: `error[code]: message`, ` --> file:line:col`, the line, a caret, the hint.
    pub fn render(&self, source: &SourceFile) -> String {
        let file = Indexed(source);
        let mut report = Report::error()
            .with_code(self.code)
            .with_message(&self.message);
        if let Some(span) = self.span {
            let mut primary = Label::primary((), clamp(span, source));
            if let Some(label) = &self.label {
                primary = primary.with_message(label);
            }
            let mut labels = vec![primary];
            labels.extend(
                self.related.iter().map(|(span, text)| {
                    Label::secondary((), clamp(*span, source)).with_message(text)
                }),
            );
            report = report.with_labels(labels);
        }
        if let Some(hint) = &self.hint {
            report = report.with_notes(vec![format!("hint: {hint}")]);
        }
        let config = Config {
            chars: Chars::ascii(),
            ..Config::default()
        };
        let mut text = String::new();
        if self.span.is_none() {
            // codespan prints no location for label-less reports; name the file ourselves.
            text.push_str(&format!("{}: ", source.name()));
        }
        text.push_str(
            &term::emit_into_string(&config, &file, &report).unwrap_or_else(|e| format!("{}\n", e)),
        );
        text
    }

    /// Machine rendering: one object per diagnostic, positions 1-based.
    pub fn to_json(&self, source: &SourceFile) -> JsonDiagnostic {
        let position = self.span.map(|span| {
            let (line, column) = source.line_col(span.start);
            let (end_line, end_column) = source.line_col(span.end);
            (line, column, end_line, end_column)
        });
        JsonDiagnostic {
            file: source.name(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            end_line: position.map(|p| p.2),
            end_column: position.map(|p| p.3),
            severity: "error",
            code: self.code,
            message: self.message.clone(),
            hint: self.hint.clone(),
        }
    }
}

/// codespan's view of a [`SourceFile`], whose line starts are computed once when it is read.
/// (`SimpleFile` computed them again for each diagnostic: 10,000 diagnostics of a large
/// playbook cost 10,000 passes over the file.)
struct Indexed<'s>(&'s SourceFile);

impl<'s> Files<'s> for Indexed<'s> {
    type FileId = ();
    type Name = String;
    type Source = &'s str;

    fn name(&'s self, (): ()) -> Result<String, FilesError> {
        Ok(self.0.name())
    }

    fn source(&'s self, (): ()) -> Result<&'s str, FilesError> {
        Ok(&self.0.text)
    }

    fn line_index(&'s self, (): (), byte_index: usize) -> Result<usize, FilesError> {
        Ok(self.0.line_index(byte_index))
    }

    fn line_range(
        &'s self,
        (): (),
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, FilesError> {
        self.0
            .line_range(line_index)
            .ok_or(FilesError::LineTooLarge {
                given: line_index,
                max: self.0.line_index(self.0.text.len()),
            })
    }
}

/// codespan wants ranges that end on character boundaries inside the text.
fn clamp(span: Span, source: &SourceFile) -> std::ops::Range<usize> {
    let len = source.text.len();
    let mut start = span.start.min(len);
    while !source.text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, len);
    while !source.text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_caret_and_hint() {
        let src = SourceFile::new("play.yml", "steps:\n  - id: a\n    neds: [b]\n");
        let d = Diagnostic::error(
            "unknown-key",
            "unknown key `neds` in step",
            Span::new(21, 25),
        )
        .label("not a known key")
        .hint("did you mean `needs`?");
        let text = d.render(&src);
        assert!(
            text.contains("error[unknown-key]: unknown key `neds` in step"),
            "{text}"
        );
        assert!(text.contains("--> play.yml:3:5"), "{text}");
        assert!(text.contains("^^^^ not a known key"), "{text}");
        assert!(text.contains("hint: did you mean `needs`?"), "{text}");
    }
}
