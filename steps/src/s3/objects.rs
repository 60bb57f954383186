//! One bucket's objects: listed (with the newest one's age and size), uploaded, downloaded
//! with their own time, deleted.

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::store::Bucket as Store;
use super::{Bucket, Delete, Download, List, Upload};
use crate::prelude::*;

/// Age of an object now, in whole seconds.
pub(super) fn age_seconds(meta: &ObjectMeta) -> i64 {
    (chrono::Utc::now() - meta.last_modified)
        .num_seconds()
        .max(0)
}

pub(super) fn describe(meta: &ObjectMeta) -> serde_json::Value {
    json!({
        "key": meta.location.to_string(),
        "size": meta.size,
        "modified": meta.last_modified.to_rfc3339(),
        "age": age_seconds(meta),
    })
}

/// Every object under `prefix`.
pub(super) async fn list_all(
    ctx: &StepContext,
    store: &Store,
    prefix: Option<&str>,
) -> Result<Vec<ObjectMeta>, StepError> {
    let prefix = prefix.filter(|p| !p.is_empty()).map(Key::from);
    let mut stream = store.store.list(prefix.as_ref());
    let mut all = Vec::new();
    while let Some(item) = stream.next().await {
        all.push(item.map_err(|e| store.error(ctx, "listing", &e))?);
    }
    all.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
    Ok(all)
}

/// The object at `key`, if there is one.
pub(super) async fn head(
    ctx: &StepContext,
    store: &Store,
    key: &Key,
) -> Result<Option<ObjectMeta>, StepError> {
    match store.store.head(key).await {
        Ok(meta) => Ok(Some(meta)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(store.error(ctx, &format!("reading {key}"), &e)),
    }
}

/// Streams an object into `file` (through a temporary beside it) and gives the file the
/// object's time.
pub(super) async fn fetch(
    ctx: &StepContext,
    store: &Store,
    meta: &ObjectMeta,
    file: &std::path::Path,
) -> Result<(), StepError> {
    let fail = |e: std::io::Error| StepError::failed(format!("writing {}: {e}", file.display()));
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(fail)?;
    }
    let partial = file.with_extension("runbook-partial");
    let got = store
        .store
        .get(&meta.location)
        .await
        .map_err(|e| store.error(ctx, &format!("downloading {}", meta.location), &e))?;
    let mut out = tokio::fs::File::create(&partial).await.map_err(fail)?;
    let mut stream = got.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| store.error(ctx, &format!("downloading {}", meta.location), &e))?;
        out.write_all(&chunk).await.map_err(fail)?;
    }
    out.sync_all().await.map_err(fail)?;
    drop(out);
    let modified: std::time::SystemTime = meta.last_modified.into();
    std::fs::File::options()
        .write(true)
        .open(&partial)
        .and_then(|f| f.set_modified(modified))
        .map_err(fail)?;
    tokio::fs::rename(&partial, file).await.map_err(fail)
}

impl Bucket {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let store = self.bucket(ctx)?;
        let mut stream = store.store.list(None);
        if let Some(Err(e)) = stream.next().await {
            return Err(store.error(ctx, "listing", &e));
        }
        Ok(outputs(json!({ "exists": true })))
    }
}

impl List {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let store = self.bucket(ctx)?;
        let prefix = self.prefix.as_ref().map(|p| ctx.render(p)).transpose()?;
        let all = list_all(ctx, &store, prefix.as_deref()).await?;
        let newest = all.iter().max_by_key(|m| m.last_modified);
        let under = match &prefix {
            Some(p) if !p.is_empty() => format!("{} under `{p}`", store.name),
            _ => store.name.clone(),
        };
        if let Some(min) = &self.min_count {
            let min = ctx.resolve(min)?;
            if (all.len() as u64) < min {
                return Err(StepError::failed(format!(
                    "{under}: {} objects (at least {min} wanted)",
                    all.len()
                )));
            }
        }
        if self.max_age.is_some() || self.min_size.is_some() {
            let Some(newest) = newest else {
                return Err(StepError::failed(format!("{under}: no object")));
            };
            if let Some(max) = &self.max_age {
                let max = ctx.resolve(max)?;
                let age = age_seconds(newest);
                if age as f64 > max.0.as_secs_f64() {
                    return Err(StepError::failed(format!(
                        "{under}: the newest object, {}, is {} old (max_age {max})",
                        newest.location,
                        Duration(std::time::Duration::from_secs(age as u64))
                    )));
                }
            }
            if let Some(min) = &self.min_size {
                let min = ctx.resolve(min)?;
                if newest.size < min {
                    return Err(StepError::failed(format!(
                        "{under}: the newest object, {}, has {} bytes (at least {min} wanted)",
                        newest.location, newest.size
                    )));
                }
            }
        }
        // The first thousand, for reports; counts and the newest cover all of them.
        let objects: Vec<serde_json::Value> = all.iter().take(1000).map(describe).collect();
        Ok(outputs(json!({
            "count": all.len(),
            "total_bytes": all.iter().map(|m| m.size).sum::<u64>(),
            "newest": newest.map(describe),
            "objects": objects,
        })))
    }
}

