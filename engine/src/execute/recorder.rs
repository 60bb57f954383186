//! Every event of a run goes through here: into the journal first, then to whoever watches
//! (the console). Nothing else in the executor writes or prints. Each event is written at
//! once (it outlives this process); `record` also waits for the disk, `record_written`
//! leaves that to the next `flush` (see docs/decisions.md, "Per-step cost"). The entries
//! written are also folded, as a reader of the journal would fold them, into the run's
//! history (for its objectives) and, for a run this process started, its report.
//!
//! The console and the report are told of an entry a little later than the journal gets
//! it: when the run next waits (for a step's answer, a program, a timer), or when a few
//! entries are waiting to be shown (see [`Recorder::show`]). Between a step's result and
//! the next step's start that work is not on the way (docs/decisions.md, "Shown while the
//! run waits").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

use super::leftovers;
use crate::action::ProcessLog;
use crate::journal::{Entry, Event, JournalWriter, RunRecord, StoreError};
use crate::report::Report;
use crate::secrets::Redactor;

/// Told of each event after it is journaled, with secrets already redacted.
pub type Observer = Arc<dyn Fn(&Entry) + Send + Sync>;

pub struct Recorder {
    writer: Mutex<JournalWriter>,
    observer: Observer,
    /// Set when a write failed: the executor stops going forward, since what it does next
    /// could not be resumed or audited.
    broken: AtomicBool,
    /// Cancelled when this process lost the run to another owner (a refused write, or a
    /// lease it could not renew): the executor stops at once and writes nothing more.
    lost: CancellationToken,
    /// The run so far, as a reader of the journal would rebuild it (for the objectives, which
    /// are measured from the journal's times, across resumes). `None` when the playbook has
    /// no objectives: then nobody reads it, and keeping every step's outputs twice is waste.
    history: Option<Mutex<RunRecord>>,
    /// The run's report, built from each entry as it is journaled, so that the end of a long
    /// run does not read its journal back and parse it again (docs/decisions.md, "Reports
    /// from the entries a run journaled"). `None` for a resumed run: its report is made
    /// from the journal, which holds what the earlier processes wrote.
    report: Option<Mutex<Report>>,
    /// Entries journaled and not yet given to the observer and the report, in journal order.
    unshown: Mutex<Vec<Entry>>,
}

/// How many entries may wait to be shown: a run whose steps never wait (a chain of
/// `assert.that`) still shows its progress every few entries.
const SHOWN_EVERY: usize = 16;

impl Recorder {
    pub fn new(writer: JournalWriter, observer: Observer, lost: CancellationToken) -> Self {
        Self {
            writer: Mutex::new(writer),
            observer,
            broken: AtomicBool::new(false),
            lost,
            history: Some(Mutex::new(RunRecord::default())),
            report: None,
            unshown: Mutex::default(),
        }
    }

    /// For a run this process started: it journals every entry, so it keeps the report.
    pub fn with_report(mut self) -> Self {
        self.report = Some(Mutex::default());
        self
    }

