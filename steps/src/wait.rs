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
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            tokio::time::sleep(ctx.resolve(&self.duration)?.0).await;
            Ok(Outputs::new())
        })
    }
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
    fn on_hosts(&self) -> bool {
        self.check.on_hosts()
    }
    fn validate(&self) -> Result<(), String> {
        if self.check.effect() == Effect::Mutating {
            return Err(format!(
                "`wait.until` polls read-only actions; `{}` changes state",
                self.check.verb()
            ));
        }
        self.check.validate()
    }
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let interval = ctx.resolve(&self.interval)?.0;
            let mut polls: u64 = 0;
            let mut last_error: Option<StepError> = None;
            // Give up just before the step's timeout, to report why it never passed.
            let give_up = |polls: u64, error: Option<StepError>| {
                StepError::failed(match error {
                    Some(error) => format!(
                        "`{}` still failing after {polls} polls: {error}",
                        self.check.verb()
                    ),
                    None => format!("`{}` did not finish before the timeout", self.check.verb()),
                })
            };
            loop {
                let started = tokio::time::Instant::now();
                let Some(result) = crate::poll_within(ctx.deadline(), self.check.run(ctx)).await
                else {
                    return Err(give_up(polls, last_error));
                };
                polls += 1;
                let error = match result {
                    Ok(_) => return Ok(outputs(serde_json::json!({ "polls": polls }))),
                    Err(e) if e.unknown => return Err(e),
                    Err(e) => e,
                };
                if !crate::time_for_another_poll(ctx.deadline(), interval, started.elapsed()) {
                    return Err(give_up(polls, Some(error)));
                }
                last_error = Some(error);
                tokio::time::sleep(interval).await;
            }
        })
    }
}
