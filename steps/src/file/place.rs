//! Where a file verb acts: this machine, or a host of the environment file reached over its
//! transport. On a host, each operation is one short POSIX `sh` script run over the host's
//! connection (`stat`, `sha256sum`, `find`: what a minimal host, busybox included, has); the
//! path rides in the script's environment, never on a command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use runbook_engine::action::Transport;

use super::{Algorithm, Found};
use crate::prelude::*;
use crate::remote;

#[derive(Clone)]
pub(crate) enum Place {
    Runner,
    Host(Arc<dyn Transport>),
}

impl Place {
    /// The step's `host:`, else this machine.
    pub fn of_step(ctx: &StepContext) -> Result<Self, StepError> {
        Ok(ctx.transport()?.map_or(Self::Runner, Self::Host))
    }

    /// A host a param names (`from:`, `to:`), else `default`.
    pub fn named(
        ctx: &StepContext,
        host: Option<&Template>,
        default: Place,
    ) -> Result<Self, StepError> {
        match host {
            Some(host) => Ok(ctx
                .transport_to(&ctx.render(host)?)?
                .map_or(Self::Runner, Self::Host)),
            None => Ok(default),
        }
    }

    /// `this machine`, `host `app-1``, for messages and outputs.
    pub fn describe(&self) -> String {
        match self {
            Self::Runner => "this machine".into(),
            Self::Host(transport) => format!("host `{}`", transport.host()),
        }
    }

    /// The host's name, or `""` for this machine (the `from`/`to` outputs).
    pub fn name(&self) -> String {
        match self {
            Self::Runner => String::new(),
            Self::Host(transport) => transport.host().to_string(),
        }
    }

    /// The regular file at `path`.
    pub async fn stat(&self, ctx: &StepContext, path: &str) -> Result<Found, StepError> {
        let Self::Host(transport) = self else {
            return Found::stat(Path::new(path));
        };
        let out = sh(
                ctx,
                transport.as_ref(),
                r#"if [ -f "$P" ]; then stat -c '%s %Y' "$P"; elif [ -e "$P" ]; then echo notfile; else echo missing; fi"#,
                &[("P", path)],
            )
            .await?;
        let where_ = self.describe();
        match out.trim() {
            "missing" => Err(StepError::failed(format!(
                "{path}: no such file on {where_}"
            ))),
            "notfile" => Err(StepError::failed(format!(
                "{path} on {where_} is not a file"
            ))),
            line => parse_stat(path, line)
                .ok_or_else(|| StepError::failed(format!("`stat` on {where_} said `{line}`"))),
        }
    }

