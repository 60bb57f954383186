//! Where runs live on disk: `<state dir>/runs/<uuid-v7>/`, one directory per run.
//!
//! ```text
//! .runbook/
//!   runs/0193.../journal.jsonl     the events, one JSON object per line
//!                playbook.yml      the playbook text the run started from
//!                plan.json         the compiled plan (secrets redacted)
//!                inputs.json       the inputs it ran with (inputs are not secrets)
//!                approvals/        decisions written by `runbook approve`
//!                live.lock         held while a process works on the run
//!
//! /run/lock/runbook/               `lock:` keys, host-wide (see `journal::lock`)
//! ```

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::reader::{self, Journal, ReadError};

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// `lock:` keys live here, not under `root`: a key must mean the same on the whole host,
    /// whatever directory (and so state directory) each operator starts runbook from.
    locks: PathBuf,
}

#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

#[derive(Debug)]
pub enum FindError {
    NoRuns(PathBuf),
    NotFound(String),
    Ambiguous(String, Vec<String>),
    Io(io::Error),
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRuns(root) => write!(f, "no runs recorded under `{}`", root.display()),
            Self::NotFound(query) => {
                write!(
                    f,
                    "no run `{query}`; `runbook runs` lists the recorded runs"
                )
            }
            Self::Ambiguous(query, ids) => {
                write!(f, "`{query}` matches several runs: {}", ids.join(", "))
            }
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl Store {
    /// A store whose lock keys are host-wide ([`super::lock::host_dir`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_locks(root, super::lock::host_dir())
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

    pub fn locks_dir(&self) -> PathBuf {
        self.locks.clone()
    }

    /// A new, time-ordered run id (the directory is made by [`Store::create_run`]).
    pub fn new_run_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    pub fn create_run(&self, id: &str) -> io::Result<RunDir> {
        let path = self.runs_dir().join(id);
        std::fs::create_dir_all(path.join("approvals"))?;
        Ok(RunDir {
            id: id.to_string(),
            path,
        })
    }

    /// Every run, oldest first (v7 ids sort by creation time).
    pub fn runs(&self) -> io::Result<Vec<RunDir>> {
        let dir = self.runs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut runs = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.path().join("journal.jsonl").is_file() {
                let id = entry.file_name().to_string_lossy().into_owned();
                runs.push(RunDir {
                    id,
                    path: entry.path(),
                });
            }
        }
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(runs)
    }

    /// A run by full id, unique prefix, or `last`.
    pub fn find(&self, query: &str) -> Result<RunDir, FindError> {
        let runs = self.runs().map_err(FindError::Io)?;
        if runs.is_empty() {
            return Err(FindError::NoRuns(self.root.clone()));
        }
        if query == "last" || query == "latest" {
            return Ok(runs.into_iter().next_back().expect("not empty"));
        }
        let matches: Vec<RunDir> = runs
            .into_iter()
            .filter(|r| r.id.starts_with(query))
            .collect();
        match matches.len() {
            0 => Err(FindError::NotFound(query.to_string())),
            1 => Ok(matches.into_iter().next().expect("one")),
            _ => Err(FindError::Ambiguous(
                query.to_string(),
                matches.into_iter().map(|r| r.id).collect(),
            )),
        }
    }
}

/// Part of the step contract (an approval is what a step asks for); stored here.
pub use crate::action::ApprovalDecision;

impl RunDir {
    pub fn journal_path(&self) -> PathBuf {
        self.path.join("journal.jsonl")
    }

    pub fn playbook_path(&self) -> PathBuf {
        self.path.join("playbook.yml")
    }

    pub fn plan_path(&self) -> PathBuf {
        self.path.join("plan.json")
    }

    pub fn inputs_path(&self) -> PathBuf {
        self.path.join("inputs.json")
    }

    /// `report.json`, `report.md`, `report.html`, `report.junit.xml`: the evidence a run
    /// leaves (see [`crate::report`]).
    pub fn report_path(&self, extension: &str) -> PathBuf {
        self.path.join(format!("report.{extension}"))
    }

    pub fn read_journal(&self) -> Result<Journal, ReadError> {
        reader::read(&self.journal_path())
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

    /// Records a decision atomically, so the run never reads half a file.
    pub fn write_approval(&self, step: &str, decision: &ApprovalDecision) -> io::Result<()> {
        let bytes = serde_json::to_vec(decision).map_err(io::Error::other)?;
        write_atomically(&self.approval_path(step), &bytes)
    }

    pub fn read_approval(&self, step: &str) -> Option<ApprovalDecision> {
        let text = std::fs::read(self.approval_path(step)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Held by the process working on the run, for as long as it lives: the kernel drops it
    /// when the process dies, so `runs` can tell a live run from one that crashed.
    pub fn hold(&self) -> io::Result<File> {
        let file = self.live_file()?;
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("run {} is being worked on by another process", self.id),
            ),
            std::fs::TryLockError::Error(e) => e,
        })?;
        Ok(file)
    }

    /// Whether some process holds the run (see [`RunDir::hold`]).
    pub fn is_live(&self) -> bool {
        match self.live_file() {
            Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    fn live_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.join("live.lock"))
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

    fn store(name: &str) -> Store {
        let root =
            std::env::temp_dir().join(format!("runbook-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        Store::new(root)
    }

    #[test]
    fn finds_runs_by_prefix_and_last() {
        let store = store("find");
        assert!(matches!(store.find("last"), Err(FindError::NoRuns(_))));
        let first = store.create_run(&Store::new_run_id()).unwrap();
        std::fs::write(first.journal_path(), "").unwrap();
        let second = store.create_run(&Store::new_run_id()).unwrap();
        std::fs::write(second.journal_path(), "").unwrap();
        assert_eq!(store.find("last").unwrap().id, second.id);
        assert_eq!(store.find(&first.id).unwrap().id, first.id);
        assert!(matches!(store.find("zzz"), Err(FindError::NotFound(_))));
        // v7 ids created in the same millisecond share a prefix of at least 8 characters.
        assert!(matches!(
            store.find(&first.id[..8]),
            Err(FindError::Ambiguous(..)) | Ok(_)
        ));
    }

    #[test]
    fn approvals_round_trip_for_item_steps() {
        let store = store("approve");
        let run = store.create_run(&Store::new_run_id()).unwrap();
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
        let run = store.create_run(&Store::new_run_id()).unwrap();
        assert!(!run.is_live());
        let held = run.hold().unwrap();
        assert!(run.is_live());
        assert!(run.hold().is_err());
        drop(held);
        assert!(!run.is_live());
    }
}
