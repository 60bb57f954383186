//! `docker.build`, `docker.pull`, `docker.tag`, `docker.prune_images`: images of the engine.
//! A build or pull moves a tag; each reports what the tag named before (`previous_id`), and
//! `docker.tag` of that id is their rollback. Images are built from a local context (the
//! machines here have no registry); the context is sent as a tar, as the CLI does.

use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptions, CreateImageOptions, ListImagesOptions, PruneImagesOptions, TagImageOptions,
};
use futures_util::StreamExt;
use serde_json::json;
use std::collections::HashMap;

use super::{FAMILY_ON_HOSTS, engine};
use crate::prelude::*;

/// Build an image from a local context directory.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The build context: a local directory.
    pub context: Template,
    /// The tag the image gets: `goodgo-api:1.4.2`.
    pub tag: Template,
    /// The Dockerfile, relative to the context. Default: `Dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<Template>,
    /// Build args; they stay off every command line (but, as with any build, `docker history` shows them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, Template>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Template>,
}
family_verb!(
    Build,
    Mutating,
    "Build an image from a local context (undo: `docker.tag` of `previous_id`)",
    ["image_id", "previous_id", "tag"]
);

/// Pull an image from its registry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pull {
    pub image: Template,
    /// Only when the host does not have it (compose's `pull_policy: missing`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub if_missing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Template>,
}
family_verb!(
    Pull,
    Mutating,
    "Pull an image from its registry (undo: `docker.tag` of `previous_id`)",
    ["image_id", "previous_id", "pulled"]
);

/// Point a tag at an image (an id or another tag).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// The image: an id (`sha256:...`) or a reference.
    pub image: Template,
    /// `repository:tag`
    pub tag: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Template>,
}
family_verb!(
    Tag,
    Mutating,
    "Point a tag at an image (the rollback of a build or pull)",
    ["image_id", "previous_id"]
);

/// Remove unused images (`docker image prune`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneImages {
    /// Also images that have a tag but no container (`-a`). Default: only dangling ones.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all: bool,
    /// Only images created longer ago than this (`--filter until=24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<Tpl<Duration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Template>,
}

impl Verb for PruneImages {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = FAMILY_ON_HOSTS;
    const SUMMARY: &'static str = "Remove unused images (`docker image prune`)";
    const OUTPUTS: &'static [&'static str] = &["deleted", "space_reclaimed"];
    fn irreversible(&self) -> Option<&'static str> {
        Some("images removed are gone from the host; without a registry they cannot be pulled back")
    }
    execute_and_forecast!();
}

async fn image_id(docker: &Docker, image: &str) -> Option<String> {
    docker.inspect_image(image).await.ok()?.id
}

/// The first 12 hex digits of an image id, as `docker images` shows it.
pub(crate) fn short(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..12.min(id.len())]
}

/// `registry:5000/app:1` -> (`registry:5000/app`, `1`); no tag means `latest`.
fn split_tag(reference: &str) -> (String, String) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(colon) => (
            reference[..slash + colon].to_string(),
            reference[slash + colon + 1..].to_string(),
        ),
        None => (reference.to_string(), "latest".to_string()),
    }
}

fn now_or_missing(id: &Option<String>) -> String {
    match id {
        Some(id) => format!("now {}", short(id)),
        None => "not on the host yet".to_string(),
    }
}

impl Build {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let context = ctx.render(&self.context)?;
        let tag = ctx.render(&self.tag)?;
        let previous = image_id(&docker, &tag).await;
        let dir = std::path::PathBuf::from(&context);
        let archive = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut builder = tar::Builder::new(Vec::new());
            builder.follow_symlinks(false);
            builder.append_dir_all(".", &dir)?;
            builder.into_inner()
        })
        .await
        .map_err(|e| StepError::failed(format!("packing {context}: {e}")))?
        .map_err(|e| StepError::failed(format!("packing the build context {context}: {e}")))?;
        let mut args = HashMap::new();
        for (name, value) in &self.build_args {
            args.insert(name.clone(), ctx.render(value)?);
        }
        let options = BuildImageOptions {
            dockerfile: match &self.dockerfile {
                Some(d) => ctx.render(d)?,
                None => "Dockerfile".into(),
            },
            t: Some(tag.clone()),
            nocache: self.no_cache,
            rm: true,
            buildargs: Some(args),
            ..Default::default()
        };
        let mut stream =
            docker.build_image(options, None, Some(bollard::body_full(archive.into())));
        let mut log = String::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| {
                StepError::failed(format!(
                    "building {tag}: {}\n{}",
                    ctx.redact(&e.to_string()),
                    crate::tail_lines(&ctx.redact(&log), 6)
                ))
            })?;
            if let Some(line) = info.stream {
                log.push_str(&line);
            }
            if let Some(detail) = info.error_detail {
                return Err(StepError::failed(format!(
                    "building {tag}: {}\n{}",
                    ctx.redact(&detail.message.unwrap_or_default()),
                    crate::tail_lines(&ctx.redact(&log), 6)
                )));
            }
        }
        let id = image_id(&docker, &tag).await.ok_or_else(|| {
            StepError::failed(format!("the build finished but {tag} is not on the host"))
        })?;
        Ok(outputs(
            json!({ "image_id": id, "previous_id": previous, "tag": tag }),
        ))
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let context = ctx.render(&self.context)?;
        let tag = ctx.render(&self.tag)?;
        if !std::path::Path::new(&context).is_dir() {
            return Err(StepError::failed(format!(
                "the build context {context} is not a directory"
            )));
        }
        let previous = image_id(&docker, &tag).await;
        Ok(format!(
            "would build {tag} from {context} ({})",
            now_or_missing(&previous)
        ))
    }
}

