//! `file.copy`: a file or a directory tree from one place to another (this machine, or hosts
//! of the environment file: a backup pushed to a new host, a host's config brought back),
//! checked after the copy: every file's size and SHA-256 at the destination must be the
//! source's, or the copy is removed and the step fails naming the first difference.
//!
//! The copy lands beside the destination (`DEST.runbook-partial`) and is renamed into place
//! only once checked, so a cut copy never stands where a good file is expected. A destination
//! that already holds the same content is left alone (`changed: false`), so a re-run or a
//! resumed run copies nothing twice. Between two hosts the copy goes through this machine (a
//! staging directory it removes after).

use std::path::Path;

use runbook_engine::action::{CopyDirection, Transport};

use super::place::{Manifest, Place};
use crate::prelude::*;
use crate::process;

/// Copy a file or a directory tree between this machine and hosts, size and checksum checked.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    /// The file or directory to copy, on `from`.
    pub src: Template,
    /// Its path at the destination (the copy's own path, not a directory to copy into).
    pub dest: Template,
    /// The host it is copied from (a name under the environment's `hosts:`). Default, or
    /// empty: this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Template>,
    /// The host it is copied to. Default: the step's `host:`, else this machine; empty:
    /// this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Template>,
    /// Replace a destination that holds something else (it is deleted). Default: such a
    /// destination fails the step, naming the difference.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replace: bool,
    /// Octal mode set on the copy (`0600` for a backup), else the source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

impl Verb for Copy {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str =
        "Copy a file or directory between this machine and hosts, size and checksum checked";
    const OUTPUTS: &'static [&'static str] =
        &["path", "size", "files", "checksum", "from", "to", "changed"];
    fn irreversible(&self) -> Option<&'static str> {
        self.replace
            .then_some("a destination holding something else is deleted (`replace: true`)")
    }
    fn validate(&self) -> Result<(), String> {
        super::change::check_mode(self.mode.as_deref())
    }
    execute_and_forecast!();
}

/// The copy as rendered: what, from where, to where.
struct Route {
    src: String,
    dest: String,
    from: Place,
    to: Place,
}

impl Copy {
    fn route(&self, ctx: &StepContext) -> Result<Route, StepError> {
        let route = Route {
            src: ctx.render(&self.src)?,
            dest: ctx.render(&self.dest)?,
            from: Place::named(ctx, self.from.as_ref(), Place::Runner)?,
            to: Place::named(ctx, self.to.as_ref(), Place::of_step(ctx)?)?,
        };
        for (what, path) in [("src", &route.src), ("dest", &route.dest)] {
            if path.trim().is_empty() {
                return Err(StepError::failed(format!(
                    "`{what}` rendered to nothing; give the input it reads a value"
                )));
            }
        }
        Ok(route)
    }

    /// The source's manifest, or why there is nothing to copy.
    async fn source(&self, ctx: &StepContext, route: &Route) -> Result<Manifest, StepError> {
        route.from.manifest(ctx, &route.src).await?.ok_or_else(|| {
            StepError::failed(format!(
                "{} does not exist on {}",
                route.src,
                route.from.describe()
            ))
        })
    }

    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let route = self.route(ctx)?;
        let source = self.source(ctx, &route).await?;
        let existing = route.to.manifest(ctx, &route.dest).await?;
        if existing.as_ref() == Some(&source) {
            return Ok(route.outputs(&source, false));
        }
        if let Some(existing) = &existing
            && !self.replace
        {
            return Err(StepError::failed(format!(
                "{} on {} already holds something else ({}); set `replace: true` to replace it",
                route.dest,
                route.to.describe(),
                source
                    .first_difference(existing)
                    .unwrap_or_else(|| "it differs".into())
            )));
        }
        let partial = format!("{}.runbook-partial", route.dest.trim_end_matches('/'));
        route.to.prepare(ctx, &partial).await?;
        transfer(ctx, &route.from, &route.src, &route.to, &partial).await?;
        let copied = route.to.manifest(ctx, &partial).await?;
        let difference = match &copied {
            Some(copied) => source.first_difference(copied),
            None => Some("nothing arrived".into()),
        };
        if let Some(difference) = difference {
            route.to.remove(ctx, &partial).await?;
            return Err(StepError::failed(format!(
                "the copy of {} on {} is not the source: {difference}; it was removed",
                route.dest,
                route.to.describe()
            )));
        }
        if existing.is_some() {
            route.to.remove(ctx, &route.dest).await?;
        }
        route
            .to
            .rename(
                ctx,
                &partial,
                &route.dest,
                self.mode.as_deref().and_then(super::change::octal),
            )
            .await?;
        Ok(route.outputs(&source, true))
    }

    async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let route = self.route(ctx)?;
        let source = self.source(ctx, &route).await?;
        Ok(format!(
            "would copy {} ({} files, {} bytes) from {} to {} on {}",
            route.src,
            source.files.len(),
            source.bytes(),
            route.from.describe(),
            route.dest,
            route.to.describe()
        ))
    }
}

