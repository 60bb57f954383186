//! `file.*`: backups and artefacts, on this machine or on the step's `host:` (this file,
//! through `place.rs`), copies between them checked by size and checksum (`copy.rs`), and the
//! changes a rollback can undo, on this machine: writing a file, switching a link, putting
//! the previous back (`change.rs`).

use crate::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

mod change;
mod copy;
mod place;
mod prune;

pub use change::{Link, Restore, Write, WriteTemplate};
pub use copy::Copy;
use place::Place;

/// Delete the files matching a glob older than `older_than`, the newest always kept.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prune {
    /// e.g. `/var/backups/liyaqa/*.sql.gz`
    pub glob: Template,
    /// Only files modified longer ago than this (`30d`, find's `-mtime +30`).
    pub older_than: Tpl<Duration>,
    /// The newest matches kept whatever their age. Default: 1 (never the last backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_newest: Option<Tpl<u32>>,
}

impl Verb for Prune {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str =
        "Delete files matching a glob older than a duration, the newest always kept";
    const OUTPUTS: &'static [&'static str] = &["deleted", "bytes_freed", "kept"];
    fn irreversible(&self) -> Option<&'static str> {
        Some("deleted files are gone")
    }
    execute_and_forecast!();
}

/// Fail unless a file exists (and is big enough).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exists {
    pub path: Template,
    /// Minimum size in bytes (an empty backup is no backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Tpl<u64>>,
}

impl Verb for Exists {
    const EFFECT: Effect = Effect::ReadOnly;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str = "Check that a file exists";
    const OUTPUTS: &'static [&'static str] = &["path", "size", "modified"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let path = ctx.render(&self.path)?;
            let found = Place::of_step(ctx)?.stat(ctx, &path).await?;
            found.check_size(self.min_size.as_ref().map(|s| ctx.resolve(s)).transpose()?)?;
            Ok(found.outputs())
        })
    }
}

/// The newest file matching a glob, optionally no older than `max_age`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Latest {
    /// e.g. `/backups/goodgo_*.sql.gz`
    pub glob: Template,
    /// Fail if the newest match is older than this (a stale backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Tpl<Duration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Tpl<u64>>,
}

impl Verb for Latest {
    const EFFECT: Effect = Effect::ReadOnly;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str = "Find the newest file matching a glob";
    const OUTPUTS: &'static [&'static str] = &["path", "size", "modified", "age"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let pattern = ctx.render(&self.glob)?;
            let place = Place::of_step(ctx)?;
            let newest = place
                .matches(ctx, &pattern)
                .await?
                .into_iter()
                .max_by_key(|found| found.modified)
                .ok_or_else(|| {
                    StepError::failed(format!(
                        "no file matches `{pattern}` on {}",
                        place.describe()
                    ))
                })?;
            let age = newest.age();
            if let Some(max_age) = self.max_age.as_ref().map(|a| ctx.resolve(a)).transpose()?
                && age > max_age.0
            {
                return Err(StepError::failed(format!(
                    "the newest match, {}, is {} old (max_age {max_age})",
                    newest.path.display(),
                    Duration(std::time::Duration::from_secs(age.as_secs()))
                )));
            }
            newest.check_size(self.min_size.as_ref().map(|s| ctx.resolve(s)).transpose()?)?;
            let mut out = newest.outputs();
            out.insert("age".into(), age.as_secs_f64().into());
            Ok(out)
        })
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Sha256,
    Md5,
}

/// Checksum a file, optionally against an expected value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checksum {
    pub path: Template,
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Hex digest the file must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Template>,
}

impl Verb for Checksum {
    const EFFECT: Effect = Effect::ReadOnly;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str = "Compute a file's checksum";
    const OUTPUTS: &'static [&'static str] = &["path", "checksum"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let path = ctx.render(&self.path)?;
            let checksum = Place::of_step(ctx)?
                .digest(ctx, &path, self.algorithm)
                .await?;
            if let Some(expected) = &self.expect {
                let expected = ctx.render(expected)?;
                if !expected.trim().eq_ignore_ascii_case(&checksum) {
                    return Err(StepError::failed(format!(
                        "{path} has checksum {checksum}, expected {}",
                        expected.trim()
                    )));
                }
            }
            Ok(outputs(serde_json::json!({
                "path": path,
                "checksum": checksum,
            })))
        })
    }
}

/// A file found on disk.
struct Found {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

impl Found {
    fn stat(path: &Path) -> Result<Self, StepError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| StepError::failed(format!("{}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(StepError::failed(format!(
                "{} is not a file",
                path.display()
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    fn check_size(&self, min_size: Option<u64>) -> Result<(), StepError> {
        match min_size {
            Some(min) if self.size < min => Err(StepError::failed(format!(
                "{} has {} bytes, fewer than min_size {min}",
                self.path.display(),
                self.size
            ))),
            _ => Ok(()),
        }
    }

    fn age(&self) -> std::time::Duration {
        SystemTime::now()
            .duration_since(self.modified)
            .unwrap_or_default()
    }

    fn outputs(&self) -> Outputs {
        let modified: chrono::DateTime<chrono::Utc> = self.modified.into();
        outputs(serde_json::json!({
            "path": self.path.display().to_string(),
            "size": self.size,
            "modified": modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }))
    }
}

fn digest(path: &Path, algorithm: Algorithm) -> std::io::Result<String> {
    use md5::Digest as _;
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut sha = sha2::Sha256::new();
    let mut md5 = md5::Md5::new();
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        match algorithm {
            Algorithm::Sha256 => sha.update(&buffer[..n]),
            Algorithm::Md5 => md5.update(&buffer[..n]),
        }
    }
    let bytes = match algorithm {
        Algorithm::Sha256 => sha.finalize().to_vec(),
        Algorithm::Md5 => md5.finalize().to_vec(),
    };
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
