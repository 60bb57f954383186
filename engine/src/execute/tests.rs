//! The executor's scheduling logic with a fake step family (pure logic, paused time): bounded
//! parallelism, rollback order when steps finish out of declaration order, and check mode.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::approval::GateKeeper;
use super::recorder::Recorder;
use super::scope::{RunFacts, Scope, Templates};
use super::*;
use crate::action::{Action as ActionTrait, Effect, VerbInfo};
use crate::compile::CompileOptions;
use crate::journal::{Entry, FileStore, JournalWriter, Snapshot, Store};
use crate::secrets::Secrets;
use crate::source::SourceFile;

/// `fake.work`: sleeps `ms` (paused time), counts how many run at once, fails on request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Work {
    ms: u64,
    #[serde(default)]
    fail: bool,
    /// Panics instead of working, as a bug in a verb's code would.
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
enum Fake {
    #[serde(rename = "fake.work")]
    Work(Work),
    /// The same work, read-only: its start is written, not synced.
    #[serde(rename = "fake.look")]
    Look(Work),
}

impl Fake {
    fn work(&self) -> &Work {
        match self {
            Self::Work(work) | Self::Look(work) => work,
        }
    }
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// What reached the journal and when the actions began, in one order: `write <event> <step>`,
/// `sync` (only when something was written since the last), `act <label>`.
static OPS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The file journal, with every write and sync noted in [`OPS`].
struct Noting {
    inner: Box<dyn crate::journal::JournalSink>,
    unsynced: bool,
}

/// A step whose start the journal refuses, as a full disk would.
static REFUSED_START: Mutex<Option<String>> = Mutex::new(None);

impl crate::journal::JournalSink for Noting {
    fn write(&mut self, line: &str) -> Result<(), crate::journal::StoreError> {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let step = value["step"].as_str().unwrap_or("-");
        if value["event"] == "step_started"
            && REFUSED_START.lock().unwrap().as_deref() == Some(step)
        {
            return Err(crate::journal::StoreError::Unavailable(
                "No space left on device".into(),
            ));
        }
        OPS.lock()
            .unwrap()
            .push(format!("write {} {step}", value["event"].as_str().unwrap()));
        self.unsynced = true;
        self.inner.write(line)
    }
    fn sync(&mut self) -> Result<(), crate::journal::StoreError> {
        if std::mem::take(&mut self.unsynced) {
            OPS.lock().unwrap().push("sync".into());
        }
        self.inner.sync()
    }
}

impl ActionTrait for Fake {
    fn verb(&self) -> &'static str {
        match self {
            Self::Work(_) => "fake.work",
            Self::Look(_) => "fake.look",
        }
    }
    fn effect(&self) -> Effect {
        match self {
            Self::Work(_) => Effect::Mutating,
            Self::Look(_) => Effect::ReadOnly,
        }
    }
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    fn on_hosts(&self) -> bool {
        false
    }
    fn taken_as_written() -> &'static [(&'static str, &'static str)] {
        &[]
    }
    fn catalog() -> &'static [VerbInfo] {
        const fn verb(name: &'static str, effect: Effect) -> VerbInfo {
            VerbInfo {
                name,
                effect,
                summary: "Pretend to work",
                outputs: &[],
                printed: &[],
                sensitive: &[],
                shorthand: crate::action::Shorthand {
                    string: None,
                    list: None,
                },
                on_hosts: false,
            }
        }
        const VERBS: &[VerbInfo] = &[
            verb("fake.work", Effect::Mutating),
            verb("fake.look", Effect::ReadOnly),
        ];
        VERBS
    }
    fn run<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        let work = self.work();
        Box::pin(async move {
            assert!(!work.panic, "a verb's bug");
            OPS.lock().unwrap().push(format!("act {}", work.label));
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            PEAK.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(work.ms)).await;
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            LOG.lock().unwrap().push(work.label.clone());
            if work.fail {
                Err(StepError::failed("asked to fail"))
            } else {
                Ok(Outputs::new())
            }
        })
    }
    fn preview<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async { Ok("would pretend".to_string()) })
    }
}

