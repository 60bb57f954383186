//! The playbook as written: names are still strings, actions are still untyped nodes.
//! `compile` turns this into a graph of typed steps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::node::Node;
use crate::params::Duration;
use crate::source::{Span, Spanned};

#[derive(Debug, Clone)]
pub struct RawPlaybook {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub inputs: Vec<Named<InputSpec>>,
    pub secrets: Vec<Named<SecretSpec>>,
    pub vars: Vec<Named<Node>>,
    pub objectives: Option<Spanned<Objectives>>,
    pub notify: Option<Spanned<Vec<NotifySpec>>>,
    pub lock: Option<Spanned<String>>,
    pub defaults: Defaults,
    /// `schedule:` as one mapping, or a list of them (weekly VACUUM and monthly REINDEX).
    pub schedules: Vec<Spanned<Schedule>>,
    pub steps: Vec<RawStep>,
    pub on_failure: Vec<RawAction>,
    /// Inputs, secrets and vars declared with a spec that could not be read (already
    /// reported): the compiler does not call their uses undeclared too.
    pub unreadable: Vec<String>,
}

/// An entry of a name-keyed section (`inputs`, `secrets`, `vars`).
#[derive(Debug, Clone)]
pub struct Named<T> {
    pub name: Spanned<String>,
    pub value: T,
    /// The span of the value, for errors about it as a whole.
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RawStep {
    pub id: Spanned<String>,
    /// The whole step mapping, for errors about the step as a whole.
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub needs: Vec<Spanned<String>>,
    pub when: Option<Spanned<String>>,
    /// The environment's host the step acts on (`app-1`, `"{{ item }}"`); none: this machine.
    pub host: Option<Spanned<String>>,
    pub requires: Vec<RawAction>,
    pub timeout: Option<Duration>,
    pub retry: Option<Retry>,
    pub rollback: Vec<RawAction>,
    pub for_each: Option<Node>,
    pub serial: Option<Spanned<Serial>>,
    pub idempotent: Option<bool>,
    pub continue_on_error: bool,
    /// What to put on the console and in the reports once the step succeeded: an output's
    /// name (`stdout`) or a template over outputs (`"{{ steps.disk.stdout }}"`).
    pub show: Option<Spanned<String>>,
    /// Outputs that are secrets made during the run (a rotated password, a token): redacted
    /// everywhere from the moment the step returns them.
    pub sensitive: Vec<Spanned<String>>,
    pub severity: Severity,
    /// `None` when the step's action was missing or malformed (already reported).
    pub action: Option<RawAction>,
}

/// `<family>.<verb>: params`, with the options an action may carry on its own
/// (a rollback or an `on_failure` handler has its own timeout and retry).
#[derive(Debug, Clone)]
pub struct RawAction {
    pub verb: Spanned<String>,
    pub params: Node,
    pub name: Option<Spanned<String>>,
    /// Run only if this condition holds (e.g. a notification only where a URL is configured).
    pub when: Option<Spanned<String>>,
    pub timeout: Option<Duration>,
    pub retry: Option<Retry>,
}

/// A declared input of the playbook, given with `--input name=value`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The value's type; `--input` values are converted to it.
    #[serde(rename = "type", default)]
    pub kind: InputType,
    /// Used when the input is not given. An input without a default is required.
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    /// Set `false` to make an input without a default optional (it is then undefined).
    #[serde(default)]
    pub required: Option<bool>,
    /// Shown in plans and `--help`-like listings.
    #[serde(default)]
    pub description: Option<String>,
}

impl InputSpec {
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Duration,
    List,
}

/// Declared in `secrets`, which reads them at run time; loaded here.
pub use crate::secrets::SecretSpec;

/// A webhook told about the run (Slack-compatible payload: `text`, plus a `runbook` object).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    /// The URL to POST to; a template, so it may come from a secret
    /// (`"{{ secrets.slack_webhook }}"`). Empty means not configured: nothing is sent.
    pub webhook: String,
    /// When to post: `start`, `success`, `failure` (failed, rolled back, precondition failed,
    /// interrupted, objectives missed), `rollback_failed`. Default: all but `start`.
    #[serde(default = "NotifyOn::default_set")]
    pub on: Vec<NotifyOn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    Start,
    Success,
    Failure,
    RollbackFailed,
}

impl NotifyOn {
    pub fn default_set() -> Vec<Self> {
        vec![Self::Success, Self::Failure, Self::RollbackFailed]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::RollbackFailed => "rollback_failed",
        }
    }
}

/// Recovery objectives the run is measured against.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Recovery time objective: the run must finish within this.
    #[serde(default)]
    pub rto: Option<Duration>,
    /// Recovery point objective: the data restored may be at most this old.
    #[serde(default)]
    pub rpo: Option<Duration>,
    /// The RTO clock starts when this step starts (default: when the run starts).
    #[serde(default)]
    pub measure_from: Option<String>,
    /// The RTO clock stops when this step succeeds (default: when the last step ends).
    #[serde(default)]
    pub measure_to: Option<String>,
    /// When the newest data the recovery brought back was written, as an RFC 3339 time: a
    /// template such as `{{ steps['latest-backup'].modified }}`. The measured RPO is the time
    /// from then to the start of the RTO clock (the moment of the simulated disaster).
    #[serde(default)]
    pub data_as_of: Option<String>,
}

/// Defaults applied to every step that does not set its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub retry: Option<Retry>,
}

/// Retry a failing action: `attempts` in all, waiting `delay` between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, the first one included (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt.
    #[serde(default = "Retry::default_delay")]
    pub delay: Duration,
    /// `fixed` waits `delay` each time; `exponential` doubles it after each attempt.
    #[serde(default)]
    pub backoff: Backoff,
    /// Upper bound of the wait with exponential backoff.
    #[serde(default)]
    pub max_delay: Option<Duration>,
}

impl Retry {
    fn default_delay() -> Duration {
        Duration::from_secs(1)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    #[default]
    Fixed,
    Exponential,
}

/// `serial: true` runs `for_each` items one at a time; `serial: N`, N at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serial(pub usize);

/// When the playbook runs by itself (`runbook daemon`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Tells the schedules of one playbook apart (`weekly-vacuum`); needed when there are
    /// several, and shown in logs, metrics and `runbook schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Five-field cron expression (`0 3 1 */3 *`) or `@yearly`, `@quarterly`, `@monthly`,
    /// `@weekly`, `@daily`, `@hourly`.
    pub cron: String,
    /// IANA time zone the cron expression is read in.
    #[serde(default = "Schedule::default_timezone")]
    pub timezone: String,
    /// What to do when the previous run is still going: `skip` it or `queue` it.
    #[serde(default)]
    pub overlap: Overlap,
    /// Runs missed while the daemon was down are caught up if they are this recent.
    #[serde(default)]
    pub catch_up: Option<Duration>,
    /// Input values for scheduled runs.
    #[serde(default)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Environment file for scheduled runs, relative to the playbook (`../environments/x.yml`).
    #[serde(default)]
    pub environment: Option<String>,
}

impl Schedule {
    fn default_timezone() -> String {
        "UTC".to_string()
    }
}

/// What a step's failure means: `error` (the default) stops the run; `warning` is a finding
/// that should not (the deep health check's WARN lines): shown as ⚠ everywhere, the run goes
/// on, and it does not change the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    #[default]
    Skip,
    Queue,
}
