//! Value types that step params are made of: human durations and values that may be templates.
//!
//! A param is either written literally (checked when the playbook is compiled) or as a minijinja
//! template (`"{{ inputs.port }}"`), resolved when the step runs. [`Tpl<T>`] keeps both apart so a
//! literal of the wrong type is still a compile error.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// True when a string holds template syntax and must be rendered before use.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Seconds as people read a recovery time: `4m 12.3s`, `26h 5m`.
pub fn human(seconds: f64) -> String {
    let negative = seconds < 0.0;
    // Rounded to what is printed first: 599.98 s is `10m`, never `9m 60.0s`.
    let s = (seconds.abs() * 10.0).round() / 10.0;
    let text = if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let (minutes, seconds) = ((s / 60.0).floor(), s % 60.0);
        if seconds < 0.05 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m {seconds:.1}s")
        }
    } else {
        let (hours, minutes) = ((s / 3600.0).floor(), ((s % 3600.0) / 60.0).floor());
        if minutes == 0.0 {
            format!("{hours}h")
        } else {
            format!("{hours}h {minutes}m")
        }
    };
    if negative { format!("-{text}") } else { text }
}

/// A human duration: `500ms`, `30s`, `2m`, `25h`, `1h30m`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        // Reached only where a template is not allowed: the step envelope's `timeout` and
        // `retry`, which validate and plan must know before any input is given.
        if is_template(text) {
            return Err(format!(
                "`{text}`: a step's `timeout` and `retry` cannot be templates (they are checked and planned before inputs are known); write a duration such as `5m`, or template a verb's own duration (`wait.sleep: {{ duration: \"{{{{ inputs.x }}}}\" }}`)"
            ));
        }
        if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
            return Err(format!(
                "`{text}` has no unit; write e.g. `{text}s` or `{text}m`"
            ));
        }
        humantime::parse_duration(text).map(Self).map_err(|e| {
            format!("`{text}` is not a duration ({e}); write e.g. `30s`, `2m`, `1h30m`")
        })
    }
}

impl fmt::Display for Duration {
    /// Compact and exact: `1h30m`, `25h`, `1.5s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_ms = self.0.as_millis();
        if total_ms == 0 {
            return f.write_str("0s");
        }
        if !total_ms.is_multiple_of(1000) {
            return if total_ms < 1000 {
                write!(f, "{total_ms}ms")
            } else {
                write!(f, "{}s", self.0.as_secs_f64())
            };
        }
        let secs = self.0.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `30s`, `2m` or `25h`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write e.g. `{v}s` or `{v}m`"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_i64(v as i64)
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The units [`Duration::parse`] accepts: humantime's, so that the schema (which editors
/// check playbooks against) accepts exactly what the compiler does. A test holds the two
/// together.
const DURATION_UNITS: &[&str] = &[
    "nanos", "nsec", "ns", "usec", "us", "µs", "millis", "msec", "ms", "seconds", "second", "secs",
    "sec", "s", "minutes", "minute", "mins", "min", "m", "hours", "hour", "hrs", "hr", "h", "days",
    "day", "d", "weeks", "week", "wks", "wk", "w", "months", "month", "M", "years", "year", "yrs",
    "yr", "y",
];

/// The grammar of durations as a regex: numbers (fractions allowed), each with a unit,
/// spaces anywhere between.
pub fn duration_pattern() -> String {
    let mut units: Vec<&str> = DURATION_UNITS.to_vec();
    units.sort_by_key(|u| std::cmp::Reverse(u.chars().count()));
    format!("^\\s*([0-9]+(\\.[0-9]+)?\\s*({})\\s*)+$", units.join("|"))
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration with a unit: `500ms`, `30s`, `2m`, `25h`, `1h30m`, `7d`, `2 minutes`, `1 hour 30 mins`.",
            "pattern": duration_pattern()
        })
    }
}

/// A regular expression a step's output must match (`expect.body`, `expect.stdout`, a log's
/// `match`), in the syntax of the `regex` crate. Compiled as the playbook loads: a mistyped
/// one is an error of `validate` that points at it, not a failure of the step in the middle
/// of a run; and it is compiled once, not at every check of a `wait.until` or a chain.
#[derive(Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    pub fn new(source: &str) -> Result<Self, String> {
        regex::Regex::new(source).map(Self).map_err(|e| {
            let why = match &e {
                // The parser's text draws the pattern and a caret over three lines; the
                // diagnostic already points at the pattern, so only the reason is kept.
                regex::Error::Syntax(text) => text
                    .lines()
                    .rev()
                    .find_map(|line| line.trim().strip_prefix("error: "))
                    .unwrap_or(text)
                    .to_string(),
                other => other.to_string(),
            };
            format!(
                "`{source}` is not a regular expression: {why}\nhint: the syntax is the `regex` \
                 crate's (https://docs.rs/regex/latest/regex/#syntax); `\\` before `(`, `[`, `.`, \
                 `?` and the like matches them as written"
            )
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Pattern {}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Compiled inside the visitor, so that a bad pattern's error carries the span of the
        // pattern itself rather than of its key.
        struct PatternVisitor;
        impl Visitor<'_> for PatternVisitor {
            type Value = Pattern;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a regular expression")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Pattern, E> {
                Pattern::new(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(PatternVisitor)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl JsonSchema for Pattern {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Pattern".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "regex" })
    }
}

/// Text that may contain templates (`"{{ inputs.backup_glob }}"`), rendered when the step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Template(pub String);

/// A literal `T` or a template that renders to one when the step runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Tpl<T> {
    Value(T),
    Template(String),
}

impl<T: Default> Default for Tpl<T> {
    fn default() -> Self {
        Self::Value(T::default())
    }
}

/// A list written out (`[api, web]`, each item may be a template) or one template giving the
/// whole list (`"{{ inputs.apps }}"`), so that environment files can set lists.
pub type TemplateList = Tpl<Vec<Template>>;

impl TemplateList {
    /// An empty written-out list (a template may still give items at run time).
    pub fn is_empty_list(&self) -> bool {
        matches!(self, Self::Value(items) if items.is_empty())
    }
}

impl<T: Serialize> Serialize for Tpl<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => v.serialize(serializer),
            Self::Template(t) => serializer.serialize_str(t),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tpl<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TplVisitor(std::marker::PhantomData))
    }
}

