//! `notify.webhook`: tell people (Slack-compatible incoming webhooks).

use crate::http::{Body, Method, Outgoing, render_map};
use crate::prelude::*;

/// POST a JSON message to a webhook.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Usually `{{ secrets.slack_webhook }}`: the URL is the credential.
    pub url: Template,
    /// Message text (sent as `{"text": ...}`).
    pub text: Template,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
}

impl Verb for Webhook {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Post a message to a webhook (Slack-compatible)";
    const OUTPUTS: &'static [&'static str] = &["status_code"];
    const PRINTED: &'static [&'static str] = &["text"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let request = Outgoing {
                method: Method::Post,
                url: ctx.render(&self.url)?,
                headers: render_map(ctx, &self.headers)?,
                body: Body::Json(serde_json::json!({ "text": ctx.render(&self.text)? })),
                timeout: std::time::Duration::from_secs(30),
            };
            let response = request.send().await?;
            response.check(None)?;
            Ok(outputs(
                serde_json::json!({ "status_code": response.status }),
            ))
        })
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            // The URL is usually the credential: only the text is shown.
            Ok(format!(
                "would post to a webhook: \"{}\"",
                ctx.render(&self.text)?
            ))
        })
    }
}

/// Posts run notifications (`notify:` webhooks, `--notify`) with the same HTTP client.
pub struct RunNotifier;

impl runbook_engine::execute::notify::Notifier for RunNotifier {
    fn post<'a>(
        &'a self,
        url: &'a str,
        payload: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut request = Outgoing::api(Method::Post, url.to_string());
            request.body = Body::Json(payload.clone());
            let response = request.send().await.map_err(|e| e.message)?;
            response.check(None).map_err(|e| e.message)
        })
    }
}