impl Route {
    fn outputs(&self, copied: &Manifest, changed: bool) -> Outputs {
        outputs(serde_json::json!({
            "path": self.dest,
            "size": copied.bytes(),
            "files": copied.files.len(),
            "checksum": copied.checksum(),
            "from": self.from.name(),
            "to": self.to.name(),
            "changed": changed,
        }))
    }
}

/// Copies `src` on `from` to `dest` on `to`, by the transport of the host involved; between
/// two hosts, through a staging directory here.
async fn transfer(
    ctx: &StepContext,
    from: &Place,
    src: &str,
    to: &Place,
    dest: &str,
) -> Result<(), StepError> {
    match (from, to) {
        (Place::Runner, Place::Runner) => {
            let mut cp = tokio::process::Command::new("cp");
            cp.args(["-R", "-p", "--", src, dest]);
            finish(ctx, None, cp, "cp").await
        }
        (Place::Runner, Place::Host(host)) => {
            scp(ctx, host.as_ref(), CopyDirection::Upload, src, dest).await
        }
        (Place::Host(host), Place::Runner) => {
            scp(ctx, host.as_ref(), CopyDirection::Download, src, dest).await
        }
        (Place::Host(source), Place::Host(target)) => {
            let staging = tempfile::Builder::new()
                .prefix("runbook-copy-")
                .tempdir()
                .map_err(|e| StepError::failed(format!("no staging directory here: {e}")))?;
            let name = Path::new(src.trim_end_matches('/'))
                .file_name()
                .map_or_else(|| "copy".into(), |n| n.to_string_lossy().to_string());
            let staged = staging.path().join(name).display().to_string();
            scp(ctx, source.as_ref(), CopyDirection::Download, src, &staged).await?;
            scp(ctx, target.as_ref(), CopyDirection::Upload, &staged, dest).await
        }
    }
}

async fn scp(
    ctx: &StepContext,
    host: &dyn Transport,
    direction: CopyDirection,
    from: &str,
    to: &str,
) -> Result<(), StepError> {
    let copy = host.copy(direction, from, to).await?;
    finish(ctx, Some(host), copy.command, &copy.program).await
}

/// Runs a copying program; its failure said with the transport's words where it has them.
async fn finish(
    ctx: &StepContext,
    host: Option<&dyn Transport>,
    command: tokio::process::Command,
    program: &str,
) -> Result<(), StepError> {
    let ended = process::run(ctx, command, program, None).await?;
    if ended.exit_code == 0 {
        return Ok(());
    }
    if let Some(host) = host
        && let Some(why) = host.explain(ended.exit_code, &ended.stderr).await
    {
        return Err(StepError::failed(why));
    }
    Err(StepError::failed(format!(
        "`{program}` exited with {}: {}",
        ended.exit_code,
        ctx.redact(ended.stderr.trim())
    )))
}
