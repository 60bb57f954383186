//! `file.prune`: the seeds' `find /backups -name "*.sql.gz" -mtime +30 -delete`, with the
//! newest matches always kept (a retention job must never delete the last backup, however old
//! it is) and the files it would delete listed by the preview. Deleted files cannot come back:
//! the plan says so.

use std::path::PathBuf;
use std::time::SystemTime;

use super::Prune;
use crate::prelude::*;

impl Prune {
    /// The matches to delete (oldest first) and the number kept.
    fn victims(&self, ctx: &StepContext) -> Result<(Vec<(PathBuf, u64)>, usize), StepError> {
        let pattern = ctx.render(&self.glob)?;
        let older_than = ctx.resolve(&self.older_than)?.0;
        let keep = match &self.keep_newest {
            Some(k) => ctx.resolve(k)?,
            None => 1,
        };
        let paths = glob::glob(&pattern)
            .map_err(|e| StepError::failed(format!("`{pattern}` is not a glob: {e}")))?;
        let mut found: Vec<(PathBuf, SystemTime, u64)> = paths
            .filter_map(Result::ok)
            .filter_map(|p| {
                let meta = std::fs::metadata(&p).ok().filter(|m| m.is_file())?;
                Some((p, meta.modified().ok()?, meta.len()))
            })
            .collect();
        found.sort_by_key(|(_, modified, _)| std::cmp::Reverse(*modified));
        let now = SystemTime::now();
        let victims: Vec<(PathBuf, u64)> = found
            .iter()
            .skip(keep as usize)
            .filter(|(_, modified, _)| {
                now.duration_since(*modified).unwrap_or_default() > older_than
            })
            .map(|(p, _, size)| (p.clone(), *size))
            .rev()
            .collect();
        let kept = found.len() - victims.len();
        Ok((victims, kept))
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (victims, kept) = self.victims(ctx)?;
        let mut deleted = Vec::new();
        let mut bytes = 0;
        for (path, size) in &victims {
            std::fs::remove_file(path)
                .map_err(|e| StepError::failed(format!("deleting {}: {e}", path.display())))?;
            deleted.push(path.display().to_string());
            bytes += size;
        }
        Ok(outputs(serde_json::json!({
            "deleted": deleted,
            "bytes_freed": bytes,
            "kept": kept,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (victims, kept) = self.victims(ctx)?;
        if victims.is_empty() {
            return Ok(format!("would delete nothing ({kept} files kept)"));
        }
        let bytes: u64 = victims.iter().map(|(_, s)| s).sum();
        let names: Vec<String> = victims
            .iter()
            .take(10)
            .map(|(p, _)| p.display().to_string())
            .collect();
        Ok(format!(
            "would delete {} files ({bytes} bytes): {}{} (cannot be undone; {kept} kept)",
            victims.len(),
            names.join(", "),
            if victims.len() > 10 { ", ..." } else { "" }
        ))
    }
}
