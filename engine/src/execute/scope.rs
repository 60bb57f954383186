//! The values templates read at run time, and rendering with them.
//!
//! The compiler already proved every reference points at something declared and at a step the
//! reader depends on; here the values are filled in as steps finish.

use chrono::{DateTime, Utc};
use minijinja::value::Value as JinjaValue;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use petgraph::graph::NodeIndex;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::action::Action;
use crate::action::Outputs;
use crate::compile::{Playbook, Step};
use crate::secrets::Secrets;

fn jinja<T: serde::Serialize>(value: T) -> JinjaValue {
    JinjaValue::from(minijinja::value::Serde(value))
}

/// The template engine (it lives with the template limits, below every stage).
pub use crate::template::Templates;

/// Facts about the run, readable as `run.*`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunFacts {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub playbook: String,
    pub check_mode: bool,
}

/// Everything templates can read, growing as steps finish.
pub struct Scope {
    inputs: JinjaValue,
    vars: JinjaValue,
    secrets: JinjaValue,
    run: JinjaValue,
    /// Shared with every context handed out, not copied into each: a step's context costs
    /// the same at the 10,000th step as at the first. Sharing a map that keeps growing is
    /// safe because the compiler proved a template reads only steps its step depends on,
    /// and those had finished before its context was made.
    steps: Arc<Finished>,
    /// The context of every step without a `for_each` item: the same values each time, so
    /// made once rather than as a map of six per step.
    without_item: JinjaValue,
}

impl Scope {
    /// Vars are rendered once, here: they may read inputs (the compiler made sure that is all).
    pub fn new<A: Action>(
        playbook: &Playbook<A>,
        templates: &Templates,
        secrets: &Secrets,
        run: &RunFacts,
    ) -> Result<Self, String> {
        let secret_values: BTreeMap<&str, &str> = secrets.iter().collect();
        let mut scope = Self {
            inputs: jinja(&playbook.input_values),
            vars: JinjaValue::from(()),
            secrets: jinja(secret_values),
            run: jinja(run),
            steps: Arc::default(),
            without_item: JinjaValue::UNDEFINED,
        };
        let early = scope.context(None);
        let mut vars = Map::new();
        for (name, value) in &playbook.vars {
            let rendered =
                render_value(templates, value, &early).map_err(|e| format!("var `{name}`: {e}"))?;
            vars.insert(name.clone(), rendered);
        }
        scope.vars = jinja(vars);
        scope.without_item = scope.context(None);
        Ok(scope)
    }

    /// The outputs of a finished step become readable as `steps.<id>.*`; an item of a
    /// `for_each` step also adds to `steps.<origin>.<output>`, a list in item order.
    pub fn record<A>(&mut self, index: NodeIndex, step: &Step<A>, outputs: &Outputs) {
        let mut finished = self.steps.lock();
        finished
            .by_id
            .insert(step.id.clone(), Recorded::new(outputs));
        if step.item.is_some() {
            let group = finished.groups.entry(step.origin.clone()).or_default();
            group.items.insert(index, outputs.clone());
            // Merged when first read: k items finishing cost O(k), not O(k²).
            group.merged = None;
        }
    }

    /// The template context for one step (or compensation) and its `for_each` item.
    pub fn values(&self, item: Option<&Value>) -> JinjaValue {
        match item {
            None => self.without_item.clone(),
            Some(_) => self.context(item),
        }
    }

    fn context(&self, item: Option<&Value>) -> JinjaValue {
        minijinja::context! {
            inputs => self.inputs.clone(),
            vars => self.vars.clone(),
            secrets => self.secrets.clone(),
            run => self.run.clone(),
            steps => JinjaValue::from_dyn_object(self.steps.clone()),
            item => item.map(jinja).unwrap_or(JinjaValue::UNDEFINED),
        }
    }
}

/// The outputs of the steps that finished, as templates see them (`steps.<id>`).
#[derive(Debug, Default)]
struct Finished(Mutex<FinishedSteps>);

#[derive(Debug, Default)]
struct FinishedSteps {
    by_id: BTreeMap<String, Recorded>,
    /// Outputs of the items of each `for_each` step, by item order.
    groups: BTreeMap<String, Group>,
}

/// A finished step's outputs, made a template value when a template first reads them: most
/// steps' outputs are never read, and the conversion was a fifth of settling a step.
#[derive(Debug)]
struct Recorded {
    outputs: Outputs,
    value: std::cell::OnceCell<JinjaValue>,
}

impl Recorded {
    fn new(outputs: &Outputs) -> Self {
        Self {
            outputs: outputs.clone(),
            value: std::cell::OnceCell::new(),
        }
    }

    fn value(&self) -> JinjaValue {
        self.value.get_or_init(|| jinja(&self.outputs)).clone()
    }
}

#[derive(Debug, Default)]
struct Group {
    items: BTreeMap<NodeIndex, Outputs>,
    /// `steps.<origin>`: each output as a list in item order, made when first read.
    merged: Option<JinjaValue>,
}

impl Group {
    fn merged(&mut self) -> JinjaValue {
        self.merged
            .get_or_insert_with(|| {
                let mut merged: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
                for item_outputs in self.items.values() {
                    for (name, value) in item_outputs {
                        merged.entry(name).or_default().push(value);
                    }
                }
                jinja(merged)
            })
            .clone()
    }
}

impl Finished {
    fn lock(&self) -> std::sync::MutexGuard<'_, FinishedSteps> {
        // Held only to read or insert a value; a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Object for Finished {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        let id = key.as_str()?;
        let mut finished = self.lock();
        if let Some(group) = finished.groups.get_mut(id) {
            return Some(group.merged());
        }
        finished.by_id.get(id).map(Recorded::value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let finished = self.lock();
        let ids: std::collections::BTreeSet<&String> = finished
            .by_id
            .keys()
            .chain(finished.groups.keys())
            .collect();
        Enumerator::Values(
            ids.into_iter()
                .map(|id| JinjaValue::from(id.as_str()))
                .collect(),
        )
    }
}

/// Renders every template string inside a JSON value (a var may be a list or a mapping).
fn render_value(
    templates: &Templates,
    value: &Value,
    values: &JinjaValue,
) -> Result<Value, minijinja::Error> {
    Ok(match value {
        Value::String(text) => Value::String(templates.render(text, values)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(templates, v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(templates, v, values)?)))
                .collect::<Result<_, minijinja::Error>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> JinjaValue {
        minijinja::context! {
            inputs => jinja(serde_json::json!({"flush": true, "port": 5432})),
            steps => jinja(serde_json::json!({"count": {"rows": [{"n": 3}]}})),
        }
    }

    #[test]
    fn conditions_accept_expressions_and_templates() {
        let t = Templates::default();
        let v = values();
        assert!(t.condition("inputs.flush", &v).unwrap());
        assert!(t.condition("{{ steps.count.rows[0].n > 2 }}", &v).unwrap());
        assert!(!t.condition("{{ steps.count.rows[0].n > 5 }}", &v).unwrap());
        assert!(
            !t.condition("{% if inputs.port == 1 %}yes{% endif %}", &v)
                .unwrap()
        );
    }

    #[test]
    fn undefined_values_are_errors_not_empty_strings() {
        let t = Templates::default();
        let error = t
            .render("pg_dump -p {{ inputs.prot }}", &values())
            .unwrap_err();
        assert_eq!(error.kind(), minijinja::ErrorKind::UndefinedError);
        assert_eq!(
            t.render("-p {{ inputs.port }}", &values()).unwrap(),
            "-p 5432"
        );
    }
}
