//! `assert.that`: a checklist item over inputs and earlier outputs.

use crate::prelude::*;

/// Fail unless a template renders truthy, e.g. `"{{ steps['count'].rows[0].n > 0 }}"`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct That {
    pub that: Template,
    /// Shown when the assertion fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Template>,
}

impl Verb for That {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Check a condition over inputs and outputs";
    const PRINTED: &'static [&'static str] = &["message"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            if ctx.condition(&self.that.0)? {
                return Ok(Outputs::new());
            }
            Err(StepError::failed(match &self.message {
                Some(message) => ctx.render(message)?,
                None => format!("assertion failed: {}", self.that.0),
            }))
        })
    }
}
