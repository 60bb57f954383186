//! `for_each`: its items, from a literal list or one expression over inputs and vars, and
//! the ids of the steps they expand to (`restart[api]`).

use super::*;

impl<'a, A: Action> Compiler<'a, A> {
    /// The items of a `for_each`: a literal list, or one template over inputs and vars.
    pub(super) fn for_each(
        &mut self,
        node: &YamlNode,
        input_values: &Map<String, Value>,
    ) -> Option<Vec<Value>> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items.iter().map(YamlNode::to_json).collect(),
            NodeKind::Str(text) if is_template(text) => {
                let scope = Scope {
                    steps: StepAccess::NoSteps,
                    item: false,
                    printed_in: Some("`for_each` (items name the steps)".into()),
                };
                if !self.check_text(text, node.span, false, &scope) {
                    return None;
                }
                self.evaluate_items(text, node.span, input_values)?
            }
            _ => {
                self.errors.push(CompileError::ForEach {
                    message: format!("`for_each` must be a list, found {}", node.kind.describe()),
                    hint: Some(
                        "write `for_each: [api, web]` or `for_each: \"{{ inputs.services }}\"`"
                            .into(),
                    ),
                    span: node.span,
                });
                return None;
            }
        };
        if items.is_empty() {
            let (message, hint) = match &node.kind {
                // The list came from an input: the value given is the mistake, not this line.
                NodeKind::Str(text) => (
                    format!("`for_each: {}` has no items", text.trim()),
                    "the value given (by --input or the environment file) is an empty list; a step over nothing never runs: give it items, or skip the step with `when`",
                ),
                _ => (
                    "`for_each` has no items".to_string(),
                    "a step over nothing never runs; remove it or give it items",
                ),
            };
            self.errors.push(CompileError::ForEach {
                message,
                hint: Some(hint.into()),
                span: node.span,
            });
            return None;
        }
        Some(items)
    }

    pub(super) fn evaluate_items(
        &mut self,
        text: &str,
        span: Span,
        input_values: &Map<String, Value>,
    ) -> Option<Vec<Value>> {
        let inner = text
            .trim()
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"));
        let Some(expression) = inner else {
            self.errors.push(CompileError::ForEach {
                message: "`for_each` must be a single `{{ ... }}` expression giving a list".into(),
                hint: Some("e.g. `for_each: \"{{ inputs.services }}\"`".into()),
                span,
            });
            return None;
        };
        let vars: Map<String, Value> = self
            .raw
            .vars
            .iter()
            .map(|v| (v.name.value.clone(), v.value.to_json()))
            .collect();
        // Lenient here: an input `validate` was not given is undefined, and its items unknown.
        let mut env = crate::template::environment();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        let result = crate::template::eval(
            &env,
            expression,
            &minijinja::context! {
                inputs => minijinja::Value::from(minijinja::value::Serde(input_values)),
                vars => minijinja::Value::from(minijinja::value::Serde(&vars)),
            },
        );
        match result.map(|v| (v.is_undefined(), serde_json::to_value(&v))) {
            // An input not given to `validate`: the items are unknown until run time.
            Ok((true, _)) => Some(vec![Value::String(format!("⟨{}⟩", expression.trim()))]),
            Ok((false, Ok(Value::Array(items)))) => Some(items),
            Ok((false, other)) => {
                self.errors.push(CompileError::ForEach {
                    message: format!(
                        "`for_each` must give a list, got {}",
                        other.map_or_else(|e| e.to_string(), |v| v.to_string())
                    ),
                    hint: Some("list inputs are declared with `type: list`".into()),
                    span,
                });
                None
            }
            Err(e) => {
                self.errors.push(CompileError::ForEach {
                    message: format!(
                        "cannot evaluate `for_each`: {}",
                        e.detail().unwrap_or("error")
                    ),
                    hint: None,
                    span,
                });
                None
            }
        }
    }
}

/// `restart[api]` when items are distinct words or numbers, `restart[0]` otherwise.
pub(super) fn item_labels(items: &[Option<Value>]) -> Vec<Option<String>> {
    let words: Vec<Option<String>> = items
        .iter()
        .map(|item| match item {
            Some(Value::String(s)) if !s.is_empty() && !s.contains([']', '[']) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let distinct = words.iter().all(Option::is_some)
        && words.iter().collect::<std::collections::HashSet<_>>().len() == words.len();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            None => None,
            Some(_) if distinct => words[i].clone(),
            Some(_) => Some(i.to_string()),
        })
        .collect()
}
