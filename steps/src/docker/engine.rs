//! The Docker engine as the docker verbs see it: a connection with a negotiated API version,
//! containers selected the way compose names them, and their state in a few words.

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::prelude::*;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
const NUMBER_LABEL: &str = "com.docker.compose.container-number";

/// Connects to `engine` (else `DOCKER_HOST`, else the local socket) and agrees on an API
/// version the engine speaks, so older engines (API 1.41 here) work.
pub async fn connect(ctx: &StepContext, engine: Option<&Template>) -> Result<Docker, StepError> {
    let host = engine_address(ctx, engine).await?;
    let docker = Docker::connect_with_host(&host)
        .map_err(|e| StepError::failed(format!("Docker engine `{host}`: {e}")))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| StepError::failed(format!("cannot reach the Docker engine at `{host}`: {e}")))
}

/// The engine a step talks to: `engine:`, else on a step's `host:` that host's engine (its
/// socket forwarded over the SSH connection), else `DOCKER_HOST`, else the local socket.
pub async fn engine_address(
    ctx: &StepContext,
    engine: Option<&Template>,
) -> Result<String, StepError> {
    if let Some(engine) = engine {
        return ctx.render(engine);
    }
    if let Some(transport) = ctx.transport()? {
        let socket = transport.forward(transport.docker_socket()).await?;
        return Ok(format!("unix://{socket}"));
    }
    Ok(std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into()))
}

/// Which containers a step acts on, with every template rendered.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub project: Option<String>,
    pub services: Vec<String>,
    pub containers: Vec<String>,
    pub labels: Vec<String>,
    pub allow_empty: bool,
}

impl Selection {
    /// An empty name (an input that rendered to nothing) selects nothing for a reason the
    /// "no container matches" message would hide: say which one, and why.
    pub fn check_names(&self) -> Result<(), StepError> {
        let empty = [
            ("project", self.project.iter().collect::<Vec<_>>()),
            ("services", self.services.iter().collect()),
            ("containers", self.containers.iter().collect()),
            ("labels", self.labels.iter().collect()),
        ]
        .into_iter()
        .find(|(_, names)| names.iter().any(|n| n.trim().is_empty()));
        match empty {
            Some((what, _)) => Err(StepError::failed(format!(
                "an empty name in `{what}` (a template that rendered to nothing?); give the input or variable it reads a value"
            ))),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(project) = &self.project {
            parts.push(format!("project `{project}`"));
        }
        if !self.services.is_empty() {
            parts.push(format!("services {}", self.services.join(", ")));
        }
        if !self.containers.is_empty() {
            parts.push(format!("containers {}", self.containers.join(", ")));
        }
        if !self.labels.is_empty() {
            parts.push(format!("labels {}", self.labels.join(", ")));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One selected container, as much as the verbs need to know.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub service: Option<String>,
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `none` without a healthcheck.
    pub health: String,
    pub image: String,
    pub restarts: i64,
    pub started_at: String,
    /// The exit code of its last run (0 while it runs).
    pub exit_code: i64,
    /// The kernel killed it for memory (its limit, or the host's).
    pub oom_killed: bool,
}

impl Container {
    pub fn from_inspect(inspect: &ContainerInspectResponse) -> Self {
        let state = inspect.state.as_ref();
        let labels = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let health = state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .map_or("none", |status| match status {
                HealthStatusEnum::HEALTHY => "healthy",
                HealthStatusEnum::UNHEALTHY => "unhealthy",
                HealthStatusEnum::STARTING => "starting",
                HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => "none",
            });
        Self {
            id: inspect.id.clone().unwrap_or_default(),
            name: inspect
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            service: labels.get(SERVICE_LABEL).cloned(),
            state: state
                .and_then(|s| s.status)
                .map_or("unknown", status_name)
                .to_string(),
            health: health.to_string(),
            image: inspect
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default(),
            restarts: inspect.restart_count.unwrap_or(0),
            started_at: state.and_then(|s| s.started_at.clone()).unwrap_or_default(),
            exit_code: state.and_then(|s| s.exit_code).unwrap_or(0),
            oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
        }
    }

    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// `goodgo-api (running, healthy)`, `goodgo-worker (exited 137, OOM-killed)`
    pub fn describe(&self) -> String {
        let mut facts = vec![self.state.clone()];
        if matches!(self.state.as_str(), "exited" | "dead") && self.exit_code != 0 {
            facts[0] = format!("{} {}", self.state, self.exit_code);
        }
        if self.health != "none" {
            facts.push(self.health.clone());
        }
        if self.oom_killed {
            facts.push("OOM-killed".into());
        }
        format!("{} ({})", self.name, facts.join(", "))
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "service": self.service,
            "state": self.state,
            "health": self.health,
            "image": self.image,
            "restarts": self.restarts,
            "started_at": self.started_at,
            "exit_code": self.exit_code,
            "oom_killed": self.oom_killed,
        })
    }
}

fn status_name(status: ContainerStateStatusEnum) -> &'static str {
    match status {
        ContainerStateStatusEnum::CREATED => "created",
        ContainerStateStatusEnum::RUNNING => "running",
        ContainerStateStatusEnum::PAUSED => "paused",
        ContainerStateStatusEnum::RESTARTING => "restarting",
        ContainerStateStatusEnum::REMOVING => "removing",
        ContainerStateStatusEnum::EXITED => "exited",
        ContainerStateStatusEnum::DEAD => "dead",
        ContainerStateStatusEnum::STOPPING => "stopping",
        ContainerStateStatusEnum::EMPTY => "unknown",
    }
}

