//! A large document read in two halves at once, on two cores.
//!
//! Reading the YAML events is most of loading a large playbook (45 of 71 ms for 10,000 steps),
//! and a YAML parser reads from the start to the end. But a playbook's bulk is one block
//! sequence (its steps) under a key at column 0, and YAML's block structure is in its lines: at
//! a line that starts an item of that sequence, at the item's indentation, the parser is at a
//! line start in block context, and what it reads until the first less indented line does not
//! depend on what came before. So the document is read as three pieces:
//!
//! ```text
//! head   [0, split)    up to an item near the middle: a whole document whose sequence ends early
//! items  [split, end)  the rest of the sequence, to its first less indented line: a sequence
//! tail   [end, len)    the root mapping's keys after the sequence, if any: a mapping
//! ```
//!
//! the items on a second thread, head and tail on this one (`parallel::both`), and the trees
//! joined, with every span the whole document's. Where that line-based reading could be
//! wrong, a piece says so: a split inside a quoted scalar or a flow collection leaves the head
//! unterminated, an end inside one leaves the items unterminated, and the head's last key
//! must be the one found at column 0, holding a sequence. Then, or for anything this file
//! does not recognise, `parse` returns `None` and the document is read in one piece, as
//! before. Tests split every repository file at every item and compare the tree with
//! serde-saphyr's.

use super::fast::{Start, tree};
use super::node::{Node, NodeKind};
use crate::parallel::{both, two_cores};

/// Smaller documents are read in one piece: a second thread would cost more than it saves
/// (starting it is some tens of microseconds; 256 KiB of YAML takes about 8 ms to read).
const FROM_BYTES: usize = 256 * 1024;

/// The tree of a large plain document read in halves, or `None` (read it in one piece).
pub(super) fn parse(text: &str) -> Option<Node> {
    if text.len() < FROM_BYTES || !two_cores() {
        return None;
    }
    Pieces::find(text, text.len() / 2)?.read(text)
}

/// Where a document is cut: see the module's comment.
#[derive(Debug, PartialEq, Eq)]
struct Pieces {
    /// Where the line of the key holding the sequence starts.
    key: usize,
    split: usize,
    /// The indentation of the sequence's items.
    indent: usize,
    end: usize,
    /// Whether anything but blank and comment lines follows the sequence.
    tail: bool,
}

/// A line of the document as its block structure sees it.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// Empty, spaces only, or a comment.
    Blank,
    /// Indented by spaces, then `text` (from its first character other than a space).
    Content { indent: usize, text: &'a str },
    /// A tab where the indentation ends: whether it indents or separates depends on context,
    /// which this file does not follow.
    Unknown,
}

impl<'a> Line<'a> {
    fn of(line: &'a str) -> Self {
        let text = line.trim_start_matches(' ');
        let indent = line.len() - text.len();
        match text.as_bytes().first() {
            None | Some(b'\n' | b'#') => Self::Blank,
            Some(b'\r') if text.starts_with("\r\n") => Self::Blank,
            Some(b'\t' | b'\r') => Self::Unknown,
            Some(_) => Self::Content { indent, text },
        }
    }

    /// `- ...` or a lone `-`: an item of a block sequence at `indent`.
    fn item(&self) -> Option<usize> {
        match self {
            Self::Content { indent, text }
                if text.starts_with("- ") || text.trim_end_matches(['\r', '\n']) == "-" =>
            {
                Some(*indent)
            }
            _ => None,
        }
    }

