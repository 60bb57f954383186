//! `compose.down`: the seeds' `docker-compose down [-v]`. The preview lists, from the
//! engine, every container, network and (with `volumes`) volume that would go; the copies
//! `compose.up` kept go with the project.

use bollard::query_parameters::{ListNetworksOptions, ListVolumesOptions};
use std::collections::HashMap;

use super::Down;
use super::previous;
use super::state::Open;
use crate::docker::engine::{PROJECT_LABEL, describe_all};
use crate::prelude::*;

fn project_filter(project: &str) -> Option<HashMap<String, Vec<String>>> {
    Some(HashMap::from([(
        "label".to_string(),
        vec![format!("{PROJECT_LABEL}={project}")],
    )]))
}

/// The project's networks and named volumes, by name.
async fn networks_and_volumes(open: &Open) -> Result<(Vec<String>, Vec<String>), StepError> {
    let networks = open
        .docker
        .list_networks(Some(ListNetworksOptions {
            filters: project_filter(&open.project.name),
        }))
        .await
        .map_err(|e| StepError::failed(format!("listing networks: {e}")))?
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let volumes = open
        .docker
        .list_volumes(Some(ListVolumesOptions {
            filters: project_filter(&open.project.name),
        }))
        .await
        .map_err(|e| StepError::failed(format!("listing volumes: {e}")))?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    Ok((networks, volumes))
}

impl Down {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let open = self.open(ctx).await?;
        let members = open.members().await?;
        let (_, volumes) = networks_and_volumes(&open).await?;
        let mut args = vec!["down".to_string()];
        if self.volumes {
            args.push("--volumes".into());
        }
        if self.remove_orphans {
            args.push("--remove-orphans".into());
        }
        if let Some(grace) = &self.grace {
            args.extend([
                "--timeout".into(),
                ctx.resolve(grace)?.0.as_secs().to_string(),
            ]);
        }
        open.tool.run_ok(ctx, &open.project, &args).await?;
        let mut removed: Vec<String> = members.iter().map(|m| m.container.name.clone()).collect();
        for copy in previous::of_project(&open.docker, &open.project.name).await? {
            previous::discard(&open.docker, &copy).await?;
            removed.push(copy);
        }
        let volumes_removed = if self.volumes { volumes } else { Vec::new() };
        Ok(outputs(serde_json::json!({
            "removed": removed,
            "volumes_removed": volumes_removed,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let open = self.open(ctx).await?;
        let members = open.members().await?;
        let copies = previous::of_project(&open.docker, &open.project.name).await?;
        let (networks, volumes) = networks_and_volumes(&open).await?;
        let containers: Vec<_> = members.iter().map(|m| &m.container).collect();
        let mut text = format!(
            "would stop and remove {} of project `{}`",
            describe_all(containers),
            open.project.name
        );
        if !copies.is_empty() {
            text.push_str(&format!(
                ", the kept previous containers {}",
                copies.join(", ")
            ));
        }
        if !networks.is_empty() {
            text.push_str(&format!(", networks {}", networks.join(", ")));
        }
        if self.volumes && !volumes.is_empty() {
            text.push_str(&format!(
                ", and the volumes {} with their data (cannot be undone)",
                volumes.join(", ")
            ));
        } else if !volumes.is_empty() {
            text.push_str(&format!(" (volumes {} are kept)", volumes.join(", ")));
        }
        Ok(text)
    }
}
