//! How run events read on a terminal: one line per event, shared by the live console of
//! `run`/`resume` and by `show`.

use runbook_engine::execute::recorder::Observer;
use runbook_engine::journal::{Entry, Event, Mode};
use std::sync::{Arc, Mutex};

fn secs(seconds: f64) -> String {
    // Each unit is rounded before it is chosen, so 0.9996 s is `1.0s` (not `1000ms`) and
    // 59.96 s is `1m00s` (not `60.0s`).
    let ms = (seconds * 1000.0).round();
    if ms < 1000.0 {
        // Whole already; as an integer it skips the float formatting's exact path, which
        // showed in the profile of a long chain (a line per step).
        return format!("{}ms", ms as u32);
    }
    let tenths = (seconds * 10.0).round() / 10.0;
    if tenths < 60.0 {
        return format!("{tenths:.1}s");
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

/// `, 3 attempts` when a step needed more than one.
fn tries(prefix: &str, attempts: u32) -> String {
    if attempts > 1 {
        format!("{prefix}{attempts} attempts")
    } else {
        String::new()
    }
}

/// Continuation lines of a multi-line message line up under its first line.
fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n             ")
}

/// One line (or a few) for an event.
pub fn describe(event: &Event) -> String {
    match event {
        Event::RunStarted {
            run,
            playbook,
            mode,
            user,
            host,
            fail_at,
            no_rollback,
            ..
        } => {
            let mut line = match mode {
                Mode::Run => format!("run {run} of `{playbook}` by {user}@{host}"),
                Mode::Check => format!(
                    "check {run} of `{playbook}` by {user}@{host} (--dry-run: nothing is changed)"
                ),
            };
            if let Some(step) = fail_at {
                line.push_str(&format!(
                    ", a drill of the rollback: `{step}` fails on purpose (--fail-at)"
                ));
            }
            if *no_rollback {
                line.push_str(", without rollback (--no-rollback)");
            }
            line
        }
        Event::RunResumed {
            user,
            host,
            forced,
            rerun,
            ..
        } => {
            let mut line = format!("resumed by {user}@{host}");
            if *forced {
                line.push_str(", with the changed playbook (--force)");
            }
            if !rerun.is_empty() {
                line.push_str(&format!(", re-running {}", rerun.join(", ")));
            }
            line
        }
        Event::LockAcquired { key } => format!("lock `{key}` taken"),
        Event::StepStarted { step, verb } => format!("▶ {step}  {verb}"),
        Event::StepSkipped { step, reason } => format!("- {step}  skipped: {reason}"),
        Event::ProcessStarted {
            step,
            program,
            group,
        } => format!(
            "  {step}  started `{program}` (process group {})",
            group.pgid
        ),
        Event::LeftoverKilled {
            step,
            program,
            pgid,
            processes,
            survivors,
        } => {
            let outcome = match survivors {
                0 => "killed before resuming".to_string(),
                n => format!("killed, and {n} still there after the wait"),
            };
            format!(
                "! {step}  `{program}` of the dead run was still running ({processes} process(es), group {pgid}): {outcome}"
            )
        }
        Event::PreconditionFailed {
            step,
            precondition,
            error,
        } => format!(
            "✗ {step}  precondition {precondition} failed: {}",
            indent(error)
        ),
        Event::AttemptFailed {
            step,
            attempt,
            error,
            retry_in,
        } => format!(
            "↻ {step}  attempt {attempt} failed, retrying in {}: {}",
            secs(*retry_in),
            indent(error)
        ),
        Event::StepSucceeded {
            step,
            attempts,
            duration,
            ..
        } => {
            format!("✓ {step}  {}{}", secs(*duration), tries(", ", *attempts))
        }
        Event::StepFailed {
            step,
            error,
            warning: true,
            ..
        } => format!("⚠ {step}  warning: {}", indent(error)),
        Event::StepFailed {
            step,
            attempts,
            error,
            continued,
            ..
        } => {
            let tries = tries(" after ", *attempts);
            let going_on = if *continued {
                " (continue_on_error: the run goes on)"
            } else {
                ""
            };
            format!("✗ {step}  failed{tries}{going_on}: {}", indent(error))
        }
        Event::StepNoted { step, note } => format!("ℹ {step}  found: {}", indent(note)),
        Event::StepCancelled { step, reason } => format!("■ {step}  cancelled: {reason}"),
        Event::StepPreviewed { step, preview } => format!("~ {step}  {}", indent(preview)),
        Event::StepUnknown { step, reason } => format!("? {step}  unknown: {}", indent(reason)),
        Event::ApprovalRequested { step, message, .. } => {
            format!("⏸ {step}  waits for approval: {message}")
        }
        Event::ApprovalDecided {
            step,
            approved,
            approver,
            comment,
        } => {
            let verdict = if *approved { "approved" } else { "rejected" };
            let comment = comment
                .as_ref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!("  {step}  {verdict} by {approver}{comment}")
        }
        Event::Interrupted { signal } => {
            format!("! interrupted ({signal}): nothing new starts, running steps are cancelled")
        }
        Event::TerminalLost { signal } => format!(
            "! the terminal hung up ({signal}): the run goes on; watch it with `runbook show --follow`"
        ),
        Event::RollbackStarted { reason } => format!("↺ rolling back: {reason}"),
        Event::CompensationStarted { step, verb, .. } => format!("↺ {step}  undo: {verb}"),
        Event::CompensationSucceeded { step, duration, .. } => {
            format!("✓ {step}  undone  {}", secs(*duration))
        }
        Event::CompensationFailed { step, error, .. } => {
            format!("✗ {step}  could not be undone: {}", indent(error))
        }
        Event::RollbackFinished { failed: 0 } => "↺ rollback complete".to_string(),
        Event::RollbackFinished { failed } => {
            format!("↺ rollback finished with {failed} failed compensation(s)")
        }
        Event::HandlerFinished {
            verb,
            skipped: true,
            ..
        } => format!("  on_failure {verb}: skipped (its `when` is false)"),
        Event::HandlerFinished {
            verb, error: None, ..
        } => format!("  on_failure {verb}: done"),
        Event::HandlerFinished {
            verb,
            error: Some(error),
            ..
        } => format!("  on_failure {verb} failed: {}", indent(error)),
        Event::JournalError { error } => format!("!! {error}"),
        Event::Notified {
            on,
            target,
            error: None,
        } => format!("  told {target} ({on})"),
        Event::Notified {
            on,
            target,
            error: Some(error),
        } => format!("  could not tell {target} ({on}): {}", indent(error)),
        Event::ObjectivesMeasured { rto, rpo } => {
            runbook_engine::journal::named_measurements(rto.as_ref(), rpo.as_ref())
                .map(|(name, m)| objective_line(name, m))
                .collect::<Vec<_>>()
                .join("\n          ")
        }
        Event::RunFinished {
            status,
            exit_code,
            duration,
            error,
        } => {
            let why = error
                .as_ref()
                .map(|e| format!(": {}", indent(e)))
                .unwrap_or_default();
            format!(
                "{} in {} (exit {exit_code}){why}",
                status.as_str(),
                secs(*duration)
            )
        }
    }
}

/// `◎ RTO 3m 12.0s (objective 15m 0.0s): met, between ...`
fn objective_line(name: &str, m: &runbook_engine::journal::Measurement) -> String {
    use runbook_engine::params::human;
    let verdict = if m.met { "met" } else { "MISSED" };
    match m.measured {
        Some(measured) => format!(
            "◎ {name} {} (objective {}): {verdict}, between {}",
            human(measured),
            human(m.objective),
            m.between
        ),
        None => format!(
            "◎ {name} not measured (objective {}): {}",
            human(m.objective),
            m.error.as_deref().unwrap_or("?")
        ),
    }
}

/// Prints events to stderr as they are journaled: `03:12:09  ✓ restore  42.0s`.
pub fn live(command_prefix: &str) -> Observer {
    let approve = runbook_engine::execute::approval::approve_command(command_prefix);
    let run = Mutex::new(String::new());
    let clock = Mutex::new(Clock::default());
    let progress = crate::progress::Progress::on_terminal();
    Arc::new(move |entry: &Entry| {
        // For `show` and audits; a line per program started is noise on a live console.
        if matches!(entry.event, Event::ProcessStarted { .. }) {
            return;
        }
        let mut run = run.lock().unwrap_or_else(|e| e.into_inner());
        if let Event::RunStarted { run: id, .. } | Event::RunResumed { run: id, .. } = &entry.event
        {
            *run = id.clone();
        }
        if crate::logs::json() {
            crate::logs::event(&run, entry, &describe(&entry.event));
            return;
        }
        let mut line = clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .of(&entry.at)
            .to_string();
        line.push_str("  ");
        line.push_str(&describe(&entry.event));
        if let Event::ApprovalRequested { step, .. } = &entry.event {
            line.push_str(&format!(
                "\n          decide from any shell: {approve} {run} '{step}' [--reject]"
            ));
        }
        match &progress {
            Some(progress) => {
                if let Some(key) = ended(&entry.event) {
                    progress.ended(&key);
                }
                progress.print(&line);
                if let Some((key, label)) = started(&entry.event) {
                    progress.started(&key, &label);
                }
            }
            None => crate::output::stderr_soon(&line),
        }
    })
}

/// `14:03:07`, local time: the console's first column, made again only when the second
/// changes (a long run prints thousands of lines a second; finding the local offset and
/// formatting were a third of printing one).
#[derive(Default)]
struct Clock {
    /// The second shown, as a Unix time, and how it is shown.
    second: Option<i64>,
    shown: String,
}

impl Clock {
    fn of(&mut self, at: &chrono::DateTime<chrono::Utc>) -> &str {
        use chrono::Timelike;
        if self.second != Some(at.timestamp()) {
            let local = at.with_timezone(&chrono::Local);
            self.shown = format!(
                "{:02}:{:02}:{:02}",
                local.hour(),
                local.minute(),
                local.second()
            );
            self.second = Some(at.timestamp());
        }
        &self.shown
    }
}

/// The live view's key and label of what an event starts (a step, an undo).
fn started(event: &Event) -> Option<(String, String)> {
    match event {
        Event::StepStarted { step, verb } => Some((step.clone(), format!("{step}  {verb}"))),
        Event::CompensationStarted { step, index, verb } => {
            Some((undo_key(step, *index), format!("{step}  undo: {verb}")))
        }
        _ => None,
    }
}

/// The live view's key of what an event ends.
fn ended(event: &Event) -> Option<String> {
    match event {
        Event::StepSucceeded { step, .. }
        | Event::StepFailed { step, .. }
        | Event::StepSkipped { step, .. }
        | Event::StepCancelled { step, .. }
        | Event::StepPreviewed { step, .. }
        | Event::StepUnknown { step, .. }
        | Event::PreconditionFailed { step, .. } => Some(step.clone()),
        Event::CompensationSucceeded { step, index, .. }
        | Event::CompensationFailed { step, index, .. } => Some(undo_key(step, *index)),
        _ => None,
    }
}

/// A compensation's key in the live view: a step may have several undos running in turn.
fn undo_key(step: &str, index: usize) -> String {
    format!("undo {step} {index}")
}

pub fn duration(seconds: f64) -> String {
    secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_shows_each_events_local_second() {
        use chrono::{TimeZone, Timelike};
        let mut clock = Clock::default();
        let first = chrono::Utc.timestamp_opt(1_733_486_981, 100).unwrap();
        for at in [
            first,
            first + chrono::TimeDelta::milliseconds(400),
            first + chrono::TimeDelta::milliseconds(1_000),
            first + chrono::TimeDelta::hours(5),
        ] {
            let local = at.with_timezone(&chrono::Local);
            let expected = format!(
                "{:02}:{:02}:{:02}",
                local.hour(),
                local.minute(),
                local.second()
            );
            assert_eq!(clock.of(&at), expected);
        }
    }

    #[test]
    fn durations_round_before_choosing_the_unit() {
        assert_eq!(secs(0.4), "400ms");
        assert_eq!(secs(0.9996), "1.0s");
        assert_eq!(secs(59.96), "1m00s");
        assert_eq!(secs(599.98), "10m00s");
        assert_eq!(secs(3599.6), "1h00m00s");
    }
}
