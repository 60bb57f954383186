//! `docker.logs`: recent log lines, checked against patterns (`logs --tail=200 api | grep error`).

use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::Logs;
use crate::prelude::*;

/// Matching lines kept as the `matches` output.
const MATCHES_KEPT: usize = 50;

impl Logs {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let since = self.since.as_ref().map(|s| ctx.resolve(s)).transpose()?;
        let tail = self.tail.as_ref().map(|t| ctx.resolve(t)).transpose()?;
        let since = since.map_or(0, |s| {
            let now = chrono::Utc::now().timestamp();
            i32::try_from(now - i64::try_from(s.0.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
        });

        let mut lines: Vec<String> = Vec::new();
        for container in &containers {
            let mut stream = docker.logs(
                &container.id,
                Some(LogsOptions {
                    stdout: true,
                    stderr: true,
                    since,
                    tail: tail.map_or_else(|| "all".to_string(), |t| t.to_string()),
                    ..Default::default()
                }),
            );
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    StepError::failed(format!("reading the logs of {}: {e}", container.name))
                })?;
                let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
                lines.extend(text.lines().map(|l| format!("{}: {l}", container.name)));
            }
        }
        let matching = |regex: &Pattern| -> Vec<String> {
            lines
                .iter()
                .filter(|l| regex.is_match(l))
                .cloned()
                .collect()
        };
        if let Some(regex) = &self.absent {
            let found = matching(regex);
            if !found.is_empty() {
                return Err(StepError::failed(format!(
                    "{} log line(s) match /{regex}/, e.g.:\n{}",
                    found.len(),
                    found.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
                )));
            }
        }
        let matches = match &self.must_match {
            Some(regex) => {
                let found = matching(regex);
                if found.is_empty() {
                    return Err(StepError::failed(format!(
                        "no log line of {} matches /{regex}/ ({} lines read)",
                        super::engine::describe_all(&containers),
                        lines.len()
                    )));
                }
                found
            }
            None => Vec::new(),
        };
        Ok(outputs(serde_json::json!({
            "lines": lines.len(),
            "matches": matches.into_iter().take(MATCHES_KEPT).collect::<Vec<_>>(),
        })))
    }
}
