//! The typed events of a run, one JSON object per journal line.
//!
//! The journal is the run's memory: `resume` rebuilds state from it, `runs`/`show` read it,
//! reports are made from it. Events are facts in the past tense and carry what a reader needs
//! without the playbook at hand (the verb of a compensation, the error text).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One journal line: when, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

/// `at` as chrono's `Serialize` writes it (RFC 3339, `Z`, a fraction of 0, 3, 6 or 9 digits:
/// whatever the nanoseconds need), made in a buffer and handed over as one string. chrono's
/// own goes through `collect_str`: a call for each piece of the text, each escaped by
/// serde_json, which was half of serializing a journal line of a step's start.
fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return at.serialize(serializer);
    }
    let (mut second, mut nano) = (at.second(), at.nanosecond());
    // A leap second, as chrono writes it: second 60.
    if nano >= 1_000_000_000 {
        second += 1;
        nano -= 1_000_000_000;
    }
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, at.month());
    put(8, 2, at.day());
    put(11, 2, at.hour());
    put(14, 2, at.minute());
    put(17, 2, second);
    let fraction = if nano == 0 {
        0
    } else if nano % 1_000_000 == 0 {
        put(20, 3, nano / 1_000_000);
        4
    } else if nano % 1_000 == 0 {
        put(20, 6, nano / 1_000);
        7
    } else {
        put(20, 9, nano);
        10
    };
    let end = 19 + fraction;
    text[end] = b'Z';
    let text = std::str::from_utf8(&text[..=end]).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(text)
}

/// `run` really changes things; `check` (`run --dry-run`) only observes and previews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Run,
    Check,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run: String,
        playbook: String,
        /// The playbook file as given on the command line.
        path: String,
        /// sha256 of the playbook text, so `resume` can tell it was edited.
        fingerprint: String,
        mode: Mode,
        inputs: Map<String, Value>,
        max_parallel: usize,
        /// `--fail-at`: the run is a drill of the rollback; a resume fails there too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fail_at: Option<String>,
        /// `--no-rollback`: a resume does not roll back either.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        no_rollback: bool,
        user: String,
        host: String,
        pid: u32,
    },
    RunResumed {
        run: String,
        user: String,
        host: String,
        pid: u32,
        /// Resumed although the playbook changed (`--force`).
        forced: bool,
        /// Steps the operator allowed to run again (`--rerun`).
        rerun: Vec<String>,
    },
    LockAcquired {
        key: String,
    },
    StepStarted {
        step: String,
        verb: String,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// A step (or its compensation) started a program, in a process group of its own:
    /// `resume` kills the group if a dead run left it running.
    ProcessStarted {
        step: String,
        program: String,
        group: ProcessGroup,
    },
    /// `resume` found a group of the dead run still running, and killed it first.
    LeftoverKilled {
        step: String,
        program: String,
        pgid: u32,
        processes: usize,
        /// Processes still there after the resume waited for the group to be gone; the
        /// resume then refuses to go on. Absent (0) in journals from before it was recorded.
        #[serde(default, skip_serializing_if = "is_zero")]
        survivors: usize,
    },
    PreconditionFailed {
        step: String,
        precondition: String,
        error: String,
    },
    AttemptFailed {
        step: String,
        attempt: u32,
        error: String,
        /// Seconds until the next attempt.
        retry_in: f64,
    },
    StepSucceeded {
        step: String,
        attempts: u32,
        /// Seconds.
        duration: f64,
        outputs: Map<String, Value>,
    },
    /// What a step found, as its `show:` says (the console, `show` and the reports print it).
    StepNoted {
        step: String,
        note: String,
    },
    StepFailed {
        step: String,
        attempts: u32,
        duration: f64,
        error: String,
        /// `continue_on_error`: the failure is recorded and the run goes on.
        continued: bool,
        /// `severity: warning`: the failure is a warning (and the run goes on).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        warning: bool,
    },
    StepCancelled {
        step: String,
        reason: String,
    },
    /// Check mode: what a mutating step would have done.
    StepPreviewed {
        step: String,
        preview: String,
    },
    /// Check mode: the step could not be evaluated (it reads what a previewed step would
    /// produce, or a step it needs is unknown).
    StepUnknown {
        step: String,
        reason: String,
    },
    ApprovalRequested {
        step: String,
        message: String,
        approvers: Vec<String>,
    },
    ApprovalDecided {
        step: String,
        approved: bool,
        approver: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    Interrupted {
        signal: String,
    },
    /// The terminal went away (SIGHUP: a lost SSH session). The run goes on without it.
    TerminalLost {
        signal: String,
    },
    RollbackStarted {
        reason: String,
    },
    CompensationStarted {
        step: String,
        /// Position among the step's compensations, as written.
        index: usize,
        verb: String,
    },
    CompensationSucceeded {
        step: String,
        index: usize,
        duration: f64,
    },
    CompensationFailed {
        step: String,
        index: usize,
        error: String,
    },
    RollbackFinished {
        failed: usize,
    },
    HandlerFinished {
        /// Position in `on_failure`.
        index: usize,
        verb: String,
        /// Its `when` was false: it did not run.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        skipped: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// After a successful run: the recovery time and recovery point it achieved, against the
    /// playbook's `objectives`.
    ObjectivesMeasured {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rto: Option<Measurement>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rpo: Option<Measurement>,
    },
    /// A webhook was told (or could not be: `error`). Never changes the run's outcome.
    Notified {
        /// `start`, `success`, `failure`, `rollback_failed`.
        on: String,
        /// Scheme and host only: a webhook's path is often its secret.
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The journal could not be written; what happened after may be missing.
    JournalError {
        error: String,
    },
    RunFinished {
        status: RunStatus,
        exit_code: i32,
        duration: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// The objectives a run measured, by name, in order: those the playbook sets.
pub fn named_measurements<'a>(
    rto: Option<&'a Measurement>,
    rpo: Option<&'a Measurement>,
) -> impl Iterator<Item = (&'static str, &'a Measurement)> {
    [("RTO", rto), ("RPO", rpo)]
        .into_iter()
        .filter_map(|(name, m)| m.map(|m| (name, m)))
}

/// A program's process group as journaled: enough to recognise it after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessGroup {
    /// The group's id, the pid of the program the step started (its leader).
    pub pgid: u32,
    /// The leader's start time, in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub since: u64,
    /// `/proc/sys/kernel/random/boot_id`: start times count from this boot.
    pub boot: String,
}

/// One objective, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The objective, in seconds.
    pub objective: f64,
    /// What was achieved, in seconds; `None` when it could not be measured (see `error`).
    pub measured: Option<f64>,
    pub met: bool,
    /// What the figure is the distance between, in words.
    pub between: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a run ended. Each status has one exit code (see the README's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    /// A step failed and everything that ran was rolled back.
    RolledBack,
    /// A step failed and rollback was disabled (`--no-rollback`) or nothing needed undoing
    /// because nothing had changed.
    Failed,
    /// A compensation failed: the systems are in between, someone must look.
    RollbackFailed,
    /// A precondition failed before anything was changed.
    PreconditionFailed,
    /// Stopped by a signal (and rolled back unless `--no-rollback`).
    Interrupted,
    /// Check mode finished (previews and probes only).
    Checked,
    /// Every step succeeded, but the recovery missed its RTO or RPO (nothing is rolled back:
    /// the recovery itself worked, it was too slow or restored too old data).
    ObjectivesMissed,
    /// This runner lost the run (its lease on a shared store lapsed, or another runner took
    /// it over): it stopped without rolling back, and the run goes on under its next owner.
    /// Never journaled: the journal is no longer this runner's to write.
    Abandoned,
}

impl RunStatus {
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Succeeded | Self::Checked => 0,
            Self::RolledBack | Self::Failed => 1,
            Self::RollbackFailed => 3,
            Self::PreconditionFailed => 4,
            Self::ObjectivesMissed => 6,
            Self::Interrupted => 130,
            Self::Abandoned => 7,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::RolledBack => "rolled back",
            Self::Failed => "failed",
            Self::RollbackFailed => "rollback failed, manual action needed",
            Self::PreconditionFailed => "precondition failed, nothing changed",
            Self::Interrupted => "interrupted",
            Self::Abandoned => "abandoned",
            Self::Checked => "checked",
            Self::ObjectivesMissed => "objectives missed",
        }
    }
}

impl Event {
    /// The step an event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Self::StepStarted { step, .. }
            | Self::StepSkipped { step, .. }
            | Self::ProcessStarted { step, .. }
            | Self::LeftoverKilled { step, .. }
            | Self::PreconditionFailed { step, .. }
            | Self::AttemptFailed { step, .. }
            | Self::StepSucceeded { step, .. }
            | Self::StepNoted { step, .. }
            | Self::StepFailed { step, .. }
            | Self::StepCancelled { step, .. }
            | Self::StepPreviewed { step, .. }
            | Self::StepUnknown { step, .. }
            | Self::ApprovalRequested { step, .. }
            | Self::ApprovalDecided { step, .. }
            | Self::CompensationStarted { step, .. }
            | Self::CompensationSucceeded { step, .. }
            | Self::CompensationFailed { step, .. } => Some(step),
            Self::RunStarted { .. }
            | Self::RunResumed { .. }
            | Self::LockAcquired { .. }
            | Self::Interrupted { .. }
            | Self::TerminalLost { .. }
            | Self::RollbackStarted { .. }
            | Self::RollbackFinished { .. }
            | Self::HandlerFinished { .. }
            | Self::JournalError { .. }
            | Self::ObjectivesMeasured { .. }
            | Self::Notified { .. }
            | Self::RunFinished { .. } => None,
        }
    }
}

