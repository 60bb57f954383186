//! A serde `Deserializer` over spanned nodes.
//!
//! Typed structs (verb params, `retry`, `inputs.*`, ...) are derived with serde. Deserializing
//! them from [`Node`]s instead of from text lets every error carry the span of the node it is
//! about, and lets unknown fields and verbs come with a "did you mean" built from the names
//! serde itself expected.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

use super::node::{Node, NodeKind};
use crate::source::{Span, Spanned};
use crate::suggest::did_you_mean;

/// Why a node does not fit the type asked of it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub message: String,
    pub span: Option<Span>,
    pub hint: Option<String>,
}

impl DeError {
    /// Errors are created deep inside serde without a position; the innermost node that sees
    /// the error pins it, outer nodes leave it alone.
    fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    /// A custom message may carry its hint after a `\nhint: ` line, since serde's
    /// custom errors are plain strings.
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        let (message, hint) = match text.split_once("\nhint: ") {
            Some((message, hint)) => (message.to_string(), Some(hint.to_string())),
            None => (text, None),
        };
        Self {
            message,
            span: None,
            hint,
        }
    }

    fn invalid_type(unexpected: de::Unexpected, expected: &dyn de::Expected) -> Self {
        Self::custom(format!(
            "expected {expected}, found {}",
            describe(&unexpected)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self {
            message: format!("unknown key `{field}`"),
            span: None,
            hint: Some(known_names_hint(field, expected, "keys")),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self {
            message: format!("unknown value `{variant}`"),
            span: None,
            hint: Some(known_names_hint(variant, expected, "values")),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format!("missing required key `{field}`"))
    }
}

fn describe(unexpected: &de::Unexpected) -> String {
    match unexpected {
        de::Unexpected::Str(s) => format!("the string \"{s}\""),
        de::Unexpected::Unit => "null".to_string(),
        de::Unexpected::Map => "a mapping".to_string(),
        de::Unexpected::Seq => "a list".to_string(),
        other => other.to_string(),
    }
}

/// "did you mean `x`?" when one name is close, else the list of valid names.
pub fn known_names_hint(given: &str, expected: &[&str], what: &str) -> String {
    match did_you_mean(given, expected.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if expected.is_empty() => format!("no {what} are accepted here"),
        None => format!(
            "valid {what}: {}",
            expected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Deserialize `T` from a node; the error carries the span of the offending node.
pub fn from_node<T: de::DeserializeOwned>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer(node))
}

/// Deserialize `T` from a single `key: value` entry, as if it were the mapping `{key: value}`.
/// A step's action key lives among the envelope keys; this presents it to serde on its own.
pub fn from_entry<T: de::DeserializeOwned>(
    key: &Spanned<String>,
    value: &Node,
) -> Result<T, DeError> {
    T::deserialize(EntryDeserializer { key, value })
}

pub struct NodeDeserializer<'a>(pub &'a Node);

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess(items.iter())),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter().map(|(k, v)| (k, v)),
                value: None,
            }),
        };
        result.map_err(|e| e.at(node.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// Operators write `port: 5432` or `text: 200` where a string is wanted; scalars are
    /// accepted as their text rather than refused for lacking quotes.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match (&self.0.kind, self.0.scalar_text()) {
            (NodeKind::Str(_), _) | (_, None) => self.deserialize_any(visitor),
            (_, Some(text)) => visitor
                .visit_string(text)
                .map_err(|e: DeError| e.at(self.0.span)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let node = self.0;
        match &node.kind {
            NodeKind::Str(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(node.span)),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                EntryDeserializer { key, value }.deserialize_enum(_name, _variants, visitor)
            }
            other => Err(<DeError as de::Error>::custom(format!(
                "expected a name or a single-key mapping, found {}",
                other.describe()
            ))
            .at(node.span)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// One `key: value` entry seen as an externally tagged enum (`{verb: params}`).
struct EntryDeserializer<'a> {
    key: &'a Spanned<String>,
    value: &'a Node,
}

impl<'de, 'a> de::Deserializer<'de> for EntryDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(MapAccess {
            entries: std::iter::once((self.key, self.value)),
            value: None,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl<'de, 'a> de::EnumAccess<'de> for EntryDeserializer<'a> {
    type Error = DeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DeError> {
        let key: de::value::StrDeserializer<DeError> = self.key.value.as_str().into_deserializer();
        let variant = seed.deserialize(key).map_err(|e| e.at(self.key.span))?;
        Ok((variant, NodeDeserializer(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for NodeDeserializer<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.0.kind {
            NodeKind::Null => Ok(()),
            _ => Err(<DeError as de::Error>::custom("this takes no parameters").at(self.0.span)),
        }
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, DeError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

struct SeqAccess<'a>(std::slice::Iter<'a, Node>);

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        self.0
            .next()
            .map(|node| seed.deserialize(NodeDeserializer(node)))
            .transpose()
    }
}

struct MapAccess<'a, I> {
    entries: I,
    value: Option<&'a Node>,
}

impl<'de, 'a, I: Iterator<Item = (&'a Spanned<String>, &'a Node)>> de::MapAccess<'de>
    for MapAccess<'a, I>
{
    type Error = DeError;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let text: de::value::StrDeserializer<DeError> = key.value.as_str().into_deserializer();
        seed.deserialize(text).map(Some).map_err(|e| e.at(key.span))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let node = self
            .value
            .take()
            .expect("serde asks for a value after its key");
        seed.deserialize(NodeDeserializer(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse::parse;
    use crate::source::SourceFile;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Params {
        services: Vec<String>,
        port: Option<u16>,
        name: Option<String>,
    }

    fn load(text: &str) -> (SourceFile, Node) {
        let src = SourceFile::new("t.yml", text);
        let node = parse(&src).unwrap();
        (src, node)
    }

    #[test]
    fn unknown_field_points_at_the_key_and_suggests() {
        let (src, node) = load("services: [api]\nprot: 5432\n");
        let err = from_node::<Params>(&node).unwrap_err();
        assert_eq!(err.message, "unknown key `prot`");
        assert_eq!(err.hint.as_deref(), Some("did you mean `port`?"));
        assert_eq!(src.line_col(err.span.unwrap().start), (2, 1));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let (src, node) = load("services: [api]\nport: lots\n");
        let err = from_node::<Params>(&node).unwrap_err();
        assert_eq!(err.message, "expected u16, found the string \"lots\"");
        assert_eq!(src.line_col(err.span.unwrap().start), (2, 7));
    }

    #[test]
    fn scalars_are_accepted_as_strings() {
        let (_, node) = load("services: [api, 2]\nname: 200\n");
        let params = from_node::<Params>(&node).unwrap();
        assert_eq!(params.services, ["api", "2"]);
        assert_eq!(params.name.as_deref(), Some("200"));
    }

    #[test]
    fn missing_field_points_at_the_mapping() {
        let (_, node) = load("port: 1\n");
        let err = from_node::<Params>(&node).unwrap_err();
        assert_eq!(err.message, "missing required key `services`");
        assert!(err.span.is_some());
    }
}
