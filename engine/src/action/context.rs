//! What a step family sees while its action runs: rendered params, the check-mode flag, the
//! deadline, and a way to ask a person. Families never see the graph, the journal or retries.
//! Part of the contract at the bottom of the engine: it imports no stage (the executor
//! implements `Approver` and `ProcessLog` and builds the context).

use minijinja::Value as JinjaValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::time::Instant;

use crate::params::{Template, TemplateList, Tpl};
use crate::secrets::Redactor;
use crate::template::Templates;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an action leaves for later steps (`steps.<id>.<output>`).
pub type Outputs = Map<String, Value>;

/// Why an action did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub message: String,
    /// Check mode only: the outcome cannot be known without running what was only previewed.
    pub unknown: bool,
}

impl StepError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unknown: false,
        }
    }

    pub fn unknown(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unknown: true,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A decision on an `approval.gate`, written by `runbook approve` and read by the waiting run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approved: bool,
    pub approver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Asks a person for a decision on an `approval.gate` (terminal prompt or `runbook approve`)
/// and journals it; implemented by the executor, so families stay free of journals.
pub trait Approver: Send + Sync {
    fn decide<'a>(
        &'a self,
        step: &'a str,
        message: &'a str,
        approvers: &'a [String],
    ) -> BoxFuture<'a, Result<ApprovalDecision, StepError>>;
}

/// Told of each program a step starts (in a process group of its own), so the journal names
/// the group and a resume after a crash can kill what the dead attempt left running.
pub trait ProcessLog: Send + Sync {
    fn started(&self, step: &str, program: &str, pid: u32);
}

/// How a step's commands reach the host it names (`host: app-1`): the system's OpenSSH in
/// runbook, chosen by the CLI; families only ask for the program to start here. Nothing
/// secret goes on a command line: what the remote command needs comes on its stdin.
pub trait Transport: Send + Sync {
    /// The host's name in the environment file.
    fn host(&self) -> &str;
    /// Runs `script` with `sh` on the host, with `env` set: the program to start here and
    /// the bytes to write on its standard input, which must then stay open while it runs
    /// (the remote side ends the command's whole process group when it closes). Connects
    /// first, once per host and run, so that a command costs a round trip, not a handshake.
    fn shell<'a>(
        &'a self,
        script: &'a str,
        env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<RemoteCommand, StepError>>;
    /// Forwards a local endpoint to `remote` as the host sees it (`db:5432`, or a socket path
    /// such as `/var/run/docker.sock`) over the host's connection, and returns the local one
    /// (`127.0.0.1:PORT`, or a socket path): how a database or an engine only the host can
    /// reach is reached. Made once per endpoint and run.
    fn forward<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<String, StepError>>;
    /// The program that copies `from` (a file or a directory tree) to `to`, times and modes
    /// kept, over the host's connection: `Upload` from this machine to the host, `Download`
    /// from the host to this machine. Nothing is checked here; `file.copy` checks the copy.
    fn copy<'a>(
        &'a self,
        direction: CopyDirection,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<RemoteCommand, StepError>>;
    /// Where the host's Docker engine listens (a socket path as the host sees it).
    fn docker_socket(&self) -> &str;
    /// The transport's own failure (host unreachable, its key unknown), said for a person,
    /// from how the local program ended; `None` when the remote command itself failed.
    fn explain<'a>(&'a self, exit_code: i32, stderr: &'a str) -> BoxFuture<'a, Option<String>>;
}

/// Which way [`Transport::copy`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyDirection {
    Upload,
    Download,
}

/// A command that runs on a host: started here, fed `stdin`.
pub struct RemoteCommand {
    pub command: tokio::process::Command,
    /// The local program, for errors and the journal (`ssh`).
    pub program: String,
    pub stdin: Vec<u8>,
}

/// The hosts of the run's environment file, each with its transport.
pub trait Hosts: Send + Sync {
    fn transport(&self, host: &str) -> Result<Arc<dyn Transport>, String>;
}

