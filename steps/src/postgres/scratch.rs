//! The verification copy of `postgres.verify_backup`, restored as fast as a copy that is
//! dropped afterwards allows. pg_restore loads a table's data through one connection, so a
//! backup whose bulk is one table restores at the speed of one server core, parallel jobs or
//! not. Here, when pg_restore can take the archive in parts (custom or directory format):
//!
//! 1. the schema (`pre-data`), then every table made UNLOGGED: the data and its indexes
//!    write no WAL (a verification should not double the server's WAL traffic);
//! 2. every table's rows, read from `pg_restore --file=-` and spread in chunks over
//!    [`SCRATCH_JOBS`] connections, each running the dump's own `COPY` statement (a row of
//!    COPY's text format is one line, so any split at line ends is whole rows);
//! 3. the rest of the data (sequence values, large objects) through pg_restore;
//! 4. indexes and constraints (`post-data`) in parallel jobs.
//!
//! A copy kept for inspection, and a dump pg_restore cannot seek in (gzip, plain SQL), are
//! restored in one pass as `postgres.restore` does; so is a dump whose table data is not
//! COPY (`pg_dump --inserts`) or not UTF-8, found before anything is loaded.

use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use futures_util::future::try_join_all;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::connect::{Target, reason};
use super::restore::{Job, Section};
use crate::prelude::*;

/// Connections (and pg_restore jobs) of a scratch restore when the step gives no `jobs`: the
/// server is the live one, so more is the operator's call.
const SCRATCH_JOBS: u8 = 2;

/// Rows are sent to a connection in chunks of about this many bytes.
const CHUNK: usize = 256 << 10;
/// Chunks waiting for each connection, at most: memory stays bounded on any table size.
const QUEUED: usize = 4;

/// Restores the backup of `job` into its (empty) target; says how, for the report.
pub(super) async fn restore(
    job: &Job<'_>,
    ctx: &StepContext,
    keep: bool,
) -> Result<String, StepError> {
    if keep || !job.format.seekable() {
        job.run(ctx).await?;
        return Ok(match job.jobs {
            Some(jobs) => format!(", {jobs} parallel jobs"),
            None => String::new(),
        });
    }
    // The copy is dropped afterwards, so it need not be one transaction: parallel by default.
    let jobs = job.jobs.unwrap_or(SCRATCH_JOBS).max(1);
    let job = &Job {
        jobs: Some(jobs),
        ..*job
    };
    job.run_sections(ctx, &[Section::PreData], None).await?;
    unlog_tables(job.target).await?;
    let lists = Lists::of(job, ctx).await?;
    let connections = usize::from(jobs);
    let how = match copy_tables(job, ctx, &lists.tables, connections).await? {
        Copied::Rows(rows) => {
            job.run_sections(ctx, &[Section::Data], Some(&lists.rest))
                .await?;
            format!(", {rows} rows over {connections} connections")
        }
        Copied::NotCopy(why) => {
            job.run_sections(ctx, &[Section::Data], None).await?;
            format!(", data through pg_restore ({why})")
        }
    };
    job.run_sections(ctx, &[Section::PostData], None).await?;
    Ok(format!(
        "{how}, {jobs} parallel jobs, unlogged scratch tables"
    ))
}

/// Every table of the freshly made schema becomes UNLOGGED. A table that refuses (one an
/// extension owns, say) stays as it is: this only saves time, and a logged table restores the
/// same data.
async fn unlog_tables(test: &Target) -> Result<(), StepError> {
    const UNLOG: &str = "DO $$ DECLARE t regclass; BEGIN
        FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'r' AND c.relpersistence = 'p'
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') LOOP
            BEGIN
                EXECUTE format('ALTER TABLE %s SET UNLOGGED', t);
            EXCEPTION WHEN others THEN NULL;
            END;
        END LOOP; END $$";
    let client = test.connect().await?;
    client.batch_execute(UNLOG).await.map_err(|e| {
        StepError::failed(format!(
            "making the tables of {} unlogged: {}",
            test.label(),
            reason(&e)
        ))
    })
}

/// The archive's table of contents split in two `--use-list` files: the tables' data, and
/// everything else. Removed with this.
struct Lists {
    _dir: tempfile::TempDir,
    tables: PathBuf,
    rest: PathBuf,
}

impl Lists {
    async fn of(job: &Job<'_>, ctx: &StepContext) -> Result<Self, StepError> {
        let dir = tempfile::tempdir()
            .map_err(|e| StepError::failed(format!("a directory for the restore lists: {e}")))?;
        let all = dir.path().join("all.list");
        let args = [
            "--list".to_string(),
            format!("--file={}", all.display()),
            job.file.display().to_string(),
        ];
        let ended = job.tool.run(ctx, job.target, &args, None).await?;
        if ended.exit_code != 0 {
            return Err(StepError::failed(job.tool.failure(&ended)));
        }
        let listed = std::fs::read_to_string(&all)
            .map_err(|e| StepError::failed(format!("reading {}: {e}", all.display())))?;
        let (tables, rest) = split_list(&listed);
        let lists = Self {
            tables: dir.path().join("tables.list"),
            rest: dir.path().join("rest.list"),
            _dir: dir,
        };
        std::fs::write(&lists.tables, tables)
            .and_then(|()| std::fs::write(&lists.rest, rest))
            .map_err(|e| StepError::failed(format!("writing the restore lists: {e}")))?;
        Ok(lists)
    }
}

