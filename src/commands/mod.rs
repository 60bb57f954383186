//! One file per subcommand.

pub mod approve;
pub mod cli_docs;
pub mod daemon;
pub mod diff;
pub mod plan;
pub mod report;
pub mod resume;
pub mod run;
pub mod runs;
pub mod schedule;
pub mod schema;
mod session;
pub mod show;
pub mod store;
pub mod validate;
pub mod verbs;

use runbook_engine::compile::CompileOptions;
use runbook_engine::diagnostic::Diagnostic;
use runbook_engine::source::{SourceFile, Span, Unreadable};
use std::path::Path;
use std::sync::Arc;

use crate::cli::InputArgs;

/// Steps running at once when `--max-parallel` is not given to `run`.
pub const DEFAULT_MAX_PARALLEL: usize = 4;

use crate::{Exit, Playbook};
use runbook_engine::journal::reader::Journal;
use runbook_engine::journal::{Store, StoredRun};

/// Read and check one playbook: the compiled plan, or the file and its diagnostics.
pub fn check(
    path: &Path,
    options: &CompileOptions,
) -> Result<(SourceFile, Playbook), (SourceFile, Vec<Diagnostic>)> {
    let source = read(path)?;
    check_source(source, options)
}

/// Check a playbook already read (see [`read`]).
pub fn check_source(
    source: SourceFile,
    options: &CompileOptions,
) -> Result<(SourceFile, Playbook), (SourceFile, Vec<Diagnostic>)> {
    match runbook_engine::check::<runbook_steps::Action>(&source, options) {
        Ok(playbook) => Ok((source, playbook)),
        Err(diagnostics) => Err((source, diagnostics)),
    }
}

/// A playbook's text, or the diagnostic of why it cannot be read (with as much of the text
/// as could be, to show the line).
pub fn read(path: &Path) -> Result<SourceFile, (SourceFile, Vec<Diagnostic>)> {
    match SourceFile::load(path) {
        Ok(source) => Ok(source),
        Err(Unreadable::NotUtf8 { source, offset }) => {
            let diagnostic = Diagnostic::error(
                "invalid-utf8",
                format!("byte {offset} is not UTF-8"),
                // The bad byte reads as one U+FFFD in the text shown.
                Span::new(offset, offset + char::REPLACEMENT_CHARACTER.len_utf8()),
            )
            .label("the first byte that is not UTF-8")
            .hint("playbooks are UTF-8; convert it, e.g. `iconv -f latin1 -t utf-8 FILE`, or retype the character");
            Err((source, vec![diagnostic]))
        }
        Err(Unreadable::Io(e)) => {
            let diagnostic =
                Diagnostic::global("unreadable-file", format!("cannot read the playbook: {e}"))
                    .hint(
                        "check the path; `runbook validate playbooks/*.yml` checks several at once",
                    );
            Err((SourceFile::new(path, ""), vec![diagnostic]))
        }
    }
}

/// What to compile a playbook with: `--env FILE` and `--input` values (and whether every
/// required input must be given), or `Err` after printing what is wrong with the file.
pub fn compile_options(values: &InputArgs, require_inputs: bool) -> Result<CompileOptions, ()> {
    Ok(run_options(values, require_inputs)?.0)
}

/// What `run` needs of `--env FILE` and `--input`, the file read once: the compile options,
/// and its hosts reached over the system's OpenSSH (the transport is chosen here, once; the
/// executor only sees [`Hosts`](runbook_engine::action::Hosts)).
pub fn run_options(
    values: &InputArgs,
    require_inputs: bool,
) -> Result<
    (
        CompileOptions,
        std::sync::Arc<dyn runbook_engine::action::Hosts>,
    ),
    (),
> {
    let environment = environment(values.env.as_deref())?;
    let options = CompileOptions {
        inputs: values.inputs.clone(),
        hosts: environment
            .as_ref()
            .map(|e| e.hosts.iter().map(|h| h.name.clone()).collect()),
        environment: environment
            .as_ref()
            .map(|e| e.inputs.clone())
            .unwrap_or_default(),
        require_inputs,
    };
    Ok((options, hosts_of(environment)))
}

/// The hosts of `--env FILE` alone (`resume`: the inputs are the run's own).
pub fn hosts(env: Option<&Path>) -> Result<std::sync::Arc<dyn runbook_engine::action::Hosts>, ()> {
    Ok(hosts_of(environment(env)?))
}

fn hosts_of(
    environment: Option<runbook_engine::load::Environment>,
) -> std::sync::Arc<dyn runbook_engine::action::Hosts> {
    match environment {
        Some(environment) if !environment.hosts.is_empty() => {
            std::sync::Arc::new(runbook_steps::remote::SshHosts::new(environment.hosts))
        }
        _ => std::sync::Arc::new(runbook_engine::action::NoHosts),
    }
}

/// `--env FILE` read, or `Err` after printing what is wrong with the file.
fn environment(path: Option<&Path>) -> Result<Option<runbook_engine::load::Environment>, ()> {
    let Some(path) = path else {
        return Ok(None);
    };
    let source = match SourceFile::read(path) {
        Ok(source) => source,
        Err(e) => {
            sayln!(
                "error: cannot read the environment file {}: {e}",
                path.display()
            );
            sayln!("hint: environment files live in environments/, e.g. environments/demo.yml");
            return Err(());
        }
    };
    runbook_engine::load::load_environment(&source)
        .map(Some)
        .map_err(|errors| {
            let diagnostics: Vec<Diagnostic> = errors.iter().map(|e| e.to_diagnostic()).collect();
            print_diagnostics(&source, &diagnostics);
        })
}

/// The tokio runtime a command runs on, or the exit code after saying why there is none.
pub fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    build_runtime(tokio::runtime::Builder::new_multi_thread())
}

/// The runtime of a run (`run`, `resume`): one thread for the executor, its steps and their
/// connections, so a step's request, its answer and the executor's next move never wait for
/// another thread to wake (see docs/decisions.md, "Per-step cost"). Steps hand long
/// synchronous work (hashing, archives) to tokio's blocking threads.
pub fn session_runtime() -> Result<tokio::runtime::Runtime, Exit> {
    build_runtime(tokio::runtime::Builder::new_current_thread())
}

fn build_runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, Exit> {
    builder.enable_all().build().map_err(|e| {
        sayln!("error: cannot start the async runtime: {e}");
        Exit::Refused
    })
}

/// A recorded run and its journal, or the exit code after saying why not.
pub fn open_run(store: &dyn Store, query: &str) -> Result<(Arc<dyn StoredRun>, Journal), Exit> {
    let run = store.find(query).map_err(|e| {
        sayln!("error: {e}");
        Exit::Invalid
    })?;
    let journal = run.journal().map_err(|e| {
        sayln!("error: {}: {e}", run.journal_location());
        Exit::Refused
    })?;
    Ok((run, journal))
}

/// Diagnostics for people, with a closing count.
pub fn print_diagnostics(source: &SourceFile, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        say!("{}", diagnostic.render(source));
    }
    let count = diagnostics.len();
    sayln!(
        "{}: {count} problem{} found",
        source.name(),
        if count == 1 { "" } else { "s" }
    );
}
