//! `http.*`: health endpoints and API calls.

use crate::prelude::*;

/// What a response must look like.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted status codes: `200` or `[200, 204]`. Default: any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Regex the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Values at JSON paths: `{ "status": "ok", "info.database.status": "up" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub json: BTreeMap<String, serde_json_value::Value>,
    /// Headers that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// JSON values inside expectations, without pulling serde_json into every family.
pub mod serde_json_value {
    use crate::prelude::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(untagged)]
    pub enum Value {
        Bool(bool),
        Int(i64),
        Float(f64),
        Text(String),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Status {
    One(u16),
    Any(Vec<u16>),
}

/// GET a URL and check the response (a health check).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub url: Template,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Per-request timeout (the step's `timeout` bounds all retries together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Tpl<Duration>>,
}

impl Verb for Check {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "GET a URL and check status, headers and body";
    const OUTPUTS: &'static [&'static str] = &["status", "body", "json"];
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

/// Any HTTP request; GET and HEAD are read-only, other methods mutating.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub method: Method,
    pub url: Template,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
    /// Raw body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Template>,
    /// JSON body (sets `Content-Type: application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<BTreeMap<String, Template>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Tpl<Duration>>,
}

impl Verb for Request {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Send an HTTP request and check the response";
    const OUTPUTS: &'static [&'static str] = &["status", "body", "json", "headers"];
    fn effect(&self) -> Effect {
        match self.method {
            Method::Get | Method::Head => Effect::ReadOnly,
            Method::Post | Method::Put | Method::Patch | Method::Delete => Effect::Mutating,
        }
    }
    fn validate(&self) -> Result<(), String> {
        if self.body.is_some() && self.json.is_some() {
            return Err("give either `body` or `json`, not both".into());
        }
        Ok(())
    }
}
