//! pg_dump, pg_restore and psql: found, their version read, and refused when older than the
//! server. An older pg_dump refuses a newer server with a message that does not say what to
//! install; an older pg_restore may fail halfway through a newer archive.

use std::path::{Path, PathBuf};

use super::connect::Target;
use crate::prelude::*;
use crate::process::{self, Ended, Feed};

/// Where Debian installs each major version's client programs side by side.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";

/// A client program and its version.
pub(super) struct Tool {
    pub name: &'static str,
    pub path: PathBuf,
    /// `15.18`
    pub version: String,
}

/// The server's version, from `server_version_num`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ServerVersion(pub u32);

impl ServerVersion {
    pub async fn of(client: &tokio_postgres::Client) -> Result<Self, StepError> {
        let row = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(|e| StepError::failed(format!("reading the server version: {e}")))?;
        Ok(Self(row.get::<_, i32>(0).try_into().unwrap_or(0)))
    }

    pub fn major(self) -> u32 {
        self.0 / 10_000
    }

    fn text(self) -> String {
        format!("{}.{}", self.major(), self.0 % 10_000)
    }
}

impl Tool {
    /// The first `name` not older than the server: in `bin_dir` only if given, else on PATH,
    /// then in Debian's versioned directories, newest first.
    pub async fn find(
        name: &'static str,
        bin_dir: Option<&str>,
        server: ServerVersion,
    ) -> Result<Self, StepError> {
        let candidates: Vec<PathBuf> = match bin_dir {
            Some(dir) => vec![Path::new(dir).join(name)],
            None => path_candidates(name)
                .into_iter()
                .chain(debian_candidates(name))
                .collect(),
        };
        let mut too_old = Vec::new();
        for path in candidates.into_iter().filter(|p| p.is_file()) {
            let Some(version) = version_of(&path).await else {
                continue;
            };
            let tool = Self {
                name,
                path,
                version,
            };
            if tool.major() >= server.major() {
                return Ok(tool);
            }
            too_old.push(format!("{} ({})", tool.version, tool.path.display()));
        }
        let install = format!(
            "install postgresql-client-{} or set `bin_dir`",
            server.major()
        );
        Err(StepError::failed(if too_old.is_empty() {
            match bin_dir {
                Some(dir) => format!("`{name}` is not in `bin_dir` {dir}; {install}"),
                None => format!("`{name}` is not on PATH nor under {DEBIAN_VERSIONS}; {install}"),
            }
        } else {
            format!(
                "`{name}` {} is older than the server (PostgreSQL {}); {install}",
                too_old.join(", "),
                server.text()
            )
        }))
    }

    fn major(&self) -> u32 {
        let digits: String = self
            .version
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap_or(0)
    }

    /// `pg_dump 15.18`, for outputs and previews.
    pub fn describe(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// Runs the tool against `target` (connection through the environment) to its end.
    pub async fn run(
        &self,
        ctx: &StepContext,
        target: &Target,
        args: &[String],
        feed: Option<Feed>,
    ) -> Result<Ended, StepError> {
        let mut command = tokio::process::Command::new(&self.path);
        command.args(args);
        for (name, value) in target.tool_env() {
            command.env(name, value);
        }
        process::run(ctx, command, self.name, feed).await
    }

    /// Runs the tool with its standard output read by `consume` as it comes.
    pub async fn run_streaming<T, F>(
        &self,
        ctx: &StepContext,
        target: &Target,
        args: &[String],
        consume: impl FnOnce(tokio::process::ChildStdout) -> F,
    ) -> Result<(Ended, T), StepError>
    where
        F: Future<Output = T>,
    {
        let mut command = tokio::process::Command::new(&self.path);
        command.args(args);
        for (name, value) in target.tool_env() {
            command.env(name, value);
        }
        process::run_streaming(ctx, command, self.name, consume).await
    }

    /// The error of a tool that did not succeed: its own words, last lines first.
    pub fn failure(&self, ended: &Ended) -> String {
        let said = crate::tail_lines(&ended.stderr, 6);
        let mut text = match ended.signal {
            Some(signal) => format!("{} was killed by signal {signal}", self.name),
            None => format!("{} exited with {}", self.name, ended.exit_code),
        };
        if !said.is_empty() {
            text.push_str(&format!(":\n{said}"));
        }
        if let Some(feed) = &ended.feed_error {
            text.push_str(&format!("\nreading the input failed: {feed}"));
        }
        text
    }
}

fn path_candidates(name: &str) -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|d| d.join(name)).collect())
        .unwrap_or_default()
}

fn debian_candidates(name: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DEBIAN_VERSIONS) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin").join(name)))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, path)| path).collect()
}

/// `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` -> `15.18`.
async fn version_of(path: &Path) -> Option<String> {
    let output = tokio::process::Command::new(path)
        .arg("--version")
        .output()
        .await
        .ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_version(text: &str) -> Option<String> {
    let after = text.split("(PostgreSQL)").nth(1)?;
    after.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_banner() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n").as_deref(),
            Some("15.18")
        );
        assert_eq!(
            parse_version("psql (PostgreSQL) 17beta1\n").as_deref(),
            Some("17beta1")
        );
        assert_eq!(parse_version("something else"), None);
        assert_eq!(ServerVersion(160_002).major(), 16);
        assert_eq!(ServerVersion(150_018).text(), "15.18");
    }
}