pub async fn inspect(docker: &Docker, id: &str) -> Result<Container, StepError> {
    let inspected = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| StepError::failed(format!("inspecting `{id}`: {e}")))?;
    Ok(Container::from_inspect(&inspected))
}

/// The selected containers, in the order of `services` (then replica number), else by name.
pub async fn select(docker: &Docker, selection: &Selection) -> Result<Vec<Container>, StepError> {
    let mut label_filters: Vec<String> = selection.labels.clone();
    if let Some(project) = &selection.project {
        label_filters.push(format!("{PROJECT_LABEL}={project}"));
    }
    let summaries = list_labelled(docker, label_filters).await?;

    let mut picked: Vec<(usize, i64, String, String)> = Vec::new();
    for summary in summaries {
        let labels = summary.labels.clone().unwrap_or_default();
        let names: Vec<String> = summary
            .names
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        let name = names.first().cloned().unwrap_or_default();
        if !selection.containers.is_empty()
            && !names.iter().any(|n| selection.containers.contains(n))
        {
            continue;
        }
        let rank = match labels.get(SERVICE_LABEL) {
            _ if selection.services.is_empty() => 0,
            Some(service) => match selection.services.iter().position(|s| s == service) {
                Some(position) => position,
                None => continue,
            },
            None => continue,
        };
        let rank = if selection.containers.is_empty() {
            rank
        } else {
            selection
                .containers
                .iter()
                .position(|c| *c == name)
                .unwrap_or(rank)
        };
        let number = labels
            .get(NUMBER_LABEL)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        picked.push((rank, number, name, summary.id.unwrap_or_default()));
    }
    picked.sort();
    if picked.is_empty() && !selection.allow_empty {
        return Err(StepError::failed(format!(
            "no container matches {selection}; `docker ps -a` lists what exists (set `allow_empty: true` if none is fine)"
        )));
    }
    let mut containers = Vec::with_capacity(picked.len());
    for (_, _, _, id) in picked {
        containers.push(inspect(docker, &id).await?);
    }
    Ok(containers)
}

