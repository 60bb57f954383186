//! Starting and resuming runs: everything between "the playbook compiled" and "the executor
//! runs", in the order that keeps a run safe: lock, run directory and snapshots, journal,
//! then the first event.

use chrono::Utc;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::approval::GateKeeper;
use super::leftovers;
use super::notify::{self, Notifier, Target};
use super::recorder::{Observer, Recorder};
use super::scope::{RunFacts, Scope, Templates};
use super::{Executor, Interrupt, RunOptions};
use crate::action::Action;
use crate::compile::{CompileOptions, Playbook};
use crate::diagnostic::Diagnostic;
use crate::journal::lock::{Holder, LockError};
pub use crate::journal::operator::Operator;
use crate::journal::{
    Entry, Event, JournalWriter, LockGuard, Mode, Ownership, RunRecord, RunStatus, SharedStore,
    Snapshot, StoredRun,
};
use crate::load::NotifyOn;
use crate::plan::{Format, render};
use crate::secrets::{SecretError, Secrets};
use crate::source::SourceFile;

/// Why a run did not start (or resume). Nothing was changed in any of these cases.
#[derive(Debug)]
pub enum SessionError {
    /// The playbook does not compile (resume recompiles it).
    Invalid(SourceFile, Vec<Diagnostic>),
    Secrets(Vec<SecretError>),
    Lock(LockError),
    /// The run cannot go on as asked (finished, changed playbook, unfinished mutating steps).
    Refused(String),
    Io(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(source, diagnostics) => {
                write!(f, "{}: {} problems", source.name(), diagnostics.len())
            }
            Self::Secrets(errors) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            Self::Lock(e) => write!(f, "{e}"),
            Self::Refused(message) | Self::Io(message) => f.write_str(message),
        }
    }
}

fn io<E: fmt::Display>(context: &str) -> impl Fn(E) -> SessionError + '_ {
    move |e| SessionError::Io(format!("{context}: {e}"))
}

/// What every run needs, for a start or a resume.
pub struct Session {
    pub store: SharedStore,
    pub options: RunOptions,
    /// Ask approvals on the terminal (when it is one).
    pub prompt: bool,
    pub observer: Observer,
    pub interrupt: Interrupt,
    /// Reads environment variables for secrets (tests pass their own).
    pub env: fn(&str) -> Option<String>,
    /// Posts notifications; without one, `notify:` webhooks are not told.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// Webhooks told of every run besides the playbook's own (`--notify`, the daemon's).
    pub webhooks: Vec<String>,
    /// The daemon starting this run, if one is (kept with the run: daemons take over only
    /// runs a daemon started).
    pub started_by: Option<String>,
    /// The environment file's hosts, for steps with `host:` (the CLI's SSH transport).
    pub hosts: Arc<dyn crate::action::Hosts>,
}

pub fn fingerprint(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What `runbook resume` asks for.
pub struct Resume<'a> {
    /// A run id, a unique prefix, or `last`.
    pub query: &'a str,
    /// Go on although the playbook changed.
    pub force: bool,
    /// Steps that started and never finished, to run again.
    pub rerun: &'a [String],
    /// `--max-parallel` given to the resume; `None` keeps the run's own.
    pub max_parallel: Option<usize>,
}

/// A started run: where its journal is, how it ended, and whether its reports were written
/// (a report that cannot be written does not change the outcome, which the journal holds).
pub struct Finished {
    pub run: Arc<dyn StoredRun>,
    pub status: RunStatus,
    pub reports: Result<(), String>,
}

