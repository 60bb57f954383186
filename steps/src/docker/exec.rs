//! `docker.exec`: a command inside each selected container (`pg_isready`, `redis-cli ping`).

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::Exec;
use super::engine::describe_all;
use crate::prelude::*;
use crate::shell::Finished;
use crate::tail_bytes;

/// Bytes of output kept as outputs (they go into the journal).
const OUTPUT_TAIL: usize = 16 << 10;

impl Exec {
    fn command_line(&self, ctx: &StepContext) -> Result<Vec<String>, StepError> {
        let command = ctx.render_list(&self.command)?;
        if command.is_empty() {
            return Err(StepError::failed(
                "`command` rendered an empty list".to_string(),
            ));
        }
        Ok(command)
    }

    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let command = self.command_line(ctx)?;
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| Ok(format!("{k}={}", ctx.render(v)?)))
            .collect::<Result<_, StepError>>()?;
        let user = self.user.as_ref().map(|u| ctx.render(u)).transpose()?;
        let workdir = self.workdir.as_ref().map(|w| ctx.render(w)).transpose()?;
        let mut last = Outputs::new();
        for container in &containers {
            if !container.is_running() {
                return Err(StepError::failed(format!(
                    "cannot exec in {}: it is {}",
                    container.name, container.state
                )));
            }
            let fail = |e: bollard::errors::Error| {
                StepError::failed(format!("exec in {}: {e}", container.name))
            };
            let created = docker
                .create_exec(
                    &container.id,
                    CreateExecOptions {
                        cmd: Some(command.clone()),
                        env: Some(env.clone()),
                        user: user.clone(),
                        working_dir: workdir.clone(),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .map_err(fail)?;
            let (mut stdout, mut stderr) = (String::new(), String::new());
            if let StartExecResults::Attached { mut output, .. } =
                docker.start_exec(&created.id, None).await.map_err(fail)?
            {
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(fail)? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.push_str(&String::from_utf8_lossy(&message));
                        }
                        other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                    }
                }
            }
            let inspected = docker.inspect_exec(&created.id).await.map_err(fail)?;
            let exit_code = inspected
                .exit_code
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(-1);
            let program = format!("{} in {}", command[0], container.name);
            Finished {
                program: &program,
                exit_code,
                signal: None,
                stdout: &stdout,
                stderr: &stderr,
            }
            .judge(self.expect.as_ref())?;
            last = outputs(serde_json::json!({
                "exit_code": exit_code,
                // Redacted before the cut, which could split a secret.
                "stdout": tail_bytes(&ctx.redact(&stdout), OUTPUT_TAIL),
                "stderr": tail_bytes(&ctx.redact(&stderr), OUTPUT_TAIL),
            }));
        }
        Ok(last)
    }

    pub(super) async fn forecast(&self, ctx: &StepContext) -> Result<String, StepError> {
        let (_, containers) = self.targets(ctx).await?;
        Ok(format!(
            "would run `{}` in {}",
            self.command_line(ctx)?.join(" "),
            describe_all(&containers)
        ))
    }
}
