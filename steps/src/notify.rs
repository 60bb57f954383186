//! `notify.webhook`: tell people (Slack-compatible incoming webhooks).

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
    const OUTPUTS: &'static [&'static str] = &["status"];
    const PRINTED: &'static [&'static str] = &["text"];
}
