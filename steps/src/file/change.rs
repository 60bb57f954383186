//! `file.write`, `file.template`, `file.link` and their rollback `file.restore`: the NGINX
//! blue/green switch of the seeds (`ln -sf sites-available/green sites-enabled/app`, or an
//! upstream file rewritten), done so that it can be undone.
//!
//! Before a change, what was at the path (a file or a link) is moved aside to a hidden
//! sibling, `.<name>.runbook-previous`: on the same file system (so putting it back is one
//! rename), and hidden, so a web server's `include sites-enabled/*` or `conf.d/*.conf` does
//! not load it. The new content is written to a temporary sibling and renamed into place, so
//! a reader sees the old file or the new one, never half of one. One generation is kept.
//! `previous` is the hidden sibling, or `""` when nothing was there (the rollback removes
//! what the step made).
//!
//! `file.write`, `file.template` (rendered here, from a template file here) and `file.restore`
//! do the same on the step's `host:`, as one `sh` script there with the path and the content
//! in its environment (the content may hold secrets: never on a command line).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::place::{self, Place};
use crate::prelude::*;

/// Write a file from `content`, keeping what was there for `file.restore`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Write {
    pub path: Template,
    /// The new content (templates rendered).
    pub content: Template,
    /// Permissions as octal, e.g. `"0640"`. Default: the replaced file's, else 0644.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Write a file rendered from a template file, keeping what was there for `file.restore`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteTemplate {
    pub path: Template,
    /// A template file (minijinja, as playbooks): it sees `inputs`, `vars`, `steps`, `secrets`.
    pub template: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Point a symbolic link at a target (the blue/green switch), keeping the previous link.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The link: `/etc/nginx/sites-enabled/app`.
    pub path: Template,
    /// What it points at: `/etc/nginx/sites-available/app-green`.
    pub target: Template,
}

/// Put back what `file.write`, `file.template` or `file.link` replaced.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    pub path: Template,
    /// The step's `previous` output: `"{{ steps.<id>.previous }}"` (`""`: nothing was there,
    /// so what the step made is removed).
    pub previous: Template,
}

const OUTPUTS: &[&str] = &["path", "changed", "previous"];

impl Verb for Write {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str = "Write a file, keeping the previous one for `file.restore`";
    const OUTPUTS: &'static [&'static str] = OUTPUTS;
    fn validate(&self) -> Result<(), String> {
        check_mode(self.mode.as_deref())
    }
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            let content = ctx.render(&self.content)?;
            write_at(ctx, &path, &content, self.mode.as_deref()).await
        })
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            forecast_at(ctx, &path, &ctx.render(&self.content)?)
        })
    }
}

impl WriteTemplate {
    async fn content(&self, ctx: &StepContext) -> Result<String, StepError> {
        let template = ctx.render(&self.template)?;
        let text = tokio::fs::read_to_string(&template)
            .await
            .map_err(|e| StepError::failed(format!("template {template}: {e}")))?;
        ctx.render_str(&text)
            .map_err(|e| StepError::failed(format!("template {template}: {e}")))
    }
}

impl Verb for WriteTemplate {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str =
        "Write a file rendered from a template file, keeping the previous one for `file.restore`";
    const OUTPUTS: &'static [&'static str] = OUTPUTS;
    fn validate(&self) -> Result<(), String> {
        check_mode(self.mode.as_deref())
    }
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            let content = self.content(ctx).await?;
            write_at(ctx, &path, &content, self.mode.as_deref()).await
        })
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            forecast_at(ctx, &path, &self.content(ctx).await?)
        })
    }
}

impl Verb for Link {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str =
        "Point a symbolic link at a target (a blue/green switch), keeping the previous link";
    const OUTPUTS: &'static [&'static str] = &["path", "changed", "previous", "previous_target"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            let target = PathBuf::from(ctx.render(&self.target)?);
            let before = std::fs::read_link(&path).ok();
            if before.as_deref() == Some(target.as_path()) {
                return Ok(outcome(&path, false, "", before.as_deref()));
            }
            let previous = put_aside(&path)?;
            let staged = sibling(&path, "runbook-new");
            let _ = std::fs::remove_file(&staged);
            let made = std::os::unix::fs::symlink(&target, &staged)
                .and_then(|()| std::fs::rename(&staged, &path));
            if let Err(e) = made {
                let _ = std::fs::remove_file(&staged);
                undo_aside(&path, &previous);
                return Err(StepError::failed(format!(
                    "linking {} to {}: {e}",
                    path.display(),
                    target.display()
                )));
            }
            Ok(outcome(&path, true, &previous, before.as_deref()))
        })
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            let target = ctx.render(&self.target)?;
            let now = match std::fs::symlink_metadata(&path) {
                Err(_) => "nothing there now".to_string(),
                Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(&path) {
                    Ok(t) if t == Path::new(&target) => {
                        return Ok(format!(
                            "would leave {} as it is (already -> {target})",
                            path.display()
                        ));
                    }
                    Ok(t) => format!("now -> {}", t.display()),
                    Err(e) => format!("unreadable link: {e}"),
                },
                Ok(_) => "now a regular file, kept aside".to_string(),
            };
            let missing = if Path::new(&target).exists() || !target.starts_with('/') {
                ""
            } else {
                "; the target does not exist"
            };
            Ok(format!(
                "would point {} at {target} ({now}{missing})",
                path.display()
            ))
        })
    }
}

