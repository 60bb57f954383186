//! `postgres.restore`: a dump back into a database, through pg_restore (custom or directory
//! format) or psql (plain SQL), gzip-compressed or not. The format is read from the file's
//! first bytes, not its name: the seeds call custom-format dumps `.sql.gz`.

use async_compression::tokio::bufread::GzipDecoder;
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, BufReader};

use super::Restore;
use super::connect::{Target, reason};
use super::inventory::quote;
use super::tools::{ServerVersion, Tool};
use crate::prelude::*;
use crate::process::Feed;

/// How a dump file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `pg_dump -Fc`: starts with `PGDMP`.
    Custom,
    /// `pg_dump -Fd`: a directory with `toc.dat`.
    Directory,
    /// A custom-format archive, gzip-compressed again.
    GzipCustom,
    Plain,
    GzipPlain,
}

impl Format {
    pub async fn detect(path: &Path) -> Result<Self, StepError> {
        if path.is_dir() {
            return if path.join("toc.dat").is_file() {
                Ok(Self::Directory)
            } else {
                Err(StepError::failed(format!(
                    "{} is a directory without toc.dat, not a pg_dump directory archive",
                    path.display()
                )))
            };
        }
        let mut head = [0u8; 5];
        let mut file = open(path).await?;
        let read = read_head(&mut file, &mut head).await;
        if head[..2] == [0x1f, 0x8b] {
            let mut unzipped = GzipDecoder::new(BufReader::new(open(path).await?));
            let mut inner = [0u8; 5];
            read_head(&mut unzipped, &mut inner).await;
            return Ok(if &inner == b"PGDMP" {
                Self::GzipCustom
            } else {
                Self::GzipPlain
            });
        }
        Ok(if read == 5 && &head == b"PGDMP" {
            Self::Custom
        } else {
            Self::Plain
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Custom => "custom format",
            Self::Directory => "directory format",
            Self::GzipCustom => "gzip-compressed custom format",
            Self::Plain => "plain SQL",
            Self::GzipPlain => "gzip-compressed plain SQL",
        }
    }

    pub fn tool(self) -> &'static str {
        match self {
            Self::Custom | Self::Directory | Self::GzipCustom => "pg_restore",
            Self::Plain | Self::GzipPlain => "psql",
        }
    }

    /// Whether pg_restore can restore this dump section by section and in parallel jobs: it
    /// must seek in the archive, which a gzip stream on its standard input does not allow.
    pub fn seekable(self) -> bool {
        matches!(self, Self::Custom | Self::Directory)
    }

    fn gzipped(self) -> bool {
        matches!(self, Self::GzipCustom | Self::GzipPlain)
    }
}

async fn open(path: &Path) -> Result<tokio::fs::File, StepError> {
    tokio::fs::File::open(path)
        .await
        .map_err(|e| StepError::failed(format!("cannot read {}: {e}", path.display())))
}

/// Reads up to `head.len()` bytes; how many were read.
async fn read_head(reader: &mut (impl AsyncReadExt + Unpin), head: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

/// A part of a pg_restore archive (`--section`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    /// Tables, types, functions: the schema the data goes into.
    PreData,
    /// Table data, sequence values.
    Data,
    /// Indexes, constraints, triggers: built on the data.
    PostData,
}

impl Section {
    fn flag(self) -> &'static str {
        match self {
            Self::PreData => "--section=pre-data",
            Self::Data => "--section=data",
            Self::PostData => "--section=post-data",
        }
    }
}

/// One restore of one file into one database.
pub(super) struct Job<'a> {
    pub target: &'a Target,
    pub tool: &'a Tool,
    pub file: &'a Path,
    pub format: Format,
    pub clean: bool,
    pub jobs: Option<u8>,
    /// For verification copies: objects owned by the restoring user, no grants replayed,
    /// so a backup restores whatever roles exist on the server.
    pub no_owner: bool,
}