impl Upload {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let store = self.bucket(ctx)?;
        let file = ctx.render(&self.file)?;
        let key = Key::from(ctx.render(&self.key)?);
        let size = std::fs::metadata(&file)
            .map_err(|e| StepError::failed(format!("{file}: {e}")))?
            .len();
        if !self.overwrite
            && let Some(there) = head(ctx, &store, &key).await?
        {
            return Err(StepError::failed(format!(
                "{}: {key} exists ({} bytes, {}); set `overwrite: true` to replace it",
                store.name,
                there.size,
                there.last_modified.to_rfc3339()
            )));
        }
        let mut source = tokio::fs::File::open(&file)
            .await
            .map_err(|e| StepError::failed(format!("{file}: {e}")))?;
        let mut sink = object_store::buffered::BufWriter::new(store.store.clone(), key.clone());
        let copied = tokio::io::copy(&mut source, &mut sink).await;
        let finished = match copied {
            Ok(_) => sink.shutdown().await,
            Err(e) => {
                let _ = sink.abort().await;
                Err(e)
            }
        };
        finished.map_err(|e| {
            StepError::failed(format!(
                "{}: uploading {file} as {key}: {}",
                store.name,
                ctx.redact(&e.to_string())
            ))
        })?;
        let meta = head(ctx, &store, &key).await?.ok_or_else(|| {
            StepError::failed(format!(
                "{}: {key} is not there after the upload",
                store.name
            ))
        })?;
        if meta.size != size {
            return Err(StepError::failed(format!(
                "{}: {key} has {} bytes after the upload of {size}",
                store.name, meta.size
            )));
        }
        Ok(outputs(
            json!({ "key": key.to_string(), "size": size, "etag": meta.e_tag }),
        ))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let store = self.bucket(ctx)?;
        let file = ctx.render(&self.file)?;
        let key = Key::from(ctx.render(&self.key)?);
        let size = std::fs::metadata(&file)
            .map(|m| format!("{} bytes", m.len()))
            .unwrap_or_else(|_| "not there yet".into());
        let there = head(ctx, &store, &key).await?;
        Ok(match there {
            None => format!("would upload {file} ({size}) to {} as {key}", store.name),
            Some(m) if self.overwrite => format!(
                "would replace {key} ({} bytes, {}) in {} with {file} ({size})",
                m.size,
                m.last_modified.to_rfc3339(),
                store.name
            ),
            Some(_) => {
                return Err(StepError::failed(format!(
                    "{}: {key} exists; set `overwrite: true` to replace it",
                    store.name
                )));
            }
        })
    }
}

impl Download {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let store = self.bucket(ctx)?;
        let key = Key::from(ctx.render(&self.key)?);
        let file = std::path::PathBuf::from(ctx.render(&self.file)?);
        let meta = head(ctx, &store, &key)
            .await?
            .ok_or_else(|| StepError::failed(format!("{}: no object {key}", store.name)))?;
        fetch(ctx, &store, &meta, &file).await?;
        Ok(outputs(json!({
            "path": file,
            "size": meta.size,
            "modified": meta.last_modified.to_rfc3339(),
            "age": age_seconds(&meta),
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let store = self.bucket(ctx)?;
        let key = Key::from(ctx.render(&self.key)?);
        let file = ctx.render(&self.file)?;
        let meta = head(ctx, &store, &key)
            .await?
            .ok_or_else(|| StepError::failed(format!("{}: no object {key}", store.name)))?;
        let replaces = if std::path::Path::new(&file).exists() {
            " (replacing the file there)"
        } else {
            ""
        };
        Ok(format!(
            "would download {key} ({} bytes, {}) from {} to {file}{replaces}",
            meta.size,
            meta.last_modified.to_rfc3339(),
            store.name
        ))
    }
}

impl Delete {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let store = self.bucket(ctx)?;
        let key = Key::from(ctx.render(&self.key)?);
        let there = head(ctx, &store, &key).await?.is_some();
        if there {
            store
                .store
                .delete(&key)
                .await
                .map_err(|e| store.error(ctx, &format!("deleting {key}"), &e))?;
        }
        Ok(outputs(json!({ "deleted": there })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let store = self.bucket(ctx)?;
        let key = Key::from(ctx.render(&self.key)?);
        Ok(match head(ctx, &store, &key).await? {
            Some(m) => format!(
                "would delete {key} ({} bytes, {}) from {} (cannot be undone)",
                m.size,
                m.last_modified.to_rfc3339(),
                store.name
            ),
            None => format!("would find no {key} in {} to delete", store.name),
        })
    }
}