/// For counts journaled only when there is something to say.
fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The journal's time of an event, as `rfc3339` writes it and as chrono does.
    fn both(at: DateTime<Utc>) -> (String, String) {
        #[derive(Serialize)]
        struct Ours(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);
        let ours = serde_json::to_string(&Ours(at)).unwrap();
        let chrono = serde_json::to_string(&at).unwrap();
        (ours, chrono)
    }

    #[test]
    fn times_are_written_as_chrono_writes_them() {
        let nanos = [
            0,
            7,
            120_000_000,
            5_000_000,
            123_456_000,
            4_000,
            123_456_789,
            999_999_999,
        ];
        let seconds = [0, 59, 86_399, 1_733_486_981, 4_102_444_799, 253_402_300_799];
        for second in seconds {
            for nano in nanos {
                let at = Utc.timestamp_opt(second, nano).unwrap();
                let (ours, chrono) = both(at);
                assert_eq!(ours, chrono);
            }
        }
        // Before year 0 and after 9999, and a leap second: chrono's own text.
        for at in [
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap(),
        ] {
            let (ours, chrono) = both(at);
            assert_eq!(ours, chrono);
        }
        let entry = Entry {
            at: Utc.timestamp_opt(1_733_486_981, 685_671_000).unwrap(),
            event: Event::RunFinished {
                status: RunStatus::Succeeded,
                exit_code: 0,
                duration: 1.5,
                error: None,
            },
        };
        let line = serde_json::to_string(&entry).unwrap();
        assert!(
            line.starts_with(r#"{"at":"2024-12-06T12:09:41.685671Z","#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), entry);
    }
}