impl Pull {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let image = ctx.render(&self.image)?;
        let previous = image_id(&docker, &image).await;
        if self.if_missing
            && let Some(id) = &previous
        {
            return Ok(outputs(
                json!({ "image_id": id, "previous_id": id, "pulled": false }),
            ));
        }
        let mut stream = docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(image.clone()),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(item) = stream.next().await {
            item.map_err(|e| {
                StepError::failed(format!(
                    "pulling {image}: {} (is its registry reachable from this host?)",
                    ctx.redact(&e.to_string())
                ))
            })?;
        }
        let id = image_id(&docker, &image).await.ok_or_else(|| {
            StepError::failed(format!("the pull finished but {image} is not on the host"))
        })?;
        Ok(outputs(
            json!({ "image_id": id, "previous_id": previous, "pulled": true }),
        ))
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let image = ctx.render(&self.image)?;
        let previous = image_id(&docker, &image).await;
        Ok(match previous {
            Some(id) if self.if_missing => format!(
                "would leave {image} as it is ({} is on the host)",
                short(&id)
            ),
            _ => format!("would pull {image} ({})", now_or_missing(&previous)),
        })
    }
}

impl Tag {
    /// The engine, the image's id, the tag, and what the tag names now.
    async fn resolve(
        &self,
        ctx: &StepContext,
    ) -> Result<(Docker, String, String, Option<String>), StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let image = ctx.render(&self.image)?;
        let tag = ctx.render(&self.tag)?;
        let id = image_id(&docker, &image)
            .await
            .ok_or_else(|| StepError::failed(format!("no image {image} on the host to tag")))?;
        let previous = image_id(&docker, &tag).await;
        Ok((docker, id, tag, previous))
    }

    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, id, tag, previous) = self.resolve(ctx).await?;
        let (repo, version) = split_tag(&tag);
        docker
            .tag_image(
                &id,
                Some(TagImageOptions {
                    repo: Some(repo),
                    tag: Some(version),
                }),
            )
            .await
            .map_err(|e| StepError::failed(format!("tagging {} as {tag}: {e}", short(&id))))?;
        Ok(outputs(json!({ "image_id": id, "previous_id": previous })))
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, id, tag, previous) = self.resolve(ctx).await?;
        Ok(format!(
            "would point {tag} at {} ({})",
            short(&id),
            now_or_missing(&previous)
        ))
    }
}

impl PruneImages {
    fn filters(&self, ctx: &StepContext) -> Result<HashMap<String, Vec<String>>, StepError> {
        let mut filters = HashMap::new();
        filters.insert("dangling".to_string(), vec![(!self.all).to_string()]);
        if let Some(age) = &self.older_than {
            filters.insert(
                "until".to_string(),
                vec![format!("{}s", ctx.resolve(age)?.0.as_secs())],
            );
        }
        Ok(filters)
    }

    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let pruned = docker
            .prune_images(Some(PruneImagesOptions {
                filters: Some(self.filters(ctx)?),
            }))
            .await
            .map_err(|e| StepError::failed(format!("pruning images: {e}")))?;
        Ok(outputs(json!({
            "deleted": pruned.images_deleted.unwrap_or_default().len(),
            "space_reclaimed": pruned.space_reclaimed.unwrap_or(0),
        })))
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let docker = engine::connect(ctx, self.engine.as_ref()).await?;
        let mut filters = self.filters(ctx)?;
        if self.all {
            // `dangling=false` lists every image; what is in use is kept by the prune.
            filters.remove("dangling");
        }
        let images = docker
            .list_images(Some(ListImagesOptions {
                all: false,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| StepError::failed(format!("listing images: {e}")))?;
        let unused: Vec<_> = images.iter().filter(|i| i.containers <= 0).collect();
        let bytes: i64 = unused.iter().map(|i| i.size).sum();
        let names: Vec<String> = unused
            .iter()
            .take(10)
            .map(|i| {
                i.repo_tags
                    .first()
                    .cloned()
                    .unwrap_or_else(|| short(&i.id).to_string())
            })
            .collect();
        Ok(format!(
            "would remove about {} unused images ({} MB){} (cannot be undone)",
            unused.len(),
            bytes / 1_000_000,
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", names.join(", "))
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::split_tag;

    #[test]
    fn tags_split_after_the_registry_port() {
        assert_eq!(
            split_tag("registry:5000/app:1"),
            ("registry:5000/app".into(), "1".into())
        );
        assert_eq!(
            split_tag("goodgo-api"),
            ("goodgo-api".into(), "latest".into())
        );
        assert_eq!(
            split_tag("runbook-fixture:2"),
            ("runbook-fixture".into(), "2".into())
        );
    }
}
