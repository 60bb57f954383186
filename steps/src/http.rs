//! `http.*`: health endpoints and API calls.

use crate::prelude::*;
use crate::{tail_bytes, tail_lines};

mod plain;

/// What a response must look like.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted status codes: `200` or `[200, 204]`. Default: any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Regex the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Pattern>,
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
    const OUTPUTS: &'static [&'static str] = &["status_code", "body", "json"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let request = Outgoing {
                method: Method::Get,
                url: ctx.render(&self.url)?,
                headers: render_map(ctx, &self.headers)?,
                body: Body::None,
                timeout: resolve_timeout(ctx, self.request_timeout.as_ref())?,
            };
            let response = request.send().await?.redacted(ctx);
            response.check(self.expect.as_ref())?;
            Ok(response.outputs(false))
        })
    }
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
    const OUTPUTS: &'static [&'static str] = &["status_code", "body", "json", "headers"];
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
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let response = self.outgoing(ctx)?.send().await?.redacted(ctx);
            response.check(self.expect.as_ref())?;
            Ok(response.outputs(true))
        })
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            let request = self.outgoing(ctx)?;
            Ok(format!(
                "would send {} {}",
                request.method.as_str(),
                shown_url(&request.url)
            ))
        })
    }
}

impl Request {
    fn outgoing(&self, ctx: &StepContext) -> Result<Outgoing, StepError> {
        let body = match (&self.body, &self.json) {
            (Some(body), _) => Body::Text(ctx.render(body)?),
            (None, Some(fields)) => {
                let mut object = serde_json::Map::new();
                for (key, value) in fields {
                    object.insert(key.clone(), ctx.render(value)?.into());
                }
                Body::Json(serde_json::Value::Object(object))
            }
            (None, None) => Body::None,
        };
        Ok(Outgoing {
            method: self.method,
            url: ctx.render(&self.url)?,
            headers: render_map(ctx, &self.headers)?,
            body,
            timeout: resolve_timeout(ctx, self.request_timeout.as_ref())?,
        })
    }
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A request per call when none is given: long enough for a slow health endpoint, short
/// enough that a black-holed one fails with a message rather than eating the step's timeout.
const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Bytes of a response body kept as the `body` output.
const BODY_TAIL: usize = 16 << 10;

pub(crate) enum Body {
    None,
    Text(String),
    Json(serde_json::Value),
}

/// A request with every template rendered.
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Body,
    pub timeout: std::time::Duration,
}

/// Calls a JSON API (Prometheus, Alertmanager): a 2xx answer's body, parsed.
pub(crate) async fn call_json_api(
    method: Method,
    url: String,
    body: Body,
) -> Result<serde_json::Value, StepError> {
    let response = Outgoing {
        body,
        ..Outgoing::api(method, url)
    }
    .send()
    .await?;
    response.check(None)?;
    match response.json {
        Some(json) => Ok(json),
        None => Err(StepError::failed(format!(
            "{} answered {} without JSON: {}",
            response.shown_url(),
            response.status,
            tail_lines(tail_bytes(&response.body, 512), 3)
        ))),
    }
}

/// `base` + `path` with its query string encoded: `http://prom:9090` + `/api/v1/query`.
pub(crate) fn api_url(base: &str, path: &str, query: &[(&str, &str)]) -> Result<String, StepError> {
    let joined = format!("{}{path}", base.trim_end_matches('/'));
    // Without pairs, no `?`: some servers route `/api/v2/silences?` elsewhere.
    let parsed = if query.is_empty() {
        reqwest::Url::parse(&joined)
    } else {
        reqwest::Url::parse_with_params(&joined, query)
    };
    parsed
        .map(String::from)
        .map_err(|e| StepError::failed(format!("`{base}` is not a usable base URL: {e}")))
}

pub(crate) fn render_map(
    ctx: &StepContext,
    map: &BTreeMap<String, Template>,
) -> Result<BTreeMap<String, String>, StepError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), ctx.render(v)?)))
        .collect()
}

fn resolve_timeout(
    ctx: &StepContext,
    timeout: Option<&Tpl<Duration>>,
) -> Result<std::time::Duration, StepError> {
    Ok(match timeout {
        Some(t) => ctx.resolve(t)?.0,
        None => DEFAULT_REQUEST_TIMEOUT,
    })
}

/// What came back, as read off the wire (by either client).
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// What came back, for the verbs: the answer, its body parsed when it is JSON.
pub(crate) struct Response {
    /// As requested, credentials and all: for messages, [`Self::shown_url`].
    url: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub json: Option<serde_json::Value>,
}

/// An answer's headers as the verbs see them (a value that is not text reads as empty).
fn headers_of(headers: &reqwest::header::HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}

const USER_AGENT: &str = concat!("runbook/", env!("CARGO_PKG_VERSION"));

