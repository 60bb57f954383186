//! The file store, the embedded default: `<state dir>/runs/<uuid-v7>/`, one directory per
//! run, on the machine that runs it.
//!
//! ```text
//! .runbook/
//!   runs/0193.../journal.jsonl     the events, one JSON object per line
//!                playbook.yml      the playbook text the run started from
//!                plan.json         the compiled plan (secrets redacted)
//!                inputs.json       the inputs it ran with (inputs are not secrets)
//!                approvals/        decisions written by `runbook approve`
//!                report.*          the reports (json, md, html, junit.xml)
//!                started-by        the daemon that started it, if one did
//!                live.lock         held while a process works on the run
//!
//! /run/lock/runbook/               `lock:` keys, host-wide (see `journal::lock`)
//! ```

use chrono::{DateTime, Utc};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use super::{
    ApprovalDecision, JournalSink, Liveness, LockGuard, Ownership, Snapshot, Store, StoreError,
    StoredRun,
};
use crate::journal::lock::{self, Holder, LockError};
use crate::journal::operator::Operator;
use crate::journal::reader::{self, Journal, ReadError};

#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    /// `lock:` keys live here, not under `root`: a key must mean the same on the whole host,
    /// whatever directory (and so state directory) each operator starts runbook from.
    locks: PathBuf,
}

