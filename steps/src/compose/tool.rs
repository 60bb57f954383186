//! The Compose tool the host already has: the `docker compose` plugin or the standalone
//! `docker-compose`, found once per run the way the postgres family finds pg_dump, and run
//! with the project's global flags in its own process group.
//!
//! Values that may be secret (interpolation variables, build args) go through the tool's
//! environment, never its command line, which `ps` shows to every user of the host.

use std::path::PathBuf;
use tokio::sync::OnceCell;

use crate::prelude::*;
use crate::process::{self, Ended};

/// Which program speaks Compose here.
#[derive(Debug, Clone)]
pub(super) enum Program {
    /// `docker compose ...` (Compose v2, the CLI plugin).
    Plugin(PathBuf),
    /// `docker-compose ...` (Debian's package, v1 or a v2 standalone build).
    Standalone(PathBuf),
}

/// The program and the version it reported, for previews and errors.
#[derive(Debug, Clone)]
pub(super) struct Tool {
    program: Program,
    pub version: String,
}

/// The Compose project's global flags and the environment its files are interpolated from.
pub(super) struct Project {
    pub name: String,
    pub files: Vec<String>,
    pub project_dir: Option<String>,
    pub env_file: Option<String>,
    pub profiles: Vec<String>,
    /// Interpolation variables and build args: passed in the environment.
    pub env: BTreeMap<String, String>,
    /// `DOCKER_HOST` for the tool, when the step names an engine.
    pub engine: Option<String>,
}

impl Project {
    /// `-p NAME -f FILE... --project-directory DIR --env-file FILE --profile P...`
    pub fn global_args(&self) -> Vec<String> {
        let mut args = vec!["--project-name".to_string(), self.name.clone()];
        for file in &self.files {
            args.extend(["--file".to_string(), file.clone()]);
        }
        if let Some(dir) = &self.project_dir {
            args.extend(["--project-directory".to_string(), dir.clone()]);
        }
        if let Some(file) = &self.env_file {
            args.extend(["--env-file".to_string(), file.clone()]);
        }
        for profile in &self.profiles {
            args.extend(["--profile".to_string(), profile.clone()]);
        }
        args
    }
}

static FOUND: OnceCell<Result<Tool, String>> = OnceCell::const_new();

impl Tool {
    /// `path` (the step's `tool`) if given; else the plugin, else `docker-compose` on PATH.
    /// Found once per process: every compose step of a run uses the same program.
    pub async fn find(path: Option<&str>) -> Result<Self, StepError> {
        if let Some(path) = path {
            let program = if path.ends_with("docker") {
                Program::Plugin(path.into())
            } else {
                Program::Standalone(path.into())
            };
            return Self::probe(program).await.ok_or_else(|| {
                StepError::failed(format!(
                    "`{path} version` did not answer: is it the Compose tool?"
                ))
            });
        }
        FOUND
            .get_or_init(|| async {
                for program in candidates() {
                    if let Some(tool) = Self::probe(program).await {
                        return Ok(tool);
                    }
                }
                Err("neither the `docker compose` plugin nor `docker-compose` is on PATH; install one (Debian: docker-compose) or set `tool`".to_string())
            })
            .await
            .clone()
            .map_err(StepError::failed)
    }

    async fn probe(program: Program) -> Option<Self> {
        let (path, args): (&PathBuf, &[&str]) = match &program {
            Program::Plugin(docker) => (docker, &["compose", "version", "--short"]),
            Program::Standalone(path) => (path, &["version", "--short"]),
        };
        let output = tokio::process::Command::new(path)
            .args(args)
            .output()
            .await
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Some(Self { program, version })
    }

    /// `docker-compose 1.29.2`, `docker compose 2.29.7`
    pub fn describe(&self) -> String {
        match &self.program {
            Program::Plugin(_) => format!("docker compose {}", self.version),
            Program::Standalone(_) => format!("docker-compose {}", self.version),
        }
    }

    /// Runs `<tool> <global flags> <args>` to its end.
    pub async fn run(
        &self,
        ctx: &StepContext,
        project: &Project,
        args: &[String],
    ) -> Result<Ended, StepError> {
        let mut command = match &self.program {
            Program::Plugin(docker) => {
                let mut command = tokio::process::Command::new(docker);
                command.arg("compose");
                command
            }
            Program::Standalone(path) => tokio::process::Command::new(path),
        };
        command.args(project.global_args()).args(args);
        // Progress bars and colours are for terminals; the journal keeps plain text.
        command
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .env("NO_COLOR", "1");
        if let Some(dir) = &project.project_dir {
            command.current_dir(dir);
        }
        for (name, value) in &project.env {
            command.env(name, value);
        }
        if let Some(engine) = &project.engine {
            command.env("DOCKER_HOST", engine);
        }
        process::run(ctx, command, "docker-compose", None).await
    }

    /// Runs it and fails with its own last words (secrets hidden) unless it succeeded.
    pub async fn run_ok(
        &self,
        ctx: &StepContext,
        project: &Project,
        args: &[String],
    ) -> Result<Ended, StepError> {
        let ended = self.run(ctx, project, args).await?;
        if ended.exit_code == 0 {
            return Ok(ended);
        }
        let said = crate::tail_lines(&ctx.redact(&ended.stderr), 8);
        Err(StepError::failed(format!(
            "`{} {}` exited with {}{}",
            self.describe(),
            args.first().map_or("", String::as_str),
            ended.exit_code,
            if said.is_empty() {
                String::new()
            } else {
                format!(":\n{said}")
            }
        )))
    }
}

fn candidates() -> Vec<Program> {
    let on_path = |name: &str| -> Vec<PathBuf> {
        std::env::var_os("PATH")
            .map(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(name))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default()
    };
    on_path("docker")
        .into_iter()
        .take(1)
        .map(Program::Plugin)
        .chain(
            on_path("docker-compose")
                .into_iter()
                .take(1)
                .map(Program::Standalone),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_flags_carry_the_project_and_nothing_secret() {
        let project = Project {
            name: "shop".into(),
            files: vec!["a.yml".into(), "b.yml".into()],
            project_dir: None,
            env_file: Some(".env.prod".into()),
            profiles: vec!["tools".into()],
            env: BTreeMap::from([("DB_PASSWORD".to_string(), "hunter2".to_string())]),
            engine: None,
        };
        let args = project.global_args();
        assert_eq!(
            args,
            [
                "--project-name",
                "shop",
                "--file",
                "a.yml",
                "--file",
                "b.yml",
                "--env-file",
                ".env.prod",
                "--profile",
                "tools"
            ]
        );
        assert!(!args.iter().any(|a| a.contains("hunter2")));
    }
}
