//! `runbook validate FILE...`

use serde_json::json;

use crate::Exit;
use crate::cli::{ReportFormat, ValidateArgs};

pub fn run(args: &ValidateArgs) -> Exit {
    let Ok(options) = super::compile_options(&args.values, false) else {
        return Exit::Invalid;
    };
    let mut failed = false;
    let mut report = Vec::new();
    for path in &args.files {
        match super::check(path, &options) {
            Ok((_, playbook)) => {
                if let ReportFormat::Text = args.format {
                    outln!(
                        "ok: {} ({} steps in {} stages)",
                        path.display(),
                        playbook.steps.len(),
                        playbook.stages.len()
                    );
                }
                report.push(
                    json!({ "file": path.display().to_string(), "ok": true, "diagnostics": [] }),
                );
            }
            Err((source, diagnostics)) => {
                failed = true;
                match args.format {
                    ReportFormat::Text => super::print_diagnostics(&source, &diagnostics),
                    ReportFormat::Json => report.push(json!({
                        "file": source.name(),
                        "ok": false,
                        "diagnostics": diagnostics.iter().map(|d| d.to_json(&source)).collect::<Vec<_>>(),
                    })),
                }
            }
        }
    }
    if let ReportFormat::Json = args.format {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "files": report })).expect("json")
        );
    }
    if failed { Exit::Invalid } else { Exit::Success }
}
