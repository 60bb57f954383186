//! Stage 1, load: YAML text -> [`RawPlaybook`] with spans.
//!
//! The top level and the step envelope are decoded by hand rather than derived, so that one bad
//! step does not hide the mistakes of the next: every error is collected and a best-effort
//! playbook is still handed to `compile`, which adds its own findings.

pub mod de;
mod environment;
mod error;
mod fast;
mod halves;
pub mod node;
pub mod parse;
pub mod raw;

pub use environment::{ENVIRONMENT_KEYS, Environment, HOST_KEYS, HostSpec, load_environment};
pub use error::LoadError;
pub use raw::*;

use de::{DeError, from_node};
use node::{Node, NodeKind};

use crate::params::Duration;
use crate::source::{SourceFile, Span, Spanned};
use crate::suggest::did_you_mean;

/// Keys of the playbook's top level.
pub const PLAYBOOK_KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "inputs",
    "secrets",
    "vars",
    "objectives",
    "notify",
    "lock",
    "defaults",
    "schedule",
    "steps",
    "on_failure",
];

/// Keys of a step besides its action.
pub const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "needs",
    "when",
    "host",
    "requires",
    "timeout",
    "retry",
    "rollback",
    "for_each",
    "serial",
    "idempotent",
    "continue_on_error",
    "show",
    "sensitive",
    "severity",
];

/// Keys an action in `requires`, `rollback` or `on_failure` may carry besides its verb.
pub const ACTION_KEYS: &[&str] = &["name", "when", "timeout", "retry"];

/// What loading produced: a playbook when the document had one at all, and every problem found.
#[derive(Debug)]
pub struct Loaded {
    pub playbook: Option<RawPlaybook>,
    pub errors: Vec<LoadError>,
}

pub fn load(source: &SourceFile) -> Loaded {
    let mut errors = Vec::new();
    let root = match parse::parse(source) {
        Ok(root) => root,
        Err(e) => {
            errors.push(LoadError::Syntax {
                message: e.message,
                span: e.span,
            });
            return Loaded {
                playbook: None,
                errors,
            };
        }
    };
    let playbook = Decoder {
        errors: &mut errors,
        unreadable: Vec::new(),
    }
    .playbook(&root);
    Loaded { playbook, errors }
}

/// The keys of one mapping, handed out by name; whatever is left over is unknown.
struct Fields<'a> {
    entries: &'a [(Spanned<String>, Node)],
    used: Vec<bool>,
}

impl<'a> Fields<'a> {
    fn get(&mut self, key: &str) -> Option<(&'a Spanned<String>, &'a Node)> {
        let index = self.entries.iter().position(|(k, _)| k.value == key)?;
        self.used[index] = true;
        let (k, v) = &self.entries[index];
        Some((k, v))
    }

    fn value(&mut self, key: &str) -> Option<&'a Node> {
        self.get(key).map(|(_, v)| v)
    }

    fn rest(&self) -> impl Iterator<Item = &'a (Spanned<String>, Node)> + '_ {
        self.entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(entry, _)| entry)
    }
}

struct Decoder<'e> {
    errors: &'e mut Vec<LoadError>,
    /// Names of entries whose spec could not be read (see `RawPlaybook::unreadable`).
    unreadable: Vec<String>,
}

