//! `shell.run`: the escape hatch for what no typed verb covers yet.

use crate::prelude::*;
use crate::process;
use crate::remote::sh_quote;
use crate::{tail_bytes, tail_lines};
use serde_json::json;

/// Run a program (argv) or a script, in its own process group so a timeout kills it all.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Program and arguments, run without a shell: `[pg_isready, -h, localhost]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<Template>>,
    /// A script run by `shell` (default `sh -eu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Environment variables; the place for secrets (they would show in `ps` as arguments).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// The command only reads: safe in check mode and to re-run after a crash.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// What a finished command must look like.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted exit codes (default `[0]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<i32>,
    /// Regex stdout must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Pattern>,
    /// Regex stderr must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Pattern>,
}

/// Bytes of output kept as the `stdout`/`stderr` outputs (they go into the journal).
const OUTPUT_TAIL: usize = 16 << 10;

impl Run {
    /// The command line as argv: the program first.
    fn command_line(&self, ctx: &StepContext) -> Result<Vec<String>, StepError> {
        match (&self.argv, &self.script) {
            (Some(argv), _) => argv.iter().map(|a| ctx.render(a)).collect(),
            (None, Some(script)) => {
                let shell = self.shell.as_deref().unwrap_or("sh -eu");
                let mut line: Vec<String> = shell.split_whitespace().map(str::to_string).collect();
                line.push("-c".into());
                line.push(ctx.render(script)?);
                Ok(line)
            }
            (None, None) => Err(StepError::failed("give `argv` or `script`")),
        }
    }

    /// What the remote `sh` runs: the program (`exec`, arguments quoted), or the script by
    /// `shell`, from a variable so that its text is not on the remote command line either.
    fn remote_script(
        &self,
        ctx: &StepContext,
    ) -> Result<(String, Vec<(String, String)>), StepError> {
        let mut env = Vec::new();
        for (name, value) in &self.env {
            env.push((name.clone(), ctx.render(value)?));
        }
        let run = match (&self.argv, &self.script) {
            (Some(argv), _) => {
                let words: Result<Vec<String>, StepError> =
                    argv.iter().map(|a| Ok(sh_quote(&ctx.render(a)?))).collect();
                format!("exec {}", words?.join(" "))
            }
            (None, Some(script)) => {
                env.push(("RUNBOOK_SCRIPT".into(), ctx.render(script)?));
                let shell = self.shell.as_deref().unwrap_or("sh -eu");
                format!("exec {shell} -c 'eval \"$RUNBOOK_SCRIPT\"'")
            }
            (None, None) => return Err(StepError::failed("give `argv` or `script`")),
        };
        let cwd = match &self.cwd {
            Some(cwd) => format!("cd {} || exit 1\n", sh_quote(&ctx.render(cwd)?)),
            None => String::new(),
        };
        Ok((format!("{cwd}{run}"), env))
    }

    /// On the step's `host:`, over its transport; same outputs and judgement as here.
    async fn execute_remote(
        &self,
        ctx: &StepContext,
        transport: &dyn runbook_engine::action::Transport,
    ) -> Result<Outputs, StepError> {
        let (script, env) = self.remote_script(ctx)?;
        let remote = transport.shell(&script, &env).await?;
        let program = remote.program.clone();
        let ended = process::run_remote(ctx, remote).await?;
        if let Some(why) = transport.explain(ended.exit_code, &ended.stderr).await {
            return Err(StepError::failed(why));
        }
        Finished {
            program: &program,
            exit_code: ended.exit_code,
            signal: None,
            stdout: &ended.stdout,
            stderr: &ended.stderr,
        }
        .judge(self.expect.as_ref())?;
        Ok(outputs(json!({
            "exit_code": ended.exit_code,
            "stdout": tail_bytes(&ctx.redact(&ended.stdout), OUTPUT_TAIL),
            "stderr": tail_bytes(&ctx.redact(&ended.stderr), OUTPUT_TAIL),
        })))
    }

    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        if let Some(transport) = ctx.transport()? {
            return self.execute_remote(ctx, transport.as_ref()).await;
        }
        let line = self.command_line(ctx)?;
        let (program, args) = line
            .split_first()
            .ok_or_else(|| StepError::failed("empty `argv`"))?;
        let mut command = tokio::process::Command::new(program);
        command.args(args);
        for (name, value) in &self.env {
            command.env(name, ctx.render(value)?);
        }
        if let Some(cwd) = &self.cwd {
            command.current_dir(ctx.render(cwd)?);
        }
        let ended = process::run(ctx, command, program, None).await?;
        let (exit_code, stdout, stderr) = (ended.exit_code, ended.stdout, ended.stderr);

