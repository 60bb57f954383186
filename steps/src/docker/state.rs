//! `docker.inspect`, `docker.assert`, `docker.wait`: reading state, never changing it.

use std::time::Duration as StdDuration;

use super::engine::{self, Target, names};
use super::{Assert, ContainerState, Health, Inspect, Wait, WaitFor, WithoutHealthcheck};
use crate::prelude::*;

/// Default pause between looks in `docker.wait`.
const WAIT_INTERVAL: StdDuration = StdDuration::from_millis(500);

impl Inspect {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        Ok(outputs(serde_json::json!({
            "containers": containers.iter().map(engine::Container::to_json).collect::<Vec<_>>(),
            "count": containers.len(),
            "running": containers.iter().filter(|c| c.is_running()).count(),
            "healthy": containers.iter().filter(|c| c.health == "healthy").count(),
        })))
    }
}

fn state_name(state: ContainerState) -> &'static str {
    match state {
        ContainerState::Running => "running",
        ContainerState::Exited => "exited",
        ContainerState::Paused => "paused",
        ContainerState::Restarting => "restarting",
        ContainerState::Created => "created",
    }
}

fn health_name(health: Health) -> &'static str {
    match health {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Starting => "starting",
        Health::None => "none",
    }
}

impl Assert {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let max_restarts = self
            .max_restarts
            .as_ref()
            .map(|m| ctx.resolve(m))
            .transpose()?;
        let image = self.image.as_ref().map(|i| ctx.render(i)).transpose()?;
        let mut problems = Vec::new();
        for c in &containers {
            if let Some(state) = self.state
                && c.state != state_name(state)
            {
                problems.push(format!(
                    "{} is {}, expected {}",
                    c.name,
                    c.state,
                    state_name(state)
                ));
            }
            if let Some(health) = self.health
                && c.health != health_name(health)
            {
                problems.push(format!(
                    "{} health is {}, expected {}",
                    c.name,
                    c.health,
                    health_name(health)
                ));
            }
            if let Some(max) = max_restarts
                && c.restarts > i64::from(max)
            {
                problems.push(format!(
                    "{} restarted {} times (at most {max})",
                    c.name, c.restarts
                ));
            }
            if let Some(image) = &image
                && c.image != *image
            {
                problems.push(format!("{} runs {}, expected {image}", c.name, c.image));
            }
        }
        if !problems.is_empty() {
            return Err(StepError::failed(problems.join("; ")));
        }
        Ok(outputs(
            serde_json::json!({ "containers": names(&containers) }),
        ))
    }
}

impl Wait {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let interval = match &self.interval {
            Some(i) => ctx.resolve(i)?.0,
            None => WAIT_INTERVAL,
        };
        let target = match self.until {
            WaitFor::Healthy => Target::Healthy {
                running_is_enough: matches!(self.without_healthcheck, WithoutHealthcheck::Running),
            },
            WaitFor::Running => Target::Running,
            WaitFor::Exited => Target::Exited,
        };
        let ids: Vec<String> = containers.iter().map(|c| c.id.clone()).collect();
        let reached = engine::wait_for(&docker, &ids, target, interval, ctx.deadline()).await?;
        Ok(outputs(serde_json::json!({ "waited": names(&reached) })))
    }
}
