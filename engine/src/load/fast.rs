//! A fast path for building the node tree of an ordinary playbook.
//!
//! serde-saphyr's deserializer costs most of the load time of large playbooks (about 150 ms for
//! 10,000 steps, where its underlying event parser, granit-parser, takes about 60 ms). For the
//! plain subset of YAML that playbooks use (no anchors, aliases or tags, scalars whose type is
//! unambiguous, no duplicate keys) the tree is built here directly from parser events.
//! Anything else returns `None` and serde-saphyr parses the document: it stays the authority
//! for every error message and every edge case. A test checks both give identical trees.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span as Marks};

use super::node::{Node, NodeKind};
use crate::source::{Span, Spanned};

enum Frame {
    Seq(Vec<Node>, Span),
    Map(Vec<(Spanned<String>, Node)>, Span, Option<Spanned<String>>),
}

/// The tree, or `None` when the document is outside the plain subset (or invalid).
pub fn parse_plain(text: &str) -> Option<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, marks) = event.ok()?;
        let node = match event {
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd => {
                continue;
            }
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                let kind = match style {
                    ScalarStyle::Plain => resolve_plain(&value)?,
                    _ => NodeKind::Str(value.into_owned()),
                };
                Node {
                    kind,
                    span: span(&marks)?,
                }
            }
            Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return None;
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Vec::new(), span(&marks)?));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Vec::new(), span(&marks)?, None));
                continue;
            }
            Event::SequenceEnd => match stack.pop()? {
                Frame::Seq(items, span) => Node {
                    kind: NodeKind::Seq(items),
                    span,
                },
                Frame::Map(..) => return None,
            },
            Event::MappingEnd => match stack.pop()? {
                Frame::Map(entries, span, None) => Node {
                    kind: NodeKind::Map(entries),
                    span,
                },
                Frame::Map(..) | Frame::Seq(..) => return None,
            },
            // Anchors, aliases and anything newer: let serde-saphyr handle them.
            _ => return None,
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, _, pending)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => {
                    let NodeKind::Str(key) = node.kind else {
                        return None;
                    };
                    if entries.iter().any(|(k, _)| k.value == key) {
                        return None; // duplicate key: serde-saphyr reports it
                    }
                    *pending = Some(Spanned::new(key, node.span));
                }
            },
        }
    }
    root
}

fn span(marks: &Marks) -> Option<Span> {
    let start = marks.start.byte_offset()?;
    let end = marks.end.byte_offset()?;
    Some(Span::new(start, end.max(start + 1)))
}

/// YAML 1.2 core schema resolution of a plain scalar, limited to the unambiguous cases;
/// `None` for anything number-like that is not a plain decimal (`0x1F`, `1_000`, `1e3`,
/// `.inf`, `0755`...).
fn resolve_plain(text: &str) -> Option<NodeKind> {
    Some(match text {
        "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
        "true" | "True" | "TRUE" => NodeKind::Bool(true),
        "false" | "False" | "FALSE" => NodeKind::Bool(false),
        _ if is_decimal_int(text) => NodeKind::Int(text.parse().ok()?),
        _ if is_simple_float(text) => NodeKind::Float(text.parse().ok()?),
        _ if looks_numeric(text) => return None,
        _ => NodeKind::Str(text.to_string()),
    })
}

fn is_decimal_int(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

fn is_simple_float(text: &str) -> bool {
    let body = text.strip_prefix('-').unwrap_or(text);
    match body.split_once('.') {
        Some((int, frac)) => {
            is_decimal_int(int) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Could another YAML reading make this a number (or special float)?
fn looks_numeric(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let special = lower.trim_start_matches(['+', '-']);
    special == ".inf"
        || special == ".nan"
        || (text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
            && text
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b"xXoObB_.+-".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse::parse_with_saphyr;
    use crate::source::SourceFile;

    /// Every playbook and fixture of the repository: where the fast path answers, it must
    /// give exactly serde-saphyr's tree, spans included.
    #[test]
    fn fast_path_matches_serde_saphyr_on_every_repository_yaml() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in [
            "playbooks",
            "playbooks/demo",
            "environments",
            "tests/fixtures/valid",
            "tests/fixtures/invalid",
        ] {
            for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|e| e == "yml") {
                    files.push(path);
                }
            }
        }
        let mut fast = 0;
        for path in &files {
            // One invalid fixture is deliberately not UTF-8: there is no text to compare.
            let Ok(source) = SourceFile::read(path) else {
                continue;
            };
            if let Some(tree) = parse_plain(&source.text) {
                fast += 1;
                let reference = parse_with_saphyr(&source)
                    .expect("serde-saphyr accepts what the fast path accepts");
                assert_eq!(tree, reference, "{}", path.display());
            }
        }
        assert!(
            fast >= files.len() / 2,
            "the fast path handled only {fast} of {}",
            files.len()
        );
    }

    #[test]
    fn ambiguous_documents_fall_back() {
        for text in [
            "a: 0x1F\n",
            "a: 1_000\n",
            "a: .inf\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: 1\na: 2\n",
            "a: [1\n",
            "a: 1e3\n",
        ] {
            assert_eq!(parse_plain(text), None, "{text}");
        }
        let tree = parse_plain("a: 30s\nb: [1, -2.5, no, ~]\n").expect("plain");
        assert_eq!(
            tree.to_json(),
            serde_json::json!({ "a": "30s", "b": [1, -2.5, "no", null] })
        );
    }
}
