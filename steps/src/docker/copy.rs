//! `docker.copy_to` / `docker.copy_from`: the seeds' `docker cp`, through the engine's archive
//! API (a tar in, a tar out), so a dump made inside the database container can be brought
//! out, or a file put in, without the docker CLI.

use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;
use serde_json::json;

use super::{CopyFrom, CopyTo};
use crate::prelude::*;

impl CopyTo {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let source = std::path::PathBuf::from(ctx.render(&self.path)?);
        let dest = ctx.render(&self.dest)?;
        let (archive, bytes) = pack(&source).await?;
        for container in &containers {
            docker
                .upload_to_container(
                    &container.id,
                    Some(UploadToContainerOptions { path: dest.clone(), ..Default::default() }),
                    bollard::body_full(archive.clone().into()),
                )
                .await
                .map_err(|e| {
                    StepError::failed(format!(
                        "copying {} into {}:{dest}: {e} (the directory must exist in the container)",
                        source.display(),
                        container.name
                    ))
                })?;
        }
        Ok(outputs(
            json!({ "bytes": bytes, "containers": super::engine::names(&containers) }),
        ))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let source = ctx.render(&self.path)?;
        let size = std::fs::metadata(&source)
            .map(|m| {
                if m.is_dir() {
                    "a directory".to_string()
                } else {
                    format!("{} bytes", m.len())
                }
            })
            .map_err(|e| StepError::failed(format!("{source}: {e}")))?;
        Ok(format!(
            "would copy {source} ({size}) into {} at {}",
            super::engine::describe_all(&containers),
            ctx.render(&self.dest)?
        ))
    }
}

/// A file or directory as a tar whose top entry is its own name, and its size in bytes.
async fn pack(source: &std::path::Path) -> Result<(Vec<u8>, u64), StepError> {
    let source = source.to_path_buf();
    let shown = source.display().to_string();
    tokio::task::spawn_blocking(move || -> std::io::Result<(Vec<u8>, u64)> {
        let name = source
            .file_name()
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| ".".into());
        let mut builder = tar::Builder::new(Vec::new());
        let meta = std::fs::metadata(&source)?;
        if meta.is_dir() {
            builder.append_dir_all(&name, &source)?;
        } else {
            builder.append_path_with_name(&source, &name)?;
        }
        let archive = builder.into_inner()?;
        Ok((archive, if meta.is_dir() { 0 } else { meta.len() }))
    })
    .await
    .map_err(|e| StepError::failed(format!("packing {shown}: {e}")))?
    .map_err(|e| StepError::failed(format!("packing {shown}: {e}")))
}

impl CopyFrom {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let [container] = containers.as_slice() else {
            return Err(StepError::failed(format!(
                "copy_from reads from one container; {} are selected",
                containers.len()
            )));
        };
        let path = ctx.render(&self.path)?;
        let dest = std::path::PathBuf::from(ctx.render(&self.dest)?);
        let mut stream = docker.download_from_container(
            &container.id,
            Some(DownloadFromContainerOptions { path: path.clone() }),
        );
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                StepError::failed(format!("copying {}:{path}: {e}", container.name))
            })?;
            archive.extend_from_slice(&chunk);
        }
        let into = dest.clone();
        let files = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(String, u64)>> {
            std::fs::create_dir_all(&into)?;
            let mut unpacked = Vec::new();
            let mut reader = tar::Archive::new(archive.as_slice());
            for entry in reader.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.display().to_string();
                let size = entry.header().size().unwrap_or(0);
                // `unpack_in` refuses entries that would land outside `into` (`../`).
                if entry.unpack_in(&into)? && entry.header().entry_type().is_file() {
                    unpacked.push((name, size));
                }
            }
            Ok(unpacked)
        })
        .await
        .map_err(|e| StepError::failed(format!("unpacking into {}: {e}", dest.display())))?
        .map_err(|e| StepError::failed(format!("unpacking into {}: {e}", dest.display())))?;
        Ok(outputs(json!({
            "files": files.iter().map(|(n, _)| dest.join(n)).collect::<Vec<_>>(),
            "bytes": files.iter().map(|(_, s)| s).sum::<u64>(),
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        Ok(format!(
            "would copy {}:{} into {}",
            super::engine::describe_all(&containers),
            ctx.render(&self.path)?,
            ctx.render(&self.dest)?
        ))
    }
}
