//! The previous containers `compose.up` keeps: a created, never-started copy of a container,
//! made from its config as the engine reports it, with the image pinned by id and the compose
//! labels moved aside (so the tool no longer counts it as part of the project). Putting one
//! back makes the container again under its own name and labels, so the next `up` from the
//! old files finds it unchanged.
//!
//! One generation per container: a newer copy replaces the older one. `compose.down` removes
//! them with the project.

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions, StartContainerOptions,
};
use std::collections::HashMap;
use std::time::Duration as StdDuration;

use super::state::Member;
use crate::docker::engine::{self, PROJECT_LABEL, SERVICE_LABEL, Target};
use crate::docker::recreate::blueprint;
use crate::prelude::*;

const COMPOSE_PREFIX: &str = "com.docker.compose.";
const KEPT_PREFIX: &str = "runbook.previous.";
/// The name of the container a copy was made of.
const OF_LABEL: &str = "runbook.previous-of";
const PROJECT_OF_LABEL: &str = "runbook.previous-project";
const WAS_RUNNING_LABEL: &str = "runbook.previous-was-running";
const IMAGE_LABEL: &str = "runbook.previous-image";
const POLL: StdDuration = StdDuration::from_millis(500);
/// How long containers made or put back have to become healthy without `healthy_within`.
pub(super) const DEFAULT_HEALTHY_WITHIN: StdDuration = StdDuration::from_secs(60);

/// A step's `healthy_within`, or the default.
pub(super) fn healthy_within(
    ctx: &StepContext,
    within: Option<&Tpl<Duration>>,
) -> Result<StdDuration, StepError> {
    Ok(match within {
        Some(w) => ctx.resolve(w)?.0,
        None => DEFAULT_HEALTHY_WITHIN,
    })
}

fn copy_name(container: &str) -> String {
    format!("{container}-previous")
}

fn remove_options() -> Option<RemoveContainerOptions> {
    Some(RemoveContainerOptions {
        force: true,
        v: false,
        ..Default::default()
    })
}

/// Keeps a copy of `member`; returns the copy's name.
pub(super) async fn keep(
    docker: &Docker,
    project: &str,
    member: &Member,
) -> Result<String, StepError> {
    let container = &member.container;
    let fail = |what: &str, e: bollard::errors::Error| {
        StepError::failed(format!("{what} a copy of {}: {e}", container.name))
    };
    let mut plan = blueprint(docker, container).await?;
    let labels = plan.body.labels.take().unwrap_or_default();
    let mut kept: HashMap<String, String> = labels
        .into_iter()
        .map(|(key, value)| match key.strip_prefix(COMPOSE_PREFIX) {
            Some(rest) => (format!("{KEPT_PREFIX}{rest}"), value),
            None => (key, value),
        })
        .collect();
    kept.insert(OF_LABEL.into(), container.name.clone());
    kept.insert(PROJECT_OF_LABEL.into(), project.into());
    kept.insert(WAS_RUNNING_LABEL.into(), container.is_running().to_string());
    kept.insert(IMAGE_LABEL.into(), plan.image.clone());
    plan.body.labels = Some(kept);
    plan.body.image = Some(plan.image_id.clone());
    let name = copy_name(&container.name);
    // The older generation goes; only a copy of ours is ever removed by name.
    if let Ok(old) = docker
        .inspect_container(&name, None::<InspectContainerOptions>)
        .await
        && old
            .config
            .and_then(|c| c.labels)
            .is_some_and(|l| l.contains_key(OF_LABEL))
    {
        docker
            .remove_container(&name, remove_options())
            .await
            .map_err(|e| fail("replacing the older", e))?;
    }
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            plan.body,
        )
        .await
        .map_err(|e| fail("keeping", e))?;
    Ok(name)
}

/// Drops a copy that turned out not to be needed (its container was left as it was).
pub(super) async fn discard(docker: &Docker, copy: &str) -> Result<(), StepError> {
    docker
        .remove_container(copy, remove_options())
        .await
        .map_err(|e| StepError::failed(format!("removing the copy {copy}: {e}")))
}

/// The copies kept for `project`, by name.
pub(super) async fn of_project(docker: &Docker, project: &str) -> Result<Vec<String>, StepError> {
    let found =
        engine::list_labelled(docker, vec![format!("{PROJECT_OF_LABEL}={project}")]).await?;
    Ok(found.iter().map(engine::summary_name).collect())
}

/// What a copy stands for, read from its labels.
pub(super) struct Copy {
    pub name: String,
    pub of: String,
    pub service: String,
    pub project: String,
    pub image: String,
    pub was_running: bool,
}

