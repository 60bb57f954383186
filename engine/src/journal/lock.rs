//! `lock:` keys: two runs that declare the same key never overlap.
//!
//! The embedded default is an exclusive `flock` on a file of a host-wide directory
//! ([`host_dir`]). The kernel releases it when the holding process dies, so a crashed run
//! never leaves a stale lock; the file itself names the key and its holder for the refusal
//! message.
//!
//! A key's file name is a digest of the key, after a readable prefix: keys differing only in
//! characters a file name cannot hold (`db/prod`, `db:prod`, `db_prod`; `clé`, `clè`) are
//! different locks, and a key of any length has a name the file system accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// The key itself: the file is named by its digest. Absent in files of older versions.
    #[serde(default)]
    pub key: String,
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

/// Where lock keys live unless `--lock-dir`/`RUNBOOK_LOCK_DIR` says otherwise: the host's
/// lock directory (`/run/lock`, as FHS has it, shared by every user), else the temporary
/// directory. Never relative to the working directory.
pub fn host_dir() -> PathBuf {
    let system = Path::new("/run/lock");
    if system.is_dir() {
        system.join("runbook")
    } else {
        std::env::temp_dir().join("runbook-locks")
    }
}

/// The lock file of a key: a readable prefix (for `ls`) and the key's sha256, which alone
/// tells keys apart.
pub fn file_name(key: &str) -> String {
    let prefix: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let digest: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}-{digest}.lock")
}

/// Creates the lock directory shared by every operator of the host: like `/tmp`, anyone may
/// add a file and nobody may remove another's (mode 1777).
fn create_shared_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    // Another user's directory cannot be changed, and need not be.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    Ok(())
}

pub fn acquire(dir: &Path, key: &str, holder: &Holder) -> Result<RunLock, LockError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io_error = |error| LockError::Io {
        key: key.to_string(),
        error,
    };
    create_shared_dir(dir).map_err(io_error)?;
    let path = dir.join(file_name(key));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o666)
        .open(&path)
        .map_err(io_error)?;
    // Beyond the umask: the next operator of the same key may be another user.
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
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
    let holder = Holder {
        key: key.to_string(),
        ..holder.clone()
    };
    let text = serde_json::to_string(&holder).map_err(|e| io_error(io::Error::other(e)))?;
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
            key: String::new(),
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

    #[test]
    fn keys_that_differ_are_different_locks_and_any_length_has_a_file() {
        let dir = std::env::temp_dir().join(format!("runbook-keys-{}", std::process::id()));
        let holder = Holder {
            key: String::new(),
            run: "run-1".into(),
            playbook: "p".into(),
            pid: 1,
            user: "u".into(),
            host: "h".into(),
            since: Utc::now(),
        };
        let long = "k".repeat(300);
        let keys = ["db/prod", "db_prod", "db:prod", "clé", "clè", long.as_str()];
        // All held at once: none is refused by another.
        let held: Vec<RunLock> = keys
            .iter()
            .map(|key| acquire(&dir, key, &holder).unwrap_or_else(|e| panic!("{key}: {e}")))
            .collect();
        let refused = acquire(&dir, &long, &holder).unwrap_err();
        // The refusal names the key as written, kept in the file.
        match refused {
            LockError::Held {
                key,
                holder: Some(h),
            } => {
                assert_eq!(key, long);
                assert_eq!(h.key, long);
            }
            other => panic!("{other}"),
        }
        drop(held);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
