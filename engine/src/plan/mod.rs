//! Stage 3, plan: a pure rendering of the compiled playbook for people and machines.
//!
//! [`PlanView`] is built once from the DAG: templates are rendered with what is known before
//! the run (inputs, vars, `for_each` items); step outputs appear as symbols such as
//! `⟨steps.latest-backup.path⟩` and secrets as `••••`. Every format renders that same view,
//! so the formats cannot disagree, and the same playbook and inputs give byte-identical output.

mod diff;
mod dot;
mod markdown;
mod mermaid;
mod text;
mod values;
mod view;

pub use diff::{Change, PlanDiff};
pub use view::{ActionView, PlanView, StepView};

use crate::action::Action;
use crate::compile::Playbook;

/// The value shown instead of a secret (owned by `secrets`, which hides them everywhere).
pub use crate::secrets::REDACTED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Mermaid,
    Dot,
    Json,
}

pub fn render<A: Action>(playbook: &Playbook<A>, format: Format) -> String {
    let view = PlanView::new(playbook);
    match format {
        Format::Text => text::render(&view),
        Format::Markdown => markdown::render(&view),
        Format::Mermaid => mermaid::render(&view),
        Format::Dot => dot::render(&view),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&view).expect("plan views serialize");
            json.push('\n');
            json
        }
    }
}
