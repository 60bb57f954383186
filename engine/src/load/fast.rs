//! A fast path for building the node tree of an ordinary playbook.
//!
//! serde-saphyr's deserializer costs most of the load time of large playbooks (about 150 ms for
//! 10,000 steps, where its underlying event parser, granit-parser, takes about 60 ms). For the
//! plain subset of YAML that playbooks use (no anchors, aliases or tags, scalars whose type is
//! unambiguous, no duplicate keys) the tree is built here directly from parser events.
//! Anything else returns `None` and serde-saphyr parses the document: it stays the authority
//! for every error message and every edge case. A test checks both give identical trees.
//! `halves.rs` reads large documents in two halves at once with this same builder.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span as Marks};

use super::node::{Node, NodeKind};
use crate::source::{Span, Spanned};

enum Frame {
    Seq(Vec<Node>, Span),
    Map(Vec<(Spanned<String>, Node)>, Span, Option<Spanned<String>>),
}

/// The tree, or `None` when the document is outside the plain subset (or invalid).
pub fn parse_plain(text: &str) -> Option<Node> {
    tree(text, 0, Start::Any)
}

/// How a document, or a piece of one read on its own, may begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// A whole document: `---` and `%YAML` allowed.
    Any,
    /// The first piece of a document read in halves: `---` allowed, but not `%YAML`, which
    /// the other pieces would not see.
    Unversioned,
    /// A later piece: no marker at all, since in the whole document it is no document start.
    Implicit,
}

/// The tree of `text`, which sits at byte `base` of the whole document (spans are the
/// whole document's). `None` when it is outside the plain subset, invalid, or not of `start`.
pub(super) fn tree(text: &str, base: usize, start: Start) -> Option<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, marks) = event.ok()?;
        let node = match event {
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd => {
                continue;
            }
            Event::DocumentStart(explicit, version) => {
                documents += 1;
                let allowed = match start {
                    Start::Any => true,
                    Start::Unversioned => version.is_none(),
                    Start::Implicit => version.is_none() && !explicit,
                };
                if documents > 1 || !allowed {
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
                    span: span(&marks, base)?,
                }
            }
            Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return None;
            }
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(Vec::new(), span(&marks, base)?));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(Vec::new(), span(&marks, base)?, None));
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

fn span(marks: &Marks, base: usize) -> Option<Span> {
    let start = base + marks.start.byte_offset()?;
    let end = base + marks.end.byte_offset()?;
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
pub(super) mod tests {
    use super::*;
    use crate::load::parse::parse_with_saphyr;
    use crate::source::SourceFile;

    /// Every YAML file of the repository's playbooks, environments and fixtures (one invalid
    /// fixture is deliberately not UTF-8: there is no text to compare, so it is left out).
    pub(in crate::load) fn repository_yaml() -> Vec<SourceFile> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut dirs: Vec<std::path::PathBuf> = ["playbooks", "environments", "tests/fixtures"]
            .iter()
            .map(|dir| root.join(dir))
            .collect();
        let mut sources = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml")
                    && let Ok(source) = SourceFile::read(&path)
                {
                    sources.push(source);
                }
            }
        }
        sources
    }

    /// Each repository file cut short at `cuts - 1` evenly spaced places, and with about
    /// `removals` of its lines taken out one at a time: documents that end inside a scalar,
    /// a flow collection or a block, and indentation gone wrong. (What, text) pairs.
    pub(in crate::load) fn damaged_repository_yaml(
        cuts: usize,
        removals: usize,
    ) -> Vec<(String, String)> {
        let mut damaged = Vec::new();
        for source in repository_yaml() {
            let text = &source.text;
            for cut in (1..cuts).map(|i| text.len() * i / cuts) {
                if text.is_char_boundary(cut) {
                    let what = format!("{} cut at byte {cut}", source.path.display());
                    damaged.push((what, text[..cut].to_string()));
                }
            }
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            for gone in (0..lines.len()).step_by(lines.len() / removals + 1) {
                let without: String = lines
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != gone)
                    .map(|(_, line)| *line)
                    .collect();
                let what = format!("{} without line {}", source.path.display(), gone + 1);
                damaged.push((what, without));
            }
        }
        damaged
    }

    /// Where the fast path answers, it must give exactly serde-saphyr's tree, spans included.
    fn same_as_serde_saphyr(text: &str, what: &str) -> bool {
        let Some(tree) = parse_plain(text) else {
            return false;
        };
        let reference = parse_with_saphyr(&SourceFile::new("t.yml", text.to_string()))
            .unwrap_or_else(|e| {
                panic!("serde-saphyr refuses what the fast path read, {what}: {e:?}")
            });
        assert_eq!(tree, reference, "{what}");
        true
    }

    #[test]
    fn fast_path_matches_serde_saphyr_on_every_repository_yaml() {
        let sources = repository_yaml();
        let fast = sources
            .iter()
            .filter(|source| same_as_serde_saphyr(&source.text, &source.path.display().to_string()))
            .count();
        assert!(
            fast >= sources.len() / 2,
            "the fast path handled only {fast} of {}",
            sources.len()
        );
    }

    /// The repository's files cut short at many places and with a line taken out: documents
    /// that end inside a scalar, a flow collection or a block, and indentation gone wrong.
    /// Wherever the fast path still answers, serde-saphyr must agree.
    #[test]
    fn fast_path_matches_serde_saphyr_on_damaged_repository_yaml() {
        let mut answered = 0;
        for (what, text) in damaged_repository_yaml(24, 12) {
            answered += usize::from(same_as_serde_saphyr(&text, &what));
        }
        assert!(
            answered > 100,
            "only {answered} damaged documents were read"
        );
    }

    /// Shapes the repository's files may not all have: where the fast path answers, it must
    /// be serde-saphyr's tree, spans included (byte offsets after multi-byte text, CRLF
    /// line ends, quoted and block scalars, flow collections over several lines).
    #[test]
    fn fast_path_matches_serde_saphyr_on_tricky_plain_documents() {
        for text in [
            "name: Audio Tài Lộc\nsteps:\n  - id: sao-lưu\n    note: \"đã xong\"\n",
            "a: 1\r\nb:\r\n  - x\r\n  - 'y z'\r\n",
            "script: |\n  echo one\n  echo two\nfolded: >-\n  a\n  b\nafter: 3\n",
            "steps:\n  - run: |2\n      indented\n    keep: |+\n      x\n\n    last: >\n      y\n",
            "a: |\r\n  crlf\r\nb: 1\r\n",
            "a: |-\n  x\n  # not a comment\n\n# a comment\nb: >\n  folded\n\n  para\nc: 1\n",
            "- |\n  in a list\n- x\n",
            "a: |\n  x\n\n\n",
            "a: |+\n  x\n\n",
            "a: >-\n  x\r\n",
            "flow: { a: [1, 2,\n    3], b: \"q\\\"uote\" }\nempty: {}\nnone: []\n",
            "key with spaces: 'value: with colon'\n'quoted key': ''\n\"\": x\nurl: http://a:1/b\n",
            "# comment\n---\nx: -1.5 # trailing\ny: ~\n...\n",
            "inputs:\nsteps:\n  -\n  - last: >\n      y",
        ] {
            let what = format!("{text:?}");
            assert!(same_as_serde_saphyr(text, &what), "not plain: {what}");
        }
    }

    #[test]
    fn nesting_beyond_the_parser_s_limit_is_left_to_serde_saphyr() {
        let depth = 100_000;
        let text = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(parse_plain(&text), None);
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
