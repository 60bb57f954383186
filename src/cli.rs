//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Operations runbooks as playbooks a machine can check, plan, run, journal and roll back.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Where runs are journaled and locks are kept.
    #[arg(
        long,
        global = true,
        env = "RUNBOOK_STATE_DIR",
        default_value = ".runbook"
    )]
    pub state_dir: PathBuf,
    /// Where `lock:` keys are held: host-wide, so a key means the same whatever directory
    /// runbook starts from [default: /run/lock/runbook, else $TMPDIR/runbook-locks].
    #[arg(long, global = true, env = "RUNBOOK_LOCK_DIR", value_name = "DIR")]
    pub lock_dir: Option<PathBuf>,
    /// Keep runs, journals, locks, approvals and schedule fires in PostgreSQL, shared by every
    /// runner and daemon (`postgres://USER:PASSWORD@HOST:PORT/DB`). Set RUNBOOK_STORE rather
    /// than the option: the URL holds a password, and any user on the host can read argv.
    /// Without it, runs live in --state-dir on this machine.
    #[arg(
        long,
        global = true,
        env = "RUNBOOK_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// With --store: how long a run stays owned without a renewal of its lease. A runner that
    /// cannot renew stops within it; another takes the run over after it.
    #[arg(long, global = true, env = "RUNBOOK_LEASE_TTL", value_name = "DURATION", default_value = "30s", value_parser = parse_ttl)]
    pub lease_ttl: std::time::Duration,
    /// `json`: what runbook says on stderr (run events, the daemon's decisions, errors) as one
    /// JSON object per line, filtered by RUST_LOG (default `info`).
    #[arg(
        long,
        global = true,
        env = "RUNBOOK_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

const EXIT_CODES: &str = "Exit codes: 0 success · 1 run failed (rolled back) · 2 invalid playbook or usage · \
3 rollback failed, manual action needed · 4 a precondition failed, nothing changed · \
5 refused (lock held, run finished or changed) · 6 objectives (RTO/RPO) missed · \
7 this runner lost the run (shared store: lease lapsed), nothing rolled back · 130 interrupted.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks without running anything; every problem with file:line:col and a hint.
    Validate(ValidateArgs),
    /// Show what a playbook would do, step by step, without touching anything.
    Plan(PlanArgs),
    /// What a change to a playbook changes in its plan (steps, edges, params), for review.
    Diff(DiffArgs),
    /// Print the JSON Schema of playbooks (for editors).
    Schema,
    /// Every verb (or one): its params, outputs, effect and an example.
    Verbs(VerbsArgs),
    /// Run a playbook: journaled, rolled back on failure, resumable after a crash.
    Run(RunArgs),
    /// Continue a run that crashed or was killed, from its journal.
    Resume(ResumeArgs),
    /// List recorded runs.
    Runs(RunsArgs),
    /// Print the timeline of one run.
    Show(ShowArgs),
    /// The report of one run, from its journal: json, markdown, html (with an SVG timeline), junit.
    Report(ReportArgs),
    /// Run the scheduled playbooks of a directory at their cron times (the quarterly DR drill).
    Daemon(DaemonArgs),
    /// List the scheduled playbooks of a directory and when each fires next.
    Schedule(ScheduleArgs),
    /// Approve (or reject) a run waiting at an `approval.gate`.
    Approve(ApproveArgs),
    /// The shared PostgreSQL store (--store / RUNBOOK_STORE): migrate its schema, import a
    /// local history.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Print shell completions: `runbook completions bash > /etc/bash_completion.d/runbook`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `runbook man > /usr/local/share/man/man1/runbook.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct VerbsArgs {
    /// One verb, e.g. `docker.stop`; without it, every verb in one line each.
    pub name: Option<String>,
    /// `markdown` prints the whole reference (docs/verbs.md).
    #[arg(long, value_enum, default_value_t = VerbsFormat::Text)]
    pub format: VerbsFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VerbsFormat {
    Text,
    Markdown,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ExecutionArgs {
    /// Steps running at once, at most [default: 4; for `resume`, what the run started with].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_parallel: Option<u16>,
    /// Do not undo what ran when the run fails or is interrupted.
    #[arg(long)]
    pub no_rollback: bool,
    /// Never ask for approval on this terminal; wait for `runbook approve` instead.
    #[arg(long)]
    pub no_prompt: bool,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// Webhooks told of every run's start and end, besides those of the playbook.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Also post each run's start and end to this webhook (Slack-compatible; repeatable).
    /// RUNBOOK_NOTIFY (URLs separated by spaces) keeps a webhook's secret path out of `ps`.
    #[arg(
        long,
        value_name = "URL",
        env = "RUNBOOK_NOTIFY",
        value_delimiter = ' ',
        hide_env_values = true
    )]
    pub notify: Vec<String>,
}

