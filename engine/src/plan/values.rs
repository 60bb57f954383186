//! Rendering param values for a plan: templates evaluated with what is known before the run.

use minijinja::value::{Object, Value as JinjaValue};
use minijinja::{Environment, context};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::params::is_template;
use crate::secrets::{REDACTED, redact_url_password};

fn jinja<T: serde::Serialize>(value: T) -> JinjaValue {
    JinjaValue::from(minijinja::value::Serde(value))
}

/// Something only known at run time, shown by its name: `⟨steps.restore.duration⟩`.
#[derive(Debug)]
struct Symbol(String);

impl Object for Symbol {
    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
        Some(JinjaValue::from_object(Symbol(format!("{}.{key}", self.0))))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "⟨{}⟩", self.0)
    }
}

/// A secret: never read at plan time, always shown redacted.
#[derive(Debug)]
struct Secret;

impl Object for Secret {
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

pub struct PlanRenderer {
    env: Environment<'static>,
    /// Each block rendered once per item: playbooks repeat their templates (`{{ inputs.x }}`
    /// on every step), and what is known before the run does not change during a plan.
    rendered: RefCell<HashMap<String, String>>,
    inputs: JinjaValue,
    vars: JinjaValue,
    secrets: JinjaValue,
}

impl PlanRenderer {
    pub fn new(
        declared_inputs: &[String],
        input_values: &Map<String, Value>,
        vars: &[(String, Value)],
        secrets: &[String],
    ) -> Self {
        // Strict: never print an empty string for something unknown: fail, and show the
        // template. A template over the limits is shown as written too.
        let env = crate::template::environment();
        let inputs: BTreeMap<String, JinjaValue> = declared_inputs
            .iter()
            .map(|name| {
                let value = match input_values.get(name) {
                    Some(v) => jinja(v),
                    None => JinjaValue::from_object(Symbol(format!("inputs.{name}"))),
                };
                (name.clone(), value)
            })
            .collect();
        let inputs = JinjaValue::from(inputs);
        let secrets: BTreeMap<String, JinjaValue> = secrets
            .iter()
            .map(|name| (name.clone(), JinjaValue::from_object(Secret)))
            .collect();
        let secrets = JinjaValue::from(secrets);
        let mut renderer = Self {
            env,
            rendered: RefCell::default(),
            inputs,
            vars: JinjaValue::from(()),
            secrets,
        };
        // Vars may use inputs; render them once so steps see their values.
        let rendered: BTreeMap<String, JinjaValue> = vars
            .iter()
            .map(|(name, value)| (name.clone(), jinja(renderer.value(value, None))))
            .collect();
        renderer.vars = JinjaValue::from(rendered);
        renderer
    }

