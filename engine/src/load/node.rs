//! The YAML document as a tree of spanned nodes.
//!
//! serde-saphyr parses (and rejects duplicate keys and YAML bombs); we keep the whole tree with
//! a span on every node so that every later stage can point at the exact place of a mistake.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

use crate::source::{Span, Spanned};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Spanned<String>, Node)>),
}

impl NodeKind {
    /// How the kind is named in "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Int(_) => "an integer",
            Self::Float(_) => "a number",
            Self::Str(_) => "a string",
            Self::Seq(_) => "a list",
            Self::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// Scalars as the text a user would expect (`2` for an integer node).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => None,
        }
    }

    /// Visit every string leaf with the path of keys/indices that leads to it.
    pub fn walk_strings<'a>(
        &'a self,
        path: &mut Vec<String>,
        f: &mut impl FnMut(&[String], &'a Node, &'a str),
    ) {
        match &self.kind {
            NodeKind::Str(s) => f(path, self, s),
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    item.walk_strings(path, f);
                    path.pop();
                }
            }
            NodeKind::Map(entries) => {
                for (key, value) in entries {
                    path.push(key.value.clone());
                    value.walk_strings(path, f);
                    path.pop();
                }
            }
            NodeKind::Null | NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {}
        }
    }

    /// The node as JSON, for values (inputs defaults, vars, for_each items) the engine carries.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => Value::from(*f),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

pub(super) fn span_of(location: &serde_saphyr::Location) -> Span {
    let span = location.span();
    let start = span.byte_offset().unwrap_or(0) as usize;
    let len = span.byte_len().unwrap_or(0) as usize;
    Span::new(start, start + len.max(1))
}

fn spanned_node(spanned: serde_saphyr::Spanned<NodeKind>) -> Node {
    Node {
        span: span_of(&spanned.referenced),
        kind: spanned.value,
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NodeKind, E> {
        i64::try_from(v)
            .map(NodeKind::Int)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<serde_saphyr::Spanned<NodeKind>>()? {
            items.push(spanned_node(item));
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<serde_saphyr::Spanned<KeyText>>()? {
            let value = map.next_value::<serde_saphyr::Spanned<NodeKind>>()?;
            entries.push((
                Spanned::new(key.value.0, span_of(&key.referenced)),
                spanned_node(value),
            ));
        }
        Ok(NodeKind::Map(entries))
    }
}

/// Mapping keys are kept as text: `1: x` has the key "1". Playbook keys are names.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let node = NodeKind::deserialize(deserializer)?;
        match node {
            NodeKind::Str(s) => Ok(KeyText(s)),
            NodeKind::Int(i) => Ok(KeyText(i.to_string())),
            NodeKind::Bool(b) => Ok(KeyText(b.to_string())),
            NodeKind::Float(f) => Ok(KeyText(f.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "mapping keys must be names, found {}",
                other.describe()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse::{SyntaxError, parse};
    use crate::source::SourceFile;

    fn parse_str(text: &str) -> Result<Node, SyntaxError> {
        parse(&SourceFile::new("t.yml", text))
    }

    #[test]
    fn every_node_has_its_span() {
        let src = SourceFile::new("t.yml", "a: 1\nb:\n  - x\n");
        let root = parse(&src).unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!("map expected")
        };
        assert_eq!(src.line_col(entries[1].0.span.start), (2, 1));
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!("seq expected")
        };
        assert_eq!(src.slice(items[0].span), "x");
        assert_eq!(src.line_col(items[0].span.start), (3, 5));
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let root = parse_str("a: no\nb: true\n").unwrap();
        let json = root.to_json();
        assert_eq!(json["a"], "no");
        assert_eq!(json["b"], true);
    }

    #[test]
    fn duplicate_keys_are_syntax_errors_with_position() {
        let src = SourceFile::new("t.yml", "a: 1\na: 2\n");
        let err = parse(&src).unwrap_err();
        assert_eq!(err.message, "duplicate mapping key: a");
        assert_eq!(src.line_col(err.span.start), (2, 1));
    }
}