/// `pg_restore --list` lines: (the TABLE DATA entries, the others). An entry is
/// `3421; 0 16400 TABLE DATA public Payment owner`; comments start with `;`.
fn split_list(listed: &str) -> (String, String) {
    let (mut tables, mut rest) = (String::new(), String::new());
    for line in listed.lines() {
        let entry = line
            .split_once("; ")
            .filter(|_| !line.starts_with(';'))
            .map(|(_, entry)| entry.splitn(3, ' ').nth(2).unwrap_or(""));
        let into = match entry {
            Some(kind) if kind.starts_with("TABLE DATA ") => &mut tables,
            _ => &mut rest,
        };
        into.push_str(line);
        into.push('\n');
    }
    (tables, rest)
}

enum Copied {
    Rows(u64),
    /// Nothing was loaded: pg_restore is to load the data (why not here).
    NotCopy(String),
}

/// What a line of pg_restore's script is, outside a COPY's rows.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// Blank, a comment, or psql's `\restrict`/`\unrestrict`.
    Nothing,
    /// `SET ...;` or `SELECT pg_catalog.set_config(...);`: the session the data expects.
    Session(&'a str),
    /// `COPY table (columns) FROM stdin;`, as a statement.
    Copy(&'a str),
    Other(&'a str),
}

fn classify(line: &str) -> Line<'_> {
    let line = line.trim_end();
    if line.is_empty()
        || line.starts_with("--")
        || line.starts_with("\\restrict ")
        || line.starts_with("\\unrestrict ")
    {
        Line::Nothing
    } else if line.starts_with("SET ") || line.starts_with("SELECT pg_catalog.set_config(") {
        Line::Session(line)
    } else if line.starts_with("COPY ") && line.ends_with(" FROM stdin;") {
        Line::Copy(line.trim_end_matches(';'))
    } else {
        Line::Other(line)
    }
}

/// Streams the tables' data out of pg_restore into the target over `connections`
/// connections. pg_restore's own error wins over what it did to the stream.
async fn copy_tables(
    job: &Job<'_>,
    ctx: &StepContext,
    list: &Path,
    connections: usize,
) -> Result<Copied, StepError> {
    let args = [
        "--section=data".to_string(),
        format!("--use-list={}", list.display()),
        "--file=-".to_string(),
        job.file.display().to_string(),
    ];
    let (ended, copied) = job
        .tool
        .run_streaming(ctx, job.target, &args, |stdout| {
            load(stdout, job.target, connections)
        })
        .await?;
    let failed = ended.exit_code != 0;
    match copied {
        // Reading stopped on purpose: how pg_restore took that does not matter.
        Ok(Copied::NotCopy(why)) => Ok(Copied::NotCopy(why)),
        // A stream cut short is pg_restore's failure, told in its own words; a broken pipe
        // (signal 13) is what our stopping did to it.
        Ok(Copied::Rows(_)) if failed => Err(StepError::failed(job.tool.failure(&ended))),
        Err(_) if failed && ended.signal != Some(13) => {
            Err(StepError::failed(job.tool.failure(&ended)))
        }
        Err(e) => Err(StepError::failed(format!(
            "loading the tables' data into {}: {e}",
            job.target.label()
        ))),
        Ok(rows) => Ok(rows),
    }
}

/// Reads pg_restore's script: the session settings, then each COPY with its rows.
async fn load(
    script: impl AsyncRead + Unpin,
    target: &Target,
    connections: usize,
) -> Result<Copied, String> {
    let mut script = BufReader::with_capacity(CHUNK, script);
    let mut session = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut rows = 0;
    let mut line = Vec::new();
    loop {
        if !next_line(&mut script, &mut line).await? {
            return Ok(Copied::Rows(rows));
        }
        let text = String::from_utf8_lossy(&line);
        match classify(&text) {
            Line::Nothing => {}
            Line::Session(statement) => {
                if let Some(encoding) = statement.strip_prefix("SET client_encoding = ")
                    && !encoding
                        .trim_end_matches(';')
                        .eq_ignore_ascii_case("'UTF8'")
                {
                    return Ok(Copied::NotCopy(format!("its data is in {encoding}")));
                }
                session.push(statement.to_string());
            }
            Line::Copy(statement) => {
                if clients.is_empty() {
                    clients = connect(target, connections, &session.join("\n")).await?;
                }
                rows += copy(&mut script, &clients, statement).await?;
            }
            Line::Other(statement) if clients.is_empty() => {
                let start: String = statement.chars().take(40).collect();
                return Ok(Copied::NotCopy(format!("its data is not COPY: `{start}`")));
            }
            Line::Other(statement) => {
                let start: String = statement.chars().take(60).collect();
                return Err(format!("unexpected statement between tables: `{start}`"));
            }
        }
    }
}

/// The script's next line into `line` (with its newline); `false` at the end.
async fn next_line(
    script: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> Result<bool, String> {
    line.clear();
    let read = script
        .read_until(b'\n', line)
        .await
        .map_err(|e| format!("reading pg_restore's output: {e}"))?;
    Ok(read > 0)
}

async fn connect(target: &Target, count: usize, session: &str) -> Result<Vec<Client>, String> {
    try_join_all((0..count).map(|_| async {
        let client = target.connect().await.map_err(|e| e.message)?;
        client
            .batch_execute(session)
            .await
            .map_err(|e| format!("setting up the session: {}", reason(&e)))?;
        Ok(client)
    }))
    .await
}

/// One table's rows, up to COPY's end marker, dealt to the connections a chunk at a time;
/// how many rows they took.
async fn copy(
    script: &mut (impl AsyncBufReadExt + Unpin),
    clients: &[Client],
    statement: &str,
) -> Result<u64, String> {
    let (senders, receivers): (Vec<_>, Vec<_>) = clients
        .iter()
        .map(|_| mpsc::channel::<Bytes>(QUEUED))
        .unzip();
    // A connection starts its COPY with its first chunk: a small table takes one.
    let takers = clients
        .iter()
        .zip(receivers)
        .map(|(client, mut chunks)| async move {
            let Some(first) = chunks.recv().await else {
                return Ok(0);
            };
            let sink = client
                .copy_in::<_, Bytes>(statement)
                .await
                .map_err(|e| reason(&e))?;
            futures_util::pin_mut!(sink);
            sink.send(first).await.map_err(|e| reason(&e))?;
            while let Some(chunk) = chunks.recv().await {
                sink.send(chunk).await.map_err(|e| reason(&e))?;
            }
            sink.as_mut().finish().await.map_err(|e| reason(&e))
        });
    let dealer = async move {
        let mut chunk = BytesMut::with_capacity(CHUNK + 4096);
        let mut line = Vec::new();
        let mut next = 0;
        loop {
            if !next_line(script, &mut line).await? {
                return Err(format!(
                    "the data of `{statement}` ended without its end marker"
                ));
            }
            let end = line == b"\\.\n";
            if !end {
                chunk.extend_from_slice(&line);
            }
            if (end && !chunk.is_empty()) || chunk.len() >= CHUNK {
                let full = std::mem::replace(&mut chunk, BytesMut::with_capacity(CHUNK + 4096));
                // A connection that stopped taking has failed; its error is the one told.
                if senders[next].send(full.freeze()).await.is_err() {
                    return Ok(());
                }
                next = (next + 1) % senders.len();
            }
            if end {
                return Ok(());
            }
        }
    };
    let (dealt, taken) = tokio::join!(dealer, try_join_all(takers));
    let taken: Vec<u64> = taken.map_err(|e| format!("COPY failed: {e}"))?;
    dealt?;
    Ok(taken.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_data_entries_are_listed_apart_from_the_rest() {
        let listed = ";\n; Archive created at 2026-12-05\n;\n\
            215; 1259 16390 TABLE public Payment runbook\n\
            3421; 0 16390 TABLE DATA public Payment runbook\n\
            3422; 0 16391 TABLE DATA public \"User\" runbook\n\
            3430; 0 0 SEQUENCE SET public Payment_id_seq runbook\n";
        let (tables, rest) = split_list(listed);
        assert_eq!(
            tables,
            "3421; 0 16390 TABLE DATA public Payment runbook\n\
             3422; 0 16391 TABLE DATA public \"User\" runbook\n"
        );
        assert!(rest.contains("TABLE public Payment") && rest.contains("SEQUENCE SET"));
        assert!(!rest.contains("TABLE DATA"));
    }

    #[test]
    fn script_lines_are_told_apart() {
        assert_eq!(classify("--\n"), Line::Nothing);
        assert_eq!(classify("\\restrict abc\n"), Line::Nothing);
        assert_eq!(
            classify("SET client_encoding = 'UTF8';\n"),
            Line::Session("SET client_encoding = 'UTF8';")
        );
        assert_eq!(
            classify("COPY public.\"Payment\" (id, amount) FROM stdin;\n"),
            Line::Copy("COPY public.\"Payment\" (id, amount) FROM stdin")
        );
        assert_eq!(
            classify("INSERT INTO public.t VALUES (1);\n"),
            Line::Other("INSERT INTO public.t VALUES (1);")
        );
    }
}