impl Session {
    pub async fn start<A: Action>(
        self,
        source: &SourceFile,
        playbook: Playbook<A>,
        raw_inputs: &[(String, String)],
    ) -> Result<Finished, SessionError> {
        let operator = Operator::current();
        let secrets =
            Secrets::resolve(&playbook.secrets, self.env).map_err(SessionError::Secrets)?;
        let id = self.store.new_run_id();
        let mode = if self.options.check_mode {
            Mode::Check
        } else {
            Mode::Run
        };
        let facts = RunFacts {
            id: id.clone(),
            started_at: Utc::now(),
            playbook: playbook.name.clone(),
            check_mode: self.options.check_mode,
        };
        let templates = Arc::new(Templates::default());
        let scope =
            Scope::new(&playbook, &templates, &secrets, &facts).map_err(SessionError::Refused)?;
        // The lock first: a refused run leaves nothing behind.
        let lock = self.lock(&playbook, &templates, &scope, &id, &operator)?;

        // Dropped once stored: the plan's JSON is about 1 KB a step, which a long run would
        // otherwise carry to its end.
        let snapshot = Snapshot {
            playbook: source.text.clone(),
            // A plan shows secrets as the redaction marker, never their values.
            plan: render(&playbook, Format::Json),
            inputs: serde_json::to_string_pretty(raw_inputs).unwrap_or_default(),
            started_by: self.started_by.clone(),
        };
        let run = self.store.create_run(&id, &snapshot);
        drop(snapshot);
        let run = run.map_err(io("recording the run"))?;
        let ownership = run.hold(&operator).map_err(io("taking the run"))?;

        // Every entry of this run goes through this recorder, so it keeps the report too.
        let recorder = Arc::new(
            self.recorder(ownership.as_ref(), &secrets, &playbook)?
                .with_report(),
        );
        recorder.record(Event::RunStarted {
            run: id,
            playbook: playbook.name.clone(),
            path: source.name(),
            fingerprint: fingerprint(&source.text),
            mode,
            inputs: playbook.input_values.clone(),
            max_parallel: self.options.max_parallel,
            fail_at: self.options.fail_at.clone(),
            no_rollback: !self.options.rollback,
            user: operator.user.clone(),
            host: operator.host.clone(),
            pid: operator.pid,
        });
        if let Some((key, _)) = &lock {
            recorder.record(Event::LockAcquired { key: key.clone() });
        }
        let hangup = self.journal_hangup(&recorder);
        let targets = self.targets(&playbook, &templates, &scope, &recorder);
        self.notify(&targets, NotifyOn::Start, run.as_ref(), &recorder, None)
            .await;
        let executor = self.executor(
            playbook,
            scope,
            templates,
            recorder.clone(),
            &run,
            &operator,
        );
        let status = executor.run(self.interrupt.clone()).await;
        hangup.abort();
        Ok(self.end(&targets, status, run, &recorder, ownership).await)
    }