/// Every container (running or not) that has all these labels (`key=value` or `key`).
pub async fn list_labelled(
    docker: &Docker,
    labels: Vec<String>,
) -> Result<Vec<bollard::models::ContainerSummary>, StepError> {
    let mut filters = HashMap::new();
    if !labels.is_empty() {
        filters.insert("label".to_string(), labels);
    }
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| StepError::failed(format!("listing containers: {e}")))
}

/// The first name of a listed container, without the engine's leading `/`.
pub fn summary_name(summary: &bollard::models::ContainerSummary) -> String {
    summary
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// `goodgo-api (running, healthy), goodgo-web (exited)`
pub fn describe_all<'a>(containers: impl IntoIterator<Item = &'a Container>) -> String {
    let described: Vec<String> = containers.into_iter().map(Container::describe).collect();
    if described.is_empty() {
        return "no container".to_string();
    }
    described.join(", ")
}

pub fn names(containers: &[Container]) -> serde_json::Value {
    serde_json::json!(
        containers
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    )
}

/// Seconds for the engine's `t` parameter.
pub fn seconds(duration: Option<Duration>) -> Option<i32> {
    duration.map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
}

/// What `docker.wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Healthy { running_is_enough: bool },
    Running,
    Exited,
}

impl Target {
    /// `Ok(true)` reached, `Ok(false)` not yet, `Err` never will be (no healthcheck, exited).
    pub fn reached(self, container: &Container) -> Result<bool, String> {
        match self {
            Self::Running => Ok(container.is_running()),
            Self::Exited => Ok(matches!(container.state.as_str(), "exited" | "dead")),
            Self::Healthy { running_is_enough } => {
                if matches!(container.state.as_str(), "exited" | "dead") {
                    return Err(format!(
                        "{} is {} and will not become healthy",
                        container.name, container.state
                    ));
                }
                match container.health.as_str() {
                    "healthy" => Ok(true),
                    "none" if running_is_enough => Ok(container.is_running()),
                    "none" => Err(format!(
                        "{} has no healthcheck, so it never reports healthy; wait `until: running`, or set `without_healthcheck: running`",
                        container.name
                    )),
                    _ => Ok(false),
                }
            }
        }
    }
}

/// Polls the containers (by id) until all reach `target`, or the deadline is about to pass.
pub async fn wait_for(
    docker: &Docker,
    ids: &[String],
    target: Target,
    interval: Duration,
    deadline: Option<tokio::time::Instant>,
) -> Result<Vec<Container>, StepError> {
    let mut last_seen: Option<String> = None;
    loop {
        let started = tokio::time::Instant::now();
        let round = async {
            let mut containers = Vec::with_capacity(ids.len());
            for id in ids {
                containers.push(inspect(docker, id).await?);
            }
            Ok::<_, StepError>(containers)
        };
        let Some(containers) = crate::poll_within(deadline, round).await else {
            return Err(StepError::failed(match last_seen {
                Some(seen) => format!("still waiting for {seen}"),
                None => "the Docker engine did not answer before the deadline".into(),
            }));
        };
        let containers = containers?;
        let mut pending = Vec::new();
        for container in &containers {
            match target.reached(container) {
                Ok(true) => {}
                Ok(false) => pending.push(container.describe()),
                Err(never) => return Err(StepError::failed(never)),
            }
        }
        if pending.is_empty() {
            return Ok(containers);
        }
        let seen = pending.join(", ");
        if !crate::time_for_another_poll(deadline, interval, started.elapsed()) {
            return Err(StepError::failed(format!("still waiting for {seen}")));
        }
        last_seen = Some(seen);
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    #[test]
    fn an_empty_name_is_named_as_the_problem() {
        let selection = Selection {
            project: Some("goodgo-demo".into()),
            services: vec!["api".into(), String::new()],
            ..Selection::default()
        };
        let error = selection.check_names().unwrap_err().message;
        assert!(error.starts_with("an empty name in `services`"), "{error}");
        let fine = Selection {
            services: vec!["api".into()],
            ..selection
        };
        assert!(fine.check_names().is_ok());
    }
}