    /// The report of what this recorder journaled, handed over once at the end of the run,
    /// when it holds the whole run: it was made with [`Self::with_report`] and every write
    /// succeeded. A failed write leaves the journal and what was seen apart, so then the
    /// report is made from the journal.
    pub fn take_report(&self) -> Option<Report> {
        self.show();
        if self.is_broken() || self.lost.is_cancelled() {
            return None;
        }
        let report = self.report.as_ref()?;
        Some(std::mem::take(
            &mut *report.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }

    /// For a run nothing measures: [`Self::history`] stays empty.
    pub fn without_history(mut self) -> Self {
        self.history = None;
        self
    }

    /// A resumed run: what its journal held before this process took over.
    pub fn continue_from(&self, record: RunRecord) {
        if let Some(history) = &self.history {
            *history.lock().unwrap_or_else(|e| e.into_inner()) = record;
        }
    }

    /// The run's secrets, as the journal hides them: for a step that must cut its output
    /// short, which it does after redacting (a cut could leave half a secret in clear).
    pub fn redactor(&self) -> Redactor {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .redactor()
            .clone()
    }

    pub fn history(&self) -> RunRecord {
        self.history
            .as_ref()
            .map(|history| history.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Journals an event and waits until it is durable (fsynced, or committed) before the
    /// run goes on: what must be on disk before something acts (a mutating step's start, a
    /// compensation's, the run's start and end).
    pub fn record(&self, event: Event) {
        self.journal(event, true);
        // Rare and telling (the run's start and end, an approval asked, a rollback): on the
        // console at once.
        self.show();
    }

    /// Journals an event that may wait for the next [`Self::flush`] to be durable: it outlives
    /// this process at once, and a power loss from the flush on. For what is safe to lose in
    /// a power loss: a read-only step's start (the step runs again on resume), the process
    /// group of a program (a power loss ends it too), and results, which are flushed before
    /// anything that may depend on them acts.
    pub fn record_written(&self, event: Event) {
        self.journal(event, false);
    }

    /// Journals a step's start that must be on disk before the step acts, sharing the
    /// fdatasync with the other steps that start at the same moment (group commit): the line
    /// is written, the other tasks ready now get to write theirs, and the first to sync
    /// covers them all (the others find nothing left to sync). The same sync makes durable
    /// every line written before, such as the results the steps depend on.
    pub async fn record_before_acting(&self, event: Event) {
        self.record_written(event);
        tokio::task::yield_now().await;
        self.flush();
    }

    /// Makes every event journaled so far durable: one fdatasync for all of them (group
    /// commit), none when there is nothing new.
    pub fn flush(&self) {
        if self.lost.is_cancelled() {
            return;
        }
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = writer.sync() {
            self.failed(&mut writer, &error);
        }
    }

    fn journal(&self, event: Event, durable: bool) {
        if self.lost.is_cancelled() {
            // Another process owns the run now; its journal is no longer ours to write.
            return;
        }
        // One writer at a time keeps lines whole; a poisoned lock only means another thread
        // panicked mid-write, and the torn line is handled by the reader.
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (entry, written) = if durable {
            writer.append(event)
        } else {
            writer.write(event)
        };
        if let Some(history) = &self.history {
            history
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .apply(&entry);
        }
        match written {
            Ok(()) => {
                // Taken before the writer is let go, so entries are shown in journal order.
                let mut unshown = self.unshown.lock().unwrap_or_else(|e| e.into_inner());
                drop(writer);
                unshown.push(entry);
                if unshown.len() >= SHOWN_EVERY {
                    self.show_now(&mut unshown);
                }
            }
            Err(error) => {
                self.show();
                // A fenced event is not shown as done: the store refused it, so it is not in
                // the journal.
                if !matches!(error, StoreError::Fenced(_)) {
                    (self.observer)(&entry);
                }
                self.failed(&mut writer, &error);
            }
        }
    }

    /// Gives the entries journaled since the last call to the report and the observer (the
    /// console), in journal order. The executor calls it when the run is about to wait.
    pub fn show(&self) {
        let mut unshown = self.unshown.lock().unwrap_or_else(|e| e.into_inner());
        self.show_now(&mut unshown);
    }

    /// Called with the list's lock held, so that two threads cannot swap entries.
    fn show_now(&self, unshown: &mut Vec<Entry>) {
        if unshown.is_empty() {
            return;
        }
        let mut report = self
            .report
            .as_ref()
            .map(|report| report.lock().unwrap_or_else(|e| e.into_inner()));
        for entry in unshown.drain(..) {
            if let Some(report) = &mut report {
                report.add(&entry);
            }
            (self.observer)(&entry);
        }
    }

    /// A write or sync failed: the run stops going forward, and says why (in the journal
    /// too, if it can still be written).
    fn failed(&self, writer: &mut JournalWriter, error: &StoreError) {
        self.show();
        if let StoreError::Fenced(why) = error {
            self.lost.cancel();
            (self.observer)(&Entry {
                at: chrono::Utc::now(),
                event: Event::JournalError { error: why.clone() },
            });
            return;
        }
        self.broken.store(true, Ordering::SeqCst);
        let (entry, _) = writer.append(Event::JournalError {
            error: format!("cannot write the journal: {error}"),
        });
        (self.observer)(&entry);
    }

    /// Cancelled once the run is no longer this process's (see [`crate::journal::Ownership`]).
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }
}

impl ProcessLog for Recorder {
    fn started(&self, step: &str, program: &str, pid: u32) {
        // Without /proc the group cannot be recognised later; then it is not journaled.
        if let Some(group) = leftovers::group_of(pid) {
            self.record_written(Event::ProcessStarted {
                step: step.to_string(),
                program: program.to_string(),
                group,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JournalSink;

    /// Keeps the lines; refuses every write from the `fail_from`-th on.
    struct Lines {
        lines: Arc<Mutex<Vec<String>>>,
        fail_from: usize,
    }

    impl JournalSink for Lines {
        fn write(&mut self, line: &str) -> Result<(), StoreError> {
            let mut lines = self.lines.lock().unwrap();
            if lines.len() >= self.fail_from {
                return Err(StoreError::Unavailable("disk full".into()));
            }
            lines.push(line.to_string());
            Ok(())
        }

        fn sync(&mut self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn recorder(fail_from: usize) -> (Recorder, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Lines {
            lines: lines.clone(),
            fail_from,
        };
        let writer = JournalWriter::new(Box::new(sink), Redactor::default());
        let observer: Observer = Arc::new(|_: &Entry| {});
        let recorder = Recorder::new(writer, observer, CancellationToken::new()).with_report();
        (recorder, lines)
    }

    fn started(step: &str) -> Event {
        Event::StepStarted {
            step: step.into(),
            verb: "assert.that".into(),
        }
    }

    #[test]
    fn the_kept_report_is_the_one_its_journal_makes() {
        let (recorder, lines) = recorder(usize::MAX);
        recorder.record_written(started("a"));
        recorder.record(started("b"));
        let kept = recorder.take_report().expect("every write succeeded");
        let entries: Vec<Entry> = lines
            .lock()
            .unwrap()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let made = Report::from_entries(&entries);
        assert_eq!(kept.json(), made.json());
        assert_eq!(kept.steps.len(), 2);
    }

    #[test]
    fn entries_are_shown_in_journal_order_when_the_run_waits_or_records_durably() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Lines {
            lines: lines.clone(),
            fail_from: usize::MAX,
        };
        let writer = JournalWriter::new(Box::new(sink), Redactor::default());
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let shown = seen.clone();
        let observer: Observer = Arc::new(move |entry: &Entry| {
            if let Event::StepStarted { step, .. } = &entry.event {
                shown.lock().unwrap().push(step.clone());
            }
        });
        let recorder = Recorder::new(writer, observer, CancellationToken::new());
        let seen_now = || seen.lock().unwrap().clone();

        recorder.record_written(started("a"));
        recorder.record_written(started("b"));
        assert_eq!(lines.lock().unwrap().len(), 2, "journaled at once");
        assert!(seen_now().is_empty(), "shown when the run waits");
        recorder.show();
        assert_eq!(seen_now(), ["a", "b"]);

        recorder.record_written(started("c"));
        recorder.record(started("d"));
        assert_eq!(
            seen_now(),
            ["a", "b", "c", "d"],
            "a durable entry shows all"
        );

        let many: Vec<String> = (0..SHOWN_EVERY).map(|i| format!("s{i}")).collect();
        for step in &many {
            recorder.record_written(started(step));
        }
        assert_eq!(
            seen_now().len(),
            4 + SHOWN_EVERY,
            "never more than a few wait"
        );
    }

    #[test]
    fn after_a_failed_write_the_report_comes_from_the_journal() {
        let (recorder, lines) = recorder(1);
        recorder.record_written(started("a"));
        recorder.record_written(started("b"));
        assert_eq!(lines.lock().unwrap().len(), 1, "the second write failed");
        assert!(recorder.is_broken());
        assert!(recorder.take_report().is_none());
    }
}
