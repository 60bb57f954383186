//! Input values: `--input name=value` converted to the declared type, defaults, required.

use serde_json::{Map, Value};

use super::CompileError;
use crate::load::{InputSpec, InputType, Named};
use crate::params::Duration;
use crate::suggest::did_you_mean;

/// Resolve every declared input; `require` reports required inputs that were not given
/// (`validate` checks a playbook without inputs, `plan` and `run` need them).
pub fn resolve(
    declared: &[Named<InputSpec>],
    given: &[(String, String)],
    require: bool,
    errors: &mut Vec<CompileError>,
) -> Map<String, Value> {
    let mut values = Map::new();
    for (name, _) in given {
        if !declared.iter().any(|d| &d.name.value == name) {
            let names = declared.iter().map(|d| d.name.value.as_str());
            errors.push(CompileError::UnknownInputGiven {
                name: name.clone(),
                hint: match did_you_mean(name, names) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!(
                        "declared inputs: {}",
                        declared
                            .iter()
                            .map(|d| d.name.value.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            });
        }
    }
    for input in declared {
        let spec = &input.value;
        let name = &input.name.value;
        if let Some(default) = &spec.default
            && let Err(message) = check_type(spec.kind, default)
        {
            errors.push(CompileError::InvalidInput {
                name: name.clone(),
                message: format!("default {message}"),
                span: Some(input.span),
            });
        }
        let given = given.iter().rev().find(|(n, _)| n == name);
        match (given, &spec.default) {
            (Some((_, text)), _) => match convert(spec.kind, text) {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(message) => errors.push(CompileError::InvalidInput {
                    name: name.clone(),
                    message: format!("`{text}` {message}"),
                    span: Some(input.name.span),
                }),
            },
            (None, Some(default)) => {
                values.insert(name.clone(), default.clone());
            }
            (None, None) if require && spec.is_required() => {
                errors.push(CompileError::MissingInput {
                    name: name.clone(),
                    span: input.name.span,
                })
            }
            (None, None) => {}
        }
    }
    values
}

/// Convert command-line text to the input's type.
fn convert(kind: InputType, text: &str) -> Result<Value, String> {
    match kind {
        InputType::String => Ok(Value::String(text.to_string())),
        InputType::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "is not an integer".to_string()),
        InputType::Number => text
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| "is not a number".to_string()),
        InputType::Boolean => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("is not a boolean (`true` or `false`)".to_string()),
        },
        InputType::Duration => Duration::parse(text)
            .map(|_| Value::String(text.to_string()))
            .map_err(|e| e.replace("\nhint: ", "; ")),
        // `a,b,c`, or a JSON array for items that are not plain words.
        InputType::List if text.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<Value>>(text)
                .map(Value::Array)
                .map_err(|e| format!("is not a JSON list ({e})"))
        }
        InputType::List => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
    }
}

fn check_type(kind: InputType, value: &Value) -> Result<(), String> {
    let ok = match kind {
        InputType::String => value.is_string(),
        InputType::Integer => value.is_i64() || value.is_u64(),
        InputType::Number => value.is_number(),
        InputType::Boolean => value.is_boolean(),
        InputType::Duration => {
            return match value.as_str() {
                Some(text) => Duration::parse(text)
                    .map(|_| ())
                    .map_err(|e| e.replace("\nhint: ", "; ")),
                None => Err("must be a duration such as `30s`".to_string()),
            };
        }
        InputType::List => value.is_array(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be of type {}",
            serde_json::to_value(kind).unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_command_line_text_to_the_declared_type() {
        assert_eq!(convert(InputType::Integer, "42"), Ok(Value::from(42)));
        assert!(convert(InputType::Integer, "4x").is_err());
        assert_eq!(convert(InputType::Boolean, "true"), Ok(Value::Bool(true)));
        assert_eq!(
            convert(InputType::List, "api, web"),
            Ok(serde_json::json!(["api", "web"]))
        );
        assert!(convert(InputType::Duration, "5 parsecs").is_err());
    }
}
