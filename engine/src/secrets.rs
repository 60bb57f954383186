//! Secret values at run time: where they come from, and how they are kept out of everything
//! runbook writes (journal, console, reports).
//!
//! Templates see the real values, because a step needs them (a password in a connection URL).
//! Everything a run *writes* passes through [`Redactor`], which replaces every secret value,
//! and the password of any URL, by `••••`. Redacting at the point of writing, rather than
//! tracking which strings are tainted, also catches a secret echoed back by a failing command.

use std::fmt;

use crate::load::SecretSpec;
use crate::plan::REDACTED;

/// The resolved value of every declared secret.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Vec<(String, String)>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.values.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Secrets").field("names", &names).finish()
    }
}

/// A secret that could not be read; the message names the secret and its source, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    pub name: String,
    pub message: String,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret `{}`: {}", self.name, self.message)
    }
}

impl Secrets {
    /// Reads every secret from its source. `env` is passed in so tests need not touch the
    /// process environment.
    pub fn resolve(
        specs: &[(String, SecretSpec)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<SecretError>> {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for (name, spec) in specs {
            let value = match (&spec.env, &spec.file) {
                (Some(var), _) => env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    format!("environment variable `{var}` is not set; export it before the run")
                }),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map(|text| text.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|e| format!("cannot read `{path}`: {e}")),
                (None, None) => Err("declares no source (`env:` or `file:`)".to_string()),
            };
            let value = match value {
                Err(_) if spec.optional && spec.env.is_some() => Ok(String::new()),
                other => other,
            };
            match value {
                Ok(value) => values.push((name.clone(), value)),
                Err(message) => errors.push(SecretError {
                    name: name.clone(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Self { values })
        } else {
            Err(errors)
        }
    }

    pub fn from_pairs(values: Vec<(String, String)>) -> Self {
        Self { values }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.values.iter().map(|(_, v)| v.clone()))
    }
}

/// Replaces secret values in text that is about to be written anywhere.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.needles.len())
    }
}

/// Values this short would redact ordinary words and digits all over the journal, making it
/// useless, while hiding next to nothing; they are still never printed where the compiler can
/// see them (it refuses secrets in printed params).
const MIN_REDACTED_LEN: usize = 4;

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut needles: Vec<String> = Vec::new();
        for value in values.into_iter().filter(|v| v.len() >= MIN_REDACTED_LEN) {
            // A secret inside a JSON string is written escaped; catch that form too.
            let escaped = serde_json::to_string(&value).unwrap_or_default();
            let escaped = escaped.trim_matches('"').to_string();
            if escaped != value {
                needles.push(escaped);
            }
            needles.push(value);
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Self { needles }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut text = crate::plan::redact_url_password(text);
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), REDACTED);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: Option<&str>, file: Option<&str>) -> SecretSpec {
        SecretSpec {
            env: env.map(str::to_string),
            file: file.map(str::to_string),
            description: None,
            optional: false,
        }
    }

    #[test]
    fn an_unset_optional_secret_is_empty_and_a_required_one_is_an_error() {
        let optional = SecretSpec {
            optional: true,
            ..spec(Some("SLACK_WEBHOOK_URL"), None)
        };
        let specs = vec![("slack".to_string(), optional)];
        let secrets = Secrets::resolve(&specs, |_| None).unwrap();
        assert_eq!(secrets.iter().collect::<Vec<_>>(), [("slack", "")]);
        assert_eq!(
            secrets.redactor().redact("nothing hidden"),
            "nothing hidden"
        );
    }

    #[test]
    fn missing_sources_are_named_without_values() {
        let specs = vec![
            ("db".to_string(), spec(Some("DB_PASSWORD"), None)),
            ("hook".to_string(), spec(None, Some("/nonexistent/hook"))),
        ];
        let errors = Secrets::resolve(&specs, |_| None).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "secret `db`: environment variable `DB_PASSWORD` is not set; export it before the run"
        );
        assert!(
            errors[1]
                .message
                .starts_with("cannot read `/nonexistent/hook`")
        );
    }

    #[test]
    fn redacts_values_escaped_forms_and_url_passwords() {
        let specs = vec![("db".to_string(), spec(Some("DB"), None))];
        let secrets = Secrets::resolve(&specs, |_| Some("s3cr\"et".into())).unwrap();
        let redactor = secrets.redactor();
        assert_eq!(redactor.redact("pw=s3cr\"et!"), "pw=••••!");
        assert_eq!(
            redactor.redact(r#"{"e":"pw=s3cr\"et"}"#),
            r#"{"e":"pw=••••"}"#
        );
        assert_eq!(
            redactor.redact("postgres://u:other@h/db"),
            "postgres://u:••••@h/db"
        );
        assert!(!format!("{secrets:?}").contains("s3cr"));
    }
}