/// A run without an environment file's hosts: a step that names one fails, saying so.
pub struct NoHosts;

impl Hosts for NoHosts {
    fn transport(&self, host: &str) -> Result<Arc<dyn Transport>, String> {
        Err(format!(
            "host `{host}` is not declared: give the environment file that lists it under `hosts:` (--env)"
        ))
    }
}

/// What every step of one run shares: the template engine, check mode, who answers
/// approvals, where programs started are journaled, the redactor, the check's simulation,
/// the hosts steps may run on.
pub(crate) struct RunShared {
    pub templates: Arc<Templates>,
    pub hosts: Arc<dyn Hosts>,
    pub check_mode: bool,
    pub approver: Arc<dyn Approver>,
    pub processes: Arc<dyn ProcessLog>,
    pub redactor: Redactor,
    pub simulation: Simulation,
}

#[derive(Clone)]
pub struct StepContext {
    step: String,
    /// The step's `host:` as written (a template); `None`: this machine.
    host: Option<String>,
    /// The template context: inputs, vars, secrets, run, outputs of finished steps, item.
    values: JinjaValue,
    deadline: Option<Instant>,
    shared: Arc<RunShared>,
}

/// Check mode: what earlier previews said they would change, by a key of the family's
/// choosing (`docker/<container id>/state`), so a later preview starts from there rather
/// than from live state: after a previewed stop, a start of the same containers would start
/// them. Shared by every step of a check.
pub type Simulation = Arc<std::sync::Mutex<std::collections::BTreeMap<String, Value>>>;

impl StepContext {
    pub(crate) fn new(
        step: String,
        host: Option<String>,
        values: JinjaValue,
        shared: Arc<RunShared>,
    ) -> Self {
        Self {
            step,
            host,
            values,
            deadline: None,
            shared,
        }
    }

    /// Check mode: the value an earlier preview left under `key` (see [`Simulation`]).
    pub fn simulated(&self, key: &str) -> Option<Value> {
        self.shared
            .simulation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Check mode: records what this preview would change, for the previews after it.
    pub fn simulate(&self, key: String, value: Value) {
        self.shared
            .simulation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
    }

    /// `text` with the run's secrets hidden, in every form the journal hides them. A step
    /// that keeps only part of a long output redacts it first: a cut could split a secret and
    /// leave a piece the journal no longer recognises.
    pub fn redact(&self, text: &str) -> String {
        self.shared.redactor.redact(text)
    }

    /// [`Self::redact`], borrowing `text` when there is nothing in it to hide.
    pub fn redact_borrowed<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        self.shared.redactor.redact_borrowed(text)
    }

    /// A program was started for this step, leading a process group of its own (`pid`).
    pub fn process_started(&self, program: &str, pid: u32) {
        self.shared.processes.started(&self.step, program, pid);
    }

    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// How to reach the host the step names, or `None` when it acts on this machine.
    /// A `host:` that renders to nothing (an input left empty) is this machine, so one
    /// playbook runs on the host itself or from a bastion.
    pub fn transport(&self) -> Result<Option<Arc<dyn Transport>>, StepError> {
        match &self.host {
            Some(host) => self.transport_to(&self.render_str(host)?),
            None => Ok(None),
        }
    }

    /// How to reach a host a param names (`file.copy`'s `from:`, `to:`); empty: this machine.
    pub fn transport_to(&self, host: &str) -> Result<Option<Arc<dyn Transport>>, StepError> {
        let name = host.trim();
        if name.is_empty() {
            return Ok(None);
        }
        self.shared
            .hosts
            .transport(name)
            .map(Some)
            .map_err(StepError::failed)
    }

    /// The id of the step being run (`restart[api]` for a `for_each` item).
    pub fn step(&self) -> &str {
        &self.step
    }

    /// `runbook run --dry-run`: read-only actions run, mutating ones are only previewed.
    pub fn is_check_mode(&self) -> bool {
        self.shared.check_mode
    }

