//! The verb reference: each verb's params, outputs, effect and an example, from the same
//! catalog and JSON Schema the compiler and editors use, so it cannot drift from them.
//! `runbook verbs [NAME]` prints it; `docs/verbs.md` is it, kept current by a test.

use serde_json::{Map, Value};

use crate::action::{Action, VerbInfo};

/// Outputs every step has, besides its verb's own.
const COMMON_OUTPUTS: &[&str] = &["status", "duration", "attempts"];

/// One param of a verb.
#[derive(Debug, Clone)]
pub struct ParamDoc {
    pub name: String,
    /// `text (template)`, `duration or template`, `list of text (template)`...
    pub kind: String,
    pub required: bool,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct VerbDoc {
    pub info: VerbInfo,
    pub params: Vec<ParamDoc>,
}

/// Every verb, in catalog order.
pub fn verbs<A: Action>() -> Vec<VerbDoc> {
    let schema = crate::schema::playbook_schema::<A>();
    let none = Map::new();
    let defs = schema["$defs"].as_object().unwrap_or(&none);
    let step = &defs["Step"]["properties"];
    A::catalog()
        .iter()
        .map(|info| VerbDoc {
            info: *info,
            params: params(defs, &step[info.name]),
        })
        .collect()
}

fn params(defs: &Map<String, Value>, schema: &Value) -> Vec<ParamDoc> {
    // A verb with shorthands is `anyOf: [params, string, list]`: the params come first.
    let schema = schema
        .get("anyOf")
        .and_then(|forms| forms.get(0))
        .unwrap_or(schema);
    let schema = resolve(defs, schema);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, param)| ParamDoc {
                    name: name.clone(),
                    kind: kind(defs, param, 0),
                    required: required.contains(&name.as_str()),
                    description: describe(defs, param),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every param path of every verb that is taken as written when the step runs (a plain
/// string: a regex, a shell, a table name), as `verb` and `path` (`expect.stdout`, list items
/// as `[]`), derived from the schema. The plan renders templates wherever they are written,
/// so a template in one of these would plan one thing and run another: the compiler refuses
/// it, from [`Action::taken_as_written`], which a test checks against this derivation.
pub fn literal_params<A: Action>() -> Vec<(&'static str, String)> {
    // Conditions, which the verb evaluates with its own results (as `assert.that` does).
    const EVALUATED: &[(&str, &str)] = &[("postgres.query", "expect.that[]")];
    let schema = crate::schema::playbook_schema::<A>();
    let none = Map::new();
    let defs = schema["$defs"].as_object().unwrap_or(&none);
    let step = &defs["Step"]["properties"];
    let mut found = Vec::new();
    for info in A::catalog() {
        let params = &step[info.name];
        let params = params
            .get("anyOf")
            .and_then(|forms| forms.get(0))
            .unwrap_or(params);
        let mut paths = Vec::new();
        literal_paths(defs, params, "", 0, &mut paths);
        found.extend(
            paths
                .into_iter()
                .filter(|p| !EVALUATED.contains(&(info.name, p.as_str())))
                .map(|p| (info.name, p)),
        );
    }
    found
}

fn literal_paths(
    defs: &Map<String, Value>,
    schema: &Value,
    path: &str,
    depth: usize,
    found: &mut Vec<String>,
) {
    // Templates (`Template`, `Tpl<T>`) are rendered; nested actions are checked on their own.
    if depth > 6 || is_rendered(schema) || is_rendered(resolve(defs, schema)) {
        return;
    }
    if let Some(name) = schema["$ref"].as_str()
        && (name.ends_with("/ActionItem") || name.ends_with("/Action"))
    {
        return;
    }
    let resolved = resolve(defs, schema);
    if let Some(alternatives) = resolved["anyOf"]
        .as_array()
        .or(resolved["oneOf"].as_array())
    {
        for alternative in alternatives.iter().filter(|a| a["type"] != "null") {
            literal_paths(defs, alternative, path, depth + 1, found);
        }
        return;
    }
    // `Option<String>` is `"type": ["string", "null"]`.
    let kind = match &resolved["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        other => other.as_str(),
    };
    let fixed = ["enum", "const", "pattern"]
        .iter()
        .any(|key| resolved.get(*key).is_some());
    match kind {
        Some("string") if !fixed => found.push(path.to_string()),
        Some("array") => {
            let items = format!("{path}[]");
            literal_paths(defs, &resolved["items"], &items, depth + 1, found);
        }
        Some("object") => {
            for (name, property) in resolved["properties"].as_object().into_iter().flatten() {
                let inner = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                literal_paths(defs, property, &inner, depth + 1, found);
            }
        }
        _ => {}
    }
}

/// A template type: `Template`, or a `Tpl<T>` (one of its forms is a `{{` pattern).
fn is_rendered(schema: &Value) -> bool {
    schema["$ref"]
        .as_str()
        .is_some_and(|r| r.ends_with("/Template"))
        || schema["anyOf"].as_array().is_some_and(|forms| {
            forms
                .iter()
                .any(|f| f["pattern"].as_str().is_some_and(|p| p.contains("[{%]")))
        })
}

/// Follows `$ref`s (and the `allOf: [one]` wrappers of described refs) to the schema itself.
fn resolve<'a>(defs: &'a Map<String, Value>, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
            match defs.get(name) {
                Some(def) => schema = def,
                None => break,
            }
        } else if let Some([one]) = schema["allOf"].as_array().map(Vec::as_slice) {
            schema = one;
        } else {
            break;
        }
    }
    schema
}

