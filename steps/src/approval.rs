//! `approval.gate`: a human decides before the run goes on.

use crate::prelude::*;

/// Pause until someone approves (on the terminal, or `runbook approve RUN STEP`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// What the approver is asked.
    pub message: Template,
    /// Who may approve (user names); anyone if empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}

impl Verb for Gate {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Wait for a person to approve";
    const OUTPUTS: &'static [&'static str] = &["approver", "approved_at"];
    const PRINTED: &'static [&'static str] = &["message"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let message = ctx.render(&self.message)?;
            // Check mode asks nobody: the gate passes so the steps behind it are previewed.
            if ctx.is_check_mode() {
                return Ok(outputs(serde_json::json!({
                    "approver": "(check mode: not asked)",
                    "approved_at": null,
                })));
            }
            let decision = ctx.approval(&message, &self.approvers).await?;
            if !decision.approved {
                let comment = decision
                    .comment
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                return Err(StepError::failed(format!(
                    "rejected by {}{comment}",
                    decision.approver
                )));
            }
            Ok(outputs(serde_json::json!({
                "approver": decision.approver,
                "approved_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })))
        })
    }
}
