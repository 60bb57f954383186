//! Secret values at run time: where they come from, and how they are kept out of everything
//! runbook writes (journal, console, reports).
//!
//! Templates see the real values, because a step needs them (a password in a connection URL).
//! Everything a run *writes* passes through [`Redactor`], which replaces every secret value,
//! and the password of any URL, by `••••`. Redacting at the point of writing, rather than
//! tracking which strings are tainted, also catches a secret echoed back by a failing command.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use regex::Regex;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a secret's value comes from at run time. Exactly one source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Name of an environment variable holding the value.
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file holding the value (trailing newline removed), e.g. a Docker secret.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// An unset optional secret is the empty string (test it with `when:`), not an error.
    #[serde(default)]
    pub optional: bool,
}

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

/// What a secret is replaced by wherever text is written or shown.
pub const REDACTED: &str = "••••";

/// Replaces secret values in text that is about to be written anywhere.
///
/// A secret comes back in more forms than the one given: percent-encoded in a URL that an
/// HTTP client quotes in its error, JSON-escaped in a journal line, base64 in a Basic-auth
/// header a server echoes, hex in a dump. Each form of each secret is one alternative of a
/// single regex, so a line is scanned once whatever the number of secrets.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Shared by every clone (the journal writer's, the steps'), so that a value added during
    /// the run (a sensitive output) is hidden everywhere from then on.
    inner: Arc<RwLock<Compiled>>,
}

#[derive(Default)]
struct Compiled {
    values: Vec<String>,
    /// `None` when there is nothing to hide.
    pattern: Option<Regex>,
}

impl Compiled {
    fn build(values: Vec<String>) -> Self {
        let mut forms: Vec<String> = values.iter().flat_map(|v| patterns_of(v)).collect();
        // Longest first: the regex takes the first alternative that matches at a position,
        // so a secret that contains another is replaced whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        let pattern = (!forms.is_empty())
            .then(|| Regex::new(&forms.join("|")).ok())
            .flatten();
        Self { values, pattern }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.inner.read().map_or(0, |c| c.values.len());
        write!(f, "Redactor({count} values)")
    }
}

/// Values this short would redact ordinary words and digits all over the journal, making it
/// useless, while hiding next to nothing; they are still never printed where the compiler can
/// see them (it refuses secrets in printed params).
const MIN_REDACTED_LEN: usize = 4;

/// A base64 fragment shorter than this could be found by chance in any base64 text (48 bits).
const MIN_BASE64_CORE: usize = 8;

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        Self {
            inner: Arc::new(RwLock::new(Compiled::build(values))),
        }
    }

    /// Hides these values too, from now on, in every clone of this redactor: secrets made
    /// during the run (an output declared `sensitive`).
    pub fn add(&self, values: impl IntoIterator<Item = String>) {
        // Called after every step: most have no sensitive output, and pay nothing here.
        let new: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        if new.is_empty() {
            return;
        }
        let mut compiled = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let all = compiled.values.iter().cloned().chain(new).collect();
        *compiled = Compiled::build(all);
    }

    pub fn redact(&self, text: &str) -> String {
        self.redact_borrowed(text).into_owned()
    }

    /// [`Self::redact`], borrowing `text` when there is nothing in it to hide (the common
    /// case, once per journal line): no copy made, and none to compare with the original.
    pub fn redact_borrowed<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let text = url_passwords_hidden(text);
        let compiled = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let Some(pattern) = &compiled.pattern else {
            return text;
        };
        match pattern.replace_all(&text, REDACTED) {
            Cow::Borrowed(_) => text,
            Cow::Owned(hidden) => Cow::Owned(hidden),
        }
    }
}

/// The regex alternatives that find one secret: as written or percent-encoded (any mix, `+`
/// for a space), JSON-escaped, base64 (standard and URL-safe, also inside a longer encoded
/// text such as `user:password`), and hex.
fn patterns_of(value: &str) -> Vec<String> {
    let mut forms = vec![percent_tolerant(value)];
    let escaped = serde_json::to_string(value).unwrap_or_default();
    let escaped = escaped.trim_matches('"');
    if escaped != value {
        forms.push(regex::escape(escaped));
    }
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        forms.push(regex::escape(&engine.encode(value)));
        // Inside a longer text the secret starts at any of three byte offsets of a base64
        // quantum; the characters made of its bits alone are the same whatever precedes it.
        for offset in 0..3usize {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(value.as_bytes());
            let encoded = engine.encode(&bytes);
            let first = (8 * offset).div_ceil(6);
            let last = (8 * (offset + value.len())) / 6;
            if let Some(core) = encoded.get(first..last)
                && core.len() >= MIN_BASE64_CORE
            {
                forms.push(regex::escape(core));
            }
        }
    }
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    forms.push(format!("(?i:{hex})"));
    forms
}

/// `value` as a regex where each character that is not a letter or digit may also appear
/// percent-encoded (`%40` or `%40` in lower case; the UTF-8 bytes of a non-ASCII character).
fn percent_tolerant(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            continue;
        }
        let mut utf8 = [0u8; 4];
        let encoded: String = c
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        let literal = regex::escape(c.encode_utf8(&mut utf8));
        let space = if c == ' ' { "|\\+" } else { "" };
        out.push_str(&format!("(?:{literal}|(?i:{encoded}){space})"));
    }
    out
}

/// Replaces the password of every URL in `text` (`postgres://user:pw@host`) with `••••`.
pub fn redact_url_password(text: &str) -> String {
    url_passwords_hidden(text).into_owned()
}

/// [`redact_url_password`], borrowing `text` when it holds no URL.
fn url_passwords_hidden(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut hidden = false;
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        // A quote or a backslash ends it too: the text may be a line of JSON.
        let authority_end = rest
            .find(['/', '?', '#', ' ', '"', '\\'])
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority
            .rfind('@')
            .and_then(|at| authority[..at].find(':').map(|colon| (colon, at)))
        {
            Some((colon, at)) if &authority[colon + 1..at] != REDACTED => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
                hidden = true;
            }
            _ => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    if hidden {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
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
        // Borrowed when there is nothing to hide, URLs without a password included.
        for clear in ["pw=other", "http://h:8080/health", "postgres://u@h/db"] {
            assert!(
                matches!(redactor.redact_borrowed(clear), Cow::Borrowed(_)),
                "{clear}"
            );
        }
        assert_eq!(redactor.redact_borrowed("a s3cr\"et b"), "a •••• b");
        assert_eq!(redactor.redact_borrowed("x://u:p@h"), "x://u:••••@h");
    }

    #[test]
    fn redacts_percent_encoded_base64_and_hex_forms() {
        let redactor = Redactor::new(["p@ss w/rd!".to_string(), "café-clé".to_string()]);
        for (text, expected) in [
            (
                "url (http://h/x?t=p%40ss%20w%2Frd%21)",
                "url (http://h/x?t=••••)",
            ),
            ("p%40ss+w%2frd!", "••••"),
            ("caf%C3%A9-cl%c3%a9", "••••"),
            // base64 alone, in `user:secret` (a Basic-auth header), URL-safe; hex.
            ("cEBzcyB3L3JkIQ==", "••••=="),
            (
                "Authorization: Basic dXNlcjpwQHNzIHcvcmQh",
                "Authorization: Basic dXNlcjp••••",
            ),
            ("hex 7040737320772f726421", "hex ••••"),
            ("HEX 7040737320772F726421", "HEX ••••"),
        ] {
            assert_eq!(redactor.redact(text), expected, "{text}");
        }
        // Ordinary text that merely shares letters is left alone.
        assert_eq!(redactor.redact("pass word"), "pass word");
    }
}
