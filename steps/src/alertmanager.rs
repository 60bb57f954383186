//! `alertmanager.*`: silence alerts for the window of a drill or maintenance.

use crate::prelude::*;

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
    fn run<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        not_built_yet("alertmanager")
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
    fn run<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        not_built_yet("alertmanager")
    }
}
