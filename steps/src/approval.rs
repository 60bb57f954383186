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
}
