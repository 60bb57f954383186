//! `runbook plan FILE`

use runbook_engine::plan::{Format, render};

use crate::Exit;
use crate::cli::{PlanArgs, PlanFormat};

pub fn run(args: &PlanArgs) -> Exit {
    let Ok(options) = super::compile_options(&args.values, true) else {
        return Exit::Invalid;
    };
    match super::check(&args.file, &options) {
        Ok((_, playbook)) => {
            let format = match args.format {
                PlanFormat::Text => Format::Text,
                PlanFormat::Markdown => Format::Markdown,
                PlanFormat::Mermaid => Format::Mermaid,
                PlanFormat::Dot => Format::Dot,
                PlanFormat::Json => Format::Json,
            };
            out!("{}", render(&playbook, format));
            Exit::Success
        }
        Err((source, diagnostics)) => {
            super::print_diagnostics(&source, &diagnostics);
            Exit::Invalid
        }
    }
}
