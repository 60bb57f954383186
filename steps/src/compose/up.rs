//! `compose.up`: the seeds' `docker-compose up -d [--build] [services]`.
//!
//! Before the tool runs, every container of the project is copied (stopped, never started);
//! afterwards the copies of containers the tool left alone are dropped, and the others are the
//! step's `previous` output, for `compose.restore`. If the tool fails or a new container never
//! becomes healthy, the step puts the previous containers back itself before it fails: a
//! failed step is not rolled back by the engine, so it must not leave a half-done change.

use std::collections::BTreeSet;

use super::Up;
use super::previous;
use super::state::{Open, forecast};
use crate::prelude::*;

impl Up {
    fn up_args(&self, services: &[String]) -> Vec<String> {
        let mut args = vec!["up".to_string(), "-d".to_string(), "--no-color".to_string()];
        let flags = [
            (self.build, "--build"),
            (self.force_recreate, "--force-recreate"),
            (self.no_deps, "--no-deps"),
            (self.remove_orphans, "--remove-orphans"),
        ];
        args.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| f.to_string()),
        );
        args.extend(services.iter().cloned());
        args
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let open = self.open(ctx).await?;
        let services = ctx.render_list(&self.services)?;
        let within = previous::healthy_within(ctx, self.healthy_within.as_ref())?;
        let before = open.members().await?;
        let mut kept = Vec::with_capacity(before.len());
        for member in &before {
            let copy = previous::keep(&open.docker, &open.project.name, member).await?;
            kept.push((member, copy));
        }
        let before_services: BTreeSet<&str> = before.iter().map(|m| m.service()).collect();

        let outcome = async {
            open.tool
                .run_ok(ctx, &open.project, &self.up_args(&services))
                .await?;
            let after = open.members().await?;
            let new_ids: Vec<String> = after
                .iter()
                .filter(|m| !before.iter().any(|b| b.container.id == m.container.id))
                .map(|m| m.container.id.clone())
                .collect();
            previous::wait_healthy(&open.docker, &new_ids, within, ctx.deadline()).await?;
            Ok::<_, StepError>(after)
        }
        .await;
        let after = match outcome {
            Ok(after) => after,
            Err(error) => return Err(self.undo(ctx, &open, &kept, &before_services, error).await),
        };

        let mut previous_copies = Vec::new();
        let mut removed = Vec::new();
        let mut recreated = BTreeSet::new();
        let mut unchanged = BTreeSet::new();
        for (member, copy) in &kept {
            if after.iter().any(|a| a.container.id == member.container.id) {
                previous::discard(&open.docker, copy).await?;
                unchanged.insert(member.service().to_string());
                continue;
            }
            previous_copies.push(copy.clone());
            if after.iter().any(|a| a.service() == member.service()) {
                recreated.insert(member.service().to_string());
            } else {
                removed.push(member.container.name.clone());
            }
        }
        let unchanged: Vec<&String> = unchanged.difference(&recreated).collect();
        let created: BTreeSet<&str> = after
            .iter()
            .map(|m| m.service())
            .filter(|s| !before_services.contains(s))
            .collect();
        let containers: Vec<serde_json::Value> =
            after.iter().map(|m| m.container.to_json()).collect();
        Ok(outputs(serde_json::json!({
            "created": created,
            "recreated": recreated,
            "unchanged": unchanged,
            "removed": removed,
            "previous": previous_copies,
            "containers": containers,
            "tool": open.tool.describe(),
        })))
    }

    /// The tool failed, or a new container is not healthy: everything goes back as it was.
    async fn undo(
        &self,
        ctx: &StepContext,
        open: &Open,
        kept: &[(&super::state::Member, String)],
        before_services: &BTreeSet<&str>,
        error: StepError,
    ) -> StepError {
        let now = match open.members().await {
            Ok(now) => now,
            Err(e) => {
                return StepError::failed(format!(
                    "{error}; reading the project to put it back failed too: {e}"
                ));
            }
        };
        let copies: Vec<String> = kept
            .iter()
            .filter(|(m, _)| !now.iter().any(|n| n.container.id == m.container.id))
            .map(|(_, copy)| copy.clone())
            .collect();
        for (member, copy) in kept {
            if now.iter().any(|n| n.container.id == member.container.id) {
                let _ = previous::discard(&open.docker, copy).await;
            }
        }
        let created: Vec<String> = now
            .iter()
            .map(|m| m.service().to_string())
            .filter(|s| !before_services.contains(s.as_str()))
            .collect();
        let within = previous::DEFAULT_HEALTHY_WITHIN;
        match super::restore::put_all_back(open, &copies, &created, within, None).await {
            Ok(back) => StepError::failed(format!(
                "{}; the project is back as it was ({back})",
                ctx.redact(&error.message)
            )),
            Err(e) => StepError::failed(format!(
                "{}; putting the previous containers back failed too: {e} (the copies are {})",
                ctx.redact(&error.message),
                copies.join(", ")
            )),
        }
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let open = self.open(ctx).await?;
        let services = ctx.render_list(&self.services)?;
        let declared = open.declared(ctx, &services).await?;
        let members = open.members().await?;
        let f = forecast(&declared, &members, self.force_recreate, &services);
        let mut parts = Vec::new();
        if self.build {
            parts.push("build images first (a new build changes the hashes below)".to_string());
        }
        let mut say = |verb: &str, list: &[String]| {
            if !list.is_empty() {
                parts.push(format!("{verb} {}", list.join(", ")));
            }
        };
        say("create", &f.create);
        say("recreate (config or image changed)", &f.recreate);
        say("start", &f.start);
        if !f.orphans.is_empty() {
            parts.push(if self.remove_orphans {
                format!("remove orphans {}", f.orphans.join(", "))
            } else {
                format!("leave orphans {} (not in the files)", f.orphans.join(", "))
            });
        }
        if !f.unchanged.is_empty() {
            parts.push(format!("leave {} as they are", f.unchanged.join(", ")));
        }
        if parts.is_empty() {
            parts.push("find no service in the files".into());
        }
        Ok(format!(
            "would {} in project `{}` ({}; the containers replaced are kept for compose.restore)",
            parts.join("; "),
            open.project.name,
            open.tool.describe()
        ))
    }
}
