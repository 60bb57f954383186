//! The contract between the engine and the step families.
//!
//! The engine compiles, plans and (later) runs steps without knowing what Docker or PostgreSQL
//! are: a step family provides one closed enum of actions implementing [`Action`], and tells
//! for each verb whether it changes anything, what outputs it leaves for later steps, and which
//! of its params end up printed (so that secrets can be kept out of them).

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

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
}

/// Implemented by each verb's params struct.
pub trait Verb {
    const EFFECT: Effect;
    const SUMMARY: &'static str;
    const OUTPUTS: &'static [&'static str] = &[];
    const PRINTED: &'static [&'static str] = &[];

    /// Some verbs are read-only or mutating depending on their params (`shell.run`).
    fn effect(&self) -> Effect {
        Self::EFFECT
    }

    /// Rules serde cannot express (one of two keys, a nested action that must be read-only).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The closed set of actions a playbook can use, as one enum. It deserializes from a
/// single-key mapping `{ "<family>.<verb>": params }`.
pub trait Action:
    DeserializeOwned + Serialize + JsonSchema + Clone + Debug + Send + Sync + 'static
{
    fn verb(&self) -> &'static str;
    fn effect(&self) -> Effect;
    fn validate(&self) -> Result<(), String>;
    fn catalog() -> &'static [VerbInfo];

    fn info(verb: &str) -> Option<&'static VerbInfo> {
        Self::catalog().iter().find(|v| v.name == verb)
    }
}