    /// Journals a hang-up of the terminal when it happens (the run itself goes on).
    fn journal_hangup(&self, recorder: &Arc<Recorder>) -> tokio::task::JoinHandle<()> {
        let interrupt = self.interrupt.clone();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            interrupt.hung_up().await;
            recorder.record(Event::TerminalLost {
                signal: "SIGHUP".into(),
            });
        })
    }

    /// Continues a run from its journal. `compile` turns the playbook text into a plan (the
    /// caller owns the step families).
    ///
    /// The run goes on as it started: its `--fail-at`, `--no-rollback` and `--max-parallel`
    /// come from the journal (a rollback drill resumed must not become a real change).
    /// `--no-rollback` and `--max-parallel` given to the resume win (`max_parallel: None`
    /// keeps the journaled one).
    pub async fn resume<A: Action>(
        mut self,
        request: Resume<'_>,
        compile: impl Fn(&SourceFile, &CompileOptions) -> Result<Playbook<A>, Vec<Diagnostic>>,
    ) -> Result<Finished, SessionError> {
        let Resume {
            query,
            force,
            rerun,
            max_parallel,
        } = request;
        let operator = Operator::current();
        let run = self
            .store
            .find(query)
            .map_err(|e| SessionError::Refused(e.to_string()))?;
        let ownership = run
            .hold(&operator)
            .map_err(|e| SessionError::Refused(e.to_string()))?;
        let journal = run
            .journal()
            .map_err(|e| SessionError::Io(format!("reading the journal of {}: {e}", run.id())))?;
        // What the dead run left running goes first: a leftover could still be changing
        // things while the operator decides, or after the resumed run ends.
        self.kill_leftovers(ownership.as_ref(), &journal.entries)?;
        let record = RunRecord::from_entries(&journal.entries);
        let header = record.header.clone().ok_or_else(|| {
            SessionError::Refused(format!(
                "run {} has no start event in its journal",
                run.id()
            ))
        })?;
        if let Some(finish) = &record.finish {
            return Err(SessionError::Refused(format!(
                "run {} already finished: {}; nothing to resume",
                run.id(),
                finish.status.as_str()
            )));
        }
        if header.mode == Mode::Check {
            return Err(SessionError::Refused(format!(
                "run {} was a check (--dry-run); start a new one instead",
                run.id()
            )));
        }

        self.options.fail_at = header.fail_at.clone();
        self.options.rollback &= !header.no_rollback;
        self.options.max_parallel = max_parallel.unwrap_or(header.max_parallel);

        let snapshot = run.snapshot().map_err(io("reading the run's snapshot"))?;
        let source = self.resume_source(
            run.id(),
            &snapshot.playbook,
            &header.path,
            &header.fingerprint,
            force,
        )?;
        let raw_inputs: Vec<(String, String)> =
            serde_json::from_str(&snapshot.inputs).unwrap_or_default();
        // Its plan is about 1 KB a step; the resume has what it needs from it.
        drop(snapshot);
        let options = CompileOptions {
            inputs: raw_inputs,
            environment: Vec::new(),
            require_inputs: true,
            // The hosts are checked when each step runs, against those the resume was given.
            hosts: None,
        };
        let playbook =
            compile(&source, &options).map_err(|d| SessionError::Invalid(source.clone(), d))?;

        let unfinished = record.unfinished();
        if let Some(wrong) = rerun.iter().find(|r| !unfinished.contains(&r.as_str())) {
            return Err(SessionError::Refused(format!(
                "`--rerun {wrong}`: only steps that started and never finished can be re-run (unfinished: {})",
                if unfinished.is_empty() {
                    "none".to_string()
                } else {
                    unfinished.join(", ")
                }
            )));
        }

        // A step that started and never finished may have done part of its work.
        let mut refused = Vec::new();
        for &id in &unfinished {
            let step = playbook
                .steps
                .iter()
                .map(|&i| playbook.step(i))
                .find(|s| s.id == id);
            match step {
                Some(step) if step.idempotent || rerun.iter().any(|r| r == id) => {}
                Some(step) => refused.push(format!("`{}` ({})", step.id, step.action.verb())),
                None => {}
            }
        }
        if !refused.is_empty() {
            return Err(SessionError::Refused(format!(
                "{} started and never finished, and may have done part of its work: {}.\nCheck what it did, then resume with `--rerun STEP` for each step that is safe to run again",
                if refused.len() == 1 {
                    "this step"
                } else {
                    "these steps"
                },
                refused.join(", ")
            )));
        }

        let secrets =
            Secrets::resolve(&playbook.secrets, self.env).map_err(SessionError::Secrets)?;
        let facts = RunFacts {
            id: run.id().to_string(),
            started_at: record.started_at.unwrap_or_else(Utc::now),
            playbook: playbook.name.clone(),
            check_mode: false,
        };
        let templates = Arc::new(Templates::default());
        let scope =
            Scope::new(&playbook, &templates, &secrets, &facts).map_err(SessionError::Refused)?;
        let lock = self.lock(&playbook, &templates, &scope, run.id(), &operator)?;
        let recorder = Arc::new(self.recorder(ownership.as_ref(), &secrets, &playbook)?);
        recorder.continue_from(record.clone());
        recorder.record(Event::RunResumed {
            run: run.id().to_string(),
            user: operator.user.clone(),
            host: operator.host.clone(),
            pid: operator.pid,
            forced: force,
            rerun: rerun.to_vec(),
        });
        if let Some((key, _)) = &lock {
            recorder.record(Event::LockAcquired { key: key.clone() });
        }
        let hangup = self.journal_hangup(&recorder);
        let targets = self.targets(&playbook, &templates, &scope, &recorder);
        let mut executor = self.executor(
            playbook,
            scope,
            templates,
            recorder.clone(),
            &run,
            &operator,
        );
        executor.restore(&record);
        let status = executor.run(self.interrupt.clone()).await;
        hangup.abort();
        Ok(self.end(&targets, status, run, &recorder, ownership).await)
    }

    /// Kills the process groups of the dead run that still run, each kill journaled (before
    /// anything is decided, so also when the resume is then refused). Only the program
    /// names are journaled here, before the secrets are known; URL passwords are still
    /// redacted by the writer. A group that outlives the wait for it refuses the resume: its
    /// program could still act while the resumed run does.
    fn kill_leftovers(
        &self,
        ownership: &dyn Ownership,
        entries: &[Entry],
    ) -> Result<(), SessionError> {
        let killed = leftovers::kill(entries);
        if killed.is_empty() {
            return Ok(());
        }
        let sink = ownership.journal().map_err(io("opening the journal"))?;
        let mut writer = JournalWriter::new(sink, Default::default());
        let mut alive = Vec::new();
        for k in killed {
            if k.survivors > 0 {
                alive.push(format!(
                    "`{}` of step `{}` (group {}: {} process(es))",
                    k.program, k.step, k.pgid, k.survivors
                ));
            }
            let (entry, written) = writer.append(Event::LeftoverKilled {
                step: k.step,
                program: k.program,
                pgid: k.pgid,
                processes: k.processes,
                survivors: k.survivors,
            });
            written.map_err(io("journaling a killed leftover"))?;
            (self.observer)(&entry);
        }
        refuse_survivors(&alive)
    }

    /// The playbook a resumed run continues with: the snapshot taken at the start, unless the
    /// file changed and `--force` says to use the new text.
    fn resume_source(
        &self,
        run: &str,
        saved: &str,
        path: &str,
        recorded: &str,
        force: bool,
    ) -> Result<SourceFile, SessionError> {
        let current = std::fs::read_to_string(path).ok();
        let changed = current.as_deref().map(fingerprint).as_deref() != Some(recorded);
        match (changed, force, current) {
            (false, _, Some(text)) => Ok(SourceFile::new(path, text)),
            (true, true, Some(text)) => Ok(SourceFile::new(path, text)),
            (true, false, Some(_)) => Err(SessionError::Refused(format!(
                "`{path}` changed since run {run} started; resuming would mix two versions of the procedure.\nRestore the file, or resume with `--force` to continue with the new version",
            ))),
            (_, _, None) if force => Ok(SourceFile::new(PathBuf::from(path), saved.to_string())),
            (_, _, None) => Err(SessionError::Refused(format!(
                "`{path}` is gone; resume with `--force` to continue from the copy saved with the run"
            ))),
        }
    }

    fn lock<A: Action>(
        &self,
        playbook: &Playbook<A>,
        templates: &Templates,
        scope: &Scope,
        run: &str,
        operator: &Operator,
    ) -> Result<Option<(String, LockGuard)>, SessionError> {
        // A check changes nothing, so it neither needs nor blocks the lock.
        let Some(key) = &playbook.lock else {
            return Ok(None);
        };
        if self.options.check_mode {
            return Ok(None);
        }
        let key = templates
            .render(key, &scope.values(None))
            .map_err(|e| SessionError::Refused(format!("lock `{key}`: {e}")))?;
        let holder = Holder {
            key: key.clone(),
            run: run.to_string(),
            playbook: playbook.name.clone(),
            pid: operator.pid,
            user: operator.user.clone(),
            host: operator.host.clone(),
            since: Utc::now(),
        };
        let held = self.store.lock(&holder).map_err(SessionError::Lock)?;
        Ok(Some((key, held)))
    }

    /// The playbook's webhooks (rendered now: inputs, vars, secrets; an empty URL is a webhook
    /// not configured here) and the session's own, which are told of everything.
    fn targets<A: Action>(
        &self,
        playbook: &Playbook<A>,
        templates: &Templates,
        scope: &Scope,
        recorder: &Recorder,
    ) -> Vec<Target> {
        let mut targets = Vec::new();
        for spec in &playbook.notify {
            match templates.render(&spec.webhook, &scope.values(None)) {
                Ok(url) if url.trim().is_empty() => {}
                Ok(url) => targets.push(Target {
                    url: url.trim().to_string(),
                    on: spec.on.clone(),
                }),
                Err(e) => recorder.record(Event::Notified {
                    on: "any".into(),
                    target: spec.webhook.clone(),
                    error: Some(format!("the webhook URL does not render: {e}")),
                }),
            }
        }
        // An empty URL (an unset RUNBOOK_NOTIFY) is no webhook, as in a playbook.
        for url in self.webhooks.iter().filter(|u| !u.trim().is_empty()) {
            targets.push(Target {
                url: url.trim().to_string(),
                on: vec![
                    NotifyOn::Start,
                    NotifyOn::Success,
                    NotifyOn::Failure,
                    NotifyOn::RollbackFailed,
                ],
            });
        }
        targets
    }

    /// The end of a run: its reports written, the evidence and what the end notification
    /// points at, then the webhooks told.
    async fn end(
        &self,
        targets: &[Target],
        status: RunStatus,
        run: Arc<dyn StoredRun>,
        recorder: &Recorder,
        ownership: Box<dyn Ownership>,
    ) -> Finished {
        if status == RunStatus::Abandoned {
            // The next owner writes the reports and tells the webhooks how the run ended.
            return Finished {
                reports: Err("not written: the run was lost to another owner".into()),
                run,
                status,
            };
        }
        let written = crate::report::write_all(run.as_ref(), recorder.take_report());
        let report = written.as_ref().ok();
        self.notify(
            targets,
            notify::moment(status),
            run.as_ref(),
            recorder,
            report,
        )
        .await;
        // Given up only now: the end notification is journaled by its owner too.
        drop(ownership);
        Finished {
            reports: written.map(|_| ()).map_err(|e| e.to_string()),
            run,
            status,
        }
    }

    /// Posts to every target that wants this moment, each post journaled, a failure included.
    /// `report` is the run's report when the caller has it, else it is made from the journal.
    async fn notify(
        &self,
        targets: &[Target],
        on: NotifyOn,
        run: &dyn StoredRun,
        recorder: &Recorder,
        report: Option<&crate::report::Report>,
    ) {
        let wanted: Vec<&Target> = targets.iter().filter(|t| t.on.contains(&on)).collect();
        let Some(notifier) = self.notifier.as_ref().filter(|_| !wanted.is_empty()) else {
            return;
        };
        let report = match report {
            Some(report) => Cow::Borrowed(report),
            None => match crate::report::of(run) {
                Ok(report) => Cow::Owned(report),
                Err(_) => return,
            },
        };
        let report_path = run.report_location("html");
        let payload = notify::payload(on, &report, &report_path);
        for target in wanted {
            let sent = notifier.post(&target.url, &payload).await;
            recorder.record(Event::Notified {
                on: on.as_str().to_string(),
                target: notify::shown_target(&target.url),
                error: sent.err().map(|e| notify::shown_error(&e, &target.url)),
            });
        }
    }

    fn recorder<A: Action>(
        &self,
        ownership: &dyn Ownership,
        secrets: &Secrets,
        playbook: &Playbook<A>,
    ) -> Result<Recorder, SessionError> {
        let sink = ownership.journal().map_err(io("opening the journal"))?;
        let writer = JournalWriter::new(sink, secrets.redactor());
        let recorder = Recorder::new(writer, self.observer.clone(), ownership.lost());
        // The history is for measuring the objectives; without them nothing reads it.
        Ok(if playbook.objectives.is_some() {
            recorder
        } else {
            recorder.without_history()
        })
    }

    fn executor<A: Action>(
        &self,
        playbook: Playbook<A>,
        scope: Scope,
        templates: Arc<Templates>,
        recorder: Arc<Recorder>,
        run: &Arc<dyn StoredRun>,
        operator: &Operator,
    ) -> Executor<A> {
        let approver = Arc::new(GateKeeper::new(
            run.clone(),
            recorder.clone(),
            self.prompt,
            operator.user.clone(),
            self.store.command_prefix(),
        ));
        Executor::new(
            Arc::new(playbook),
            scope,
            templates,
            recorder,
            approver,
            self.hosts.clone(),
            self.options.clone(),
        )
    }
}

/// The resume goes on only when every killed group of the dead run is gone.
fn refuse_survivors(alive: &[String]) -> Result<(), SessionError> {
    if alive.is_empty() {
        return Ok(());
    }
    Err(SessionError::Refused(format!(
        "the dead run's {} still ran {} s after SIGKILL, most likely in uninterruptible sleep (state D in `ps`, waiting on a disk or a network mount); resume again once it is gone",
        alive.join(", "),
        leftovers::GONE_WITHIN.as_secs()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_goes_on_only_when_every_killed_group_is_gone() {
        assert!(refuse_survivors(&[]).is_ok());
        let Err(SessionError::Refused(message)) =
            refuse_survivors(&["`sh` of step `b` (group 42: 1 process(es))".into()])
        else {
            panic!("a survivor must refuse the resume");
        };
        assert!(message.contains("step `b` (group 42"), "{message}");
        assert!(message.contains("after SIGKILL"), "{message}");
    }
}
