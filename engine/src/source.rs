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

/// Why a file could not be read as a playbook's text.
#[derive(Debug)]
pub enum Unreadable {
    Io(std::io::Error),
    /// The first `offset` bytes are UTF-8, the next is not; `source` holds the text with bad
    /// bytes replaced (the same offsets up to there).
    NotUtf8 {
        source: SourceFile,
        offset: usize,
    },
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

    /// Reads a file; one that is not UTF-8 is an error that says where (line, column and
    /// byte of the first bad byte).
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Self::load(path).map_err(|e| match e {
            Unreadable::Io(e) => e,
            Unreadable::NotUtf8 { source, offset } => {
                let (line, column) = source.line_col(offset);
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {line}, column {column} (byte {offset}) is not UTF-8; save the file as UTF-8"
                    ),
                )
            }
        })
    }

    /// Reads a file; one that is not UTF-8 comes back with its text as far as it can be read
    /// (bad bytes shown as �) and the offset of the first bad byte, for a diagnostic there.
    pub fn load(path: &Path) -> Result<Self, Unreadable> {
        let bytes = std::fs::read(path).map_err(Unreadable::Io)?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Self::new(path, text)),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                Err(Unreadable::NotUtf8 {
                    source: Self::new(path, text),
                    offset,
                })
            }
        }
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

    /// The 0-based line holding `offset`.
    pub fn line_index(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// Where the 0-based line `line` starts and ends (its newline included); the line after
    /// the last is the empty range at the end, as codespan expects.
    pub fn line_range(&self, line: usize) -> Option<std::ops::Range<usize>> {
        let start = match line.cmp(&self.line_starts.len()) {
            std::cmp::Ordering::Less => self.line_starts[line],
            std::cmp::Ordering::Equal => self.text.len(),
            std::cmp::Ordering::Greater => return None,
        };
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        Some(start..end.max(start))
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

    /// Parsers report offsets that may fall inside a multi-byte character.
    #[test]
    fn positions_inside_a_character_do_not_panic() {
        let src = SourceFile::new("p.yml", "a: é‘");
        for offset in 0..=src.text.len() + 2 {
            let (line, column) = src.line_col(offset);
            assert_eq!(line, 1);
            assert!(column <= 6);
        }
        assert_eq!(char_range(&src.text, 4..5), 3..5);
    }

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