/// The executor tests share the counters above, so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn execute(yaml: &str, options: RunOptions) -> (RunStatus, Vec<Entry>) {
    RUNNING.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    LOG.lock().unwrap().clear();
    OPS.lock().unwrap().clear();
    let source = SourceFile::new("test.yml", yaml);
    let playbook = crate::check::<Fake>(&source, &CompileOptions::default()).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter().map(|d| d.render(&source)).collect::<String>()
        )
    });
    let dir = tempfile_dir();
    let store = FileStore::new(&dir);
    let run = store
        .create_run(&store.new_run_id(), &Snapshot::default())
        .unwrap();
    let ownership = run.hold(&crate::journal::Operator::current()).unwrap();
    let seen: Arc<Mutex<Vec<Entry>>> = Arc::default();
    let observer_seen = seen.clone();
    let sink = Noting {
        inner: ownership.journal().unwrap(),
        unsynced: false,
    };
    let writer = JournalWriter::new(Box::new(sink), Default::default());
    let recorder = Arc::new(Recorder::new(
        writer,
        Arc::new(move |e: &Entry| observer_seen.lock().unwrap().push(e.clone())),
        ownership.lost(),
    ));
    let templates = Arc::new(Templates::default());
    let facts = RunFacts {
        id: run.id().to_string(),
        started_at: chrono::Utc::now(),
        playbook: playbook.name.clone(),
        check_mode: options.check_mode,
    };
    let scope = Scope::new(&playbook, &templates, &Secrets::default(), &facts).unwrap();
    let approver = Arc::new(GateKeeper::new(
        run,
        recorder.clone(),
        false,
        "t".into(),
        String::new(),
    ));
    let executor = Executor::new(
        Arc::new(playbook),
        scope,
        templates,
        recorder,
        approver,
        Arc::new(crate::action::NoHosts),
        options,
    );
    let status = executor.run(Interrupt::default()).await;
    let entries = seen.lock().unwrap().clone();
    let _ = std::fs::remove_dir_all(dir);
    (status, entries)
}

fn tempfile_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("runbook-exec-{}", uuid::Uuid::now_v7()))
}

fn options(max_parallel: usize) -> RunOptions {
    RunOptions {
        max_parallel,
        check_mode: false,
        rollback: true,
        fail_at: None,
    }
}