    /// The regular files matching a glob.
    pub async fn matches(&self, ctx: &StepContext, pattern: &str) -> Result<Vec<Found>, StepError> {
        let Self::Host(transport) = self else {
            let paths = glob::glob(pattern)
                .map_err(|e| StepError::failed(format!("`{pattern}` is not a glob: {e}")))?;
            return Ok(paths
                .filter_map(Result::ok)
                .filter_map(|path| Found::stat(&path).ok())
                .collect());
        };
        // `IFS=`: the pattern is expanded as a glob but never split at its spaces.
        let out = sh(
            ctx,
            transport.as_ref(),
            r#"IFS=; for f in $G; do [ -f "$f" ] && stat -c '%s %Y %n' "$f"; done; true"#,
            &[("G", pattern)],
        )
        .await?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(3, ' ');
                let (size, mtime) = (fields.next()?, fields.next()?);
                parse_stat(fields.next()?, &format!("{size} {mtime}"))
            })
            .collect())
    }

    /// The hex digest of the file at `path`.
    pub async fn digest(
        &self,
        ctx: &StepContext,
        path: &str,
        algorithm: Algorithm,
    ) -> Result<String, StepError> {
        let Self::Host(transport) = self else {
            let hashed = PathBuf::from(path);
            return tokio::task::spawn_blocking(move || super::digest(&hashed, algorithm))
                .await
                .map_err(|e| StepError::failed(format!("checksum task: {e}")))?
                .map_err(|e| StepError::failed(format!("reading {path}: {e}")));
        };
        let tool = match algorithm {
            Algorithm::Sha256 => "sha256sum",
            Algorithm::Md5 => "md5sum",
        };
        let out = sh(
            ctx,
            transport.as_ref(),
            &format!(r#"{tool} < "$P""#),
            &[("P", path)],
        )
        .await?;
        first_hex(&out).ok_or_else(|| {
            StepError::failed(format!(
                "`{tool}` on {} said `{}`",
                self.describe(),
                out.trim()
            ))
        })
    }

    /// Every regular file under `path` (or the file itself, named `.`), with its size and
    /// SHA-256; `None` when nothing is there.
    pub async fn manifest(
        &self,
        ctx: &StepContext,
        path: &str,
    ) -> Result<Option<Manifest>, StepError> {
        let Self::Host(transport) = self else {
            let root = PathBuf::from(path);
            return tokio::task::spawn_blocking(move || Manifest::of_local(&root))
                .await
                .map_err(|e| StepError::failed(format!("checksum task: {e}")))?
                .map_err(|e| StepError::failed(format!("reading {path}: {e}")));
        };
        let out = sh(
                ctx,
                transport.as_ref(),
                concat!(
                    r#"if [ -d "$P" ]; then cd "$P" && find . -type f -exec stat -c '%s %n' {} + && echo --- && find . -type f -exec sha256sum {} +; "#,
                    r#"elif [ -f "$P" ]; then stat -c '%s .' "$P" && echo --- && h=$(sha256sum < "$P") && echo "${h%% *}  ."; "#,
                    r#"else echo missing; fi"#
                ),
                &[("P", path)],
            )
            .await?;
        if out.trim() == "missing" {
            return Ok(None);
        }
        Manifest::parse(&out).map(Some).ok_or_else(|| {
            StepError::failed(format!(
                "could not read the listing of {path} on {}",
                self.describe()
            ))
        })
    }

    /// Removes `path` (a file or a tree) if it is there.
    pub async fn remove(&self, ctx: &StepContext, path: &str) -> Result<(), StepError> {
        let Self::Host(transport) = self else {
            let path = Path::new(path);
            let result = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            return match result {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StepError::failed(
                    format!("removing {}: {e}", path.display()),
                )),
                _ => Ok(()),
            };
        };
        sh(ctx, transport.as_ref(), r#"rm -rf "$P""#, &[("P", path)])
            .await
            .map(drop)
    }

    /// Makes room for a copy at `path`: whatever is there removed, its parent directory made
    /// (a bare host has no `/backups` yet).
    pub async fn prepare(&self, ctx: &StepContext, path: &str) -> Result<(), StepError> {
        self.remove(ctx, path).await?;
        let Self::Host(transport) = self else {
            if let Some(parent) = Path::new(path).parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StepError::failed(format!("creating {}: {e}", parent.display()))
                })?;
            }
            return Ok(());
        };
        sh(
            ctx,
            transport.as_ref(),
            r#"mkdir -p "$(dirname "$P")""#,
            &[("P", path)],
        )
        .await
        .map(drop)
    }

    /// Renames `from` to `to`, then sets `mode` (permission bits) on it if given.
    pub async fn rename(
        &self,
        ctx: &StepContext,
        from: &str,
        to: &str,
        mode: Option<u32>,
    ) -> Result<(), StepError> {
        let Self::Host(transport) = self else {
            std::fs::rename(from, to)
                .map_err(|e| StepError::failed(format!("renaming {from} to {to}: {e}")))?;
            if let Some(bits) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(to, std::fs::Permissions::from_mode(bits))
                    .map_err(|e| StepError::failed(format!("chmod {bits:o} {to}: {e}")))?;
            }
            return Ok(());
        };
        let mode = mode.map_or(String::new(), |bits| format!("{bits:o}"));
        sh(
            ctx,
            transport.as_ref(),
            r#"mv "$A" "$B" && { [ -z "$M" ] || chmod "$M" "$B"; }"#,
            &[("A", from), ("B", to), ("M", &mode)],
        )
        .await
        .map(drop)
    }
}

/// A script on a host, `vars` in its environment (never on its command line).
pub(super) async fn sh(
    ctx: &StepContext,
    transport: &dyn Transport,
    script: &str,
    vars: &[(&str, &str)],
) -> Result<String, StepError> {
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    remote::output(ctx, transport, script, &env).await
}

/// `SIZE MTIME` for the file at `path`.
fn parse_stat(path: &str, line: &str) -> Option<Found> {
    let mut fields = line.split_whitespace();
    let size = fields.next()?.parse().ok()?;
    let mtime: u64 = fields.next()?.parse().ok()?;
    Some(Found {
        path: PathBuf::from(path),
        size,
        modified: SystemTime::UNIX_EPOCH + Duration::from_secs(mtime),
    })
}

