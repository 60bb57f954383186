//! `compose.restore`: the rollback of `compose.up`. The containers of each service that `up`
//! replaced are removed and the kept copies made into the containers again (same name,
//! labels, image id and config), started if they ran, and waited for; services `up` created
//! are removed. It talks to the engine only: the tool is not needed to go back.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use super::Restore;
use super::previous;
use super::state::Open;
use crate::docker::engine::describe_all;
use crate::prelude::*;

/// Puts `copies` back and removes the containers of the `created` services. Returns the
/// state of what was put back, in words.
pub(super) async fn put_all_back(
    open: &Open,
    copies: &[String],
    created: &[String],
    within: StdDuration,
    deadline: Option<tokio::time::Instant>,
) -> Result<String, StepError> {
    let docker = &open.docker;
    let project = &open.project.name;
    let mut read = Vec::with_capacity(copies.len());
    for copy in copies {
        let copy = previous::read(docker, copy).await?;
        if copy.project != *project {
            return Err(StepError::failed(format!(
                "{} is a copy of project `{}`, not `{project}`",
                copy.name, copy.project
            )));
        }
        read.push(copy);
    }
    let services: BTreeSet<&str> = read.iter().map(|c| c.service.as_str()).collect();
    let mut removed = Vec::new();
    for service in services
        .iter()
        .copied()
        .chain(created.iter().map(String::as_str))
    {
        removed.extend(previous::remove_service(docker, project, service).await?);
    }
    let mut started = Vec::new();
    for copy in &read {
        let id = previous::put_back(docker, copy).await?;
        if copy.was_running {
            started.push(id);
        }
    }
    let back = previous::wait_healthy(docker, &started, within, deadline).await?;
    let mut said = Vec::new();
    if !read.is_empty() {
        said.push(format!(
            "put back {}",
            read.iter()
                .map(|c| format!("{} ({})", c.of, c.image))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !back.is_empty() {
        said.push(describe_all(&back));
    }
    if !created.is_empty() {
        said.push(format!("removed the new services {}", created.join(", ")));
    }
    if said.is_empty() {
        said.push("nothing had changed".into());
    }
    Ok(said.join("; "))
}

impl Restore {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let open = self.open(ctx).await?;
        let copies = ctx.render_list(&self.previous)?;
        let created = ctx.render_list(&self.created)?;
        let before = open.members().await?;
        put_all_back(
            &open,
            &copies,
            &created,
            previous::healthy_within(ctx, self.healthy_within.as_ref())?,
            ctx.deadline(),
        )
        .await?;
        let restored: Vec<&str> = copies
            .iter()
            .map(|c| c.trim_end_matches("-previous"))
            .collect();
        let removed: Vec<&String> = before
            .iter()
            .filter(|m| created.iter().any(|s| s == m.service()))
            .map(|m| &m.container.name)
            .collect();
        Ok(outputs(serde_json::json!({
            "restored": restored,
            "removed": removed,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let open = self.open(ctx).await?;
        let copies = ctx.render_list(&self.previous)?;
        let created = ctx.render_list(&self.created)?;
        let mut parts = Vec::new();
        for copy in &copies {
            let copy = previous::read(&open.docker, copy).await?;
            parts.push(format!(
                "put back {} ({}, {})",
                copy.of,
                copy.image,
                if copy.was_running {
                    "started"
                } else {
                    "stopped, as it was"
                }
            ));
        }
        if !created.is_empty() {
            parts.push(format!("remove the services {}", created.join(", ")));
        }
        if parts.is_empty() {
            return Ok("would change nothing: compose.up replaced and created nothing".into());
        }
        Ok(format!("would {}", parts.join("; ")))
    }
}