/// Looks at the value once: template strings are kept, anything else is handed to `T`.
struct TplVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for TplVisitor<T> {
    type Value = Tpl<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or a template")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tpl<T>, E> {
        if is_template(v) {
            Ok(Tpl::Template(v.to_string()))
        } else {
            T::deserialize(v.into_deserializer()).map(Tpl::Value)
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tpl<T>, E> {
        T::deserialize(v.into_deserializer()).map(Tpl::Value)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tpl<T>, E> {
        T::deserialize(v.into_deserializer()).map(Tpl::Value)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tpl<T>, E> {
        T::deserialize(v.into_deserializer()).map(Tpl::Value)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tpl<T>, E> {
        T::deserialize(v.into_deserializer()).map(Tpl::Value)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tpl<T>, E> {
        T::deserialize(().into_deserializer()).map(Tpl::Value)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Tpl<T>, A::Error> {
        T::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Tpl::Value)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Tpl<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Tpl::Value)
    }
}

impl<T: JsonSchema> JsonSchema for Tpl<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Tpl_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                generator.subschema_for::<T>(),
                { "type": "string", "pattern": "\\{[{%]", "description": "A template rendered when the step runs." }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's pattern and the compiler accept the same durations.
    #[test]
    fn the_schema_pattern_and_the_parser_agree() {
        let pattern = regex::Regex::new(&duration_pattern()).unwrap();
        for unit in DURATION_UNITS {
            let text = format!("2{unit}");
            assert!(Duration::parse(&text).is_ok(), "{text}");
            assert!(pattern.is_match(&text), "{text}");
        }
        for good in [
            "2 minutes",
            "1 hour 30 mins",
            "1h30m",
            "1.5h",
            " 500ms ",
            "7d",
            "25h",
        ] {
            assert!(Duration::parse(good).is_ok(), "parser: {good}");
            assert!(pattern.is_match(good), "pattern: {good}");
        }
        for bad in ["a while", "30", "5 fortnights", "", "1h 30", "m"] {
            assert!(Duration::parse(bad).is_err(), "parser: {bad}");
            assert!(!pattern.is_match(bad), "pattern: {bad}");
        }
    }

    #[test]
    fn durations_parse_and_print_compactly() {
        for (text, shown) in [
            ("30s", "30s"),
            ("2m", "2m"),
            ("25h", "25h"),
            ("1h 30m", "1h30m"),
            ("250ms", "250ms"),
        ] {
            assert_eq!(Duration::parse(text).unwrap().to_string(), shown, "{text}");
        }
    }

    #[test]
    fn durations_without_unit_are_refused_with_a_hint() {
        assert_eq!(
            Duration::parse("30").unwrap_err(),
            "`30` has no unit; write e.g. `30s` or `30m`"
        );
        assert!(Duration::parse("soon").is_err());
    }

    #[test]
    fn a_pattern_is_compiled_as_it_loads_and_a_bad_one_says_why_in_one_line() {
        let good: Pattern = serde_json::from_str(r#""status: (ok|up)""#).unwrap();
        assert!(good.is_match("status: up"));
        assert!(!good.is_match("status: down"));
        assert_eq!(
            serde_json::to_string(&good).unwrap(),
            r#""status: (ok|up)""#
        );

        let error = serde_json::from_str::<Pattern>(r#""status: (ok""#)
            .unwrap_err()
            .to_string();
        let (message, hint) = error.split_once("\nhint: ").expect("a hint");
        assert!(
            message.starts_with("`status: (ok` is not a regular expression: unclosed group"),
            "{message}"
        );
        assert!(hint.contains("docs.rs/regex"), "{hint}");
    }

    #[test]
    fn tpl_keeps_templates_and_types_literals() {
        let v: Tpl<u16> = serde_json::from_str("5432").unwrap();
        assert_eq!(v, Tpl::Value(5432));
        let t: Tpl<u16> = serde_json::from_str("\"{{ inputs.port }}\"").unwrap();
        assert_eq!(t, Tpl::Template("{{ inputs.port }}".into()));
        assert!(serde_json::from_str::<Tpl<u16>>("\"lots\"").is_err());
        let d: Tpl<Duration> = serde_json::from_str("\"2m\"").unwrap();
        assert_eq!(d, Tpl::Value(Duration::from_secs(120)));
    }
}
