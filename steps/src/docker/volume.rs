//! `docker.volume_backup` / `docker.volume_restore`: a named volume to and from a tar file on
//! the host, through a short-lived helper container from a locally present image (nothing is
//! pulled), as the seeds do with `docker run --rm -v vol:/volume -v $PWD:/backup ... tar`.

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    LogsOptions, RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::engine::connect;
use super::{VolumeBackup, VolumeRestore};
use crate::prelude::*;

/// Splits a host path into the directory mounted at /backup and the file name in it.
fn host_file(path: &str) -> Result<(PathBuf, String), StepError> {
    let path = Path::new(path);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| StepError::failed(format!("current directory: {e}")))?
            .join(path)
    };
    let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| StepError::failed(format!("`{path:?}` names no file")))?;
    Ok((dir, name))
}

/// Checks what the helper needs, from live state: the volume and the image exist.
async fn check(docker: &Docker, volume: &str, image: &str) -> Result<(), StepError> {
    docker
        .inspect_volume(volume)
        .await
        .map_err(|e| StepError::failed(format!("volume `{volume}`: {e}")))?;
    docker.inspect_image(image).await.map_err(|e| {
        StepError::failed(format!(
            "helper image `{image}` is not present on the engine (nothing is pulled): {e}"
        ))
    })?;
    Ok(())
}

/// Runs `command` in a helper container with the volume at /volume and `dir` at /backup.
async fn run_helper(
    docker: &Docker,
    image: &str,
    volume: &str,
    dir: &Path,
    read_only_volume: bool,
    command: Vec<String>,
) -> Result<(), StepError> {
    let mode = if read_only_volume { ":ro" } else { "" };
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(command),
        labels: Some(HashMap::from([(
            "runbook.helper".to_string(),
            "true".to_string(),
        )])),
        host_config: Some(HostConfig {
            binds: Some(vec![
                format!("{volume}:/volume{mode}"),
                format!("{}:/backup", dir.display()),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let fail = |what: &str, e: bollard::errors::Error| {
        StepError::failed(format!("helper container ({what}): {e}"))
    };
    let created = docker
        .create_container(None, body)
        .await
        .map_err(|e| fail("create", e))?;
    let outcome = async {
        docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(|e| fail("start", e))?;
        let mut waited = docker.wait_container(&created.id, None::<WaitContainerOptions>);
        let mut status = 0;
        while let Some(result) = waited.next().await {
            match result {
                Ok(response) => status = response.status_code,
                // bollard reports a non-zero exit as an error carrying the code.
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => status = code,
                Err(e) => return Err(fail("wait", e)),
            }
        }
        if status != 0 {
            let mut logs = docker.logs(
                &created.id,
                Some(LogsOptions {
                    stdout: true,
                    stderr: true,
                    tail: "20".into(),
                    ..Default::default()
                }),
            );
            let mut said = String::new();
            while let Some(Ok(chunk)) = logs.next().await {
                said.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            return Err(StepError::failed(format!(
                "helper exited with {status}: {}",
                said.trim()
            )));
        }
        Ok(())
    }
    .await;
    let _ = docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    outcome
}

impl VolumeBackup {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let docker = connect(ctx, self.engine.as_ref()).await?;
        let (volume, image) = (ctx.render(&self.volume)?, ctx.render(&self.helper_image)?);
        let to = ctx.render(&self.to)?;
        check(&docker, &volume, &image).await?;
        let (dir, name) = host_file(&to)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| StepError::failed(format!("{}: {e}", dir.display())))?;
        let command = [
            "tar",
            "-C",
            "/volume",
            "-cf",
            &format!("/backup/{name}"),
            ".",
        ]
        .map(str::to_string)
        .to_vec();
        run_helper(&docker, &image, &volume, &dir, true, command).await?;
        let path = dir.join(&name);
        let size = std::fs::metadata(&path)
            .map_err(|e| StepError::failed(format!("{}: {e}", path.display())))?
            .len();
        Ok(outputs(
            serde_json::json!({ "path": path.display().to_string(), "size": size }),
        ))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let docker = connect(ctx, self.engine.as_ref()).await?;
        let (volume, image) = (ctx.render(&self.volume)?, ctx.render(&self.helper_image)?);
        check(&docker, &volume, &image).await?;
        Ok(format!(
            "would archive volume `{volume}` to {} with a `{image}` helper container",
            ctx.render(&self.to)?
        ))
    }
}

impl VolumeRestore {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let docker = connect(ctx, self.engine.as_ref()).await?;
        let (volume, image) = (ctx.render(&self.volume)?, ctx.render(&self.helper_image)?);
        let from = ctx.render(&self.from)?;
        check(&docker, &volume, &image).await?;
        let (dir, name) = host_file(&from)?;
        let size = std::fs::metadata(dir.join(&name))
            .map_err(|e| StepError::failed(format!("{from}: {e}")))?
            .len();
        let clean = if self.clean {
            "rm -rf /volume/..?* /volume/.[!.]* /volume/*; "
        } else {
            ""
        };
        let script = format!("{clean}tar -C /volume -xf \"/backup/$1\"");
        let command = vec!["sh".into(), "-c".into(), script, "sh".into(), name];
        run_helper(&docker, &image, &volume, &dir, false, command).await?;
        Ok(outputs(serde_json::json!({ "size": size })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let docker = connect(ctx, self.engine.as_ref()).await?;
        let (volume, image) = (ctx.render(&self.volume)?, ctx.render(&self.helper_image)?);
        check(&docker, &volume, &image).await?;
        Ok(format!(
            "would {}extract {} into volume `{volume}` with a `{image}` helper container",
            if self.clean {
                "empty the volume, then "
            } else {
                ""
            },
            ctx.render(&self.from)?
        ))
    }
}