/// The first word of a checksum tool's line, if it is hex.
fn first_hex(out: &str) -> Option<String> {
    let word = out.split_whitespace().next()?;
    word.chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| word.to_ascii_lowercase())
}

/// What a copy must reproduce: each regular file's path under the root (`./a/b`, or `.` for
/// a single file), size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub files: BTreeMap<String, (u64, String)>,
}

impl Manifest {
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|(size, _)| size).sum()
    }

    /// A single file's SHA-256; for a tree, the SHA-256 of its `sha256sum`-style listing
    /// (`HASH  ./path` lines, sorted), so two trees compare by one value.
    pub fn checksum(&self) -> String {
        if let (1, Some((_, hash))) = (self.files.len(), self.files.get(".")) {
            return hash.clone();
        }
        use sha2::Digest;
        let mut sha = sha2::Sha256::new();
        for (path, (_, hash)) in &self.files {
            sha.update(format!("{hash}  {path}\n"));
        }
        sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first file that differs from `other` (missing, other size, other content).
    pub fn first_difference(&self, other: &Manifest) -> Option<String> {
        for (path, (size, hash)) in &self.files {
            match other.files.get(path) {
                None => return Some(format!("{path} is missing")),
                Some((s, _)) if s != size => {
                    return Some(format!("{path} has {s} bytes instead of {size}"));
                }
                Some((_, h)) if h != hash => {
                    return Some(format!("{path} has SHA-256 {h} instead of {hash}"));
                }
                _ => {}
            }
        }
        other
            .files
            .keys()
            .find(|path| !self.files.contains_key(*path))
            .map(|path| format!("{path} should not be there"))
    }

    /// `SIZE PATH` lines, `---`, then `HASH  PATH` lines (what the host's script prints).
    fn parse(out: &str) -> Option<Self> {
        let (sizes, hashes) = out.split_once("---\n")?;
        let mut files = BTreeMap::new();
        for line in sizes.lines() {
            let (size, path) = line.split_once(' ')?;
            files.insert(path.to_string(), (size.parse().ok()?, String::new()));
        }
        for line in hashes.lines() {
            let (hash, path) = line.split_once("  ")?;
            files.get_mut(path)?.1 = hash.to_ascii_lowercase();
        }
        files
            .values()
            .all(|(_, hash)| !hash.is_empty())
            .then_some(Self { files })
    }

    fn of_local(root: &Path) -> std::io::Result<Option<Self>> {
        let meta = match std::fs::metadata(root) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut files = BTreeMap::new();
        if meta.is_file() {
            files.insert(
                ".".into(),
                (meta.len(), super::digest(root, Algorithm::Sha256)?),
            );
            return Ok(Some(Self { files }));
        }
        let mut pending = vec![(root.to_path_buf(), ".".to_string())];
        while let Some((dir, name)) = pending.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                let child = format!("{name}/{}", entry.file_name().to_string_lossy());
                // As `find -type f` on a host: symbolic links are not followed.
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    pending.push((path, child));
                } else if kind.is_file() {
                    let size = entry.metadata()?.len();
                    files.insert(child, (size, super::digest(&path, Algorithm::Sha256)?));
                }
            }
        }
        Ok(Some(Self { files }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_listing_reads_as_the_same_manifest_as_the_local_walk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a b.txt"), "hello\n").unwrap();
        std::fs::write(dir.path().join("sub/c"), "").unwrap();
        let local = Manifest::of_local(dir.path()).unwrap().unwrap();
        let listing = concat!(
            "6 ./a b.txt\n0 ./sub/c\n---\n",
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  ./a b.txt\n",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  ./sub/c\n"
        );
        assert_eq!(Manifest::parse(listing), Some(local.clone()));
        assert_eq!(local.bytes(), 6);
        let mut other = local.clone();
        other.files.get_mut("./sub/c").unwrap().0 = 3;
        assert_eq!(
            local.first_difference(&other).unwrap(),
            "./sub/c has 3 bytes instead of 0"
        );
    }

    #[test]
    fn a_single_files_checksum_is_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.gz");
        std::fs::write(&path, "hello\n").unwrap();
        let manifest = Manifest::of_local(&path).unwrap().unwrap();
        assert_eq!(
            manifest.checksum(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert!(
            Manifest::of_local(&dir.path().join("none"))
                .unwrap()
                .is_none()
        );
    }
}
