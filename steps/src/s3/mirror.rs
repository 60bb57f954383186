//! `s3.mirror`: the seeds' `mc mirror` of the backup bucket to the off-site one (or to a
//! directory). An object is copied when the destination has none of its size at its key;
//! the counts say what was copied, skipped and (with `delete_extra`) deleted.

use object_store::ObjectStore;
use object_store::path::Path as Key;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

use super::Mirror;
use super::objects::{fetch, list_all};
use super::store::{Bucket as Store, Target};
use crate::prelude::*;

/// Where the copies go.
enum Destination {
    Bucket { store: Store, prefix: String },
    Dir(PathBuf),
}

/// What a mirror would do.
struct Work {
    /// (source object, destination key or relative path)
    copy: Vec<(object_store::ObjectMeta, String)>,
    skipped: usize,
    delete: Vec<String>,
}

impl Destination {
    /// The key (or relative path) the source object `key` gets at the destination.
    fn name_for(&self, key: &str, from_prefix: &str) -> String {
        let rest = key.strip_prefix(from_prefix).unwrap_or(key);
        match self {
            Self::Bucket { prefix, .. } => format!("{prefix}{rest}"),
            Self::Dir(_) => rest.trim_start_matches('/').to_string(),
        }
    }
}

impl Mirror {
    fn destination(&self, ctx: &StepContext) -> Result<Destination, StepError> {
        let render = |t: &Option<Template>| t.as_ref().map(|t| ctx.render(t)).transpose();
        if let Some(dir) = render(&self.to_dir)? {
            return Ok(Destination::Dir(PathBuf::from(dir)));
        }
        let bucket = render(&self.to_bucket)?.unwrap_or_default();
        let store = Target {
            endpoint: render(&self.to_endpoint)?.or(render(&self.endpoint)?),
            region: render(&self.region)?.unwrap_or_else(|| "us-east-1".into()),
            bucket,
            access_key: render(&self.to_access_key)?.or(render(&self.access_key)?),
            secret_key: render(&self.to_secret_key)?.or(render(&self.secret_key)?),
        }
        .open(ctx)?;
        Ok(Destination::Bucket {
            store,
            prefix: render(&self.to_prefix)?.unwrap_or_default(),
        })
    }

    async fn work(
        &self,
        ctx: &StepContext,
        source: &Store,
        destination: &Destination,
    ) -> Result<Work, StepError> {
        let prefix = self
            .prefix
            .as_ref()
            .map(|p| ctx.render(p))
            .transpose()?
            .unwrap_or_default();
        let objects = list_all(ctx, source, Some(&prefix)).await?;
        // What the destination has, by the name a source object would get there.
        let there: BTreeMap<String, u64> = match destination {
            Destination::Bucket { store, prefix: to } => list_all(ctx, store, Some(to))
                .await?
                .into_iter()
                .map(|m| (m.location.to_string(), m.size))
                .collect(),
            Destination::Dir(dir) => {
                let mut existing = BTreeMap::new();
                files_under(dir, dir, &mut existing);
                existing
            }
        };
        let rename = |key: &str| destination.name_for(key, &prefix);
        let mut work = Work {
            copy: Vec::new(),
            skipped: 0,
            delete: Vec::new(),
        };
        let mut wanted = std::collections::BTreeSet::new();
        for object in objects {
            let name = rename(object.location.as_ref());
            if name.split('/').any(|part| part == "..") {
                return Err(StepError::failed(format!(
                    "{}: key {} climbs out of the destination",
                    source.name, object.location
                )));
            }
            wanted.insert(name.clone());
            if there.get(&name) == Some(&object.size) {
                work.skipped += 1;
            } else {
                work.copy.push((object, name));
            }
        }
        if self.delete_extra {
            work.delete = there.into_keys().filter(|k| !wanted.contains(k)).collect();
        }
        Ok(work)
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let source = self.bucket(ctx)?;
        let destination = self.destination(ctx)?;
        let work = self.work(ctx, &source, &destination).await?;
        let mut bytes = 0u64;
        for (object, name) in &work.copy {
            match &destination {
                Destination::Dir(dir) => fetch(ctx, &source, object, &dir.join(name)).await?,
                Destination::Bucket { store, .. } => {
                    copy_object(ctx, &source, store, object, name).await?
                }
            }
            bytes += object.size;
        }
        for name in &work.delete {
            match &destination {
                Destination::Dir(dir) => std::fs::remove_file(dir.join(name)).map_err(|e| {
                    StepError::failed(format!("deleting {}: {e}", dir.join(name).display()))
                })?,
                Destination::Bucket { store, .. } => store
                    .store
                    .delete(&Key::from(name.as_str()))
                    .await
                    .map_err(|e| store.error(ctx, &format!("deleting {name}"), &e))?,
            }
        }
        Ok(outputs(json!({
            "copied": work.copy.len(),
            "skipped": work.skipped,
            "deleted": work.delete.len(),
            "bytes_copied": bytes,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let source = self.bucket(ctx)?;
        let destination = self.destination(ctx)?;
        let work = self.work(ctx, &source, &destination).await?;
        let to = match &destination {
            Destination::Dir(dir) => dir.display().to_string(),
            Destination::Bucket { store, prefix } if prefix.is_empty() => store.name.clone(),
            Destination::Bucket { store, prefix } => format!("{} under `{prefix}`", store.name),
        };
        let bytes: u64 = work.copy.iter().map(|(o, _)| o.size).sum();
        let mut text = format!(
            "would copy {} objects ({bytes} bytes) from {} to {to}, skip {} already there",
            work.copy.len(),
            source.name,
            work.skipped
        );
        if self.delete_extra {
            text.push_str(&format!(
                ", and delete {} the source does not have (cannot be undone)",
                work.delete.len()
            ));
        }
        Ok(text)
    }
}

/// Streams one object from bucket to bucket (they may be on different servers).
async fn copy_object(
    ctx: &StepContext,
    source: &Store,
    destination: &Store,
    object: &object_store::ObjectMeta,
    name: &str,
) -> Result<(), StepError> {
    use futures_util::StreamExt;
    let got = source
        .store
        .get(&object.location)
        .await
        .map_err(|e| source.error(ctx, &format!("reading {}", object.location), &e))?;
    let mut sink =
        object_store::buffered::BufWriter::new(destination.store.clone(), Key::from(name));
    let mut stream = got.into_stream();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if let Err(e) = sink.write_all(&chunk).await {
                    failed = Some(e.to_string());
                    break;
                }
            }
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    let finished = match failed {
        None => sink.shutdown().await.map_err(|e| e.to_string()),
        Some(e) => {
            let _ = sink.abort().await;
            Err(e)
        }
    };
    finished.map_err(|e| {
        StepError::failed(format!(
            "copying {} to {} as {name}: {}",
            object.location,
            destination.name,
            ctx.redact(&e)
        ))
    })
}

/// Files under `dir` as `relative/path -> size`.
fn files_under(root: &std::path::Path, dir: &std::path::Path, found: &mut BTreeMap<String, u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            files_under(root, &path, found);
        } else if let Ok(relative) = path.strip_prefix(root) {
            found.insert(relative.to_string_lossy().into_owned(), meta.len());
        }
    }
}
