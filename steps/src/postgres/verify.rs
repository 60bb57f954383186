//! `postgres.verify_backup`: the seeds' automated backup verification. The backup is restored
//! into an isolated `<db>_verify_<timestamp>` database on the same server and compared with
//! the live database; the JSON report has the fields of the seeds' `verify-latest.json`.

use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tokio_postgres::Client;

use super::VerifyBackup;
use super::connect::{Target, reason};
use super::inventory::{Side, Snapshot, TableName, list, quote};
use super::restore::{Format, Job, human_size};
use super::scratch;
use super::tools::{ServerVersion, Tool};
use crate::prelude::*;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Fail,
    Warn,
}

#[derive(Debug, Serialize)]
struct Check {
    check: String,
    status: Status,
    detail: String,
}

/// `verify-latest.json`, field for field.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    timestamp: String,
    backup_file: String,
    backup_size: String,
    test_database: String,
    restore_duration_seconds: f64,
    passed: usize,
    failed: usize,
    warnings: usize,
    result: &'static str,
    checks: Vec<Check>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, check: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.0.push(Check {
            check: check.into(),
            status,
            detail: detail.into(),
        });
    }

    fn count(&self, status: Status) -> usize {
        self.0.iter().filter(|c| c.status == status).count()
    }
}

/// What the step was asked to compare, templates rendered.
struct Wanted {
    tables: BTreeSet<TableName>,
    checksum_tables: Vec<TableName>,
    extensions: Vec<String>,
    /// Percent.
    tolerance: f64,
}

impl VerifyBackup {
    /// The live database, a connection to it, the backup and the tool that restores it.
    async fn prepare(
        &self,
        ctx: &StepContext,
    ) -> Result<(Target, Client, PathBuf, Format, Tool), StepError> {
        let live = self.target(ctx).await?;
        let file = PathBuf::from(ctx.render(&self.file)?);
        let format = Format::detect(&file).await?;
        let client = live.connect().await?;
        let server = ServerVersion::of(&client).await?;
        let bin_dir = self.bin_dir.as_ref().map(|d| ctx.render(d)).transpose()?;
        let tool = Tool::find(format.tool(), bin_dir.as_deref(), server).await?;
        Ok((live, client, file, format, tool))
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (live, live_client, file, format, tool) = self.prepare(ctx).await?;
        let report_path = self
            .report
            .as_ref()
            .map(|r| ctx.render(r).map(PathBuf::from))
            .transpose()?;
        let wanted = Wanted {
            tables: self.tables.iter().map(|t| TableName::parse(t)).collect(),
            checksum_tables: self
                .checksum_tables
                .iter()
                .map(|t| TableName::parse(t))
                .collect(),
            extensions: self.extensions.clone(),
            tolerance: self
                .row_count_tolerance
                .as_ref()
                .map(|t| ctx.resolve(t))
                .transpose()?
                .unwrap_or(0.0),
        };
        let jobs = self.jobs.as_ref().map(|j| ctx.resolve(j)).transpose()?;

        let started = chrono::Utc::now();
        let test_database = format!(
            "{}_verify_{}",
            live.database(),
            started.format("%Y%m%d_%H%M%S")
        );
        let test = live.with_database(&test_database);
        let mut checks = Checks::default();
        let create = live_client
            .simple_query(&format!("CREATE DATABASE {}", quote(&test_database)))
            .await;
        let mut restore_seconds = 0.0;
        match create {
            Err(e) => checks.add("Database creation", Status::Fail, reason(&e)),
            Ok(_) => {
                checks.add(
                    "Database creation",
                    Status::Pass,
                    format!("Test database {test_database} created"),
                );
                let job = Job {
                    target: &test,
                    tool: &tool,
                    file: &file,
                    format,
                    clean: false,
                    jobs,
                    no_owner: true,
                };
                // The live side is read while the backup restores: it does not depend on it,
                // and the restore leaves the server's other core mostly idle.
                let live_side = async {
                    let side = Side::new(&live_client, "live").await?;
                    side.snapshot(wanted.counted(), &wanted.checksum_tables)
                        .await
                };
                let restore = async {
                    let clock = Instant::now();
                    let restored = scratch::restore(&job, ctx, self.keep).await;
                    (restored, clock.elapsed())
                };
                let ((restored, took), live) = tokio::join!(restore, live_side);
                restore_seconds = (took.as_secs_f64() * 10.0).round() / 10.0;
                match restored {
                    Err(e) => checks.add(
                        "Restore",
                        Status::Fail,
                        format!(
                            "{} failed after {restore_seconds}s: {}",
                            tool.describe(),
                            e.message
                        ),
                    ),
                    Ok(how) => {
                        checks.add(
                            "Restore",
                            Status::Pass,
                            format!(
                                "{} completed cleanly in {restore_seconds}s ({}{how})",
                                tool.describe(),
                                format.describe()
                            ),
                        );
                        match read_backup(live, &test, &wanted).await {
                            Ok((live, backup)) => judge(&live, &backup, &wanted, &mut checks),
                            Err(e) => checks.add("Comparison", Status::Fail, e),
                        }
                    }
                }
                if !self.keep
                    && let Err(e) = live_client
                        .simple_query(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            quote(&test_database)
                        ))
                        .await
                {
                    checks.add(
                        "Cleanup",
                        Status::Warn,
                        format!("could not drop {test_database}: {}", reason(&e)),
                    );
                }
            }
        }

