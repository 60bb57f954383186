//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Operations runbooks as playbooks a machine can check, plan, run, journal and roll back.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success, 2 invalid playbook or usage.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks without running anything; every problem with file:line:col and a hint.
    Validate(ValidateArgs),
    /// Show what a playbook would do, step by step, without touching anything.
    Plan(PlanArgs),
    /// Print the JSON Schema of playbooks (for editors).
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Input values to check against their declared types (required inputs may be omitted).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE", value_parser = parse_input)]
    pub inputs: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Playbook file.
    pub file: PathBuf,
    /// Input values; every required input must be given.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE", value_parser = parse_input)]
    pub inputs: Vec<(String, String)>,
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
