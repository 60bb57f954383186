//! `lock:` keys: two runs that declare the same key never overlap.
//!
//! The embedded default is an exclusive `flock` on `<state dir>/locks/<key>.lock`. The kernel
//! releases it when the holding process dies, so a crashed run never leaves a stale lock; the
//! file itself names the holder for the refusal message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub run: String,
    pub playbook: String,
    pub pid: u32,
    pub user: String,
    pub host: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug)]
pub enum LockError {
    Held {
        key: String,
        holder: Option<Box<Holder>>,
    },
    Io {
        key: String,
        error: io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Held {
                key,
                holder: Some(h),
            } => write!(
                f,
                "lock `{key}` is held by run {} ({} by {}@{}, pid {}, since {})",
                h.run,
                h.playbook,
                h.user,
                h.host,
                h.pid,
                h.since.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            Self::Held { key, holder: None } => {
                write!(f, "lock `{key}` is held by another run")
            }
            Self::Io { key, error } => write!(f, "cannot take lock `{key}`: {error}"),
        }
    }
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

pub fn acquire(dir: &Path, key: &str, holder: &Holder) -> Result<RunLock, LockError> {
    let io_error = |error| LockError::Io {
        key: key.to_string(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(format!("{name}.lock")))
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                key: key.to_string(),
                holder: serde_json::from_str(&text).ok().map(Box::new),
            });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(io_error(error)),
    }
    let text = serde_json::to_string(holder).map_err(|e| io_error(io::Error::other(e)))?;
    file.set_len(0).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    file.write_all(text.as_bytes()).map_err(io_error)?;
    Ok(RunLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named() {
        let dir = std::env::temp_dir().join(format!("runbook-locks-{}", std::process::id()));
        let holder = |run: &str| Holder {
            run: run.into(),
            playbook: "restore".into(),
            pid: 42,
            user: "alice".into(),
            host: "ops1".into(),
            since: DateTime::parse_from_rfc3339("2026-11-21T03:00:00Z")
                .unwrap()
                .to_utc(),
        };
        let first = acquire(&dir, "goodgo/db", &holder("run-1")).unwrap();
        let refused = acquire(&dir, "goodgo/db", &holder("run-2")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "lock `goodgo/db` is held by run run-1 (restore by alice@ops1, pid 42, since 2026-11-21 03:00:00 UTC)"
        );
        drop(first);
        assert!(acquire(&dir, "goodgo/db", &holder("run-3")).is_ok());
    }
}