impl FileStore {
    /// A store whose lock keys are host-wide ([`lock::host_dir`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_locks(root, lock::host_dir())
    }

    pub fn with_locks(root: impl Into<PathBuf>, locks: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            locks: locks.into(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    fn run_dir(&self, id: &str) -> FileRun {
        FileRun {
            id: id.to_string(),
            path: self.runs_dir().join(id),
        }
    }
}

impl Store for FileStore {
    fn describe(&self) -> String {
        format!("`{}`", self.root.display())
    }

    fn command_prefix(&self) -> String {
        if self.root == Path::new(".runbook") {
            return String::new();
        }
        let absolute = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        format!("--state-dir '{}'", absolute.display())
    }

    fn create_run(&self, id: &str, snapshot: &Snapshot) -> Result<Arc<dyn StoredRun>, StoreError> {
        let run = self.run_dir(id);
        let saving = |what: &str| {
            let what = what.to_string();
            move |e: io::Error| StoreError::Unavailable(format!("saving the {what}: {e}"))
        };
        std::fs::create_dir_all(run.path.join("approvals"))
            .map_err(|e| StoreError::Unavailable(format!("creating the run directory: {e}")))?;
        std::fs::write(run.playbook_path(), &snapshot.playbook).map_err(saving("playbook"))?;
        std::fs::write(run.path.join("plan.json"), &snapshot.plan).map_err(saving("plan"))?;
        std::fs::write(run.inputs_path(), &snapshot.inputs).map_err(saving("inputs"))?;
        if let Some(daemon) = &snapshot.started_by {
            std::fs::write(run.path.join("started-by"), daemon).map_err(saving("origin"))?;
        }
        Ok(Arc::new(run))
    }

    /// Every run with a journal, oldest first (v7 ids sort by creation time).
    fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.runs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.path().join("journal.jsonl").is_file() {
                ids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn open(&self, id: &str) -> Result<Arc<dyn StoredRun>, StoreError> {
        Ok(Arc::new(self.run_dir(id)))
    }

    fn lock(&self, holder: &Holder) -> Result<LockGuard, LockError> {
        let held = lock::acquire(&self.locks, &holder.key, holder)?;
        Ok(Box::new(held))
    }

    /// One daemon per state directory (its own state file says what it fired), so every fire
    /// it decides is its own.
    fn claim_fire(&self, _: &str, _: DateTime<Utc>, _: &str) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn lead(&self, _: &str, _: std::time::Duration) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// One run's directory.
#[derive(Debug, Clone)]
pub struct FileRun {
    pub id: String,
    pub path: PathBuf,
}

impl FileRun {
    pub fn journal_path(&self) -> PathBuf {
        self.path.join("journal.jsonl")
    }

    pub fn playbook_path(&self) -> PathBuf {
        self.path.join("playbook.yml")
    }

    fn inputs_path(&self) -> PathBuf {
        self.path.join("inputs.json")
    }

    /// `report.json`, `report.md`, `report.html`, `report.junit.xml`: the evidence a run
    /// leaves (see [`crate::report`]).
    pub fn report_path(&self, extension: &str) -> PathBuf {
        self.path.join(format!("report.{extension}"))
    }

    fn approval_path(&self, step: &str) -> PathBuf {
        // Step ids may hold `[`, `]` and item text; keep file names to a safe alphabet.
        let name: String = step
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        self.path.join("approvals").join(format!("{name}.json"))
    }

    fn live_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.join("live.lock"))
    }
}

impl StoredRun for FileRun {
    fn id(&self) -> &str {
        &self.id
    }

    fn journal(&self) -> Result<Journal, ReadError> {
        reader::read(&self.journal_path())
    }

    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        Ok(Snapshot {
            playbook: std::fs::read_to_string(self.playbook_path()).map_err(|e| {
                StoreError::Unavailable(format!("reading the playbook snapshot: {e}"))
            })?,
            plan: read(self.path.join("plan.json")),
            inputs: read(self.inputs_path()),
            started_by: std::fs::read_to_string(self.path.join("started-by")).ok(),
        })
    }

    /// Held by the process working on the run, for as long as it lives: the kernel drops it
    /// when the process dies, so `runs` can tell a live run from one that crashed.
    fn hold(&self, _owner: &Operator) -> Result<Box<dyn Ownership>, StoreError> {
        let file = self.live_file()?;
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => StoreError::Refused(format!(
                "run {} is being worked on by another process",
                self.id
            )),
            std::fs::TryLockError::Error(e) => e.into(),
        })?;
        Ok(Box::new(FileOwnership {
            _live: file,
            journal: self.journal_path(),
            lost: CancellationToken::new(),
        }))
    }

    fn liveness(&self) -> Liveness {
        match self.live_file() {
            Ok(file) if matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)) => {
                Liveness::Live
            }
            _ => Liveness::Idle,
        }
    }

    fn write_reports(&self, reports: &[(&str, String)]) -> Result<(), StoreError> {
        for (extension, text) in reports {
            std::fs::write(self.report_path(extension), text)?;
        }
        Ok(())
    }

    fn read_report(&self, extension: &str) -> Result<String, StoreError> {
        Ok(std::fs::read_to_string(self.report_path(extension))?)
    }

    fn journal_location(&self) -> String {
        self.journal_path().display().to_string()
    }

    fn report_location(&self, extension: &str) -> String {
        self.report_path(extension).display().to_string()
    }

    fn write_approval(&self, step: &str, decision: &ApprovalDecision) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(decision).map_err(io::Error::other)?;
        Ok(write_atomically(&self.approval_path(step), &bytes)?)
    }

    fn read_approval(&self, step: &str) -> Option<ApprovalDecision> {
        let text = std::fs::read(self.approval_path(step)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// The flock on `live.lock`: the kernel keeps it exactly as long as the process lives, so a
/// file-store run is never lost while its process runs.
struct FileOwnership {
    _live: File,
    journal: PathBuf,
    lost: CancellationToken,
}

impl Ownership for FileOwnership {
    fn journal(&self) -> Result<Box<dyn JournalSink>, StoreError> {
        Ok(Box::new(FileJournal::open(&self.journal)?))
    }

    fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}

/// `journal.jsonl`: each line one `pwrite` at the end of the lines, synced by `fdatasync`
/// when asked.
///
/// The file is kept longer than its lines, zero-filled ahead of them, as PostgreSQL fills a
/// WAL segment with zeros before using it. A line then overwrites blocks the file already
/// has, and its fdatasync writes that data and nothing else. An append also grows the file,
/// so its fdatasync must write the inode's new size too: a second synchronous write on the
/// path of every durable event (see docs/decisions.md, "A journal zero-filled ahead").
/// Readers stop at the first zero byte (JSON lines never hold one); when the writer is
/// dropped, the file is cut back to its lines.
pub struct FileJournal {
    file: File,
    /// Where the next line goes: just after the last whole line.
    end: u64,
    /// The file's length: from `end` to here it holds zeros.
    length: u64,
    /// Lines written since the last sync.
    unsynced: bool,
}

/// The first zero-filled stretch ahead of the lines, and the most added at once: the
/// stretch doubles each time the lines reach the end, so a long run extends its journal a
/// few times (ten thousand steps, about 3.5 MB: six times), a short one never.
const FIRST_ZEROS: u64 = 64 * 1024;
const MOST_ZEROS: u64 = 4 * 1024 * 1024;

impl FileJournal {
    /// Opens (or creates) a journal for writing after its last whole line. A torn last line,
    /// left by a crash in the middle of a write, is zeroed first, so the next event starts on
    /// a line of its own.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        let written = reader::written(&text).len();
        let end = text[..written]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if written > end {
            file.write_all_at(&vec![0; written - end], end as u64)?;
        }
        Ok(Self {
            file,
            end: end as u64,
            length: text.len() as u64,
            unsynced: false,
        })
    }
}

impl JournalSink for FileJournal {
    /// One `pwrite` of the whole line: a process killed after it returns leaves the line in
    /// the page cache, whole, for the next reader. When the line would reach past the zeros,
    /// the same write carries the next stretch of zeros after it.
    fn write(&mut self, line: &str) -> Result<(), StoreError> {
        self.unsynced = true;
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let after = self.end + bytes.len() as u64;
        if after > self.length {
            let zeros = self.length.clamp(FIRST_ZEROS, MOST_ZEROS);
            bytes.resize(bytes.len() + zeros as usize, 0);
        }
        self.file
            .write_all_at(&bytes, self.end)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.length = self.length.max(self.end + bytes.len() as u64);
        self.end = after;
        Ok(())
    }

    /// Waits until what was written is on disk: after a power loss, what the journal says
    /// happened did happen (or was at least started).
    fn sync(&mut self) -> Result<(), StoreError> {
        if !std::mem::take(&mut self.unsynced) {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

impl Drop for FileJournal {
    /// Cuts the zeros off: a journal at rest is only its lines. (After a crash they stay,
    /// and readers stop at them.)
    fn drop(&mut self) {
        let _ = self.file.set_len(self.end);
    }
}

/// Writes `path` aside (`<name>.tmp`) and renames it into place, making its directory first:
/// a reader, or a crash, sees the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    std::fs::write(&aside, bytes)?;
    std::fs::rename(aside, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::store::FindError;

    fn store(name: &str) -> FileStore {
        let root =
            std::env::temp_dir().join(format!("runbook-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        FileStore::new(root)
    }

    fn new_run(store: &FileStore) -> Arc<dyn StoredRun> {
        let run = store
            .create_run(&store.new_run_id(), &Snapshot::default())
            .unwrap();
        let held = run.hold(&Operator::current()).unwrap();
        held.journal().unwrap();
        run
    }

    #[test]
    fn the_journal_is_zero_filled_ahead_while_written_and_cut_back_when_dropped() {
        let store = store("zeros");
        let run = new_run(&store);
        let path = store.run_dir(run.id()).journal_path();
        let mut journal = FileJournal::open(&path).unwrap();
        journal.write(r#"{"a":1}"#).unwrap();
        journal.sync().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, 8 + FIRST_ZEROS);
        assert!(bytes[8..].iter().all(|&b| b == 0));
        assert_eq!(reader::written(&bytes), b"{\"a\":1}\n");

        // Past the zeros: the next stretch is twice as long, and the lines stay whole.
        let line = "x".repeat(FIRST_ZEROS as usize);
        journal.write(&line).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, 8 + FIRST_ZEROS + 1 + FIRST_ZEROS + 8);
        assert_eq!(reader::written(&bytes).len() as u64, 8 + FIRST_ZEROS + 1);

        drop(journal);
        assert_eq!(
            std::fs::read(&path).unwrap().len() as u64,
            8 + FIRST_ZEROS + 1
        );
    }

    #[test]
    fn a_crashed_writer_leaves_zeros_and_a_torn_line_that_the_next_one_overwrites() {
        let store = store("crashed");
        let run = new_run(&store);
        let path = store.run_dir(run.id()).journal_path();
        // What a process killed in the middle of its second line leaves: a whole line, part
        // of the next, then the zeros written ahead.
        let mut left =
            br#"{"at":"2026-12-05T10:00:00Z","event":"lock_acquired","key":"k"}"#.to_vec();
        left.push(b'\n');
        left.extend_from_slice(br#"{"at":"2026-12-05T10:00:01Z","event":"lock_acq"#);
        left.resize(left.len() + 4096, 0);
        std::fs::write(&path, &left).unwrap();
        let journal = reader::read(&path).unwrap();
        assert_eq!((journal.entries.len(), journal.torn), (1, true));

        let mut writer = FileJournal::open(&path).unwrap();
        writer
            .write(r#"{"at":"2026-12-05T10:00:02Z","event":"lock_acquired","key":"k2"}"#)
            .unwrap();
        drop(writer);
        let journal = reader::read(&path).unwrap();
        assert_eq!((journal.entries.len(), journal.torn), (2, false));
        assert!(!std::fs::read(&path).unwrap().contains(&0));
    }

    #[test]
    fn finds_runs_by_prefix_and_last() {
        let store = store("find");
        assert!(matches!(store.find("last"), Err(FindError::NoRuns(_))));
        let first = new_run(&store);
        let second = new_run(&store);
        assert_eq!(store.find("last").unwrap().id(), second.id());
        assert_eq!(store.find(first.id()).unwrap().id(), first.id());
        assert!(matches!(store.find("zzz"), Err(FindError::NotFound(_))));
        // v7 ids created in the same millisecond share a prefix of at least 8 characters.
        assert!(matches!(
            store.find(&first.id()[..8]),
            Err(FindError::Ambiguous(..)) | Ok(_)
        ));
    }

    #[test]
    fn approvals_round_trip_for_item_steps() {
        let store = store("approve");
        let run = new_run(&store);
        assert_eq!(run.read_approval("gate[prod/eu]"), None);
        let decision = ApprovalDecision {
            approved: false,
            approver: "alice".into(),
            comment: Some("not during peak".into()),
        };
        run.write_approval("gate[prod/eu]", &decision).unwrap();
        assert_eq!(run.read_approval("gate[prod/eu]"), Some(decision));
    }

    #[test]
    fn a_held_run_is_live_until_released() {
        let store = store("live");
        let run = new_run(&store);
        assert!(!run.is_live());
        let held = run.hold(&Operator::current()).unwrap();
        assert!(run.is_live());
        assert!(matches!(
            run.hold(&Operator::current()),
            Err(StoreError::Refused(_))
        ));
        drop(held);
        assert!(!run.is_live());
    }

    #[test]
    fn the_snapshot_comes_back_as_saved() {
        let store = store("snapshot");
        let snapshot = Snapshot {
            playbook: "name: p\n".into(),
            plan: "{}".into(),
            inputs: "[]".into(),
            started_by: Some("daemon@h".into()),
        };
        let run = store.create_run(&store.new_run_id(), &snapshot).unwrap();
        let back = run.snapshot().unwrap();
        assert_eq!(back.playbook, snapshot.playbook);
        assert_eq!(back.inputs, snapshot.inputs);
        assert_eq!(back.started_by, snapshot.started_by);
    }
}