impl Job<'_> {
    /// Whether the restore is one transaction (all or nothing).
    pub fn atomic(&self) -> bool {
        self.jobs.is_none()
    }

    fn args(&self, sections: &[Section], list: Option<&Path>) -> Result<Vec<String>, StepError> {
        let mut args = Vec::new();
        if self.format.tool() == "psql" {
            if self.clean {
                return Err(StepError::failed(format!(
                    "`clean` drops objects through pg_restore; {} is plain SQL, which restores \
                     as it was written (dump it with `pg_dump --clean` to drop first)",
                    self.file.display()
                )));
            }
            if self.jobs.is_some() {
                return Err(StepError::failed(
                    "`jobs` needs a custom or directory-format dump",
                ));
            }
            args.extend(
                ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"].map(String::from),
            );
            if !self.format.gzipped() {
                args.push(format!("--file={}", self.file.display()));
            }
            return Ok(args);
        }
        args.push(format!("--dbname={}", self.target.database()));
        args.push("--exit-on-error".into());
        if self.clean {
            args.extend(["--clean", "--if-exists"].map(String::from));
        }
        if self.no_owner {
            args.extend(["--no-owner", "--no-privileges"].map(String::from));
        }
        args.extend(sections.iter().map(|s| s.flag().to_string()));
        if let Some(list) = list {
            args.push(format!("--use-list={}", list.display()));
        }
        match self.jobs {
            Some(_) if self.format.gzipped() => {
                return Err(StepError::failed(
                    "`jobs` needs a dump pg_restore can seek in; this one is gzip-compressed",
                ));
            }
            Some(jobs) => args.push(format!("--jobs={jobs}")),
            None => args.push("--single-transaction".into()),
        }
        if !self.format.gzipped() {
            args.push(self.file.display().to_string());
        }
        Ok(args)
    }

    /// Runs the restore; the error is the tool's own words.
    pub async fn run(&self, ctx: &StepContext) -> Result<(), StepError> {
        self.run_sections(ctx, &[], None).await
    }

    /// Runs these sections of the archive only (all of it when empty), and of those only the
    /// entries of `list` (`pg_restore -l` output) when given.
    pub async fn run_sections(
        &self,
        ctx: &StepContext,
        sections: &[Section],
        list: Option<&Path>,
    ) -> Result<(), StepError> {
        let args = self.args(sections, list)?;
        let feed: Option<Feed> = if self.format.gzipped() {
            Some(Box::pin(GzipDecoder::new(BufReader::new(
                open(self.file).await?,
            ))))
        } else {
            None
        };
        let ended = self.tool.run(ctx, self.target, &args, feed).await?;
        if ended.exit_code == 0 && ended.feed_error.is_none() {
            Ok(())
        } else {
            Err(StepError::failed(self.tool.failure(&ended)))
        }
    }
}

/// The database's current owner, connections, and the drop-and-recreate statements.
struct Recreate {
    maintenance: Target,
    owner: Option<String>,
    connections: i64,
}

impl Recreate {
    async fn look(target: &Target) -> Result<Self, StepError> {
        let maintenance = target.with_database("postgres");
        let client = maintenance.connect().await?;
        let row = client
            .query_one(
                "SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1), \
                 (SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid())",
                &[&target.database()],
            )
            .await
            .map_err(|e| StepError::failed(format!("looking at {}: {}", target.label(), reason(&e))))?;
        Ok(Self {
            maintenance,
            owner: row.get(0),
            connections: row.get(1),
        })
    }

    async fn apply(&self, database: &str) -> Result<(), StepError> {
        let client = self.maintenance.connect().await?;
        let owner = match &self.owner {
            Some(owner) => format!(" OWNER {}", quote(owner)),
            None => String::new(),
        };
        let db = quote(database);
        // WITH (FORCE) terminates the connections first (PostgreSQL 13 and later).
        let statements = [
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            format!("CREATE DATABASE {db}{owner}"),
        ];
        for statement in &statements {
            client.simple_query(statement).await.map_err(|e| {
                StepError::failed(format!(
                    "recreating {database} (`{statement}`): {}",
                    reason(&e)
                ))
            })?;
        }
        Ok(())
    }
}

