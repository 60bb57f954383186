//! `docker.rolling_restart`: replicas or services restarted one batch at a time, each batch
//! healthy (and soaked) before the next starts, so at most `batch_size` are ever down.

use bollard::query_parameters::RestartContainerOptions;
use std::time::Duration as StdDuration;

use super::RollingRestart;
use super::engine::{self, Target, describe_all, names};
use crate::prelude::*;

const DEFAULT_HEALTHY_WITHIN: StdDuration = StdDuration::from_secs(60);
const POLL: StdDuration = StdDuration::from_millis(250);

impl RollingRestart {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let size = usize::try_from(ctx.resolve(&self.batch_size)?.max(1)).unwrap_or(1);
        let soak = self.soak.as_ref().map(|s| ctx.resolve(s)).transpose()?;
        let within = match &self.healthy_within {
            Some(w) => ctx.resolve(w)?.0,
            None => DEFAULT_HEALTHY_WITHIN,
        };
        let batches: Vec<_> = containers.chunks(size).collect();
        let mut restarted = Vec::new();
        for (n, batch) in batches.iter().enumerate() {
            for container in batch.iter() {
                docker
                    .restart_container(&container.id, None::<RestartContainerOptions>)
                    .await
                    .map_err(|e| {
                        StepError::failed(format!("restarting {}: {e}", container.name))
                    })?;
            }
            let ids: Vec<String> = batch.iter().map(|c| c.id.clone()).collect();
            // A container without a healthcheck counts as back when it runs.
            let target = Target::Healthy {
                running_is_enough: true,
            };
            let deadline = tokio::time::Instant::now() + within;
            if let Err(error) = engine::wait_for(&docker, &ids, target, POLL, Some(deadline)).await
            {
                let left: Vec<&engine::Container> =
                    batches[n + 1..].iter().flat_map(|b| b.iter()).collect();
                return Err(StepError::failed(format!(
                    "batch {} of {} did not come back healthy within {}: {error}; stopped there, {} left as they were",
                    n + 1,
                    batches.len(),
                    Duration(within),
                    if left.is_empty() {
                        "nothing".to_string()
                    } else {
                        describe_all(left.iter().copied())
                    }
                )));
            }
            restarted.extend(batch.iter().cloned());
            if let Some(soak) = soak
                && n + 1 < batches.len()
            {
                tokio::time::sleep(soak.0).await;
            }
        }
        Ok(outputs(serde_json::json!({
            "restarted": names(&restarted),
            "batches": batches.len(),
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        let size = usize::try_from(ctx.resolve(&self.batch_size)?.max(1)).unwrap_or(1);
        let batches: Vec<String> = containers.chunks(size).map(describe_all).collect();
        Ok(format!(
            "would restart in {} batch(es), each healthy before the next: {}",
            batches.len(),
            batches.join(" | ")
        ))
    }
}
