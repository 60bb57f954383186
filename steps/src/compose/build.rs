//! `compose.build`: the seeds' `docker-compose build [service]`, from the local build context
//! (there is no registry to pull from). The images each service's tag pointed at before are
//! reported: a tag moved by a build can be put back with `compose.restore` of the containers
//! (kept by id), and the previous image stays on the host while a kept container uses it.

use serde_json::Value;

use super::Build;
use super::state::Open;
use crate::prelude::*;

/// A service with a `build:` section and the image tag its build produces.
#[derive(Debug, PartialEq)]
struct Buildable {
    service: String,
    image: String,
    context: String,
}

/// From the resolved config (`config` output): services that build, with their tags.
fn buildable(config: &Value, project: &str, v1: bool, only: &[String]) -> Vec<Buildable> {
    let Some(services) = config.get("services").and_then(Value::as_object) else {
        return Vec::new();
    };
    services
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .filter_map(|(name, service)| {
            let build = service.get("build")?;
            let context = build
                .as_str()
                .or_else(|| build.get("context").and_then(Value::as_str))
                .unwrap_or(".")
                .to_string();
            // Compose's own default tag: `<project>_<service>` (v1), `<project>-<service>` (v2).
            let image = service.get("image").and_then(Value::as_str).map_or_else(
                || format!("{project}{}{name}", if v1 { "_" } else { "-" }),
                str::to_string,
            );
            Some(Buildable {
                service: name.clone(),
                image,
                context,
            })
        })
        .collect()
}

impl Build {
    async fn targets(&self, ctx: &StepContext, open: &Open) -> Result<Vec<Buildable>, StepError> {
        let services = ctx.render_list(&self.services)?;
        let ended = open
            .tool
            .run_ok(ctx, &open.project, &["config".to_string()])
            .await?;
        let config: Value = serde_saphyr::from_str(&ended.stdout)
            .map_err(|e| StepError::failed(format!("reading the resolved compose config: {e}")))?;
        let found = buildable(
            &config,
            &open.project.name,
            open.tool.version.starts_with("1."),
            &services,
        );
        if let Some(missing) = services
            .iter()
            .find(|s| !found.iter().any(|b| &b.service == *s))
        {
            return Err(StepError::failed(format!(
                "service `{missing}` has no `build:` section in the compose files (or is not declared)"
            )));
        }
        if found.is_empty() {
            return Err(StepError::failed(
                "no service of the compose files has a `build:` section",
            ));
        }
        Ok(found)
    }

    /// The build args join the project's interpolation environment.
    fn add_build_args(
        &self,
        ctx: &StepContext,
        project: &mut super::tool::Project,
    ) -> Result<(), StepError> {
        for (name, value) in &self.build_args {
            project.env.insert(name.clone(), ctx.render(value)?);
        }
        Ok(())
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let mut open = self.open(ctx).await?;
        self.add_build_args(ctx, &mut open.project)?;
        let targets = self.targets(ctx, &open).await?;
        let mut previous = serde_json::Map::new();
        for target in &targets {
            let id = image_id(&open, &target.image).await;
            previous.insert(
                target.service.clone(),
                id.map_or(Value::Null, Value::String),
            );
        }
        let mut args = vec!["build".to_string()];
        if self.no_cache {
            args.push("--no-cache".into());
        }
        for name in self.build_args.keys() {
            // The value is read from the environment by the tool: nothing secret in `ps`.
            args.extend(["--build-arg".to_string(), name.clone()]);
        }
        args.extend(targets.iter().map(|t| t.service.clone()));
        open.tool.run_ok(ctx, &open.project, &args).await?;
        let mut images = serde_json::Map::new();
        for target in &targets {
            let id = image_id(&open, &target.image).await.ok_or_else(|| {
                StepError::failed(format!(
                    "the build of `{}` finished but image {} is not on the host",
                    target.service, target.image
                ))
            })?;
            images.insert(target.service.clone(), Value::String(id));
        }
        Ok(outputs(serde_json::json!({
            "images": images,
            "previous_images": previous,
        })))
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let open = self.open(ctx).await?;
        let targets = self.targets(ctx, &open).await?;
        let mut parts = Vec::new();
        for target in &targets {
            let now = match image_id(&open, &target.image).await {
                Some(id) => format!("now {}", crate::docker::short_id(&id)),
                None => "not on the host yet".to_string(),
            };
            parts.push(format!(
                "{} from {} as {} ({now})",
                target.service, target.context, target.image
            ));
        }
        Ok(format!(
            "would build {}{}",
            parts.join(", "),
            if self.no_cache {
                ", without the cache"
            } else {
                ""
            }
        ))
    }
}

async fn image_id(open: &Open, image: &str) -> Option<String> {
    open.docker.inspect_image(image).await.ok()?.id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_with_a_build_section_get_compose_default_tags() {
        let config: Value = serde_saphyr::from_str(
            "services:\n  api:\n    build: { context: ./api }\n  web:\n    build: ./web\n    image: shop/web:2\n  db:\n    image: postgres:15\n",
        )
        .unwrap();
        let found = buildable(&config, "shop", true, &[]);
        assert_eq!(
            found,
            [
                Buildable {
                    service: "api".into(),
                    image: "shop_api".into(),
                    context: "./api".into()
                },
                Buildable {
                    service: "web".into(),
                    image: "shop/web:2".into(),
                    context: "./web".into()
                },
            ]
        );
        assert_eq!(
            buildable(&config, "shop", false, &["api".into()])[0].image,
            "shop-api"
        );
    }
}