    /// When the step's timeout ends; a polling verb stops in time to report its last error.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn render(&self, template: &Template) -> Result<String, StepError> {
        self.render_str(&template.0)
    }

    pub fn render_str(&self, text: &str) -> Result<String, StepError> {
        self.shared
            .templates
            .render(text, &self.values)
            .map_err(|e| self.template_error(text, e))
    }

    /// A param that may be a template, rendered and converted to its type.
    pub fn resolve<T: DeserializeOwned + Clone>(&self, value: &Tpl<T>) -> Result<T, StepError> {
        match value {
            Tpl::Value(v) => Ok(v.clone()),
            Tpl::Template(text) => {
                let rendered = self.render_str(text)?;
                // `"30"` becomes the number 30, `"2m"` stays a string for a duration.
                let json = serde_json::from_str::<Value>(&rendered)
                    .ok()
                    .filter(|v| !v.is_string())
                    .unwrap_or(Value::String(rendered.clone()));
                serde_json::from_value(json).map_err(|e| {
                    StepError::failed(format!("`{text}` rendered to `{rendered}`: {e}"))
                })
            }
        }
    }

    /// A [`TemplateList`]: each written item rendered, or the whole list from one template
    /// (which must render to a list, e.g. an input of type `list`).
    pub fn render_list(&self, list: &TemplateList) -> Result<Vec<String>, StepError> {
        match list {
            Tpl::Value(items) => items.iter().map(|t| self.render(t)).collect(),
            Tpl::Template(text) => {
                let Value::Array(items) = self.render_json(text)? else {
                    return Err(StepError::failed(format!(
                        "`{text}` did not render to a list"
                    )));
                };
                Ok(items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect())
            }
        }
    }

    /// A template that stands for a whole value (`{{ steps.x.old_env }}`, a list or a
    /// mapping), as JSON: minijinja prints such values the Python way, so the expression is
    /// rendered through `tojson`.
    pub fn render_json(&self, text: &str) -> Result<Value, StepError> {
        let as_json = match text
            .trim()
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
        {
            Some(expression) if !expression.contains("{{") => {
                format!("{{{{ ({}) | tojson }}}}", expression.trim())
            }
            _ => text.to_string(),
        };
        let rendered = self.render_str(&as_json)?;
        serde_json::from_str(&rendered).map_err(|_| {
            StepError::failed(format!(
                "`{text}` rendered `{rendered}`, which is not a value"
            ))
        })
    }

    /// A condition: a bare expression (`inputs.flush and steps.x.ok`) or a template
    /// (`"{{ steps.count.rows[0].n > 0 }}"`), judged by minijinja's truthiness.
    pub fn condition(&self, text: &str) -> Result<bool, StepError> {
        self.shared
            .templates
            .condition(text, &self.values)
            .map_err(|e| self.template_error(text, e))
    }

    /// A condition over the step's own results as well (`rows[0].count > 0` for
    /// `postgres.query`): `own` values shadow same-named ones of the run.
    pub fn condition_with(&self, text: &str, own: &Outputs) -> Result<bool, StepError> {
        let values = minijinja::value::merge_maps([
            JinjaValue::from(minijinja::value::Serde(own)),
            self.values.clone(),
        ]);
        self.shared
            .templates
            .condition(text, &values)
            .map_err(|e| self.template_error(text, e))
    }

    pub async fn approval(
        &self,
        message: &str,
        approvers: &[String],
    ) -> Result<ApprovalDecision, StepError> {
        self.shared
            .approver
            .decide(&self.step, message, approvers)
            .await
    }

    fn template_error(&self, text: &str, error: minijinja::Error) -> StepError {
        let message = format!("template `{text}`: {error}");
        if self.shared.check_mode && error.kind() == minijinja::ErrorKind::UndefinedError {
            StepError::unknown(format!(
                "reads a value only known after a real run ({message})"
            ))
        } else {
            StepError::failed(message)
        }
    }
}
