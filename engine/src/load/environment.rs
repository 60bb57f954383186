//! Environment files (`environments/goodgo.yml`): the input values of one stack, so that the
//! same playbooks serve every stack of the seeds without editing them.
//!
//! ```yaml
//! description: GoodGo production on the Hetzner host
//! inputs:
//!   project: goodgo
//!   apps: [api, web, ai-services]
//!   production: true
//! ```
//! A playbook takes the values of the inputs it declares and ignores the others: one file
//! serves many playbooks. `--input` on the command line wins over the file.

use super::LoadError;
use super::node::{Node, NodeKind};
use super::parse;
use crate::source::SourceFile;

/// Keys of an environment file's top level.
pub const ENVIRONMENT_KEYS: &[&str] = &["description", "inputs"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Environment {
    pub description: Option<String>,
    /// Values as `--input` text: scalars as written, lists as JSON.
    pub inputs: Vec<(String, String)>,
}

/// Reads an environment file; every problem with its place in the file.
pub fn load_environment(source: &SourceFile) -> Result<Environment, Vec<LoadError>> {
    let root = parse::parse(source).map_err(|e| {
        vec![LoadError::Syntax {
            message: e.message,
            span: e.span,
        }]
    })?;
    let NodeKind::Map(entries) = &root.kind else {
        return Err(vec![wrong_type("environment file", "a mapping", &root)]);
    };
    let mut errors = Vec::new();
    let mut environment = Environment::default();
    for (key, value) in entries {
        match key.value.as_str() {
            "description" => match &value.kind {
                NodeKind::Str(text) => environment.description = Some(text.clone()),
                _ => errors.push(wrong_type("description", "a string", value)),
            },
            "inputs" => match &value.kind {
                NodeKind::Map(inputs) => {
                    for (name, value) in inputs {
                        match input_text(value) {
                            Some(text) => environment.inputs.push((name.value.clone(), text)),
                            None => errors.push(wrong_type(
                                &name.value,
                                "a string, number, boolean or list of them",
                                value,
                            )),
                        }
                    }
                }
                _ => errors.push(wrong_type("inputs", "a mapping", value)),
            },
            other => errors.push(LoadError::UnknownKey {
                key: other.to_string(),
                context: "the environment file",
                hint: match crate::suggest::did_you_mean(other, ENVIRONMENT_KEYS.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "an environment file has `description` and `inputs`".into(),
                },
                span: key.span,
            }),
        }
    }
    if errors.is_empty() {
        Ok(environment)
    } else {
        Err(errors)
    }
}

/// The value as `--input` would give it: lists as JSON so that items may hold commas.
fn input_text(value: &Node) -> Option<String> {
    match &value.kind {
        NodeKind::Seq(items) => items
            .iter()
            .all(|i| i.scalar_text().is_some())
            .then(|| value.to_json().to_string()),
        NodeKind::Map(_) | NodeKind::Null => None,
        _ => value.scalar_text(),
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &Node) -> LoadError {
    LoadError::WrongType {
        key: key.to_string(),
        expected,
        found: found.kind.describe(),
        span: found.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Environment, Vec<LoadError>> {
        load_environment(&SourceFile::new("env.yml", text))
    }

    #[test]
    fn values_become_input_text() {
        let env = load("description: demo\ninputs:\n  project: goodgo\n  port: 5432\n  production: false\n  apps: [api, \"web,2\"]\n").unwrap();
        assert_eq!(env.description.as_deref(), Some("demo"));
        assert_eq!(
            env.inputs,
            vec![
                ("project".to_string(), "goodgo".to_string()),
                ("port".to_string(), "5432".to_string()),
                ("production".to_string(), "false".to_string()),
                ("apps".to_string(), r#"["api","web,2"]"#.to_string()),
            ]
        );
    }

    #[test]
    fn shape_errors_point_into_the_file() {
        let errors = load("inptus:\n  a: 1\ninputs:\n  nested: { a: 1 }\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            matches!(&errors[0], LoadError::UnknownKey { hint, .. } if hint.contains("`inputs`"))
        );
        assert!(
            matches!(&errors[1], LoadError::WrongType { key, span, .. } if key == "nested" && span.start > 20)
        );
    }
}
