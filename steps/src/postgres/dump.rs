//! `postgres.dump`: pg_dump in custom format, named like the seeds' backups
//! (`goodgo_20260410_020000.dump`), and retention pruning of older dumps.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Dump;
use super::connect::Target;
use super::tools::{ServerVersion, Tool};
use crate::prelude::*;

/// What a dump will be: where, made by which pg_dump, and which old dumps go.
struct DumpPlan {
    target: Target,
    tool: Tool,
    path: PathBuf,
    compress: u8,
    /// Older dumps of the same name pattern past `keep_for`.
    expired: Vec<PathBuf>,
}

impl Dump {
    async fn plan(&self, ctx: &StepContext) -> Result<DumpPlan, StepError> {
        let target = self.target(ctx).await?;
        let client = target.connect().await?;
        let server = ServerVersion::of(&client).await?;
        let bin_dir = self.bin_dir.as_ref().map(|d| ctx.render(d)).transpose()?;
        let tool = Tool::find("pg_dump", bin_dir.as_deref(), server).await?;
        let dir = PathBuf::from(ctx.render(&self.to_dir)?);
        let compress = ctx.resolve(&self.compress)?;
        if compress > 9 {
            return Err(StepError::failed("`compress` is a level from 0 to 9"));
        }
        let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S").to_string();
        // Rendered like every other param (it was taken as written: a file named
        // `{{ inputs.prefix }}_...`), then the pattern's own fields.
        let pattern = ctx.render(&self.name)?;
        let name = pattern
            .replace("{database}", target.database())
            .replace("{timestamp}", &stamp);
        let path = dir.join(&name);
        let expired = match self.keep_for.as_ref().map(|k| ctx.resolve(k)).transpose()? {
            Some(keep_for) => {
                let pattern = pattern
                    .replace("{database}", target.database())
                    .replace("{timestamp}", "*");
                expired_dumps(&dir, &pattern, keep_for.0, &path)?
            }
            None => Vec::new(),
        };
        Ok(DumpPlan {
            target,
            tool,
            path,
            compress,
            expired,
        })
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let plan = self.plan(ctx).await?;
        let dir = plan.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| StepError::failed(format!("creating {}: {e}", dir.display())))?;
        // Written aside and renamed when complete, so a cut-short dump is never the newest
        // file a restore would pick.
        let partial = plan.path.with_extension("partial");
        let args = vec![
            "--format=custom".to_string(),
            format!("--compress={}", plan.compress),
            format!("--file={}", partial.display()),
        ];
        let ended = plan.tool.run(ctx, &plan.target, &args, None).await?;
        if ended.exit_code != 0 {
            let _ = std::fs::remove_file(&partial);
            return Err(StepError::failed(format!(
                "dumping {}: {}",
                plan.target.label(),
                plan.tool.failure(&ended)
            )));
        }
        std::fs::rename(&partial, &plan.path)
            .map_err(|e| StepError::failed(format!("naming {}: {e}", plan.path.display())))?;
        let size = std::fs::metadata(&plan.path).map(|m| m.len()).unwrap_or(0);
        let mut pruned = Vec::new();
        for old in &plan.expired {
            std::fs::remove_file(old)
                .map_err(|e| StepError::failed(format!("pruning {}: {e}", old.display())))?;
            pruned.push(old.display().to_string());
        }
        Ok(outputs(json!({
            "path": plan.path.display().to_string(),
            "size": size,
            "pruned": pruned,
            "tool": plan.tool.describe(),
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let plan = self.plan(ctx).await?;
        let mut text = format!(
            "would dump {} with {} (custom format, compression {}) to {}",
            plan.target.label(),
            plan.tool.describe(),
            plan.compress,
            plan.path.display()
        );
        if !plan.expired.is_empty() {
            let names: Vec<String> = plan
                .expired
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            text.push_str(&format!(
                "; would delete {} expired dump{}: {}",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ));
        }
        Ok(text)
    }
}

/// Files in `dir` matching `pattern` last modified more than `keep_for` ago, except `fresh`.
fn expired_dumps(
    dir: &Path,
    pattern: &str,
    keep_for: std::time::Duration,
    fresh: &Path,
) -> Result<Vec<PathBuf>, StepError> {
    let full = dir.join(pattern);
    let paths = glob::glob(&full.to_string_lossy())
        .map_err(|e| StepError::failed(format!("dump name pattern `{pattern}`: {e}")))?;
    let now = SystemTime::now();
    let mut expired: Vec<PathBuf> = paths
        .flatten()
        .filter(|p| p != fresh)
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > keep_for)
        })
        .collect();
    expired.sort();
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_dumps_of_the_pattern_expire() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "goodgo_1.dump",
            "goodgo_2.dump",
            "other_1.dump",
            "goodgo_3.dump",
        ] {
            std::fs::write(dir.path().join(name), "x").expect("write");
        }
        let old = SystemTime::now() - std::time::Duration::from_secs(8 * 86_400);
        for name in ["goodgo_1.dump", "other_1.dump", "goodgo_3.dump"] {
            let file = std::fs::File::options()
                .write(true)
                .open(dir.path().join(name))
                .expect("open");
            file.set_modified(old).expect("set mtime");
        }
        let week = std::time::Duration::from_secs(7 * 86_400);
        let fresh = dir.path().join("goodgo_3.dump");
        let expired = expired_dumps(dir.path(), "goodgo_*.dump", week, &fresh).expect("listed");
        assert_eq!(expired, vec![dir.path().join("goodgo_1.dump")]);
    }
}
