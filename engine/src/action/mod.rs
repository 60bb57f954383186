//! The contract between the engine and the step families, at the bottom of the engine: it
//! imports no stage (only params, secrets and the template engine), and every stage may use
//! it. `context.rs` is what a verb sees while it runs (the step context, outputs, errors,
//! approvals); this file is what the compiler and planner know of a verb.
//!
//! The engine compiles, plans and (later) runs steps without knowing what Docker or PostgreSQL
//! are: a step family provides one closed enum of actions implementing [`Action`], and tells
//! for each verb whether it changes anything, what outputs it leaves for later steps, and which
//! of its params end up printed (so that secrets can be kept out of them).

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

mod context;

pub(crate) use context::RunShared;
pub use context::{
    ApprovalDecision, Approver, BoxFuture, CopyDirection, Hosts, NoHosts, Outputs, ProcessLog,
    RemoteCommand, Simulation, StepContext, StepError, Transport,
};

/// Whether an action changes the systems it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Only observes: safe in check mode, in preconditions, and to re-run on resume.
    ReadOnly,
    /// Changes state: previewed in check mode, needs a rollback to be undone.
    Mutating,
}

impl Effect {
    /// A verb that changes things unless its params say it only reads (`read_only: true`
    /// on `shell.run`, `docker.exec`, `redis.command`).
    pub fn read_only_if(read_only: bool) -> Self {
        if read_only {
            Self::ReadOnly
        } else {
            Self::Mutating
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read-only",
            Self::Mutating => "mutating",
        }
    }
}

/// What the engine knows of one verb without looking at its params.
#[derive(Debug, Clone, Copy)]
pub struct VerbInfo {
    /// `<family>.<verb>`, the key written in playbooks.
    pub name: &'static str,
    pub effect: Effect,
    /// One line for plans and the schema: what the verb does.
    pub summary: &'static str,
    /// Names later steps may read as `steps.<id>.<output>`.
    pub outputs: &'static [&'static str],
    /// Params whose values are printed, logged or sent somewhere (a chat message, a process
    /// command line): a secret there would leak, so the compiler refuses it.
    pub printed: &'static [&'static str],
    /// Outputs that always hold a secret (a container's previous environment): redacted from
    /// the journal, console and reports as a step's own `sensitive:` list is.
    pub sensitive: &'static [&'static str],
    /// What params a bare value stands for, as users of Ansible and GitHub Actions write
    /// them: `shell.run: "script"` (a string) and `shell.run: [argv...]` (a list).
    pub shorthand: Shorthand,
    /// Acts on the step's `host:` (over SSH) when it has one. A verb without it refuses a
    /// `host:` at compile time rather than act on the runner while the playbook says otherwise.
    pub on_hosts: bool,
}

/// The param a bare string, and the param a bare list, stand for (`None`: not accepted).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shorthand {
    pub string: Option<&'static str>,
    pub list: Option<&'static str>,
}

/// Implemented by each verb's params struct.
pub trait Verb: Sync {
    const EFFECT: Effect;
    const SUMMARY: &'static str;
    const OUTPUTS: &'static [&'static str] = &[];
    const PRINTED: &'static [&'static str] = &[];
    const SENSITIVE: &'static [&'static str] = &[];
    const SHORTHAND: Shorthand = Shorthand {
        string: None,
        list: None,
    };
    /// See [`VerbInfo::on_hosts`].
    const ON_HOSTS: bool = false;

    /// A verb that nests another (`wait.until`) runs on a host if the nested one does.
    fn on_hosts(&self) -> bool {
        Self::ON_HOSTS
    }

    /// Some verbs are read-only or mutating depending on their params (`shell.run`).
    fn effect(&self) -> Effect {
        Self::EFFECT
    }

    /// Why the change cannot be undone by any rollback (a flush, data deleted), for the plan
    /// to say so; `None` where a rollback could undo it.
    fn irreversible(&self) -> Option<&'static str> {
        None
    }

    /// Rules serde cannot express (one of two keys, a nested action that must be read-only).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Does the work. Templates in params are rendered through `ctx`; the engine adds the
    /// timeout, retries, journal and rollback around it.
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>>;

    /// Check mode, for mutating verbs: what the action would do, from live state where it can
    /// ("would stop goodgo-api (running, healthy)"). Never changes anything.
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        let _ = ctx;
        Box::pin(async { Ok(format!("would {}", lowercase_first(Self::SUMMARY))) })
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The closed set of actions a playbook can use, as one enum. It deserializes from a
/// single-key mapping `{ "<family>.<verb>": params }`.
pub trait Action:
    DeserializeOwned + Serialize + JsonSchema + Clone + Debug + Send + Sync + 'static
{
    fn verb(&self) -> &'static str;
    fn effect(&self) -> Effect;
    fn validate(&self) -> Result<(), String>;
    /// See [`Verb::on_hosts`].
    fn on_hosts(&self) -> bool;
    /// See [`Verb::irreversible`].
    fn irreversible(&self) -> Option<&'static str> {
        None
    }
    fn catalog() -> &'static [VerbInfo];
    /// Every param the run takes as written (a regex, a shell, a table name), as `verb` and
    /// `path` (`expect.stdout`, list items as `tables[]`): the compiler refuses a template
    /// there, which would plan one thing and run another. A fixed table, checked against the
    /// schema by a test ([`crate::reference::literal_params`] derives it), because deriving it
    /// builds the whole playbook schema: 26 M instructions, most of a run's start-up.
    fn taken_as_written() -> &'static [(&'static str, &'static str)];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>>;
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>>;

    fn info(verb: &str) -> Option<&'static VerbInfo> {
        Self::catalog().iter().find(|v| v.name == verb)
    }
}