#[tokio::test(start_paused = true)]
async fn never_runs_more_steps_at_once_than_allowed() {
    let _serial = SERIAL.lock().await;
    let steps: String = (0..8)
        .map(|i| format!("  - id: s{i}\n    fake.work: {{ ms: {} }}\n", 10 + i * 7))
        .collect();
    let yaml = format!("version: 1\nname: wide\nsteps:\n{steps}");
    let (status, _) = execute(&yaml, options(3)).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(PEAK.load(Ordering::SeqCst), 3);
    let (_, _) = execute(&yaml, options(1)).await;
    assert_eq!(PEAK.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn rollback_follows_completion_order_not_declaration_order() {
    let _serial = SERIAL.lock().await;
    let yaml = r#"
version: 1
name: race
steps:
  - id: slow
    fake.work: { ms: 50, label: slow }
    rollback: { fake.work: { ms: 1, label: undo-slow } }
  - id: fast
    fake.work: { ms: 5, label: fast }
    rollback: { fake.work: { ms: 1, label: undo-fast } }
  - id: boom
    needs: [slow, fast]
    fake.work: { ms: 1, fail: true, label: boom }
"#;
    let (status, entries) = execute(yaml, options(4)).await;
    assert_eq!(status, RunStatus::RolledBack);
    assert_eq!(
        *LOG.lock().unwrap(),
        ["fast", "slow", "boom", "undo-slow", "undo-fast"]
    );
    assert!(matches!(
        &entries.last().unwrap().event,
        Event::RunFinished { error: Some(e), .. } if e == "step `boom` failed"
    ));
}

#[tokio::test(start_paused = true)]
async fn after_a_failure_running_steps_finish_and_nothing_new_starts() {
    let _serial = SERIAL.lock().await;
    let yaml = r#"
version: 1
name: stop
steps:
  - id: fails
    fake.work: { ms: 1, fail: true, label: fails }
  - id: running
    fake.work: { ms: 30, label: running }
    rollback: { fake.work: { ms: 1, label: undo-running } }
  - id: later
    needs: [running]
    fake.work: { ms: 1, label: later }
"#;
    let (status, _) = execute(yaml, options(4)).await;
    assert_eq!(status, RunStatus::RolledBack);
    assert_eq!(*LOG.lock().unwrap(), ["fails", "running", "undo-running"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_whose_code_panics_fails_and_the_run_rolls_back() {
    let _serial = SERIAL.lock().await;
    let yaml = r#"
version: 1
name: bug
steps:
  - id: first
    fake.work: { ms: 1, label: first }
    rollback: { fake.work: { ms: 1, label: undo-first } }
  - id: buggy
    needs: [first]
    fake.work: { ms: 1, panic: true }
"#;
    let (status, entries) = execute(yaml, options(2)).await;
    assert_eq!(status, RunStatus::RolledBack);
    assert_eq!(*LOG.lock().unwrap(), ["first", "undo-first"]);
    assert!(entries.iter().any(|e| matches!(
        &e.event,
        Event::StepFailed { step, error, .. }
            if step == "buggy" && error == "internal error: the step's code panicked: a verb's bug"
    )));
}

#[tokio::test(start_paused = true)]
async fn check_mode_previews_every_mutating_step_and_rolls_nothing_back() {
    let _serial = SERIAL.lock().await;
    let yaml = r#"
version: 1
name: check
steps:
  - id: a
    fake.work: { ms: 1, label: a }
    rollback: { fake.work: { ms: 1, label: undo-a } }
  - id: b
    needs: [a]
    fake.work: { ms: 1, label: b }
"#;
    let mut check = options(2);
    check.check_mode = true;
    let (status, entries) = execute(yaml, check).await;
    assert_eq!(status, RunStatus::Checked);
    assert!(LOG.lock().unwrap().is_empty());
    let previews = entries
        .iter()
        .filter(|e| matches!(e.event, Event::StepPreviewed { .. }))
        .count();
    assert_eq!(previews, 2);
}

/// What reached the journal and what acted, in order ([`OPS`]), after a run that succeeded.
#[derive(Debug)]
struct Ops(Vec<String>);

impl Ops {
    async fn of_run(yaml: &str, options: RunOptions) -> Self {
        let (status, _) = execute(yaml, options).await;
        assert_eq!(status, RunStatus::Succeeded);
        Self(OPS.lock().unwrap().clone())
    }

    /// Where `op` happened first.
    fn at(&self, op: &str) -> usize {
        self.0
            .iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("no `{op}` in {self:#?}"))
    }

    /// How many syncs happened from `from` up to `to`.
    fn syncs(&self, from: usize, to: usize) -> usize {
        self.0[from..to].iter().filter(|o| *o == "sync").count()
    }
}

#[tokio::test(start_paused = true)]
async fn a_start_is_on_disk_before_its_step_acts_and_a_fan_out_shares_one_sync() {
    let _serial = SERIAL.lock().await;
    let steps: String = (0..4)
        .map(|i| format!("  - id: s{i}\n    fake.work: {{ ms: 10, label: s{i} }}\n"))
        .collect();
    let yaml = format!(
        "version: 1\nname: fan\nsteps:\n{steps}  - id: after\n    needs: [s0, s1, s2, s3]\n    fake.work: {{ ms: 1, label: after }}\n"
    );
    let ops = Ops::of_run(&yaml, options(4)).await;
    // Each mutating step's start was synced before the step acted.
    for step in ["s0", "s1", "s2", "s3", "after"] {
        let (written, acted) = (
            ops.at(&format!("write step_started {step}")),
            ops.at(&format!("act {step}")),
        );
        assert!(
            ops.syncs(written, acted) > 0,
            "{step} acted before its start was synced: {ops:#?}"
        );
    }
    // The four results that came together share one sync with the start of `after`, which
    // depends on them: it comes before `after` acts, and only once.
    let results: Vec<usize> = (0..4)
        .map(|i| ops.at(&format!("write step_succeeded s{i}")))
        .collect();
    let (first, last) = (
        *results.iter().min().unwrap(),
        *results.iter().max().unwrap(),
    );
    assert_eq!(ops.syncs(first, last), 0, "{ops:#?}");
    assert_eq!(ops.syncs(last, ops.at("act after")), 1, "{ops:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_read_only_step_acts_once_the_results_before_it_are_durable_and_a_fan_out_shares_that_sync()
 {
    let _serial = SERIAL.lock().await;
    let looks: String = (0..3)
        .map(|i| {
            format!("  - id: l{i}\n    needs: [w]\n    fake.look: {{ ms: 10, label: l{i} }}\n")
        })
        .collect();
    let yaml = format!(
        "version: 1\nname: looks\nsteps:\n  - id: w\n    fake.work: {{ ms: 1, label: w }}\n{looks}  - id: last\n    needs: [l0, l1, l2]\n    fake.look: {{ ms: 1, label: last }}\n"
    );
    let ops = Ops::of_run(&yaml, options(4)).await;
    // `w`'s result is synced once, before the first of the three looks that depend on it
    // starts, and they all act after it without a sync of their own (a read-only start is
    // written, not synced).
    let result = ops.at("write step_succeeded w");
    let first_start = (0..3)
        .map(|i| ops.at(&format!("write step_started l{i}")))
        .min()
        .unwrap();
    assert_eq!(ops.syncs(result, first_start), 1, "{ops:#?}");
    for i in 0..3 {
        let acted = ops.at(&format!("act l{i}"));
        assert_eq!(ops.syncs(first_start, acted), 0, "{ops:#?}");
    }
    // The looks' three results, in turn, are durable before `last` acts.
    let results = (0..3)
        .map(|i| ops.at(&format!("write step_succeeded l{i}")))
        .max()
        .unwrap();
    let last_start = ops.at("write step_started last");
    assert_eq!(ops.syncs(results, last_start), 1, "{ops:#?}");
    assert!(last_start < ops.at("act last"), "{ops:#?}");
}

#[test]
fn a_sensitive_output_hides_its_texts_but_never_null_or_booleans() {
    let texts = super::texts_of(
        &serde_json::json!({ "TOKEN": "s3cr3t-token", "DEBUG": null, "ON": true, "PIN": 4321 }),
    );
    assert!(texts.contains(&"s3cr3t-token".to_string()));
    assert!(texts.contains(&"4321".to_string()));
    assert!(
        !texts
            .iter()
            .any(|t| t == "null" || t == "true" || t == "false"),
        "{texts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_whose_start_cannot_be_journaled_does_not_act_and_the_run_stops() {
    let _serial = SERIAL.lock().await;
    *REFUSED_START.lock().unwrap() = Some("b".into());
    let yaml = r#"
version: 1
name: full-disk
steps:
  - id: a
    fake.work: { ms: 1, label: a }
  - id: b
    needs: [a]
    fake.work: { ms: 1, label: b }
  - id: c
    needs: [b]
    fake.work: { ms: 1, label: c }
"#;
    let (status, entries) = execute(yaml, options(1)).await;
    *REFUSED_START.lock().unwrap() = None;
    assert_eq!(*LOG.lock().unwrap(), ["a"]);
    assert_eq!(status, RunStatus::Failed);
    assert!(entries.iter().any(|e| matches!(
        &e.event,
        Event::StepFailed { step, error, .. }
            if step == "b" && error == "not started: the journal cannot be written"
    )));
}