impl Verb for Restore {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str =
        "Put back what file.write, file.template or file.link replaced (the rollback of those)";
    const OUTPUTS: &'static [&'static str] = &["path", "restored"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            let previous = ctx.render(&self.previous)?;
            check_previous(&path, &previous)?;
            if let Place::Host(host) = Place::of_step(ctx)? {
                place::sh(
                    ctx,
                    host.as_ref(),
                    r#"if [ -z "$V" ]; then rm -f "$P"; else mv "$V" "$P"; fi"#,
                    &[("P", &path.display().to_string()), ("V", &previous)],
                )
                .await?;
            } else if previous.is_empty() {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(StepError::failed(format!(
                            "removing {}: {e}",
                            path.display()
                        )));
                    }
                }
            } else {
                std::fs::rename(&previous, &path).map_err(|e| {
                    StepError::failed(format!(
                        "putting {previous} back as {}: {e}",
                        path.display()
                    ))
                })?;
            }
            Ok(outputs(
                serde_json::json!({ "path": path, "restored": !previous.is_empty() }),
            ))
        })
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            let path = PathBuf::from(ctx.render(&self.path)?);
            let previous = ctx.render(&self.previous)?;
            check_previous(&path, &previous)?;
            Ok(if previous.is_empty() {
                format!("would remove {} (nothing was there before)", path.display())
            } else {
                format!("would put {previous} back as {}", path.display())
            })
        })
    }
}

/// A restore only ever renames the hidden sibling of its own path into place: a template
/// that rendered to another file must not move that file over this one.
fn check_previous(path: &Path, previous: &str) -> Result<(), StepError> {
    if previous.is_empty() || Path::new(previous) == sibling(path, "runbook-previous") {
        return Ok(());
    }
    Err(StepError::failed(format!(
        "`previous` is {previous}, not what a change of {} keeps ({}); pass the step's `previous` output",
        path.display(),
        sibling(path, "runbook-previous").display()
    )))
}

pub(in crate::file) fn check_mode(mode: Option<&str>) -> Result<(), String> {
    match mode {
        Some(m) if octal(m).is_none() => Err(format!(
            "`mode` {m} is not octal permissions such as \"0644\""
        )),
        _ => Ok(()),
    }
}

/// `0640`, `0o640` or `640` as permission bits (checked at compile time by `check_mode`).
pub(in crate::file) fn octal(mode: &str) -> Option<u32> {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8).ok()
}

/// `.<name>.<suffix>` beside `path`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}"))
}

/// Moves what is at `path` aside; returns where (`""`: nothing was there).
fn put_aside(path: &Path) -> Result<String, StepError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(String::new());
    }
    let aside = sibling(path, "runbook-previous");
    // Copy, not rename: the path must never be missing while a server may read it.
    let copied = match std::fs::read_link(path) {
        Ok(target) => {
            let _ = std::fs::remove_file(&aside);
            std::os::unix::fs::symlink(target, &aside)
        }
        Err(_) => std::fs::copy(path, &aside).map(|_| ()),
    };
    copied
        .map_err(|e| StepError::failed(format!("keeping the previous {}: {e}", path.display())))?;
    Ok(aside.to_string_lossy().into_owned())
}

/// After a failed change: the kept copy is not needed (the path was not touched).
fn undo_aside(path: &Path, previous: &str) {
    if !previous.is_empty() && std::fs::symlink_metadata(path).is_ok() {
        let _ = std::fs::remove_file(previous);
    }
}

fn outcome(path: &Path, changed: bool, previous: &str, link_before: Option<&Path>) -> Outputs {
    let mut out = outputs(serde_json::json!({
        "path": path,
        "changed": changed,
        "previous": previous,
    }));
    if let Some(before) = link_before.map(|b| b.to_string_lossy().into_owned()) {
        out.insert("previous_target".into(), before.into());
    } else {
        out.insert("previous_target".into(), "".into());
    }
    out
}

fn write(path: &Path, content: &[u8], mode: Option<&str>) -> Result<Outputs, StepError> {
    let fail = |what: &str, e: std::io::Error| {
        StepError::failed(format!("{what} {}: {e}", path.display()))
    };
    let current = std::fs::read(path).ok();
    let same_mode = match mode.map(octal) {
        None => true,
        Some(wanted) => {
            std::fs::metadata(path).is_ok_and(|m| Some(m.permissions().mode() & 0o7777) == wanted)
        }
    };
    if current.as_deref() == Some(content) && same_mode {
        let mut out = outcome(path, false, "", None);
        out.remove("previous_target");
        return Ok(out);
    }
    let permissions = match mode {
        Some(m) => octal(m).unwrap_or(0o644),
        None => std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777),
    };
    // A new file's directory is made as `install -D` does (the rollback leaves it, empty).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail("making the directory of", e))?;
    }
    let previous = put_aside(path)?;
    let staged = sibling(path, "runbook-new");
    let written = std::fs::write(&staged, content)
        .and_then(|()| {
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(permissions))
        })
        .and_then(|()| std::fs::File::open(&staged)?.sync_all())
        .and_then(|()| std::fs::rename(&staged, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staged);
        undo_aside(path, &previous);
        return Err(fail("writing", e));
    }
    let mut out = outcome(path, true, &previous, None);
    out.remove("previous_target");
    Ok(out)
}