    /// A JSON value with every template string rendered; secrets in literal URLs and
    /// `password` fields redacted too.
    pub fn value(&self, value: &Value, item: Option<&Value>) -> Value {
        match value {
            Value::String(s) => self
                .whole_list(s, item)
                .unwrap_or_else(|| Value::String(self.text(s, item))),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.value(v, item)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let shown = match v {
                            Value::String(s) if k == "password" && !s.is_empty() => {
                                Value::String(if is_template(s) {
                                    self.text(s, item)
                                } else {
                                    REDACTED.to_string()
                                })
                            }
                            other => self.value(other, item),
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `"{{ inputs.apps }}"` where a list is expected: the list itself, shown as a list.
    fn whole_list(&self, text: &str, item: Option<&Value>) -> Option<Value> {
        let expression = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
        if expression.contains("{{") || mentions_runtime(text) {
            return None;
        }
        let rendered =
            self.render_once(&format!("{{{{ ({}) | tojson }}}}", expression.trim()), item);
        match serde_json::from_str::<Value>(&rendered).ok()? {
            list @ Value::Array(_) => Some(list),
            _ => None,
        }
    }

    pub fn text(&self, text: &str, item: Option<&Value>) -> String {
        if !is_template(text) {
            return redact_url_password(text);
        }
        if text.contains("{%") {
            // Control flow over runtime values cannot be previewed; show it as written.
            if mentions_runtime(text) {
                return redact_url_password(text);
            }
            return self.render(text, item);
        }
        // Render block by block: a block that computes with runtime outputs
        // (`steps.count.rows[0].n > 0`) is shown as its expression, never evaluated over
        // placeholders (which would print a meaningless `True`).
        // Blocks as the template engine sees them: a `}}` inside a string literal
        // (`{{ '}}' }}`) does not end one.
        let mut out = String::new();
        let mut done = 0;
        for code in crate::template::blocks(text) {
            let (open, close) = (code.start - 2, (code.end + 2).min(text.len()));
            // An unclosed block is shown as written.
            if code.end >= text.len() || text.get(close - 2..close) != Some("}}") {
                break;
            }
            out.push_str(&text[done..open]);
            let inner = text[code].trim();
            if mentions_runtime(inner) && !is_plain_reference(inner) {
                out.push_str(&format!("⟨{inner}⟩"));
            } else if let Some(symbol) = runtime_symbol(inner) {
                out.push_str(&symbol);
            } else {
                out.push_str(&self.render_once(&text[open..close], item));
            }
            done = close;
        }
        out.push_str(&text[done..]);
        redact_url_password(&out)
    }

    /// [`Self::render`], remembered by the block's text and the item.
    fn render_once(&self, block: &str, item: Option<&Value>) -> String {
        let mut key = block.to_string();
        if let Some(item) = item {
            key.push('\0');
            key.push_str(&item.to_string());
        }
        if let Some(known) = self.rendered.borrow().get(&key) {
            return known.clone();
        }
        let shown = self.render(block, item);
        self.rendered.borrow_mut().insert(key, shown.clone());
        shown
    }

    fn render(&self, text: &str, item: Option<&Value>) -> String {
        let ctx = context! {
            inputs => &self.inputs,
            vars => &self.vars,
            secrets => &self.secrets,
            steps => JinjaValue::from_object(Symbol("steps".into())),
            run => JinjaValue::from_object(Symbol("run".into())),
            item => item.map(jinja),
        };
        // A template the plan cannot evaluate (a filter over a runtime value) is shown as written.
        crate::template::render(&self.env, text, &ctx).unwrap_or_else(|_| text.to_string())
    }
}

/// Does the expression read something only known at run time?
fn mentions_runtime(expression: &str) -> bool {
    ["steps", "run"].iter().any(|root| {
        expression.match_indices(root).any(|(i, _)| {
            let before = expression[..i].chars().next_back();
            let after = expression[i + root.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// `steps['latest-backup'].path` as the plan shows it, `⟨steps.latest-backup.path⟩`, read
/// without the template engine: each member of a runtime root is a [`Symbol`] that adds
/// `.key`, so the path's segments joined by dots is what rendering it would print. `None`
/// for anything but a root followed by `.name`, `['name']` or `[0]` segments (the engine
/// renders those).
fn runtime_symbol(expression: &str) -> Option<String> {
    let root = ["steps", "run"]
        .into_iter()
        .find(|root| expression.starts_with(root))?;
    let mut shown = format!("⟨{root}");
    let mut rest = &expression[root.len()..];
    while !rest.is_empty() {
        let (segment, after) = if let Some(attribute) = rest.strip_prefix('.') {
            let end = attribute
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(attribute.len());
            let name = &attribute[..end];
            if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                return None;
            }
            (name, &attribute[end..])
        } else {
            let inside = rest.strip_prefix('[')?;
            let end = inside.find(']')?;
            let key = &inside[..end];
            let key = match key.as_bytes().first()? {
                quote @ (b'\'' | b'"') => {
                    let unquoted = key
                        .strip_prefix(*quote as char)?
                        .strip_suffix(*quote as char)?;
                    if unquoted.contains(['\'', '"', '\\']) {
                        return None;
                    }
                    unquoted
                }
                _ if key.bytes().all(|b| b.is_ascii_digit()) => key,
                _ => return None,
            };
            (key, &inside[end + 1..])
        };
        shown.push('.');
        shown.push_str(segment);
        rest = after;
    }
    shown.push('⟩');
    Some(shown)
}

/// `steps['latest-backup'].path`: a lookup that the plan can show by name.
fn is_plain_reference(expression: &str) -> bool {
    expression
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']' | '\'' | '"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `{{ '}}' }}`: a closing brace inside a string literal does not end the block.
    #[test]
    fn escaped_braces_plan_as_the_run_prints_them() {
        assert_eq!(renderer().text("{{ '{{' }}.Id{{ '}}' }}", None), "{{.Id}}");
    }

    fn renderer() -> PlanRenderer {
        let mut values = Map::new();
        values.insert("glob".into(), json!("/backups/*.gz"));
        PlanRenderer::new(
            &["glob".into(), "tag".into()],
            &values,
            &[("dir".into(), json!("{{ inputs.glob }}"))],
            &["db_password".into()],
        )
    }

    #[test]
    fn known_values_render_unknown_ones_stay_symbolic() {
        let r = renderer();
        assert_eq!(r.text("{{ inputs.glob }}", None), "/backups/*.gz");
        assert_eq!(r.text("{{ vars.dir }}", None), "/backups/*.gz");
        assert_eq!(r.text("img:{{ inputs.tag }}", None), "img:⟨inputs.tag⟩");
        assert_eq!(
            r.text("{{ steps['latest-backup'].path }}", None),
            "⟨steps.latest-backup.path⟩"
        );
        assert_eq!(r.text("svc-{{ item }}", Some(&json!("api"))), "svc-api");
        assert_eq!(
            r.text(
                "{{ steps.count.rows[0].n > 0 }} for {{ inputs.glob }}",
                None
            ),
            "⟨steps.count.rows[0].n > 0⟩ for /backups/*.gz"
        );
    }

    /// The shortcut for plain runtime references prints what the template engine prints.
    #[test]
    fn runtime_references_read_without_the_engine_as_the_engine_renders_them() {
        let r = renderer();
        for reference in [
            "steps['latest-backup'].path",
            "steps[\"a-b\"].rows[0].n",
            "steps.count.rows[12]",
            "run.id",
            "steps",
        ] {
            let symbol = runtime_symbol(reference).expect(reference);
            assert_eq!(symbol, r.render(&format!("{{{{ {reference} }}}}"), None));
        }
        for engine in [
            "steps.x-y",
            "stepsx",
            "steps[x]",
            "steps['a\\'b']",
            "steps.0",
            "runs.x",
        ] {
            assert_eq!(runtime_symbol(engine), None, "{engine}");
        }
    }

    #[test]
    fn secrets_never_show() {
        let r = renderer();
        assert_eq!(
            r.text(
                "postgres://goodgo:{{ secrets.db_password }}@db/goodgo",
                None
            ),
            "postgres://goodgo:••••@db/goodgo"
        );
        assert_eq!(
            r.text("postgres://u:hunter2@db:5432/x", None),
            "postgres://u:••••@db:5432/x"
        );
        assert_eq!(
            r.value(&json!({"password": "hunter2"}), None),
            json!({"password": "••••"})
        );
        assert_eq!(r.text("http://host:9090/x", None), "http://host:9090/x");
    }
}
