//! Recovery objectives, measured: the RTO from the journal's times (so a run resumed after a
//! crash counts the time it lay dead), the RPO from the age of the data the recovery brought
//! back. A run measures them only when every step succeeded.

use chrono::{DateTime, Utc};

use crate::journal::{Measurement, RunRecord};
use crate::load::Objectives;
use crate::params::human;

/// `(rto, rpo)`, each present when the playbook sets that objective.
/// `data_as_of`: the rendered `objectives.data_as_of`, if the playbook has one.
pub fn measure(
    objectives: &Objectives,
    history: &RunRecord,
    now: DateTime<Utc>,
    data_as_of: Option<Result<String, String>>,
) -> (Option<Measurement>, Option<Measurement>) {
    let (clock_start, start_named) = match &objectives.measure_from {
        Some(step) => (
            history.times.get(step).and_then(|t| t.started),
            format!("the start of `{step}`"),
        ),
        None => (history.started_at, "the start of the run".to_string()),
    };
    let (clock_stop, stop_named) = match &objectives.measure_to {
        Some(step) => (
            history.times.get(step).and_then(|t| t.ended),
            format!("the end of `{step}`"),
        ),
        None => (Some(now), "the end of the run".to_string()),
    };

    let rto = objectives.rto.map(|objective| {
        let between = format!("{start_named} and {stop_named}");
        match (clock_start, clock_stop) {
            (Some(start), Some(stop)) => judged(objective.0, seconds(stop - start), between),
            _ => unmeasured(
                objective.0,
                between,
                "the journal has no time for one of these (a step that was skipped?)",
            ),
        }
    });

    let rpo = objectives.rpo.map(|objective| {
        let between = format!("the newest data restored (`data_as_of`) and {start_named}");
        let as_of = match data_as_of {
            None => {
                return unmeasured(
                    objective.0,
                    between,
                    "set `objectives.data_as_of` to the time of the data the run restores",
                );
            }
            Some(Err(e)) => return unmeasured(objective.0, between, &e),
            Some(Ok(text)) => text,
        };
        match (DateTime::parse_from_rfc3339(as_of.trim()), clock_start) {
            (Ok(as_of), Some(start)) => judged(
                objective.0,
                seconds(start - as_of.with_timezone(&Utc)),
                between,
            ),
            (Err(e), _) => unmeasured(
                objective.0,
                between,
                &format!("`data_as_of` rendered `{as_of}`, which is not an RFC 3339 time ({e})"),
            ),
            (Ok(_), None) => unmeasured(objective.0, between, "the clock never started"),
        }
    });
    (rto, rpo)
}

/// Why the run misses its objectives, if it does. One that could not be measured counts as
/// missed: a drill that cannot show its RPO has not shown it meets it.
pub fn missed(rto: Option<&Measurement>, rpo: Option<&Measurement>) -> Option<String> {
    let reasons: Vec<String> = crate::journal::named_measurements(rto, rpo)
        .filter(|(_, m)| !m.met)
        .map(|(name, m)| match m.measured {
            Some(measured) => format!(
                "{name} missed: {} measured, objective {}",
                human(measured),
                human(m.objective)
            ),
            None => format!("{name} not measured: {}", m.error.as_deref().unwrap_or("?")),
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

fn seconds(delta: chrono::TimeDelta) -> f64 {
    delta.num_milliseconds() as f64 / 1000.0
}

fn judged(objective: std::time::Duration, measured: f64, between: String) -> Measurement {
    let objective = objective.as_secs_f64();
    Measurement {
        objective,
        measured: Some(measured),
        met: measured <= objective,
        between,
        error: None,
    }
}

fn unmeasured(objective: std::time::Duration, between: String, why: &str) -> Measurement {
    Measurement {
        objective: objective.as_secs_f64(),
        measured: None,
        met: false,
        between,
        error: Some(why.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_never_show_60_seconds() {
        assert_eq!(human(599.98), "10m");
        assert_eq!(human(59.97), "1m");
        assert_eq!(human(61.0), "1m 1.0s");
        assert_eq!(human(3599.99), "1h");
    }
    use crate::journal::StepTimes;
    use crate::params::Duration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn objectives(rto: u64, rpo: u64) -> Objectives {
        Objectives {
            rto: Some(Duration(std::time::Duration::from_secs(rto))),
            rpo: Some(Duration(std::time::Duration::from_secs(rpo))),
            measure_from: Some("outage".into()),
            measure_to: Some("healthy".into()),
            data_as_of: Some("{{ steps.backup.modified }}".into()),
        }
    }

    fn history() -> RunRecord {
        let mut record = RunRecord {
            started_at: Some(at("2026-11-21T10:00:00Z")),
            ..RunRecord::default()
        };
        let times = |s: &str, e: &str| StepTimes {
            started: Some(at(s)),
            ended: Some(at(e)),
        };
        record.times.insert(
            "outage".into(),
            times("2026-11-21T10:01:00Z", "2026-11-21T10:01:05Z"),
        );
        record.times.insert(
            "healthy".into(),
            times("2026-11-21T10:03:00Z", "2026-11-21T10:04:30Z"),
        );
        record
    }

    #[test]
    fn rto_runs_between_the_named_steps_and_rpo_back_to_the_data() {
        let (rto, rpo) = measure(
            &objectives(300, 7200),
            &history(),
            at("2026-11-21T10:10:00Z"),
            Some(Ok("2026-11-21T09:00:00+00:00".into())),
        );
        let rto = rto.unwrap();
        assert_eq!(rto.measured, Some(210.0)); // 10:01:00 -> 10:04:30
        assert!(rto.met);
        assert_eq!(
            rto.between,
            "the start of `outage` and the end of `healthy`"
        );
        let rpo = rpo.unwrap();
        assert_eq!(rpo.measured, Some(3660.0)); // 09:00 -> 10:01
        assert!(rpo.met);
        assert_eq!(missed(Some(&rto), Some(&rpo)), None);
    }

    #[test]
    fn an_objective_below_the_measure_is_missed() {
        let (rto, rpo) = measure(
            &objectives(200, 3600),
            &history(),
            at("2026-11-21T10:10:00Z"),
            Some(Ok("2026-11-21T09:00:00Z".into())),
        );
        assert_eq!(
            missed(rto.as_ref(), rpo.as_ref()).unwrap(),
            "RTO missed: 3m 30.0s measured, objective 3m 20.0s; RPO missed: 1h 1m measured, objective 1h"
        );
    }

    #[test]
    fn data_that_cannot_be_dated_is_not_a_pass() {
        let (_, rpo) = measure(
            &objectives(300, 7200),
            &history(),
            at("2026-11-21T10:10:00Z"),
            Some(Ok("yesterday".into())),
        );
        let rpo = rpo.unwrap();
        assert!(!rpo.met);
        assert!(rpo.error.unwrap().contains("`yesterday`"));
    }

    #[test]
    fn without_bounds_the_clock_is_the_whole_run() {
        let mut o = objectives(1200, 7200);
        o.measure_from = None;
        o.measure_to = None;
        o.data_as_of = None;
        let (rto, rpo) = measure(&o, &history(), at("2026-11-21T10:10:00Z"), None);
        assert_eq!(rto.unwrap().measured, Some(600.0));
        assert!(rpo.unwrap().error.unwrap().contains("data_as_of"));
    }
}
