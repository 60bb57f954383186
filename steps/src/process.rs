//! Running a local program (`shell.run`, and pg_dump/pg_restore/psql for `postgres.*`) so that
//! nothing it starts outlives the step: its own process group, killed when the step ends,
//! times out or is cancelled, and killed with runbook itself.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::prelude::*;

/// Bytes of output kept for expectations; beyond this the oldest output is dropped.
const CAPTURE_LIMIT: usize = 4 << 20;

/// What is written to the program's standard input, then closed (a decompressed dump).
pub(crate) type Feed = Pin<Box<dyn AsyncRead + Send>>;

/// How a program ended and the (tail of the) output it wrote.
pub(crate) struct Ended {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Reading the feed failed (a corrupt `.gz`): the program saw a truncated input.
    pub feed_error: Option<String>,
}

/// Runs `command` to its end, for the step of `ctx` (which journals its process group).
/// `program` names it in errors.
pub(crate) async fn run(
    ctx: &StepContext,
    command: tokio::process::Command,
    program: &str,
    feed: Option<Feed>,
) -> Result<Ended, StepError> {
    run_fed(ctx, command, program, feed, false).await
}

/// Runs a command on a host ([`RemoteCommand`]): its input written, then held open until it
/// ends, since the remote side ends the command's process group when its input closes.
pub(crate) async fn run_remote(
    ctx: &StepContext,
    remote: runbook_engine::action::RemoteCommand,
) -> Result<Ended, StepError> {
    let feed: Feed = Box::pin(std::io::Cursor::new(remote.stdin));
    run_fed(ctx, remote.command, &remote.program, Some(feed), true).await
}

async fn run_fed(
    ctx: &StepContext,
    command: tokio::process::Command,
    program: &str,
    feed: Option<Feed>,
    hold_input: bool,
) -> Result<Ended, StepError> {
    let input = if feed.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let (mut child, group) = start(ctx, command, program, input)?;
    let stdout = tokio::spawn(capture(child.stdout.take()));
    let stderr = tokio::spawn(capture(child.stderr.take()));
    let feeding = feed.zip(child.stdin.take()).map(|(mut feed, mut stdin)| {
        tokio::spawn(async move {
            // The program may stop reading early (an error): that broken pipe is its story.
            let result = tokio::io::copy(&mut feed, &mut stdin).await;
            if hold_input && result.is_ok() {
                // Until the command ends (this task is aborted then).
                std::future::pending::<()>().await;
            }
            drop(stdin);
            result
                .err()
                .filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
        })
    });
    let status = child
        .wait()
        .await
        .map_err(|e| StepError::failed(format!("waiting for `{program}`: {e}")))?;
    // Whatever it left running in the background would hold the pipes open: end it.
    drop(group);
    let feed_error = match feeding {
        Some(task) if hold_input => {
            task.abort();
            None
        }
        Some(task) => task.await.ok().flatten().map(|e| e.to_string()),
        None => None,
    };
    Ok(ended(
        status,
        stdout.await.unwrap_or_default(),
        stderr.await.unwrap_or_default(),
        feed_error,
    ))
}

/// Runs `command` with its standard output handed to `consume` as it is written (a restore's
/// data streamed into database connections), the rest as [`run`] does. When `consume` returns
/// before the end, the program's next write fails and it ends. The `Ended` has no stdout.
pub(crate) async fn run_streaming<T, F>(
    ctx: &StepContext,
    command: tokio::process::Command,
    program: &str,
    consume: impl FnOnce(tokio::process::ChildStdout) -> F,
) -> Result<(Ended, T), StepError>
where
    F: Future<Output = T>,
{
    let (mut child, group) = start(ctx, command, program, Stdio::null())?;
    let stderr = tokio::spawn(capture(child.stderr.take()));
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| StepError::failed(format!("`{program}` has no standard output")))?;
    let consumed = consume(stdout).await;
    let status = child
        .wait()
        .await
        .map_err(|e| StepError::failed(format!("waiting for `{program}`: {e}")))?;
    drop(group);
    let ended = ended(
        status,
        String::new(),
        stderr.await.unwrap_or_default(),
        None,
    );
    Ok((ended, consumed))
}

/// Starts `command` in a process group of its own (a timeout or Ctrl-C kills everything it
/// started), registered with the guard and journaled for the step.
fn start(
    ctx: &StepContext,
    mut command: tokio::process::Command,
    program: &str,
    input: Stdio,
) -> Result<(tokio::process::Child, ProcessGroup), StepError> {
    command
        .stdin(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    die_with_runbook(&mut command);
    let child = command
        .spawn()
        .map_err(|e| StepError::failed(format!("cannot start `{program}`: {e}")))?;
    let group = ProcessGroup::started(child.id());
    if let Some(pid) = child.id() {
        ctx.process_started(program, pid);
    }
    Ok((child, group))
}

fn ended(
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    feed_error: Option<String>,
) -> Ended {
    Ended {
        exit_code: status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(-1),
        signal: status.signal(),
        stdout,
        stderr,
        feed_error,
    }
}

/// Reads a stream to its end, keeping the last `CAPTURE_LIMIT` bytes.
async fn capture(stream: Option<impl AsyncRead + Unpin>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > CAPTURE_LIMIT {
                    kept.drain(..kept.len() - CAPTURE_LIMIT);
                }
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Makes the started command die when runbook dies, even by `kill -9`, when no `Drop` runs.
/// A command left running unobserved would finish work the journal says never finished, and
/// a resume would then do it a second time (a compensation run twice, for one). Under the
/// CLI the guard (`guard.rs`) kills its whole group then, and the spawn stays a cheap
/// `posix_spawn`; without a guard the kernel's death signal is set in the child (which makes
/// the spawn a fork), and the command's own children may outlive it.
#[allow(unsafe_code)]
fn die_with_runbook(command: &mut tokio::process::Command) {
    if crate::guard::active() {
        return;
    }
    let runbook = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes two
    // async-signal-safe system calls (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // runbook may have died between fork and prctl: then nobody will signal us.
            if nix::unistd::getppid().as_raw() as u32 != runbook {
                return Err(std::io::Error::other(
                    "runbook exited while starting the command",
                ));
            }
            Ok(())
        });
    }
}

/// The process group of a started command, killed when this is dropped: after the command
/// exits (stragglers), or when the step is cancelled or times out (everything).
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    /// The group of a program just started, registered with the guard (if one runs).
    fn started(pid: Option<u32>) -> Self {
        if let Some(pid) = pid {
            crate::guard::register(pid);
        }
        Self(pid)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // ESRCH (the group is already gone) is the usual, fine outcome.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            crate::guard::forget(pid as u32);
        }
    }
}