/// `file.write` and `file.template` here or on the step's host, with the same outputs.
async fn write_at(
    ctx: &StepContext,
    path: &Path,
    content: &str,
    mode: Option<&str>,
) -> Result<Outputs, StepError> {
    let Place::Host(host) = Place::of_step(ctx)? else {
        return write(path, content.as_bytes(), mode);
    };
    // As `write` does here: same content and no mode is no change; else what is there is
    // copied aside (a link as a link), the content staged, its mode set, renamed into place.
    let said = place::sh(
        ctx,
        host.as_ref(),
        concat!(
            r#"d=$(dirname "$P"); n=$(basename "$P"); V="$d/.$n.runbook-previous"; N="$d/.$n.runbook-new"; "#,
            r#"if [ -f "$P" ] && { [ -z "$M" ] || [ "$(stat -c %a "$P")" = "$M" ]; } && [ "$(cat "$P"; echo x)" = "${C}x" ]; then echo unchanged; exit 0; fi; "#,
            r#"mkdir -p "$d" || exit 1; K=''; "#,
            r#"if [ -e "$P" ] || [ -L "$P" ]; then rm -f "$V"; cp -P -p "$P" "$V" || exit 1; K=$V; fi; "#,
            r#"[ -n "$M" ] || M=$(stat -c %a "$P" 2>/dev/null) || M=644; "#,
            r#"if printf '%s' "$C" > "$N" && chmod "$M" "$N" && mv "$N" "$P"; then echo "changed $K"; "#,
            r#"else rm -f "$N"; [ -z "$K" ] || rm -f "$K"; exit 1; fi"#
        ),
        &[
            ("P", &path.display().to_string()),
            ("C", content),
            // As `stat -c %a` prints it: `0640` is `640`.
            ("M", &mode.and_then(octal).map_or(String::new(), |m| format!("{m:o}"))),
        ],
    )
    .await?;
    let said = said.trim();
    let (changed, previous) = match said.strip_prefix("changed") {
        Some(kept) => (true, kept.trim()),
        None => (false, ""),
    };
    let mut out = outcome(path, changed, previous, None);
    out.remove("previous_target");
    Ok(out)
}

/// The preview of a write: in lines here; on a host, where and how much (its current file
/// is not fetched for a preview).
fn forecast_at(ctx: &StepContext, path: &Path, content: &str) -> Result<String, StepError> {
    Ok(match Place::of_step(ctx)? {
        Place::Runner => forecast_write(path, content),
        Place::Host(host) => format!(
            "would write {} ({} lines) on host `{}`, the previous file kept for file.restore",
            path.display(),
            content.lines().count(),
            host.host()
        ),
    })
}

/// What a write would change, in lines (never the content: it may hold secrets).
fn forecast_write(path: &Path, content: &str) -> String {
    let Ok(current) = std::fs::read_to_string(path) else {
        return format!(
            "would create {} ({} lines)",
            path.display(),
            content.lines().count()
        );
    };
    if current == content {
        return format!("would leave {} as it is (same content)", path.display());
    }
    let old: Vec<&str> = current.lines().collect();
    let new: Vec<&str> = content.lines().collect();
    let first = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    let removed = old.iter().filter(|l| !new.contains(l)).count();
    let added = new.iter().filter(|l| !old.contains(l)).count();
    format!(
        "would change {} (+{added} -{removed} lines, from line {}; the previous file is kept for file.restore)",
        path.display(),
        first + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_keeps_the_previous_file_and_a_restore_puts_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.conf");
        std::fs::write(&path, "upstream blue;\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let out = write(&path, b"upstream green;\n", None).unwrap();
        assert_eq!(out["changed"], true);
        let previous = out["previous"].as_str().unwrap().to_string();
        assert!(
            previous.ends_with("/.app.conf.runbook-previous"),
            "{previous}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "upstream green;\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(check_previous(&path, &previous).is_ok());
        assert!(check_previous(&path, "/etc/passwd").is_err());
        std::fs::rename(&previous, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "upstream blue;\n");
        // The same content again changes nothing and keeps nothing.
        let same = write(&path, b"upstream blue;\n", None).unwrap();
        assert_eq!(
            (same["changed"].clone(), same["previous"].clone()),
            (false.into(), "".into())
        );
    }

    #[test]
    fn modes_must_be_octal() {
        assert!(check_mode(Some("0640")).is_ok());
        assert!(check_mode(Some("rw-r--r--")).is_err());
        assert!(check_mode(None).is_ok());
    }
}