impl Decoder<'_> {
    fn playbook(&mut self, root: &Node) -> Option<RawPlaybook> {
        let mut f = self.fields(root, "the playbook")?;
        match f.value("version") {
            None => self.errors.push(LoadError::MissingKey {
                key: "version",
                context: "the playbook",
                span: first_key_span(root),
            }),
            Some(v) if matches!(v.kind, NodeKind::Int(1)) => {}
            Some(v) => self.errors.push(LoadError::UnsupportedVersion {
                found: v
                    .scalar_text()
                    .unwrap_or_else(|| v.kind.describe().to_string()),
                span: v.span,
            }),
        }
        let name = match f.value("name") {
            Some(n) => self.string("name", n),
            None => {
                self.errors.push(LoadError::MissingKey {
                    key: "name",
                    context: "the playbook",
                    span: first_key_span(root),
                });
                None
            }
        }
        .unwrap_or_else(|| Spanned::new(String::new(), root.span));
        let description = f
            .value("description")
            .and_then(|n| self.string("description", n))
            .map(|s| s.value);
        let inputs = f
            .value("inputs")
            .map(|n| self.named(n, "inputs", |d, n| d.typed(n)))
            .unwrap_or_default();
        let secrets = f
            .value("secrets")
            .map(|n| self.named(n, "secrets", Self::secret))
            .unwrap_or_default();
        let vars = f
            .value("vars")
            .map(|n| self.named(n, "vars", |_, n| Some(n.clone())))
            .unwrap_or_default();
        let objectives = f.value("objectives").and_then(|n| self.typed_spanned(n));
        let notify = f.value("notify").and_then(|n| self.typed_spanned(n));
        let lock = f.value("lock").and_then(|n| self.string("lock", n));
        let defaults = f
            .value("defaults")
            .and_then(|n| self.typed(n))
            .unwrap_or_default();
        let schedules = match f.value("schedule") {
            None => Vec::new(),
            Some(Node {
                kind: NodeKind::Seq(items),
                ..
            }) => items.iter().filter_map(|n| self.schedule(n)).collect(),
            Some(n) => self.schedule(n).into_iter().collect(),
        };
        let steps = match f.value("steps") {
            Some(n) => self
                .list(n, "steps")
                .iter()
                .enumerate()
                .filter_map(|(i, s)| self.step(s, i))
                .collect(),
            None => {
                self.errors.push(LoadError::MissingKey {
                    key: "steps",
                    context: "the playbook",
                    span: first_key_span(root),
                });
                Vec::new()
            }
        };
        let on_failure = f
            .value("on_failure")
            .map(|n| {
                self.list(n, "on_failure")
                    .iter()
                    .filter_map(|a| self.action(a, "on_failure"))
                    .collect()
            })
            .unwrap_or_default();
        self.unknown_keys(&f, "the playbook", PLAYBOOK_KEYS);
        Some(RawPlaybook {
            name,
            description,
            inputs,
            secrets,
            vars,
            objectives,
            notify,
            lock,
            defaults,
            schedules,
            steps,
            on_failure,
            unreadable: std::mem::take(&mut self.unreadable),
        })
    }

    fn step(&mut self, node: &Node, index: usize) -> Option<RawStep> {
        let mut f = self.fields(node, "a step")?;
        let id = match f.value("id") {
            Some(n) => self.string("id", n).inspect(|id| self.check_id(id)),
            None => {
                self.errors.push(LoadError::MissingKey {
                    key: "id",
                    context: "step",
                    span: first_key_span(node),
                });
                None
            }
        }
        .unwrap_or_else(|| Spanned::new(format!("#{}", index + 1), node.span));
        let name = f.value("name").and_then(|n| self.string("name", n));
        let needs = f
            .value("needs")
            .map(|n| self.string_list("needs", n))
            .unwrap_or_default();
        let when = f.value("when").and_then(|n| self.string("when", n));
        let host = f.value("host").and_then(|n| self.string("host", n));
        let requires = f
            .value("requires")
            .map(|n| {
                self.list(n, "requires")
                    .iter()
                    .filter_map(|a| self.action(a, "requires"))
                    .collect()
            })
            .unwrap_or_default();
        let timeout = f.value("timeout").and_then(|n| self.typed::<Duration>(n));
        let retry = f.value("retry").and_then(|n| self.retry(n));
        let rollback = match f.value("rollback") {
            None => Vec::new(),
            Some(Node {
                kind: NodeKind::Seq(items),
                ..
            }) => items
                .iter()
                .filter_map(|a| self.action(a, "rollback"))
                .collect(),
            Some(n) => self.action(n, "rollback").into_iter().collect(),
        };
        let for_each = f.value("for_each").cloned();
        let serial = f.value("serial").and_then(|n| self.serial(n));
        let idempotent = f.value("idempotent").and_then(|n| self.typed::<bool>(n));
        let continue_on_error = f
            .value("continue_on_error")
            .and_then(|n| self.typed::<bool>(n))
            .unwrap_or(false);
        let show = f.value("show").and_then(|n| self.string("show", n));
        let sensitive = f
            .value("sensitive")
            .map(|n| self.string_list("sensitive", n))
            .unwrap_or_default();
        let severity = f
            .value("severity")
            .and_then(|n| self.typed::<Severity>(n))
            .unwrap_or_default();
        let action = self.action_key(&f, &id.value, node, STEP_KEYS, "step");
        Some(RawStep {
            id,
            span: node.span,
            name,
            needs,
            when,
            host,
            requires,
            timeout,
            retry,
            rollback,
            for_each,
            serial,
            idempotent,
            continue_on_error,
            show,
            sensitive,
            severity,
            // A step without a usable action is kept (its error is already reported) so that
            // `needs` on it still resolve and do not add misleading errors.
            action: action.map(|(verb, params)| RawAction {
                verb,
                params,
                name: None,
                when: None,
                timeout: None,
                retry: None,
            }),
        })
    }

    /// An action of `requires`, `rollback` or `on_failure`: a verb with optional name/timeout/retry.
    fn action(&mut self, node: &Node, context: &'static str) -> Option<RawAction> {
        let mut f = self.fields(node, context)?;
        let name = f.value("name").and_then(|n| self.string("name", n));
        let when = f.value("when").and_then(|n| self.string("when", n));
        let timeout = f.value("timeout").and_then(|n| self.typed::<Duration>(n));
        let retry = f.value("retry").and_then(|n| self.retry(n));
        let (verb, params) = self.action_key(&f, context, node, ACTION_KEYS, context)?;
        Some(RawAction {
            verb,
            params,
            name,
            when,
            timeout,
            retry,
        })
    }

    /// The one `<family>.<verb>` key among the remaining keys; other leftovers are unknown keys.
    fn action_key(
        &mut self,
        f: &Fields<'_>,
        owner: &str,
        node: &Node,
        known: &'static [&'static str],
        context: &'static str,
    ) -> Option<(Spanned<String>, Node)> {
        let mut action: Option<&(Spanned<String>, Node)> = None;
        for entry in f.rest() {
            let key = &entry.0;
            if !key.value.contains('.') {
                self.errors.push(LoadError::UnknownKey {
                    key: key.value.clone(),
                    context,
                    hint: match did_you_mean(&key.value, known.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!(
                            "actions are written `<family>.<verb>` (e.g. `docker.stop`); other keys: {}",
                            known.join(", ")
                        ),
                    },
                    span: key.span,
                });
            } else if let Some(first) = action {
                self.errors.push(LoadError::TwoActions {
                    step: owner.to_string(),
                    first: first.0.value.clone(),
                    second: key.value.clone(),
                    first_span: first.0.span,
                    span: key.span,
                });
            } else {
                action = Some(entry);
            }
        }
        if action.is_none() && f.rest().all(|(k, _)| !k.value.contains('.')) {
            self.errors.push(LoadError::MissingAction {
                step: owner.to_string(),
                span: first_key_span(node),
            });
        }
        action.cloned()
    }

    fn secret(&mut self, node: &Node) -> Option<SecretSpec> {
        let spec: SecretSpec = self.typed(node)?;
        if spec.env.is_some() == spec.file.is_some() {
            self.errors.push(LoadError::InvalidValue {
                message: "a secret needs exactly one source".into(),
                hint: Some("write `{ env: VARIABLE }` or `{ file: /run/secrets/name }`".into()),
                span: node.span,
            });
            return None;
        }
        Some(spec)
    }

    /// `schedule: "0 3 1 */3 *"` is short for `schedule: { cron: "0 3 1 */3 *" }`.
    fn schedule(&mut self, node: &Node) -> Option<Spanned<Schedule>> {
        let schedule = match &node.kind {
            NodeKind::Str(cron) => Schedule {
                name: None,
                cron: cron.clone(),
                timezone: "UTC".into(),
                overlap: Overlap::Skip,
                catch_up: None,
                inputs: serde_json::Map::new(),
                environment: None,
            },
            _ => self.typed(node)?,
        };
        Some(Spanned::new(schedule, node.span))
    }

    fn serial(&mut self, node: &Node) -> Option<Spanned<Serial>> {
        let n = match node.kind {
            NodeKind::Bool(true) => 1,
            NodeKind::Int(n) if n >= 1 => n as usize,
            _ => {
                self.errors.push(LoadError::InvalidValue {
                    message: "`serial` must be `true` or a batch size of at least 1".into(),
                    hint: Some(
                        "`serial: true` runs the items one at a time; `serial: 2`, two at a time"
                            .into(),
                    ),
                    span: node.span,
                });
                return None;
            }
        };
        Some(Spanned::new(Serial(n), node.span))
    }

    fn check_id(&mut self, id: &Spanned<String>) {
        let valid = id
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && id
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            self.errors.push(LoadError::InvalidValue {
                message: format!("step id `{}` is not a valid id", id.value),
                hint: Some(
                    "ids are letters, digits, `-` and `_`, starting with a letter or digit".into(),
                ),
                span: id.span,
            });
        }
    }

    fn retry(&mut self, node: &Node) -> Option<Retry> {
        let retry: Retry = self.typed(node)?;
        if retry.attempts == 0 {
            self.errors.push(LoadError::InvalidValue {
                message: "`retry.attempts` counts the first attempt too and must be at least 1"
                    .into(),
                hint: Some("`attempts: 3` tries once and retries twice".into()),
                span: node.span,
            });
            return None;
        }
        Some(retry)
    }

    fn fields<'a>(&mut self, node: &'a Node, context: &'static str) -> Option<Fields<'a>> {
        match &node.kind {
            NodeKind::Map(entries) => Some(Fields {
                entries,
                used: vec![false; entries.len()],
            }),
            other => {
                self.errors.push(LoadError::WrongType {
                    key: context.to_string(),
                    expected: "a mapping",
                    found: other.describe(),
                    span: node.span,
                });
                None
            }
        }
    }

    fn unknown_keys(&mut self, f: &Fields<'_>, context: &'static str, known: &[&str]) {
        for (key, _) in f.rest() {
            self.errors.push(LoadError::UnknownKey {
                key: key.value.clone(),
                context,
                hint: de::known_names_hint(&key.value, known, "keys"),
                span: key.span,
            });
        }
    }

    fn named<T>(
        &mut self,
        node: &Node,
        context: &'static str,
        mut value: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Vec<Named<T>> {
        let Some(f) = self.fields(node, context) else {
            return Vec::new();
        };
        f.entries
            .iter()
            .filter_map(|(name, node)| {
                let Some(value) = value(self, node) else {
                    self.unreadable.push(name.value.clone());
                    return None;
                };
                Some(Named {
                    name: name.clone(),
                    value,
                    span: node.span,
                })
            })
            .collect()
    }

    fn list<'a>(&mut self, node: &'a Node, key: &str) -> &'a [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => &[],
            other => {
                self.errors.push(LoadError::WrongType {
                    key: key.to_string(),
                    expected: "a list",
                    found: other.describe(),
                    span: node.span,
                });
                &[]
            }
        }
    }

    fn string(&mut self, key: &str, node: &Node) -> Option<Spanned<String>> {
        match node.scalar_text() {
            Some(text) => Some(Spanned::new(text, node.span)),
            None => {
                self.errors.push(LoadError::WrongType {
                    key: key.to_string(),
                    expected: "a string",
                    found: node.kind.describe(),
                    span: node.span,
                });
                None
            }
        }
    }

    /// `needs: a` is accepted as `needs: [a]`.
    fn string_list(&mut self, key: &str, node: &Node) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|n| self.string(key, n)).collect(),
            _ => self.string(key, node).into_iter().collect(),
        }
    }

    fn typed<T: serde::de::DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        from_node(node)
            .map_err(|e| self.errors.push(invalid(e, node.span)))
            .ok()
    }

    /// [`Self::typed`], keeping where the section was written (for later diagnostics).
    fn typed_spanned<T: serde::de::DeserializeOwned>(&mut self, node: &Node) -> Option<Spanned<T>> {
        self.typed(node).map(|value| Spanned::new(value, node.span))
    }
}

/// A serde error from a typed section, placed at the node it is about.
pub(crate) fn invalid(e: DeError, fallback: Span) -> LoadError {
    LoadError::InvalidValue {
        span: e.span.unwrap_or(fallback),
        message: e.message,
        hint: e.hint,
    }
}

/// Where to point when a mapping lacks a key: its first key (the `- id:` line of a step).
fn first_key_span(node: &Node) -> Span {
    match &node.kind {
        NodeKind::Map(entries) if !entries.is_empty() => entries[0].0.span,
        _ => node.span,
    }
}