/// One client for the whole run, so its connection pool and TLS set-up are shared: a check
/// of a service costs a request on a kept-alive connection, not a new client (root
/// certificates loaded, a handshake) per step. Timeouts are per request. Kept per runtime:
/// a pooled connection belongs to the runtime that opened it (tests make one per test).
fn client() -> Result<reqwest::Client, StepError> {
    static CLIENT: std::sync::Mutex<Option<(tokio::runtime::Id, reqwest::Client)>> =
        std::sync::Mutex::new(None);
    let runtime = tokio::runtime::Handle::current().id();
    let mut cached = CLIENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((id, client)) = cached.as_ref()
        && *id == runtime
    {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| StepError::failed(format!("HTTP client: {}", error_chain(&e))))?;
    *cached = Some((runtime, client.clone()));
    Ok(client)
}

/// Whether a body may be JSON: JSON text starts, after white space, with one of these. A
/// health endpoint's `ok` is then not handed to the parser at all.
fn could_be_json(body: &str) -> bool {
    body.trim_start().as_bytes().first().is_some_and(|first| {
        matches!(
            first,
            b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        )
    })
}

impl Outgoing {
    /// A request to a service's API: no body or headers yet, the default timeout.
    pub fn api(method: Method, url: String) -> Self {
        Self {
            method,
            url,
            headers: BTreeMap::new(),
            body: Body::None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Sends the request and reads its whole answer: a plain one on the run's own
    /// connections (see [`plain`]), any other through reqwest.
    pub async fn send(self) -> Result<Response, StepError> {
        let answer = match plain::send(&self).await {
            plain::Plain::Answered(answer) => answer,
            plain::Plain::Failed(error) => return Err(self.failed(&error)),
            // Boxed: reqwest's future is large, and inline it made every plain request's
            // future as large, copied each time it moved (memmove showed in the profile).
            plain::Plain::Elsewhere => Box::pin(self.through_reqwest()).await?,
        };
        let json = could_be_json(&answer.body)
            .then(|| serde_json::from_str(&answer.body).ok())
            .flatten();
        Ok(Response {
            url: self.url,
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
            json,
        })
    }

    /// The request could not be sent or got no answer: `GET http://host/path: why`, the URL
    /// as messages show it.
    fn failed(&self, why: &str) -> StepError {
        StepError::failed(format!(
            "{} {}: {why}",
            self.method.as_str(),
            shown_url(&self.url)
        ))
    }

    async fn through_reqwest(&self) -> Result<Answer, StepError> {
        let client = client()?;
        let method =
            reqwest::Method::from_bytes(self.method.as_str().as_bytes()).expect("standard method");
        let mut request = client.request(method, &self.url).timeout(self.timeout);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request = match &self.body {
            Body::None => request,
            Body::Text(text) => request.body(text.clone()),
            Body::Json(value) => request.json(value),
        };
        // `without_url`: reqwest quotes the URL it could not reach, percent-encoded, query and
        // credentials included; the message says `shown_url` instead.
        let response = request
            .send()
            .await
            .map_err(|e| self.failed(&error_chain(&e.without_url())))?;
        let status = response.status().as_u16();
        let headers = headers_of(response.headers());
        let body = response.text().await.map_err(|e| {
            StepError::failed(format!(
                "reading {}: {}",
                shown_url(&self.url),
                error_chain(&e.without_url())
            ))
        })?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// A URL as it may be journaled and shown: its credentials (`user:password@`, a token as
/// the user name) and its query's values (API keys, signatures) become `••••`; the scheme,
/// host, port, path and the query's names stay, which is what an operator needs to tell
/// requests apart. Text that is not a URL is shown with URL passwords redacted.
pub(crate) fn shown_url(raw: &str) -> String {
    use runbook_engine::secrets::REDACTED;
    let Ok(url) = reqwest::Url::parse(raw) else {
        return runbook_engine::secrets::redact_url_password(raw);
    };
    let mut shown = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        shown.push_str(REDACTED);
        shown.push('@');
    }
    shown.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    if let Some(query) = url.query() {
        let names: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={REDACTED}"),
                None => REDACTED.to_string(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&names.join("&"));
    }
    shown
}

/// reqwest's own message is "error sending request"; the useful part ("connection refused",
/// "certificate expired") is further down the chain of sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

impl Response {
    /// The URL as messages may show it (see [`shown_url`]); made only when one is needed.
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// The body and headers with the run's secrets hidden, before any of it is cut short for
    /// an output or an error (a cut through a secret would leave a piece in clear).
    /// Expectations then see what the journal shows.
    pub fn redacted(mut self, ctx: &StepContext) -> Self {
        // Replaced only when something was hidden: an answer is seldom copied for nothing.
        let hide = |text: &mut String| {
            if let std::borrow::Cow::Owned(hidden) = ctx.redact_borrowed(text) {
                *text = hidden;
            }
        };
        hide(&mut self.body);
        for value in self.headers.values_mut() {
            hide(value);
        }
        self
    }

    pub fn check(&self, expect: Option<&Expect>) -> Result<(), StepError> {
        let fail = |what: String| {
            let body = tail_lines(tail_bytes(&self.body, 2048), 5);
            StepError::failed(format!(
                "{} answered {}: {what}; body: {body}",
                self.shown_url(),
                self.status
            ))
        };
        let default = Expect::default();
        let expect = expect.unwrap_or(&default);
        let status_ok = match &expect.status {
            None => (200..300).contains(&self.status),
            Some(Status::One(code)) => self.status == *code,
            Some(Status::Any(codes)) => codes.contains(&self.status),
        };
        if !status_ok {
            let wanted = match &expect.status {
                None => "2xx".to_string(),
                Some(Status::One(code)) => code.to_string(),
                Some(Status::Any(codes)) => format!("{codes:?}"),
            };
            return Err(fail(format!("expected status {wanted}")));
        }
        for (name, wanted) in &expect.headers {
            let found = self
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str());
            if found != Some(wanted.as_str()) {
                return Err(fail(format!(
                    "header `{name}` is {found:?}, expected \"{wanted}\""
                )));
            }
        }
        if let Some(pattern) = &expect.body
            && !pattern.is_match(&self.body)
        {
            return Err(fail(format!("body does not match /{pattern}/")));
        }
        for (path, wanted) in &expect.json {
            let found = self.json.as_ref().and_then(|json| json_path(json, path));
            if !found.is_some_and(|v| json_equals(v, wanted)) {
                let found = found.map_or("nothing".to_string(), |v| v.to_string());
                return Err(fail(format!(
                    "`{path}` is {found}, expected {}",
                    shown(wanted)
                )));
            }
        }
        Ok(())
    }

    pub fn outputs(&self, with_headers: bool) -> Outputs {
        let mut out = outputs(serde_json::json!({
            "status_code": self.status,
            "body": tail_bytes(&self.body, BODY_TAIL),
            "json": self.json.clone().unwrap_or(serde_json::Value::Null),
        }));
        if with_headers {
            out.insert("headers".into(), serde_json::json!(self.headers));
        }
        out
    }
}

/// `info.database.status` or `items.0.name` inside a JSON document.
fn json_path<'v>(value: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.').try_fold(value, |v, key| match v {
        serde_json::Value::Object(map) => map.get(key),
        serde_json::Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn json_equals(found: &serde_json::Value, wanted: &serde_json_value::Value) -> bool {
    use serde_json_value::Value as W;
    match (found, wanted) {
        (serde_json::Value::Bool(a), W::Bool(b)) => a == b,
        (serde_json::Value::Number(a), W::Int(b)) => a.as_f64() == Some(*b as f64),
        (serde_json::Value::Number(a), W::Float(b)) => a.as_f64() == Some(*b),
        (serde_json::Value::String(a), W::Text(b)) => a == b,
        _ => false,
    }
}

fn shown(wanted: &serde_json_value::Value) -> String {
    use serde_json_value::Value as W;
    match wanted {
        W::Bool(b) => b.to_string(),
        W::Int(i) => i.to_string(),
        W::Float(f) => f.to_string(),
        W::Text(t) => format!("\"{t}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_keep_the_place_and_hide_credentials_and_query_values() {
        assert_eq!(
            shown_url("https://deploy:tok%40en@api.example.com:8443/v1/x?key=abc&sig=d%2Fe&flag"),
            "https://••••@api.example.com:8443/v1/x?key=••••&sig=••••&••••"
        );
        assert_eq!(
            shown_url("https://ghp_token@github.com/org/repo"),
            "https://••••@github.com/org/repo"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:9/health"),
            "http://127.0.0.1:9/health"
        );
    }

    #[test]
    fn only_bodies_that_may_be_json_are_parsed() {
        for json in [
            " {\"a\": 1}",
            "[]",
            "\"up\"",
            "-1",
            "42",
            "true",
            "false",
            "null",
        ] {
            assert!(could_be_json(json), "{json}");
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_ok(),
                "{json}"
            );
        }
        for text in ["ok", "OK", "", "  ", "<html>", "healthy"] {
            assert!(!could_be_json(text), "{text}");
        }
    }

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let doc = serde_json::json!({"info": {"database": {"status": "up"}}, "items": [{"n": 2}]});
        assert_eq!(
            json_path(&doc, "info.database.status"),
            Some(&serde_json::json!("up"))
        );
        assert_eq!(json_path(&doc, "items.0.n"), Some(&serde_json::json!(2)));
        assert_eq!(json_path(&doc, "items.1.n"), None);
        assert!(json_equals(
            &serde_json::json!(2),
            &serde_json_value::Value::Int(2)
        ));
        assert!(!json_equals(
            &serde_json::json!("2"),
            &serde_json_value::Value::Int(2)
        ));
    }
}