        Finished {
            program,
            exit_code,
            signal: ended.signal,
            stdout: &stdout,
            stderr: &stderr,
        }
        .judge(self.expect.as_ref())?;
        Ok(outputs(json!({
            "exit_code": exit_code,
            // Redacted before the cut: a cut through a secret would leave its tail in clear.
            "stdout": tail_bytes(&ctx.redact(&stdout), OUTPUT_TAIL),
            "stderr": tail_bytes(&ctx.redact(&stderr), OUTPUT_TAIL),
        })))
    }
}

/// A finished command, judged against what it was expected to do (`shell.run`, `docker.exec`).
pub(crate) struct Finished<'a> {
    pub program: &'a str,
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub stdout: &'a str,
    pub stderr: &'a str,
}

impl Finished<'_> {
    pub fn judge(&self, expect: Option<&Expect>) -> Result<(), StepError> {
        let program = self.program;
        let exit_code = self.exit_code;
        let accepted = match expect {
            Some(e) if !e.exit_codes.is_empty() => e.exit_codes.clone(),
            _ => vec![0],
        };
        if !accepted.contains(&exit_code) {
            let mut message = match self.signal {
                Some(signal) => format!("`{program}` was killed by signal {signal}"),
                None if accepted == [0] => format!("`{program}` exited with {exit_code}"),
                None => {
                    format!("`{program}` exited with {exit_code} (expected one of {accepted:?})")
                }
            };
            let said = tail_lines(
                if self.stderr.trim().is_empty() {
                    self.stdout
                } else {
                    self.stderr
                },
                5,
            );
            if !said.is_empty() {
                message.push_str(&format!(":\n{said}"));
            }
            return Err(StepError::failed(message));
        }
        let Some(expect) = expect else {
            return Ok(());
        };
        for (stream, pattern, text) in [
            ("stdout", &expect.stdout, self.stdout),
            ("stderr", &expect.stderr, self.stderr),
        ] {
            if let Some(pattern) = pattern
                && !pattern.is_match(text)
            {
                return Err(StepError::failed(format!(
                    "{stream} does not match /{pattern}/; it ends with:\n{}",
                    tail_lines(text, 5)
                )));
            }
        }
        Ok(())
    }
}

impl Verb for Run {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = true;
    const SUMMARY: &'static str = "Run a command or script";
    const OUTPUTS: &'static [&'static str] = &["exit_code", "stdout", "stderr"];
    const PRINTED: &'static [&'static str] = &["argv", "script"];
    const SHORTHAND: Shorthand = Shorthand {
        string: Some("script"),
        list: Some("argv"),
    };
    fn effect(&self) -> Effect {
        Effect::read_only_if(self.read_only)
    }
    fn validate(&self) -> Result<(), String> {
        match (&self.argv, &self.script) {
            (Some(argv), None) if argv.is_empty() => {
                Err("`argv` needs at least the program to run".into())
            }
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err("give exactly one of `argv` or `script`".into()),
        }
    }
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(self.execute(ctx))
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            Ok(match (&self.argv, &self.script) {
                (Some(_), _) => format!("would run `{}`", self.command_line(ctx)?.join(" ")),
                _ => {
                    let script = self.command_line(ctx)?.pop().unwrap_or_default();
                    let first = script.lines().next().unwrap_or_default();
                    let more = script.lines().count().saturating_sub(1);
                    match more {
                        0 => format!("would run the script `{first}`"),
                        n => format!("would run the script `{first}` (+{n} lines)"),
                    }
                }
            })
        })
    }
}