        let (passed, failed, warnings) = (
            checks.count(Status::Pass),
            checks.count(Status::Fail),
            checks.count(Status::Warn),
        );
        let result = match (failed, warnings) {
            (0, 0) => "pass",
            (0, _) => "warn",
            _ => "fail",
        };
        let failures: Vec<String> = checks
            .0
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect();
        let report = Report {
            timestamp: started.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            backup_file: file.display().to_string(),
            backup_size: human_size(size_of(&file)),
            test_database: test_database.clone(),
            restore_duration_seconds: restore_seconds,
            passed,
            failed,
            warnings,
            result,
            checks: checks.0,
        };
        if let Some(path) = &report_path {
            write_report(path, &report)?;
        }
        if failed > 0 {
            let kept = if self.keep {
                format!(" ({test_database} kept for inspection)")
            } else {
                String::new()
            };
            let written = report_path
                .as_ref()
                .map(|p| format!("; report: {}", p.display()))
                .unwrap_or_default();
            return Err(StepError::failed(format!(
                "backup {} failed verification, {failed} of {} checks{kept}{written}:\n{}",
                file.display(),
                passed + failed + warnings,
                failures.join("\n")
            )));
        }
        Ok(outputs(json!({
            "passed": passed,
            "failed": failed,
            "warnings": warnings,
            "result": result,
            "report_path": report_path.map(|p| p.display().to_string()),
            "test_database": test_database,
            "restore_seconds": restore_seconds,
            "checks": report.checks,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (live, _, file, format, tool) = self.prepare(ctx).await?;
        Ok(format!(
            "would restore {} ({}, {}) with {} into a new database {}_verify_<timestamp>, \
             compare it with {}, then {}",
            file.display(),
            format.describe(),
            human_size(size_of(&file)),
            tool.describe(),
            live.database(),
            live.label(),
            if self.keep { "keep it" } else { "drop it" }
        ))
    }
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Written aside and renamed, so a reader never sees half a report.
fn write_report(path: &Path, report: &Report) -> Result<(), StepError> {
    let text = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
    let aside = path.with_extension("json.partial");
    std::fs::write(&aside, text)
        .and_then(|()| std::fs::rename(&aside, path))
        .map_err(|e| StepError::failed(format!("writing the report {}: {e}", path.display())))
}

impl Wanted {
    /// The tables whose rows are counted: those asked for, or every table (`None`).
    fn counted(&self) -> Option<&BTreeSet<TableName>> {
        (!self.tables.is_empty()).then_some(&self.tables)
    }

    /// The tables that must be in the backup: those asked for, or every live one.
    fn expected(&self, live: &Snapshot) -> BTreeSet<TableName> {
        self.counted().unwrap_or(&live.tables).clone()
    }
}

/// Reads the restored copy, counting what was counted live.
async fn read_backup(
    live: Result<Snapshot, String>,
    test: &Target,
    wanted: &Wanted,
) -> Result<(Snapshot, Snapshot), String> {
    let live = live?;
    let test_client = test.connect().await.map_err(|e| e.message)?;
    let backup = Side::new(&test_client, "backup").await?;
    let backup = backup
        .snapshot(Some(&wanted.expected(&live)), &wanted.checksum_tables)
        .await?;
    Ok((live, backup))
}

/// The restored copy against the live database, check by check.
fn judge(live: &Snapshot, backup: &Snapshot, wanted: &Wanted, checks: &mut Checks) {
    let expected = wanted.expected(live);
    let missing: Vec<&TableName> = expected.difference(&backup.tables).collect();
    if missing.is_empty() {
        checks.add(
            "Table existence",
            Status::Pass,
            format!("All {} expected tables present", expected.len()),
        );
    } else {
        checks.add(
            "Table existence",
            Status::Fail,
            format!("missing from the backup: {}", list(&missing)),
        );
    }
    let extra: Vec<&TableName> = backup.tables.difference(&live.tables).collect();
    if !extra.is_empty() {
        checks.add(
            "Extra tables",
            Status::Warn,
            format!("in the backup, no longer live: {}", list(&extra)),
        );
    }

    let mut mismatched = Vec::new();
    let mut tolerated = Vec::new();
    let mut compared = 0;
    for table in &expected {
        let (Some(&in_live), Some(&in_backup)) = (live.rows.get(table), backup.rows.get(table))
        else {
            continue;
        };
        compared += 1;
        if in_live == in_backup {
            continue;
        }
        let drift = (in_live - in_backup).unsigned_abs() as f64 * 100.0 / (in_live.max(1) as f64);
        let text = format!("{table}: live {in_live}, backup {in_backup}");
        if drift <= wanted.tolerance {
            tolerated.push(text);
        } else {
            mismatched.push(text);
        }
    }
    match (mismatched.is_empty(), tolerated.is_empty()) {
        (false, _) => checks.add("Row counts", Status::Fail, mismatched.join("; ")),
        (true, false) => checks.add(
            "Row counts",
            Status::Warn,
            format!("within {}%: {}", wanted.tolerance, tolerated.join("; ")),
        ),
        (true, true) => checks.add(
            "Row counts",
            Status::Pass,
            format!("All {compared} tables match the live database"),
        ),
    }

    for table in &wanted.checksum_tables {
        let name = format!("Checksum: {table}");
        let (Some(a), Some(b)) = (live.checksums.get(table), backup.checksums.get(table)) else {
            checks.add(name, Status::Fail, "table missing on one side");
            continue;
        };
        if a == b {
            checks.add(
                name,
                Status::Pass,
                format!("Hashes match ({}...)", &a[..12]),
            );
        } else {
            checks.add(
                name,
                Status::Fail,
                format!(
                    "Hashes differ: live {}..., backup {}...",
                    &a[..12],
                    &b[..12]
                ),
            );
        }
    }

    let required: BTreeSet<String> = if wanted.extensions.is_empty() {
        live.extensions.clone()
    } else {
        wanted.extensions.iter().cloned().collect()
    };
    let absent: Vec<&String> = required.difference(&backup.extensions).collect();
    if absent.is_empty() {
        checks.add(
            "Extensions",
            Status::Pass,
            format!("Present: {}", list(&required)),
        );
    } else {
        checks.add(
            "Extensions",
            Status::Fail,
            format!("missing: {}", list(&absent)),
        );
    }

    for (check, a, b) in [
        ("Index count", live.indexes, backup.indexes),
        ("Enum types", live.enums, backup.enums),
    ] {
        if a == b {
            checks.add(check, Status::Pass, format!("{a} in both"));
        } else {
            checks.add(check, Status::Fail, format!("live {a}, backup {b}"));
        }
    }
}