/// A param's type in words.
fn kind(defs: &Map<String, Value>, schema: &Value, depth: usize) -> String {
    if depth > 4 {
        return "value".into();
    }
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        if name == "Template" {
            return "text (template)".into();
        }
        if name == "Duration" {
            return "duration".into();
        }
    }
    let resolved = resolve(defs, schema);
    if let Some(alternatives) = resolved["anyOf"]
        .as_array()
        .or(resolved["oneOf"].as_array())
    {
        let kinds: Vec<String> = alternatives
            .iter()
            .filter(|a| a["type"] != "null")
            .map(|a| {
                // `Tpl<T>`'s template alternative is a string with a `{{` pattern.
                if a["pattern"].as_str().is_some_and(|p| p.contains("[{%]")) {
                    "template".to_string()
                } else {
                    kind(defs, a, depth + 1)
                }
            })
            .collect();
        let mut kinds = kinds;
        kinds.dedup();
        return kinds.join(" or ");
    }
    if let Some(values) = resolved["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| format!("`{v}`"))
            .collect();
        return format!("one of {}", values.join(", "));
    }
    match resolved["type"].as_str() {
        Some("array") => format!("list of {}", kind(defs, &resolved["items"], depth + 1)),
        Some("object") if resolved.get("properties").is_some() => "mapping".into(),
        Some("object") => "mapping of names to values".into(),
        Some("string") => "text".into(),
        Some("integer") => "integer".into(),
        Some("number") => "number".into(),
        Some("boolean") => "`true` or `false`".into(),
        _ => "value".into(),
    }
}

fn describe(defs: &Map<String, Value>, schema: &Value) -> String {
    schema["description"]
        .as_str()
        .or_else(|| resolve(defs, schema)["description"].as_str())
        .unwrap_or("")
        .replace('\n', " ")
}

/// A minimal use of the verb: its required params with placeholders.
fn example(verb: &VerbDoc) -> String {
    let required: Vec<String> = verb
        .params
        .iter()
        .filter(|p| p.required)
        .map(|p| format!("{}: {}", p.name, placeholder(&p.kind, &p.name)))
        .collect();
    format!(
        "- id: example\n  {}: {{ {} }}",
        verb.info.name,
        required.join(", ")
    )
}

fn placeholder(kind: &str, name: &str) -> String {
    if kind.starts_with("list") {
        format!("[\"{{{{ inputs.{name} }}}}\"]")
    } else if kind.starts_with("duration") {
        "30s".into()
    } else if kind.starts_with("integer") {
        "1".into()
    } else if kind.starts_with("mapping") {
        "{}".into()
    } else {
        format!("\"{{{{ inputs.{name} }}}}\"")
    }
}

fn outputs(info: &VerbInfo) -> String {
    let own: Vec<String> = info.outputs.iter().map(|o| format!("`{o}`")).collect();
    let common: Vec<String> = COMMON_OUTPUTS.iter().map(|o| format!("`{o}`")).collect();
    if own.is_empty() {
        common.join(", ")
    } else {
        format!(
            "{}; and as every step: {}",
            own.join(", "),
            common.join(", ")
        )
    }
}

/// One verb, for a terminal.
pub fn text(verb: &VerbDoc) -> String {
    let mut out = format!(
        "{}  ({}{})\n  {}\n\nparams:\n",
        verb.info.name,
        verb.info.effect.as_str(),
        if verb.info.on_hosts {
            ", runs on a step's host"
        } else {
            ""
        },
        verb.info.summary
    );
    for p in &verb.params {
        out.push_str(&format!(
            "  {}{}  {}{}\n",
            p.name,
            if p.required { " (required)" } else { "" },
            p.kind,
            if p.description.is_empty() {
                String::new()
            } else {
                format!("\n      {}", p.description)
            }
        ));
    }
    if verb.params.is_empty() {
        out.push_str("  (none)\n");
    }
    out.push_str(&format!(
        "\noutputs: {}\n\nexample:\n{}\n",
        outputs(&verb.info).replace('`', ""),
        indent(&example(verb))
    ));
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole reference as Markdown (`docs/verbs.md`).
pub fn markdown(verbs: &[VerbDoc]) -> String {
    let mut out = String::from(
        "# Verb reference\n\nGenerated by `runbook verbs --format markdown` from the catalog and the JSON Schema; a test keeps it current. Every step also has the envelope keys (`id`, `needs`, `when`, `requires`, `timeout`, `retry`, `rollback`, `for_each`, `serial`, `host`, `idempotent`, `continue_on_error`).\n\n",
    );
    for verb in verbs {
        out.push_str(&format!(
            "## `{}`\n\n{} ({}{}).\n\n",
            verb.info.name,
            verb.info.summary,
            verb.info.effect.as_str(),
            if verb.info.on_hosts {
                "; runs on the step's `host:`"
            } else {
                ""
            }
        ));
        if verb.params.is_empty() {
            out.push_str("No params.\n\n");
        } else {
            out.push_str("| param | type | required | description |\n|---|---|---|---|\n");
            for p in &verb.params {
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} |\n",
                    p.name,
                    p.kind,
                    if p.required { "yes" } else { "" },
                    p.description.replace('|', "\\|")
                ));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "Outputs: {}.\n\n```yaml\n{}\n```\n\n",
            outputs(&verb.info),
            example(verb)
        ));
    }
    out
}
