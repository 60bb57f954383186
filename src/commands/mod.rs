//! One file per subcommand.

pub mod plan;
pub mod schema;
pub mod validate;

use runbook_engine::compile::CompileOptions;
use runbook_engine::diagnostic::Diagnostic;
use runbook_engine::source::SourceFile;
use std::path::Path;

use crate::Playbook;

/// Read and check one playbook: the compiled plan, or the file and its diagnostics.
pub fn check(
    path: &Path,
    options: &CompileOptions,
) -> Result<Playbook, (SourceFile, Vec<Diagnostic>)> {
    let source = match SourceFile::read(path) {
        Ok(source) => source,
        Err(e) => {
            let source = SourceFile::new(path, "");
            let diagnostic =
                Diagnostic::global("unreadable-file", format!("cannot read the playbook: {e}"))
                    .hint(
                        "check the path; `runbook validate playbooks/*.yml` checks several at once",
                    );
            return Err((source, vec![diagnostic]));
        }
    };
    runbook_engine::check::<runbook_steps::Action>(&source, options).map_err(|d| (source, d))
}

/// Diagnostics for people, with a closing count.
pub fn print_diagnostics(source: &SourceFile, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        eprint!("{}", diagnostic.render(source));
    }
    let count = diagnostics.len();
    eprintln!(
        "{}: {count} problem{} found",
        source.name(),
        if count == 1 { "" } else { "s" }
    );
}
