//! What can be wrong with a well-formed playbook: names, graph, templates, values.

use crate::diagnostic::Diagnostic;
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("unknown action `{verb}`")]
    UnknownVerb {
        verb: String,
        hint: String,
        span: Span,
    },
    #[error("invalid params for `{verb}`: {message}")]
    InvalidParams {
        verb: String,
        message: String,
        hint: Option<String>,
        span: Span,
    },
    #[error("`{verb}` changes state and cannot be a precondition")]
    MutatingPrecondition { verb: String, span: Span },
    #[error("duplicate step id `{id}`")]
    DuplicateId { id: String, first: Span, span: Span },
    #[error("step `{step}` needs unknown step `{need}`")]
    UnknownNeed {
        step: String,
        need: String,
        hint: Option<String>,
        span: Span,
    },
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String>, span: Span },
    #[error("{what} `{name}` is not declared")]
    Undeclared {
        what: &'static str,
        name: String,
        hint: String,
        span: Span,
    },
    #[error("step `{step}` reads outputs of `{referenced}`, which it does not depend on")]
    NotAncestor {
        step: String,
        referenced: String,
        span: Span,
    },
    #[error("step `{referenced}` (`{verb}`) has no output `{output}`")]
    UnknownOutput {
        referenced: String,
        verb: String,
        output: String,
        hint: String,
        span: Span,
    },
    #[error("secret `{secret}` would be printed in {place}")]
    SecretPrinted {
        secret: String,
        place: String,
        span: Span,
    },
    #[error("template too large: {message}")]
    TemplateLimit { message: String, span: Span },
    #[error("template error: {message}")]
    TemplateSyntax {
        message: String,
        span: Span,
        /// What to do, when the mistake is a known one (smart quotes pasted from a document).
        hint: Option<String>,
    },
    #[error("missing required input `{name}`")]
    MissingInput { name: String, span: Span },
    #[error("input `{name}`: {message}")]
    InvalidInput {
        name: String,
        message: String,
        span: Option<Span>,
    },
    #[error("unknown input `{name}` given")]
    UnknownInputGiven { name: String, hint: String },
    #[error("host `{host}` is not declared in the environment file")]
    UnknownHost {
        host: String,
        hint: String,
        span: Span,
    },
    #[error("`{verb}` does not run on a host, and this step names `host: {host}`")]
    NotOnHost {
        verb: String,
        host: String,
        hint: String,
        span: Span,
    },
    #[error("{message}")]
    ForEach {
        message: String,
        hint: Option<String>,
        span: Span,
    },
    #[error("{message}")]
    Schedule {
        message: String,
        hint: Option<String>,
        span: Span,
    },
}

impl CompileError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let message = self.to_string();
        match self {
            Self::UnknownVerb { hint, span, .. } => Diagnostic::error("unknown-verb", message, *span)
                .label("no such action")
                .hint(hint.clone()),
            Self::InvalidParams { verb, hint, span, .. } => Diagnostic::error("invalid-params", message, *span)
                .label("here")
                .hint(hint.clone().unwrap_or_else(|| {
                    format!("the params of `{verb}` are listed in schemas/playbook.schema.json (`runbook schema`)")
                })),
            Self::MutatingPrecondition { span, .. } => Diagnostic::error("mutating-precondition", message, *span)
                .label("mutating action")
                .hint("preconditions only observe; move this action into a step of its own"),
            Self::DuplicateId { first, span, .. } => Diagnostic::error("duplicate-id", message, *span)
                .label("defined again here")
                .related(*first, "first defined here")
                .hint("step ids must be unique; rename one of them"),
            Self::UnknownNeed { hint, span, .. } => with_hint(
                Diagnostic::error("unknown-need", message, *span).label("no step has this id"),
                hint,
            ),
            Self::Cycle { cycle, span } => Diagnostic::error("needs-cycle", message, *span)
                .label("this `needs` closes the cycle")
                .hint(format!(
                    "a step cannot wait for itself; remove one of the `needs` along {}",
                    cycle.join(" -> ")
                )),
            Self::Undeclared { hint, span, .. } => Diagnostic::error("undeclared", message, *span)
                .label("not declared")
                .hint(hint.clone()),
            Self::NotAncestor { referenced, span, .. } => Diagnostic::error("not-a-dependency", message, *span)
                .label("output of a step that may not have run yet")
                .hint(format!("add `{referenced}` to this step's `needs`")),
            Self::UnknownOutput { hint, span, .. } => Diagnostic::error("unknown-output", message, *span)
                .label("no such output")
                .hint(hint.clone()),
            Self::SecretPrinted { span, .. } => Diagnostic::error("secret-printed", message, *span)
                .label("secret used here")
                .hint("secrets may be used in connection params, headers and env, never where text is shown"),
            Self::TemplateLimit { span, .. } => Diagnostic::error("template-limit", message, *span)
                .label("this template")
                .hint("playbook templates are short expressions; compute large values in a step (`shell.run`) and read its output"),
            Self::TemplateSyntax { span, hint, .. } => Diagnostic::error("template-syntax", message, *span)
                .label("in this template")
                .hint(hint.clone().unwrap_or_else(|| "templates use minijinja syntax: `{{ inputs.name }}`, `{{ steps['id'].output }}`".into())),
            Self::MissingInput { name, span } => Diagnostic::error("missing-input", message, *span)
                .label("required input declared here")
                .hint(format!("pass `--input {name}=...` or give the input a `default`")),
            Self::InvalidInput { span, .. } => {
                let d = match span {
                    Some(span) => Diagnostic::error("invalid-input", message, *span).label("declared here"),
                    None => Diagnostic::global("invalid-input", message),
                };
                d.hint("the value must match the input's `type`")
            }
            Self::UnknownInputGiven { hint, .. } => {
                Diagnostic::global("unknown-input", message).hint(hint.clone())
            }
            Self::UnknownHost { hint, span, .. } => {
                Diagnostic::error("unknown-host", message, *span)
                    .label("not in `hosts:`")
                    .hint(hint.clone())
            }
            Self::NotOnHost { hint, span, .. } => {
                Diagnostic::error("not-on-host", message, *span)
                    .label("runs on this machine only")
                    .hint(hint.clone())
            }
            Self::ForEach { hint, span, .. } => {
                with_hint(Diagnostic::error("invalid-for-each", message, *span).label("here"), hint)
            }
            Self::Schedule { hint, span, .. } => {
                with_hint(Diagnostic::error("invalid-schedule", message, *span).label("here"), hint)
            }
        }
    }
}

fn with_hint(d: Diagnostic, hint: &Option<String>) -> Diagnostic {
    match hint {
        Some(h) => d.hint(h.clone()),
        None => d,
    }
}
