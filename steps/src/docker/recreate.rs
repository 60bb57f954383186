//! `docker.recreate`: the seeds' deploy and deploy-rollback (`up -d --no-deps --wait api`).
//!
//! Each container is replaced by one with the same configuration (labels, ports, mounts,
//! networks, healthcheck) but a new image or changed environment. The old container is only
//! stopped and renamed until the new one is healthy; if it never is, the new one is removed
//! and the old one put back under its name and started again.

use bollard::Docker;
use bollard::models::{ContainerCreateBody, EndpointSettings, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions,
    RenameContainerOptions, StartContainerOptions, StopContainerOptions,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration as StdDuration;

use super::Recreate;
use super::engine::{self, Container, Target, describe_all};
use crate::prelude::*;

/// How long a new container has to become healthy when `healthy_within` is not given.
const DEFAULT_HEALTHY_WITHIN: StdDuration = StdDuration::from_secs(60);
const POLL: StdDuration = StdDuration::from_millis(500);

/// A container's creation parameters, as read back from the engine.
pub(crate) struct Blueprint {
    pub body: ContainerCreateBody,
    /// The image as the container names it (`runbook-fixture:1`).
    pub image: String,
    /// The image the container runs, by id: a tag may since point at another build.
    pub image_id: String,
}

pub(crate) async fn blueprint(
    docker: &Docker,
    container: &Container,
) -> Result<Blueprint, StepError> {
    let inspected = docker
        .inspect_container(&container.id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| StepError::failed(format!("inspecting {}: {e}", container.name)))?;
    let config = inspected.config.clone().unwrap_or_default();
    // The inspected config and the create body share their field names: carry it over whole,
    // so nothing compose set (labels, healthcheck, env, entrypoint) is lost.
    let mut body: ContainerCreateBody = serde_json::to_value(&config)
        .and_then(serde_json::from_value)
        .map_err(|e| StepError::failed(format!("reading the config of {}: {e}", container.name)))?;
    // Inspect shows the old image's defaults merged in (command, entrypoint, env...). Where
    // the container only had the default, drop it, so the new image brings its own, as
    // `compose up` does with a new image.
    if let Some(image) = config.image.as_deref()
        && let Ok(inspected_image) = docker.inspect_image(image).await
        && let Some(defaults) = inspected_image.config
    {
        if body.cmd == defaults.cmd {
            body.cmd = None;
        }
        if body.entrypoint == defaults.entrypoint {
            body.entrypoint = None;
        }
        if body.working_dir == defaults.working_dir {
            body.working_dir = None;
        }
        if body.user == defaults.user {
            body.user = None;
        }
        if let (Some(env), Some(default_env)) = (&body.env, &defaults.env) {
            let own: Vec<String> = env
                .iter()
                .filter(|e| !default_env.contains(e))
                .cloned()
                .collect();
            body.env = Some(own);
        }
    }
    // The engine names a container's host after its id: let the new one get its own.
    if body
        .hostname
        .as_deref()
        .is_some_and(|h| container.id.starts_with(h))
    {
        body.hostname = None;
    }
    body.host_config = inspected.host_config.clone();
    let networks = inspected
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    let endpoints: HashMap<String, EndpointSettings> = networks
        .into_iter()
        .map(|(name, settings)| {
            let kept = EndpointSettings {
                aliases: settings.aliases,
                ..Default::default()
            };
            (name, kept)
        })
        .collect();
    body.networking_config = Some(NetworkingConfig {
        endpoints_config: Some(endpoints),
    });
    Ok(Blueprint {
        image: config.image.unwrap_or_default(),
        image_id: inspected.image.unwrap_or_default(),
        body,
    })
}

/// Env changes by name: a value sets it, `None` removes it.
type EnvChanges = BTreeMap<String, Option<String>>;

/// `KEY=VALUE` pairs with `changes` applied.
fn merged_env(current: Option<Vec<String>>, changes: &EnvChanges) -> Vec<String> {
    let mut env: Vec<String> = current
        .unwrap_or_default()
        .into_iter()
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !changes.contains_key(key)
        })
        .collect();
    env.extend(
        changes
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))),
    );
    env
}

