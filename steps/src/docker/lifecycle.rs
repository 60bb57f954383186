//! `docker.stop`, `start`, `restart`, `kill`, `remove`: one engine call per container, in
//! selection order. Each acts only where it changes something (stopping a stopped container
//! is a no-op), so a `start` compensation of a `stop` puts back exactly what was running.

use bollard::query_parameters::{
    KillContainerOptions, RemoveContainerOptions, RestartContainerOptions, StartContainerOptions,
    StopContainerOptions,
};

use super::engine::{Container, describe_all, names, seconds};
use super::{Kill, Remove, Restart, Start, Stop};
use crate::prelude::*;

fn engine_error(action: &str, container: &Container, error: bollard::errors::Error) -> StepError {
    StepError::failed(format!("{action} {}: {error}", container.name))
}

fn would(verb: &str, containers: &[&Container], rest: &[&Container], rest_note: &str) -> String {
    let mut text = if containers.is_empty() {
        format!("would {verb} nothing")
    } else {
        format!("would {verb} {}", describe_all(containers.iter().copied()))
    };
    if !rest.is_empty() {
        text.push_str(&format!(
            "; {} {rest_note}",
            describe_all(rest.iter().copied())
        ));
    }
    text
}

/// Check mode: the containers as earlier previews left them (a previewed stop made them
/// exited), so that a preview follows the previews before it instead of live state.
fn as_previewed(ctx: &StepContext, mut containers: Vec<Container>) -> Vec<Container> {
    for container in &mut containers {
        if let Some(serde_json::Value::String(state)) = ctx.simulated(&state_key(container)) {
            container.state = state;
            container.health = "as previewed".into();
        }
    }
    containers
}

/// Check mode: the state these containers would be in after this preview.
fn previewed(ctx: &StepContext, containers: &[&Container], state: &str) {
    for container in containers {
        ctx.simulate(state_key(container), state.into());
    }
}

fn state_key(container: &Container) -> String {
    format!("docker/{}/state", container.id)
}

/// `changed`: whether the verb acted on any container (a start of running containers did not).
fn acted(key: &str, containers: &[Container]) -> Outputs {
    outputs(serde_json::json!({ key: names(containers), "changed": !containers.is_empty() }))
}

impl Stop {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let grace = self.grace.as_ref().map(|g| ctx.resolve(g)).transpose()?;
        let mut stopped = Vec::new();
        for container in containers.iter().filter(|c| c.is_running()) {
            docker
                .stop_container(
                    &container.id,
                    Some(StopContainerOptions {
                        t: seconds(grace.map(|g| g.0)),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| engine_error("stopping", container, e))?;
            stopped.push(container.clone());
        }
        Ok(acted("stopped", &stopped))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let containers = as_previewed(ctx, containers);
        let (acted, rest): (Vec<&Container>, Vec<&Container>) =
            containers.iter().partition(|c| c.is_running());
        let text = would("stop", &acted, &rest, "already stopped");
        previewed(ctx, &acted, "exited");
        Ok(text)
    }
}

impl Start {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let mut started = Vec::new();
        for container in containers.iter().filter(|c| !c.is_running()) {
            docker
                .start_container(&container.id, None::<StartContainerOptions>)
                .await
                .map_err(|e| engine_error("starting", container, e))?;
            started.push(container.clone());
        }
        Ok(acted("started", &started))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let containers = as_previewed(ctx, containers);
        let (rest, acted): (Vec<&Container>, Vec<&Container>) =
            containers.iter().partition(|c| c.is_running());
        let text = would("start", &acted, &rest, "already running");
        previewed(ctx, &acted, "running");
        Ok(text)
    }
}

impl Restart {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let grace = self.grace.as_ref().map(|g| ctx.resolve(g)).transpose()?;
        for container in &containers {
            docker
                .restart_container(
                    &container.id,
                    Some(RestartContainerOptions {
                        t: seconds(grace.map(|g| g.0)),
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| engine_error("restarting", container, e))?;
        }
        Ok(outputs(
            serde_json::json!({ "restarted": names(&containers) }),
        ))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        Ok(would(
            "restart",
            &containers.iter().collect::<Vec<_>>(),
            &[],
            "",
        ))
    }
}

impl Kill {
    fn signal(&self) -> String {
        self.signal.clone().unwrap_or_else(|| "SIGKILL".into())
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let mut killed = Vec::new();
        for container in containers.iter().filter(|c| c.is_running()) {
            docker
                .kill_container(
                    &container.id,
                    Some(KillContainerOptions {
                        signal: self.signal(),
                    }),
                )
                .await
                .map_err(|e| engine_error("signalling", container, e))?;
            killed.push(container.clone());
        }
        Ok(acted("killed", &killed))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let containers = as_previewed(ctx, containers);
        let (acted, rest): (Vec<&Container>, Vec<&Container>) =
            containers.iter().partition(|c| c.is_running());
        Ok(would(
            &format!("send {} to", self.signal()),
            &acted,
            &rest,
            "not running",
        ))
    }
}

impl Remove {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        if !self.force
            && let Some(running) = containers.iter().find(|c| c.is_running())
        {
            return Err(StepError::failed(format!(
                "{} is running; stop it first or set `force: true`",
                running.name
            )));
        }
        for container in &containers {
            docker
                .remove_container(
                    &container.id,
                    Some(RemoveContainerOptions {
                        force: self.force,
                        v: self.volumes,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| engine_error("removing", container, e))?;
        }
        Ok(outputs(
            serde_json::json!({ "removed": names(&containers) }),
        ))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        Ok(would(
            "remove",
            &containers.iter().collect::<Vec<_>>(),
            &[],
            "",
        ))
    }
}
