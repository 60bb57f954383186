//! `wait.*`: pauses and polling.

use crate::Action;
use crate::prelude::*;
use runbook_engine::action::Action as _;

/// Wait a fixed time (prefer `wait.until` on a real condition).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sleep {
    pub duration: Tpl<Duration>,
}

impl Verb for Sleep {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Wait a fixed time";
}

/// Repeat a read-only action until it passes or the step's timeout ends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Until {
    /// The action to poll, e.g. `{ http.check: { url: ... } }`.
    pub check: Box<Action>,
    /// Pause between polls.
    #[serde(default = "default_interval")]
    pub interval: Tpl<Duration>,
}

fn default_interval() -> Tpl<Duration> {
    Tpl::Value(Duration::from_secs(2))
}

impl Verb for Until {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Poll a read-only action until it passes";
    const OUTPUTS: &'static [&'static str] = &["polls"];
    fn validate(&self) -> Result<(), String> {
        if self.check.effect() == Effect::Mutating {
            return Err(format!(
                "`wait.until` polls read-only actions; `{}` changes state",
                self.check.verb()
            ));
        }
        self.check.validate()
    }
}