impl Restore {
    async fn prepare(
        &self,
        ctx: &StepContext,
    ) -> Result<(Target, Tool, PathBuf, Format), StepError> {
        let target = self.target(ctx).await?;
        let file = PathBuf::from(ctx.render(&self.file)?);
        let format = Format::detect(&file).await?;
        // The maintenance database answers even when the target is missing (recreate).
        let probe = if self.recreate {
            target.with_database("postgres")
        } else {
            target.clone()
        };
        let server = ServerVersion::of(&probe.connect().await?).await?;
        let bin_dir = self.bin_dir.as_ref().map(|d| ctx.render(d)).transpose()?;
        let tool = Tool::find(format.tool(), bin_dir.as_deref(), server).await?;
        Ok((target, tool, file, format))
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (target, tool, file, format) = self.prepare(ctx).await?;
        let jobs = self.jobs.as_ref().map(|j| ctx.resolve(j)).transpose()?;
        let job = Job {
            target: &target,
            tool: &tool,
            file: &file,
            format,
            clean: self.clean,
            jobs,
            no_owner: false,
        };
        // Refuse impossible options (`clean` on plain SQL) before dropping anything.
        job.args(&[], None)?;
        if self.recreate {
            Recreate::look(&target)
                .await?
                .apply(target.database())
                .await?;
        }
        job.run(ctx).await.map_err(|e| {
            let state = match (self.recreate, job.atomic()) {
                (true, true) => "the database was dropped and recreated first, so it is now empty",
                (true, false) => "the database was dropped and recreated first, and is now partly restored (parallel jobs are not one transaction)",
                (false, true) => "the restore ran in one transaction: nothing changed",
                (false, false) => "the database may be partly restored (parallel jobs are not one transaction)",
            };
            StepError::failed(format!(
                "restoring {} into {} failed; {state}:\n{}",
                file.display(),
                target.label(),
                e.message
            ))
        })?;
        Ok(outputs(json!({
            "format": format.describe(),
            "tool": tool.describe(),
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (target, tool, file, format) = self.prepare(ctx).await?;
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let mut text = String::from("would ");
        if self.recreate {
            let recreate = Recreate::look(&target).await?;
            text.push_str(&format!(
                "terminate {} connection{}, drop and recreate {}, then ",
                recreate.connections,
                if recreate.connections == 1 { "" } else { "s" },
                target.database()
            ));
        }
        text.push_str(&format!(
            "restore {} ({}, {}) into {} with {}",
            file.display(),
            format.describe(),
            human_size(size),
            target.label(),
            tool.describe()
        ));
        if self.clean {
            text.push_str(" --clean --if-exists");
        }
        Ok(text)
    }
}

/// `150M`, like `ls -lh` and the seeds' report.
pub(super) fn human_size(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < units.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else if size < 10.0 {
        format!("{size:.1}{}", units[unit])
    } else {
        format!("{size:.0}{}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ls() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(150 * 1024 * 1024), "150M");
    }

    #[tokio::test]
    async fn formats_are_read_from_the_first_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let custom = dir.path().join("a.sql.gz");
        std::fs::write(&custom, b"PGDMP\x01\x0e").expect("write");
        assert_eq!(Format::detect(&custom).await.expect("read"), Format::Custom);
        let plain = dir.path().join("b.dump");
        std::fs::write(&plain, b"--\n-- PostgreSQL database dump\n").expect("write");
        assert_eq!(Format::detect(&plain).await.expect("read"), Format::Plain);
        let gz = dir.path().join("c");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf 'SELECT 1;' | gzip > {}", gz.display()))
            .status()
            .expect("gzip runs");
        assert!(status.success());
        assert_eq!(Format::detect(&gz).await.expect("read"), Format::GzipPlain);
        assert!(Format::detect(&dir.path().join("missing")).await.is_err());
    }
}
