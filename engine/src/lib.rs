//! runbook's engine: the pipeline that turns a YAML playbook into something that can be
//! checked, reviewed and run.
//!
//! ```text
//! YAML --load--> RawPlaybook (spans) --compile--> Playbook (petgraph DAG of typed steps)
//!      --plan--> text / markdown / mermaid / dot / json (no side effects)
//!      --execute--> events --> journal (append-only, fsynced) --> runs / show / resume
//! ```
//!
//! The engine knows nothing of Docker or PostgreSQL: step families plug in through
//! [`action::Action`].

pub mod action;
pub mod compile;
pub mod diagnostic;
pub mod execute;
pub mod journal;
pub mod load;
pub mod parallel;
pub mod params;
pub mod plan;
pub mod reference;
pub mod report;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod suggest;
pub mod template;

use action::Action;
use compile::{CompileOptions, Playbook};
use diagnostic::Diagnostic;
use source::SourceFile;

/// Load and compile a playbook, returning every problem found by either stage, in the order
/// they appear in the file.
pub fn check<A: Action>(
    source: &SourceFile,
    options: &CompileOptions,
) -> Result<Playbook<A>, Vec<Diagnostic>> {
    let loaded = load::load(source);
    let mut diagnostics: Vec<Diagnostic> = loaded
        .errors
        .iter()
        .map(load::LoadError::to_diagnostic)
        .collect();
    let compiled = loaded
        .playbook
        .map(|raw| compile::compile::<A>(&raw, source, options));
    match compiled {
        Some(Ok(playbook)) if diagnostics.is_empty() => return Ok(playbook),
        Some(Ok(_)) | None => {}
        Some(Err(errors)) => {
            diagnostics.extend(errors.iter().map(compile::CompileError::to_diagnostic))
        }
    }
    // Problems without a place in the file (a bad `--input`) first, then top to bottom.
    diagnostics.sort_by_key(|d| d.span.map(|s| (1, s.start)).unwrap_or((0, 0)));
    Err(diagnostics)
}