pub(super) async fn read(docker: &Docker, copy: &str) -> Result<Copy, StepError> {
    let inspected = docker
        .inspect_container(copy, None::<InspectContainerOptions>)
        .await
        .map_err(|e| {
            StepError::failed(format!(
                "the previous container {copy} is gone ({e}): nothing to put back"
            ))
        })?;
    let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
    let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
    if !labels.contains_key(OF_LABEL) {
        return Err(StepError::failed(format!(
            "{copy} is not a copy kept by compose.up (no `{OF_LABEL}` label)"
        )));
    }
    Ok(Copy {
        name: copy.to_string(),
        of: label(OF_LABEL),
        service: label(&format!("{KEPT_PREFIX}service")),
        project: label(PROJECT_OF_LABEL),
        image: label(IMAGE_LABEL),
        was_running: label(WAS_RUNNING_LABEL) == "true",
    })
}

/// Removes every container of `service` in `project` (what replaced the copies).
pub(super) async fn remove_service(
    docker: &Docker,
    project: &str,
    service: &str,
) -> Result<Vec<String>, StepError> {
    let found = engine::list_labelled(
        docker,
        vec![
            format!("{PROJECT_LABEL}={project}"),
            format!("{SERVICE_LABEL}={service}"),
        ],
    )
    .await?;
    let mut removed = Vec::new();
    for container in found {
        let name = engine::summary_name(&container);
        let id = container.id.unwrap_or_default();
        docker
            .remove_container(&id, remove_options())
            .await
            .map_err(|e| StepError::failed(format!("removing {name}: {e}")))?;
        removed.push(name);
    }
    Ok(removed)
}

/// Makes the container a copy stands for again (its own name and labels), starts it if it
/// ran, and removes the copy. The service's current containers must be gone already.
/// Returns the new container's id.
pub(super) async fn put_back(docker: &Docker, copy: &Copy) -> Result<String, StepError> {
    let fail = |what: &str, e: bollard::errors::Error| {
        StepError::failed(format!("{what} {} from {}: {e}", copy.of, copy.name))
    };
    let held = engine::inspect(docker, &copy.name).await?;
    let mut plan = blueprint(docker, &held).await?;
    let labels: HashMap<String, String> = plan
        .body
        .labels
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| !key.starts_with("runbook.previous-"))
        .map(|(key, value)| match key.strip_prefix(KEPT_PREFIX) {
            Some(rest) => (format!("{COMPOSE_PREFIX}{rest}"), value),
            None => (key, value),
        })
        .collect();
    plan.body.labels = Some(labels);
    // Under its tag again when the tag still names that image (as `docker ps` showed it);
    // by id when a build or pull has moved the tag since.
    let tag_unmoved = docker
        .inspect_image(&copy.image)
        .await
        .ok()
        .and_then(|i| i.id)
        .is_some_and(|id| id == plan.image_id);
    plan.body.image = Some(if tag_unmoved {
        copy.image.clone()
    } else {
        plan.image_id.clone()
    });
    // A container that is not ours may hold the name (made by hand since): refuse to guess.
    if docker
        .inspect_container(&copy.of, None::<InspectContainerOptions>)
        .await
        .is_ok()
    {
        return Err(StepError::failed(format!(
            "{} exists and is not a container of service `{}`: remove or rename it, then run the rollback again",
            copy.of, copy.service
        )));
    }
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(copy.of.clone()),
                ..Default::default()
            }),
            plan.body,
        )
        .await
        .map_err(|e| fail("making", e))?;
    if copy.was_running {
        docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(|e| fail("starting", e))?;
    }
    discard(docker, &copy.name).await?;
    Ok(created.id)
}

/// Waits until the containers are healthy (or running, those without a healthcheck); one
/// that exits fails the wait.
pub(super) async fn wait_healthy(
    docker: &Docker,
    ids: &[String],
    within: StdDuration,
    deadline: Option<tokio::time::Instant>,
) -> Result<Vec<engine::Container>, StepError> {
    let own = tokio::time::Instant::now() + within;
    let deadline = Some(deadline.map_or(own, |d| d.min(own)));
    let mut reached = Vec::new();
    for id in ids {
        let container = engine::inspect(docker, id).await?;
        let target = Target::Healthy {
            running_is_enough: container.health == "none",
        };
        reached.extend(
            engine::wait_for(docker, std::slice::from_ref(id), target, POLL, deadline).await?,
        );
    }
    Ok(reached)
}
