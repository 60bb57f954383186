//! `compose.ps`: the seeds' `docker-compose ps`, read from the engine (labels, state, health)
//! and set against what the files declare, so a service whose container is gone shows as
//! `missing` instead of not showing at all.

use super::Ps;
use crate::prelude::*;

impl Ps {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let open = self.open(ctx).await?;
        let only = ctx.render_list(&self.services)?;
        let declared = open.declared(ctx, &only).await?;
        let members = open.members().await?;
        let mut services = serde_json::Map::new();
        let mut missing = Vec::new();
        let mut unhealthy = Vec::new();
        let mut running = 0usize;
        for service in declared.keys() {
            let own: Vec<_> = members.iter().filter(|m| m.service() == service).collect();
            if own.is_empty() {
                missing.push(service.clone());
            }
            for member in &own {
                let c = &member.container;
                if c.is_running() {
                    running += 1;
                }
                if !c.is_running() || !matches!(c.health.as_str(), "healthy" | "none") {
                    unhealthy.push(c.describe());
                }
            }
            services.insert(
                service.clone(),
                serde_json::json!({
                    "containers": own.iter().map(|m| m.container.name.clone()).collect::<Vec<_>>(),
                    "state": own.first().map_or("missing", |m| m.container.state.as_str()),
                    "health": own.first().map_or("none", |m| m.container.health.as_str()),
                    "image": own.first().map(|m| m.container.image.clone()),
                }),
            );
        }
        if self.expect_healthy && (!missing.is_empty() || !unhealthy.is_empty()) {
            let mut problems = Vec::new();
            if !missing.is_empty() {
                problems.push(format!("no container for {}", missing.join(", ")));
            }
            if !unhealthy.is_empty() {
                problems.push(format!("not running and healthy: {}", unhealthy.join(", ")));
            }
            return Err(StepError::failed(format!(
                "project `{}`: {}",
                open.project.name,
                problems.join("; ")
            )));
        }
        let containers: Vec<serde_json::Value> = members
            .iter()
            .filter(|m| declared.contains_key(m.service()))
            .map(|m| m.container.to_json())
            .collect();
        Ok(outputs(serde_json::json!({
            "services": services,
            "running": running,
            "missing": missing,
            "unhealthy": unhealthy,
            "containers": containers,
        })))
    }
}
