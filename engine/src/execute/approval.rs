//! `approval.gate`: a person decides, on this terminal or with `runbook approve` from another
//! shell (the usual case for a scheduled or backgrounded run). Either way the decision, who
//! made it and when, is journaled.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

use super::recorder::Recorder;
use crate::action::{Approver, BoxFuture, StepError};
use crate::journal::{ApprovalDecision, Event, StoredRun};

/// How often a waiting gate looks for a decision file.
const POLL: Duration = Duration::from_millis(300);

pub struct GateKeeper {
    run: Arc<dyn StoredRun>,
    /// The global options `runbook approve` needs in another shell to reach this run's store.
    command_prefix: String,
    recorder: Arc<Recorder>,
    /// Ask on the terminal too (stdin and stderr are a TTY and prompting was not disabled).
    prompt: bool,
    /// Who is at the terminal.
    user: String,
}

impl GateKeeper {
    pub fn new(
        run: Arc<dyn StoredRun>,
        recorder: Arc<Recorder>,
        prompt: bool,
        user: String,
        command_prefix: String,
    ) -> Self {
        let prompt = prompt && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Self {
            run,
            command_prefix,
            recorder,
            prompt,
            user,
        }
    }

    async fn wait(&self, step: &str, message: &str, approvers: &[String]) -> ApprovalDecision {
        let mut may_answer_here =
            self.prompt && (approvers.is_empty() || approvers.contains(&self.user));
        if may_answer_here {
            // Never `eprintln!`: it panics on a terminal that hung up (the run goes on).
            let _ = writeln!(
                std::io::stderr(),
                "\n  approval needed for `{step}`: {message}\n  approve? [y/n] (or from another shell: {} {} {step})",
                approve_command(&self.command_prefix),
                self.run.id()
            );
        }
        let mut interval = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                line = terminal_line(), if may_answer_here => {
                    match line.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
                        Some("y" | "yes") => return self.answer(true),
                        Some("n" | "no") => return self.answer(false),
                        // A stray Enter must not decide a production change either way.
                        Some(_) => {
                            let _ = writeln!(std::io::stderr(), "  answer `y` or `n`");
                        }
                        // stdin closed: only `runbook approve` can decide now.
                        None => may_answer_here = false,
                    }
                }
                _ = interval.tick() => {
                    if let Some(decision) = self.run.read_approval(step) {
                        return decision;
                    }
                }
            }
        }
    }

    fn answer(&self, approved: bool) -> ApprovalDecision {
        ApprovalDecision {
            approved,
            approver: format!("{} (terminal)", self.user),
            comment: None,
        }
    }
}

impl Approver for GateKeeper {
    fn decide<'a>(
        &'a self,
        step: &'a str,
        message: &'a str,
        approvers: &'a [String],
    ) -> BoxFuture<'a, Result<ApprovalDecision, StepError>> {
        Box::pin(async move {
            self.recorder.record(Event::ApprovalRequested {
                step: step.to_string(),
                message: message.to_string(),
                approvers: approvers.to_vec(),
            });
            let decision = self.wait(step, message, approvers).await;
            self.recorder.record(Event::ApprovalDecided {
                step: step.to_string(),
                approved: decision.approved,
                approver: decision.approver.clone(),
                comment: decision.comment.clone(),
            });
            Ok(decision)
        })
    }
}

/// The next line typed on the terminal. One thread reads stdin for the whole process, so a
/// gate decided from another shell leaves no reader behind to swallow the next answer.
async fn terminal_line() -> Option<String> {
    static LINES: OnceLock<Mutex<mpsc::UnboundedReceiver<String>>> = OnceLock::new();
    let lines = LINES.get_or_init(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Mutex::new(rx)
    });
    lines.lock().await.recv().await
}

/// `runbook approve` as it must be typed in another shell to reach the run's store.
pub fn approve_command(command_prefix: &str) -> String {
    if command_prefix.is_empty() {
        "runbook approve".to_string()
    } else {
        format!("runbook {command_prefix} approve")
    }
}