/// What the changed names were before: `name -> value` (`null`: it was not set).
fn old_values(
    current: Option<&Vec<String>>,
    changes: &BTreeMap<String, Option<String>>,
) -> serde_json::Value {
    let current: BTreeMap<&str, &str> = current
        .into_iter()
        .flatten()
        .filter_map(|pair| pair.split_once('='))
        .collect();
    changes
        .keys()
        .map(|k| {
            (
                k.clone(),
                current
                    .get(k.as_str())
                    .map_or(serde_json::Value::Null, |v| (*v).into()),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

impl Recreate {
    /// The new image, and the env changes: a value sets, `None` removes.
    fn plan(&self, ctx: &StepContext) -> Result<(Option<String>, EnvChanges), StepError> {
        let image = self.image.as_ref().map(|i| ctx.render(i)).transpose()?;
        let mut env = BTreeMap::new();
        if let Some(restore) = &self.restore_env {
            let old: EnvChanges =
                serde_json::from_value(ctx.render_json(&restore.0)?).map_err(|_| {
                    StepError::failed(
                        "`restore_env` must render to the `old_env` output of a docker.recreate (a mapping of names to values or null)",
                    )
                })?;
            env.extend(old);
        }
        for (k, v) in &self.env {
            env.insert(k.clone(), Some(ctx.render(v)?));
        }
        for name in &self.unset_env {
            env.insert(ctx.render(name)?, None);
        }
        Ok((image, env))
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let (image, env) = self.plan(ctx)?;
        let within = match &self.healthy_within {
            Some(w) => ctx.resolve(w)?.0,
            None => DEFAULT_HEALTHY_WITHIN,
        };
        let mut old_images = Vec::new();
        let mut new_images = Vec::new();
        let mut new_ids = Vec::new();
        let mut old_env = serde_json::Value::Null;
        for container in &containers {
            let mut blueprint = blueprint(&docker, container).await?;
            if old_env.is_null() {
                old_env = old_values(blueprint.body.env.as_ref(), &env);
            }
            let new_image = image.clone().unwrap_or_else(|| blueprint.image.clone());
            blueprint.body.image = Some(new_image.clone());
            if !env.is_empty() {
                blueprint.body.env = Some(merged_env(blueprint.body.env.take(), &env));
            }
            let id = replace(&docker, container, blueprint.body, within).await?;
            old_images.push(blueprint.image);
            new_images.push(new_image);
            new_ids.push(id);
        }
        Ok(outputs(serde_json::json!({
            "old_image": old_images.first(),
            "new_image": new_images.first(),
            "container_ids": new_ids,
            "old_env": old_env,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let (image, env) = self.plan(ctx)?;
        let mut change = Vec::new();
        if let Some(image) = image {
            change.push(format!("image {image}"));
        }
        let set: Vec<&str> = env
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.as_str())
            .collect();
        let unset: Vec<&str> = env
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        if !set.is_empty() {
            change.push(format!("env {}", set.join(", ")));
        }
        if !unset.is_empty() {
            change.push(format!("without env {}", unset.join(", ")));
        }
        Ok(format!(
            "would recreate {} with {} (the old containers are kept until the new ones are healthy)",
            describe_all(&containers),
            if change.is_empty() {
                "the same config".to_string()
            } else {
                change.join(" and ")
            }
        ))
    }
}

/// Replaces one container; on any failure puts the old one back. Returns the new id.
async fn replace(
    docker: &Docker,
    old: &Container,
    body: ContainerCreateBody,
    within: StdDuration,
) -> Result<String, StepError> {
    let fail = |what: &str, e: bollard::errors::Error| {
        StepError::failed(format!("{what} {}: {e}", old.name))
    };
    let was_running = old.is_running();
    let parked = format!(
        "{}-runbook-old-{}",
        old.name,
        &old.id[..12.min(old.id.len())]
    );
    docker
        .stop_container(&old.id, None::<StopContainerOptions>)
        .await
        .map_err(|e| fail("stopping", e))?;
    docker
        .rename_container(&old.id, RenameContainerOptions { name: parked })
        .await
        .map_err(|e| fail("renaming", e))?;

    let mut new_id: Option<String> = None;
    let outcome: Result<String, StepError> = async {
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(old.name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| fail("creating the new", e))?;
        new_id = Some(created.id.clone());
        docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(|e| fail("starting the new", e))?;
        let new = engine::inspect(docker, &created.id).await?;
        let target = Target::Healthy {
            running_is_enough: new.health == "none",
        };
        let deadline = tokio::time::Instant::now() + within;
        engine::wait_for(
            docker,
            std::slice::from_ref(&created.id),
            target,
            POLL,
            Some(deadline),
        )
        .await?;
        Ok(created.id)
    }
    .await;
    match outcome {
        Ok(new_id) => {
            docker
                .remove_container(&old.id, None::<RemoveContainerOptions>)
                .await
                .map_err(|e| fail("removing the old container", e))?;
            Ok(new_id)
        }
        Err(error) => {
            let restored = restore(docker, old, new_id.as_deref(), was_running, within).await;
            Err(StepError::failed(match restored {
                Ok(state) => format!(
                    "the new {} did not become healthy: {error}; the old container is back ({state})",
                    old.name
                ),
                Err(restore_error) => format!(
                    "the new {} did not become healthy: {error}; putting the old container back failed too: {restore_error}",
                    old.name
                ),
            }))
        }
    }
}

/// Removes the failed new container and puts the old one back under its name.
async fn restore(
    docker: &Docker,
    old: &Container,
    new_id: Option<&str>,
    was_running: bool,
    within: StdDuration,
) -> Result<String, StepError> {
    let fail = |what: &str, e: bollard::errors::Error| StepError::failed(format!("{what}: {e}"));
    if let Some(new_id) = new_id {
        docker
            .remove_container(
                new_id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| fail("removing the new container", e))?;
    }
    docker
        .rename_container(
            &old.id,
            RenameContainerOptions {
                name: old.name.clone(),
            },
        )
        .await
        .map_err(|e| fail("renaming the old container back", e))?;
    if !was_running {
        return Ok("stopped, as it was".into());
    }
    docker
        .start_container(&old.id, None::<StartContainerOptions>)
        .await
        .map_err(|e| fail("starting the old container", e))?;
    let target = Target::Healthy {
        running_is_enough: old.health == "none",
    };
    let deadline = tokio::time::Instant::now() + within;
    let back = engine::wait_for(
        docker,
        std::slice::from_ref(&old.id),
        target,
        POLL,
        Some(deadline),
    )
    .await?;
    Ok(describe_all(&back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_changes_replace_keys_and_keep_the_rest() {
        let changes = BTreeMap::from([
            ("VERSION".to_string(), Some("2".to_string())),
            ("DEBUG".to_string(), None),
            ("NEW".to_string(), Some("x".to_string())),
        ]);
        let current = vec!["PATH=/bin".into(), "VERSION=1".into(), "DEBUG=1".into()];
        let env = merged_env(Some(current.clone()), &changes);
        assert_eq!(env, ["PATH=/bin", "NEW=x", "VERSION=2"]);
        let old = old_values(Some(&current), &changes);
        assert_eq!(
            old,
            serde_json::json!({ "DEBUG": "1", "NEW": null, "VERSION": "1" })
        );
    }
}
