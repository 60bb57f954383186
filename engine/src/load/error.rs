//! What can be wrong with a playbook's shape, found while loading it.

use crate::diagnostic::Diagnostic;
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("{message}")]
    Syntax { message: String, span: Span },
    #[error("unknown key `{key}` in {context}")]
    UnknownKey {
        key: String,
        context: &'static str,
        hint: String,
        span: Span,
    },
    #[error("missing required key `{key}` in {context}")]
    MissingKey {
        key: &'static str,
        context: &'static str,
        span: Span,
    },
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
        span: Span,
    },
    #[error("{message}")]
    InvalidValue {
        message: String,
        hint: Option<String>,
        span: Span,
    },
    #[error("step `{step}` has no action")]
    MissingAction { step: String, span: Span },
    #[error("step `{step}` has two actions, `{first}` and `{second}`")]
    TwoActions {
        step: String,
        first: String,
        second: String,
        first_span: Span,
        span: Span,
    },
    #[error("unsupported playbook version `{found}`")]
    UnsupportedVersion { found: String, span: Span },
}

impl LoadError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        let message = self.to_string();
        match self {
            Self::Syntax { span, .. } => Diagnostic::error("yaml-syntax", message, *span)
                .label("here")
                .hint("check the indentation and the brackets/quotes before this point"),
            Self::UnknownKey { span, hint, .. } => Diagnostic::error("unknown-key", message, *span)
                .label("not a known key")
                .hint(hint.clone()),
            Self::MissingKey { key, span, .. } => Diagnostic::error("missing-key", message, *span)
                .hint(format!("add `{key}: ...`")),
            Self::WrongType { expected, span, .. } => Diagnostic::error("wrong-type", message, *span)
                .label(format!("expected {expected}"))
                .hint(format!("write {expected} here; `runbook schema` describes every key")),
            Self::InvalidValue { span, hint, .. } => Diagnostic::error("invalid-value", message, *span)
                .label("invalid")
                .hint(hint.clone().unwrap_or_else(|| "`runbook schema` describes the accepted values".into())),
            Self::MissingAction { span, .. } => Diagnostic::error("missing-action", message, *span).hint(
                "add exactly one action key `<family>.<verb>`, e.g. `shell.run: { argv: [true] }`; \
                 `runbook schema` lists every verb",
            ),
            Self::TwoActions { span, first_span, .. } => Diagnostic::error("two-actions", message, *span)
                .label("second action")
                .related(*first_span, "first action")
                .hint("a step runs exactly one action; split it into two steps joined by `needs`"),
            Self::UnsupportedVersion { span, .. } => Diagnostic::error("unsupported-version", message, *span)
                .hint("this runbook understands `version: 1`"),
        }
    }
}
