//! `alertmanager.*`: silence alerts for the window of a drill or maintenance.

use crate::http::{Body, Method, api_url, call_json_api};
use crate::prelude::*;
use serde_json::json;

/// Create a silence; undo it with `alertmanager.unsilence` as the rollback.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    /// Alertmanager base URL, e.g. `http://localhost:9093`.
    pub url: Template,
    /// Label matchers, e.g. `{ alertname: PostgresDown, env: drill }`. Values are exact matches.
    pub matchers: BTreeMap<String, Template>,
    /// How long the silence lasts.
    pub duration: Tpl<Duration>,
    pub comment: Template,
    #[serde(default = "default_author")]
    pub created_by: String,
}

fn default_author() -> String {
    "runbook".into()
}

impl Verb for Silence {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Silence alerts for a while";
    const OUTPUTS: &'static [&'static str] = &["silence_id"];
    const PRINTED: &'static [&'static str] = &["comment"];
    fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err(
                "a silence needs at least one matcher, or it would silence everything".into(),
            );
        }
        Ok(())
    }
    execute_and_forecast!();
}

impl Silence {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let base = ctx.render(&self.url)?;
        let duration = ctx.resolve(&self.duration)?;
        let starts = chrono::Utc::now();
        let ends = starts
            + chrono::TimeDelta::from_std(duration.0)
                .map_err(|_| StepError::failed(format!("{duration} is too long for a silence")))?;
        let mut matchers = Vec::new();
        for (name, value) in &self.matchers {
            matchers.push(json!({
                "name": name, "value": ctx.render(value)?, "isRegex": false, "isEqual": true
            }));
        }
        let body = json!({
            "matchers": matchers,
            "startsAt": starts.to_rfc3339(),
            "endsAt": ends.to_rfc3339(),
            "createdBy": self.created_by,
            "comment": ctx.render(&self.comment)?,
        });
        let answer = call_json_api(
            Method::Post,
            api_url(&base, "/api/v2/silences", &[])?,
            Body::Json(body),
        )
        .await?;
        let id = answer["silenceID"].as_str().ok_or_else(|| {
            StepError::failed(format!(
                "Alertmanager answered without a silenceID: {answer}"
            ))
        })?;
        Ok(outputs(json!({ "silence_id": id })))
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let mut matchers = Vec::new();
        for (name, value) in &self.matchers {
            matchers.push(format!("{name}={}", ctx.render(value)?));
        }
        Ok(format!(
            "would silence {{{}}} for {} at {}",
            matchers.join(", "),
            ctx.resolve(&self.duration)?,
            ctx.render(&self.url)?
        ))
    }
}

/// Expire a silence early.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unsilence {
    pub url: Template,
    /// Usually `{{ steps['silence'].silence_id }}`.
    pub silence_id: Template,
}

impl Verb for Unsilence {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Expire a silence";
    execute_and_forecast!();
}

impl Unsilence {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let id = ctx.render(&self.silence_id)?;
        let url = api_url(
            &ctx.render(&self.url)?,
            &format!("/api/v2/silence/{id}"),
            &[],
        )?;
        // Alertmanager answers an expiry with an empty body: only the status matters.
        crate::http::Outgoing::api(Method::Delete, url)
            .send()
            .await?
            .check(None)?;
        Ok(Outputs::new())
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        Ok(format!(
            "would expire silence {} at {}",
            ctx.render(&self.silence_id)?,
            ctx.render(&self.url)?
        ))
    }
}