/// A playbook's input values: those of an environment file, and `--input` over them.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// An input value (repeatable); wins over the environment file.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE", value_parser = parse_input)]
    pub inputs: Vec<(String, String)>,
    /// Environment file with the input values of one stack (e.g. environments/demo.yml).
    #[arg(long, value_name = "FILE")]
    pub env: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Playbook file.
    pub file: PathBuf,
    #[command(flatten)]
    pub values: InputArgs,
    /// Check mode: run read-only actions and preconditions for real, preview mutating ones.
    #[arg(long)]
    pub dry_run: bool,
    /// Make this step fail on purpose (after its preconditions), to prove its rollback path.
    #[arg(long, value_name = "STEP")]
    pub fail_at: Option<String>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Run id, a unique prefix of it, or `last`.
    pub run: String,
    /// Resume although the playbook changed since the run started.
    #[arg(long)]
    pub force: bool,
    /// Run again a step that started and never finished (after checking what it did).
    #[arg(long, value_name = "STEP")]
    pub rerun: Vec<String>,
    /// The environment file whose `hosts:` the run's steps act on (as given to `run`).
    #[arg(long, value_name = "FILE")]
    pub env: Option<PathBuf>,
    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, a unique prefix of it, or `last`.
    pub run: String,
    /// Keep printing events as the run journals them, until it ends (exit: the run's code)
    /// or nobody works on it any more: watch a run from another shell or a new SSH session.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Directory of playbooks; those with a `schedule:` run.
    #[arg(default_value = "playbooks")]
    pub dir: PathBuf,
    /// Run what is due now (and catch-ups), wait for it, and exit: for cron or systemd timers.
    #[arg(long)]
    pub once: bool,
    /// Exit after this many runs have finished.
    #[arg(long, value_name = "N")]
    pub max_runs: Option<usize>,
    /// Runs are given these webhooks through RUNBOOK_NOTIFY, never on their command line.
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Where to write the Prometheus metrics (default: STATE_DIR/daemon/runbook.prom), for
    /// node-exporter's textfile collector.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Start the daemon's clock at this instant (RFC 3339) instead of now: rehearse a schedule.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
    /// Make the daemon's clock run this many times faster than real time.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub clock_speed: f64,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[arg(default_value = "playbooks")]
    pub dir: PathBuf,
    /// Compute next fire times from this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create or upgrade the store's tables to this runbook's schema version (idempotent).
    Migrate,
    /// Copy the runs of a local state directory (journal, snapshot, reports) into the store;
    /// runs already there are left as they are.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A state directory, e.g. `.runbook`.
    pub dir: PathBuf,
}

fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    // The playbooks' own grammar of durations (`30s`, `1m`, `2 minutes`).
    let ttl = runbook_engine::params::Duration::parse(text)?.0;
    if ttl < std::time::Duration::from_secs(1) {
        return Err(format!(
            "`{text}`: a lease shorter than 1s would be lost to a slow query"
        ));
    }
    Ok(ttl)
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time like 2027-01-01T02:59:58Z: {e}"))
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The playbook before the change (e.g. `git show main:playbooks/restore.yml > old.yml`).
    pub old: PathBuf,
    /// The playbook after it.
    pub new: PathBuf,
    /// Input values for both sides.
    #[command(flatten)]
    pub values: InputArgs,
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run id, a unique prefix of it, or `last`.
    pub run: String,
    #[arg(long, value_enum, default_value_t = ReportKind::Markdown)]
    pub format: ReportKind,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportKind {
    Json,
    Markdown,
    Html,
    Junit,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Run id, a unique prefix of it, or `last`.
    pub run: String,
    /// The step waiting at its gate.
    pub step: String,
    /// Reject instead: the gate fails and the run rolls back.
    #[arg(long)]
    pub reject: bool,
    /// Why; journaled with the decision.
    #[arg(long)]
    pub comment: Option<String>,
    /// Who decides (default: $USER).
    #[arg(long = "as", value_name = "NAME")]
    pub approver: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Input values, checked against their declared types (required inputs may be omitted).
    #[command(flatten)]
    pub values: InputArgs,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Playbook file.
    pub file: PathBuf,
    /// Input values; every required input must be given.
    #[command(flatten)]
    pub values: InputArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Mermaid,
    Dot,
    Json,
}

fn parse_input(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}
