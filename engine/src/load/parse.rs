//! A YAML document into nodes with spans: the fast path for plain documents
//! (`fast.rs`; `halves.rs` when they are large), serde-saphyr for everything else and for
//! every error. Both build the tree of `node.rs`, which knows neither.

use super::node::{Node, NodeKind, span_of};
use crate::source::{SourceFile, Span};

/// A YAML syntax error (including duplicate keys and exceeded limits), with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// Parse a whole document into nodes: the fast path for plain documents (in two halves at
/// once when large), serde-saphyr for everything else (and for every error).
pub fn parse(source: &SourceFile) -> Result<Node, SyntaxError> {
    let text = &source.text;
    match super::halves::parse(text).or_else(|| super::fast::parse_plain(text)) {
        Some(node) => Ok(node),
        None => parse_with_saphyr(source),
    }
}

pub(crate) fn parse_with_saphyr(source: &SourceFile) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        // `no`, `on`, `yes` stay strings (YAML 1.2): `country: no` must not become false.
        strict_booleans: true,
    };
    match serde_saphyr::from_str_with_options::<serde_saphyr::Spanned<NodeKind>>(
        &source.text,
        options,
    ) {
        Ok(root) => Ok(Node {
            span: span_of(&root.referenced),
            kind: root.value,
        }),
        Err(err) => {
            let span = err.location().map_or(Span::new(0, 0), |loc| {
                let start = source.offset_of(loc.line() as usize, loc.column() as usize);
                Span::new(start, start + 1)
            });
            Err(SyntaxError {
                message: plain_message(&err.without_snippet().to_string()),
                span,
            })
        }
    }
}

/// serde-saphyr appends the position to its messages; we print positions ourselves.
fn plain_message(message: &str) -> String {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => message,
    };
    let message = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    message
        .trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable")
        .to_string()
}
