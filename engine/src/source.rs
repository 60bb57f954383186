//! A playbook's text and positions inside it.

use std::path::{Path, PathBuf};

/// A byte range in one source file. Line and column are computed when printed, so spans stay
/// two integers wide however many nodes carry one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub const fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// The text of a playbook and the name it is reported under.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path: path.into(),
            text,
            line_starts,
        }
    }

    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(path, std::fs::read_to_string(path)?))
    }

    /// The name printed in diagnostics: the path as the user gave it.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = char_range(&self.text, offset..offset).start;
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.text[start..offset].chars().count() + 1;
        (line + 1, column)
    }

    /// Byte offset of a 1-based line and column, as the YAML parser reports them.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        self.text[start..]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}

/// `range` widened to whole characters of `text` and kept inside it: byte offsets from
/// parsers (minijinja, the YAML reader) may point into a multi-byte character, and slicing
/// there panics.
pub fn char_range(text: &str, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let mut start = range.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = range.end.clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = SourceFile::new("p.yml", "a: 1\nbé: x\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(5), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(src.line_col(9), (2, 4));
        assert_eq!(src.offset_of(2, 4), 9);
    }
}