    /// `name:` alone at column 0 (a comment may follow): a key whose value is on later lines.
    fn key(&self) -> bool {
        let Self::Content { indent: 0, text } = self else {
            return false;
        };
        let text = text.trim_end_matches(['\r', '\n']);
        let Some((name, rest)) = text.split_once(':') else {
            return false;
        };
        let rest = rest.trim_start_matches(' ');
        (rest.is_empty() || rest.starts_with('#'))
            && !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

impl Pieces {
    /// The pieces, split at the first item at or after byte `from` of a block sequence held
    /// by a key at column 0; `None` when there is no such item or the text has what the line
    /// reading cannot follow: a line break other than `\n` and `\r\n`, a NUL, which ends
    /// the parser's input, or a byte-order mark, which a piece would read as its start.
    fn find(text: &str, from: usize) -> Option<Self> {
        let lone_cr = text
            .match_indices('\r')
            .any(|(i, _)| text.as_bytes().get(i + 1) != Some(&b'\n'));
        if lone_cr || text.contains(['\0', '\u{feff}']) {
            return None;
        }
        let mut lines = text.split_inclusive('\n').scan(0, |start, line| {
            let at = *start;
            *start += line.len();
            Some((at, Line::of(line)))
        });
        // The key at column 0 that the last content line at or before the split belongs to,
        // and the indentation of its sequence's items once the first is seen.
        let mut key: Option<(usize, Option<usize>)> = None;
        let (split, key, items) = loop {
            let (at, line) = lines.next()?;
            match (&line, key) {
                (Line::Blank, _) => {}
                (Line::Unknown, _) => key = None,
                (Line::Content { indent: 0, .. }, _) => {
                    key = line.key().then_some((at, None));
                }
                (_, Some((key_at, None))) => {
                    key = line
                        .item()
                        .filter(|&indent| indent > 0)
                        .map(|indent| (key_at, Some(indent)));
                }
                (_, Some((key_at, Some(items)))) if at >= from && line.item() == Some(items) => {
                    break (at, key_at, items);
                }
                (Line::Content { indent, .. }, Some((_, Some(items)))) if *indent < items => {
                    key = None;
                }
                _ => {}
            }
        };
        // The sequence ends at its first less indented line. What follows is read as a
        // document of its own, so it must start the root mapping's next key, and not with
        // what the parser would take for a document's start or end.
        let (mut end, mut tail) = (text.len(), false);
        for (at, line) in lines {
            match line {
                Line::Blank => {}
                Line::Unknown => return None,
                Line::Content { indent, text } if indent < items => {
                    let marker = ["---", "...", "%"].iter().any(|m| text.starts_with(m));
                    if indent > 0 || marker {
                        return None;
                    }
                    (end, tail) = (at, true);
                    break;
                }
                Line::Content { .. } => {}
            }
        }
        Some(Self {
            key,
            split,
            indent: items,
            end,
            tail,
        })
    }

    /// The three pieces read (the items on a second thread) and joined; `None` if any of
    /// them is not what its place requires.
    fn read(&self, text: &str) -> Option<Node> {
        let ((head, tail), items) = both(
            || {
                // The head keeps the item's indentation: a block scalar that the item ends
                // ends, for the parser, where that indentation does.
                let head = tree(&text[..self.split + self.indent], 0, Start::Unversioned);
                let tail = self
                    .tail
                    .then(|| tree(&text[self.end..], self.end, Start::Implicit));
                (head, tail)
            },
            || tree(&text[self.split..self.end], self.split, Start::Implicit),
        );
        let items = items.flatten();
        let mut root = head?;
        let NodeKind::Map(entries) = &mut root.kind else {
            return None;
        };
        let (key, value) = entries.last_mut()?;
        let NodeKind::Seq(sequence) = &mut value.kind else {
            return None;
        };
        if key.span.start != self.key {
            return None;
        }
        let NodeKind::Seq(more) = items?.kind else {
            return None;
        };
        sequence.extend(more);
        if let Some(tail) = tail {
            let NodeKind::Map(more) = tail?.kind else {
                return None;
            };
            for (key, value) in more {
                if entries.iter().any(|(k, _)| k.value == key.value) {
                    return None; // a duplicate key: serde-saphyr reports it
                }
                entries.push((key, value));
            }
        }
        Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::fast::tests::{damaged_repository_yaml, repository_yaml};
    use crate::load::parse::parse_with_saphyr;
    use crate::source::SourceFile;

    /// How the splits of a document went.
    #[derive(Default)]
    struct Splits {
        read: usize,
        /// Splits not read where the document is read in one piece by the fast path.
        declined: usize,
    }

    /// `text` split at every item it can be split at, each reading compared with serde-saphyr's
    /// tree and the one-piece reading.
    fn every_split_as_serde_saphyr(text: &str, what: &str) -> Splits {
        let (mut seen, mut splits) = (Vec::new(), Splits::default());
        let whole = tree(text, 0, Start::Any);
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1));
        for from in starts {
            let Some(pieces) = Pieces::find(text, from) else {
                continue;
            };
            if seen.contains(&pieces.split) {
                continue;
            }
            seen.push(pieces.split);
            let Some(joined) = pieces.read(text) else {
                splits.declined += usize::from(whole.is_some());
                continue;
            };
            let what = format!("{what} split at byte {}", pieces.split);
            let reference = parse_with_saphyr(&SourceFile::new("t.yml", text.to_string()))
                .unwrap_or_else(|e| {
                    panic!("serde-saphyr refuses what the halves read, {what}: {e:?}")
                });
            assert_eq!(joined, reference, "{what}");
            assert_eq!(Some(&joined), whole.as_ref(), "{what}");
            splits.read += 1;
        }
        splits
    }

    /// Every file at every item: where the fast path reads the file, the halves read it too,
    /// and give the same tree.
    #[test]
    fn every_repository_yaml_split_at_every_item_reads_as_serde_saphyr() {
        let mut read = 0;
        for source in repository_yaml() {
            let what = source.path.display().to_string();
            let splits = every_split_as_serde_saphyr(&source.text, &what);
            assert_eq!(splits.declined, 0, "{what}: splits declined");
            read += splits.read;
        }
        assert!(read > 50, "only {read} splits were read");
    }

    /// The repository's files cut short and with a line taken out, split at every item.
    #[test]
    fn damaged_repository_yaml_split_at_every_item_reads_as_serde_saphyr() {
        let mut read = 0;
        for (what, text) in damaged_repository_yaml(8, 6) {
            read += every_split_as_serde_saphyr(&text, &what).read;
        }
        assert!(read > 100, "only {read} splits were read");
    }

    /// Documents whose split the line reading must get right: block scalars ending at the
    /// split (their span ends after the next line's indentation), comments at column 0,
    /// nested sequences, CRLF, keys after the sequence, multi-byte text.
    #[test]
    fn tricky_documents_split_as_serde_saphyr() {
        for text in [
            "version: 1\nsteps:\n  - id: a\n    run: |+\n      x\n\n\n  - id: b\n    run: >-\n      y\n\n  - id: c\n",
            "steps:\n  - id: a\n    run: |\n      x\n# a comment at column 0\n  - id: b\n    run: |2\n        y\n  - c\n",
            "steps:\n  - id: a\n    note: \"one\n      - id: b\n      two\"\n  - id: b\n  - id: c\n",
            "steps:\n  - id: a\n    text: plain\n      continued\n  - id: b\n    text: more\n  - id: c\n",
            "steps:\n  - a\n  -\n  - - nested\n    - deeper\n  - c\n",
            "steps:\r\n  - id: a\r\n  - id: b\r\n  - id: c\r\non_failure:\r\n  - x\r\n",
            "steps:\n  - id: a\n  - id: b\n  - id: c\non_failure:\n  - shell.run: x\n# end\n",
            "steps:\n  - id: a\n  -\tid: b\n  - id: c\n",
            "---\nsteps:\n  - id: a\n  - id: b\n  - id: c\n",
            "a: 1\nsteps:   # the list\n    - id: a\n    - id: b\n  # indented comment\n    - id: c\non_failure: []\n",
            "name: Audio Tài Lộc\nsteps:\n  - id: sao-lưu\n  - id: khôi-phục\n  - id: kiểm-tra\n",
        ] {
            let splits = every_split_as_serde_saphyr(text, &format!("{text:?}"));
            assert!(splits.read > 0 && splits.declined == 0, "{text:?}");
        }
    }

    /// Documents where a split would fall inside a scalar or a flow collection, where what
    /// follows the sequence is not the root mapping's next key, or where the one-piece
    /// reading fails: none of them is split.
    #[test]
    fn doubtful_documents_split_as_serde_saphyr_or_not_at_all() {
        for text in [
            "steps:\n  - id: a\n    note: \"one\n  - id: b\n    two\"\n  - id: c\n",
            "steps:\n  - id: a\n    note: 'one\n  - id: b'\n  - id: c\n",
            "steps:\n  - id: a\n    needs: [x,\n  - id: b,\n      y]\n  - id: c\n",
            "version: 1\nsteps:\n  - id: a\n  - id: b\nversion: 2\n",
            "steps:\n  - id: a\n  - id: b\n---\nsteps:\n  - id: c\n",
            "steps:\n  - id: a\n  - id: b\n...\n",
            "steps:\n  - id: a\n  - id: b\n  - id: c\n  oops: 1\n",
            "steps:\n  - id: a\n  - id: b\n - id: c\n",
            "steps:\n  - &x id: a\n  - *x\n  - id: c\n",
            "steps: |\n  - id: a\n  - id: b\n  - id: c\n",
            "steps:\n- id: a\n- id: b\n- id: c\n",
            "steps:\n  - id: a\r  - id: b\n  - id: c\n",
            "%YAML 1.2\n---\nsteps:\n  - id: a\n  - id: b\n  - id: c\n",
            "steps:\n  - id: a\n  - id: b\n  - id: c\nsteps:\n  - id: d\n",
            "steps:\n  - id: a\n  - id: b\n  - id: c\n\u{feff}on_failure: []\n",
        ] {
            let splits = every_split_as_serde_saphyr(text, &format!("{text:?}"));
            assert_eq!(splits.read, 0, "{text:?}");
        }
    }

    #[test]
    fn a_playbook_splits_at_the_first_item_from_the_middle_and_ends_at_its_next_key() {
        let text =
            "version: 1\nsteps:\n  - id: a\n    run: x\n  - id: b\n  - id: c\non_failure: []\n";
        let middle = text.find("  - id: b").expect("item");
        let pieces = Pieces::find(text, middle - 3).expect("split");
        assert_eq!(
            pieces,
            Pieces {
                key: text.find("steps").expect("key"),
                split: middle,
                indent: 2,
                end: text.find("on_failure").expect("tail"),
                tail: true,
            }
        );
        let joined = pieces.read(text).expect("read");
        assert_eq!(Some(joined), tree(text, 0, Start::Any));
    }

    #[test]
    fn what_the_line_reading_cannot_follow_is_not_split() {
        for text in [
            "steps:\n- id: a\n- id: b\n- id: c\n",
            "steps:\n  - id: a\r  - id: b\n  - id: c\n",
            "steps:\n  - id: a\n  - id: b\n\t- id: c\n",
            "steps:\n  - id: a\n  - id: b\n  - id: c\0\n",
            "\u{feff}steps:\n  - id: a\n  - id: b\n  - id: c\n",
            "steps:\n  - id: a\n  - id: b\n---\n",
            "steps:\n  - id: a\n  - id: b\n - id: c\n",
            "steps: [a,\n  - b,\n  - c]\n",
            "- steps:\n  - id: a\n  - id: b\n",
        ] {
            assert_eq!(Pieces::find(text, 0), None, "{text:?}");
        }
    }

    /// The split that the 10,000-step bench relies on, at the size where it starts.
    #[test]
    fn a_large_playbook_is_read_in_halves_as_in_one_piece() {
        let mut text = String::from("version: 1\nname: big\nsteps:\n");
        let mut i: usize = 0;
        while text.len() < FROM_BYTES + 1024 {
            text.push_str(&format!(
                "  - id: s{i}\n    needs: [s{}]\n    shell.run: {{ cmd: \"echo {i}\" }}\n",
                i.saturating_sub(1)
            ));
            i += 1;
        }
        text.push_str("on_failure:\n  - shell.run: { cmd: \"echo failed\" }\n");
        assert!(Pieces::find(&text, text.len() / 2).is_some());
        let halves = parse(&text).expect("read in halves");
        assert_eq!(Some(halves), tree(&text, 0, Start::Any));
    }
}
