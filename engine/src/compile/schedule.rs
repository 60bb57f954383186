//! `schedule:`: checked when a playbook compiles (cron syntax, time zone, that it ever fires),
//! and what the daemon asks of it: when it fires next, and whether a fire is due, to catch up,
//! or missed. Pure functions of the schedule, what was fired last and the time: the daemon's
//! clock is an argument, so tests can set it.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::load::Schedule;

/// A fire this late after its cron time is still on time (the daemon wakes up at the time,
/// but a busy machine may be a little late).
pub const ON_TIME: TimeDelta = TimeDelta::seconds(60);

/// What the daemon should do about one playbook now.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// Nothing to do before `next`.
    NotYet { next: Option<DateTime<Utc>> },
    /// Fire for this cron time (on time).
    Fire { at: DateTime<Utc> },
    /// The daemon was down at this cron time, which is within the catch-up window: fire now.
    CatchUp { at: DateTime<Utc> },
    /// Missed, and older than the catch-up window (or the schedule has none): not run.
    Missed { at: DateTime<Utc> },
}

/// When `schedule` fires next after `after`.
pub fn next_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz: Tz = schedule.timezone.parse().ok()?;
    let cron: croner::Cron = expand_nickname(&schedule.cron).parse().ok()?;
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a fire is due at `now`, given the cron time fired last. Only the latest cron time
/// since then counts: runs missed while the daemon was down are caught up once, not once
/// for every missed time.
pub fn due(schedule: &Schedule, last_fired: DateTime<Utc>, now: DateTime<Utc>) -> Due {
    let mut latest = None;
    let mut cursor = last_fired;
    while let Some(next) = next_after(schedule, cursor).filter(|t| *t <= now) {
        latest = Some(next);
        cursor = next;
    }
    let Some(at) = latest else {
        return Due::NotYet {
            next: next_after(schedule, now),
        };
    };
    let late = now - at;
    if late <= ON_TIME {
        return Due::Fire { at };
    }
    match schedule.catch_up {
        Some(window) if late.to_std().is_ok_and(|l| l <= window.0) => Due::CatchUp { at },
        _ => Due::Missed { at },
    }
}

/// Common nicknames; croner only knows the five-field form.
const NICKNAMES: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@quarterly", "0 0 1 1,4,7,10 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// The five-field expression a cron text stands for.
pub fn expand_nickname(cron: &str) -> &str {
    let cron = cron.trim();
    NICKNAMES
        .iter()
        .find(|(nick, _)| *nick == cron)
        .map_or(cron, |(_, expr)| expr)
}

/// `Err((message, hint))` when the schedule cannot fire as meant.
pub fn check(cron: &str, timezone: &str) -> Result<(), (String, Option<String>)> {
    let tz: Tz = timezone.parse().map_err(|_| {
        (
            format!("unknown time zone `{timezone}`"),
            Some("use an IANA name such as `UTC` or `Europe/Paris`".to_string()),
        )
    })?;
    let expr = expand_nickname(cron);
    if expr.split_whitespace().count() != 5 {
        return Err((
            format!("`{cron}` is not a five-field cron expression"),
            Some("minute hour day-of-month month day-of-week, e.g. `0 3 1 */3 *` (03:00 on the first day of every third month)".to_string()),
        ));
    }
    check_fields(expr).map_err(|message| {
        (
            format!("invalid cron expression `{cron}`: {message}"),
            Some("each field is `*`, a value, a range `a-b`, or a list of them separated by commas, each optionally `/step`".to_string()),
        )
    })?;
    let parsed: croner::Cron = expr
        .parse()
        .map_err(|e| (format!("invalid cron expression `{cron}`: {e}"), None))?;
    // `0 0 31 2 *` parses but never fires; say so instead of scheduling nothing.
    let now = Utc::now().with_timezone(&tz);
    match parsed.find_next_occurrence(&now, false) {
        Ok(_) => Ok(()),
        Err(_) => Err((format!("cron expression `{cron}` never fires"), None)),
    }
}

/// The shape of each field, checked before croner sees it: croner's search for the next
/// fire never ended on some malformed lists (`, * * * *`, a leading comma).
fn check_fields(expr: &str) -> Result<(), String> {
    const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    let is_value =
        |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '#');
    for (field, name) in expr.split_whitespace().zip(NAMES) {
        for item in field.split(',') {
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => (base, Some(step)),
                None => (item, None),
            };
            let base_ok = match base {
                "*" | "?" => true,
                _ => match base.split_once('-') {
                    Some((from, to)) => is_value(from) && is_value(to),
                    None => is_value(base),
                },
            };
            let step_ok =
                step.is_none_or(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
            if !base_ok || !step_ok {
                let what = if item.is_empty() {
                    "an empty item".to_string()
                } else {
                    format!("`{item}`, which is not a value, range or step")
                };
                return Err(format!("the {name} field `{field}` has {what}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, timezone: &str, catch_up: Option<&str>) -> Schedule {
        Schedule {
            name: None,
            cron: cron.into(),
            timezone: timezone.into(),
            overlap: crate::load::Overlap::Skip,
            catch_up: catch_up.map(|c| crate::params::Duration::parse(c).unwrap()),
            inputs: serde_json::Map::new(),
            environment: None,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_quarterly_drill_fires_at_its_cron_time_in_its_time_zone() {
        let drill = schedule("0 3 1 */3 *", "Europe/Paris", Some("6h"));
        let last = at("2026-10-01T01:00:00Z");
        // 03:00 in Paris on 1 January is 02:00 UTC (winter time).
        assert_eq!(next_after(&drill, last), Some(at("2027-01-01T02:00:00Z")));
        assert_eq!(
            due(&drill, last, at("2027-01-01T01:59:59Z")),
            Due::NotYet {
                next: Some(at("2027-01-01T02:00:00Z"))
            }
        );
        assert_eq!(
            due(&drill, last, at("2027-01-01T02:00:01Z")),
            Due::Fire {
                at: at("2027-01-01T02:00:00Z")
            }
        );
        // 1 April is summer time: 03:00 in Paris is 01:00 UTC.
        assert_eq!(
            next_after(&drill, at("2027-01-01T02:00:00Z")),
            Some(at("2027-04-01T01:00:00Z"))
        );
    }

    #[test]
    fn a_missed_fire_is_caught_up_once_within_the_window_and_not_outside() {
        let hourly = schedule("0 * * * *", "UTC", Some("2h"));
        let last = at("2027-01-01T07:00:00Z");
        // Down from 07:30 to 10:20: 08:00, 09:00 and 10:00 were missed; one catch-up, for 10:00.
        assert_eq!(
            due(&hourly, last, at("2027-01-01T10:20:00Z")),
            Due::CatchUp {
                at: at("2027-01-01T10:00:00Z")
            }
        );
        let tight = schedule("0 * * * *", "UTC", Some("10m"));
        assert_eq!(
            due(&tight, last, at("2027-01-01T10:20:00Z")),
            Due::Missed {
                at: at("2027-01-01T10:00:00Z")
            }
        );
        let never = schedule("0 * * * *", "UTC", None);
        assert_eq!(
            due(&never, last, at("2027-01-01T10:20:00Z")),
            Due::Missed {
                at: at("2027-01-01T10:00:00Z")
            }
        );
    }

    #[test]
    fn malformed_lists_are_refused_at_once() {
        for cron in [
            ", * * * *",
            "1,,2 * * * *",
            "* * * * 1,",
            "*/ * * * *",
            "1-/2 * * * *",
        ] {
            let (message, hint) = check(cron, "UTC").unwrap_err();
            assert!(
                message.starts_with("invalid cron expression"),
                "{cron}: {message}"
            );
            assert!(hint.is_some());
        }
        assert!(check("0,30 9-17/2 * JAN-MAR MON-FRI", "UTC").is_ok());
    }

    #[test]
    fn accepts_quarterly_drills_and_nicknames() {
        assert!(check("0 3 1 */3 *", "Europe/Paris").is_ok());
        assert!(check("@quarterly", "UTC").is_ok());
    }

    #[test]
    fn rejects_bad_fields_zones_and_impossible_dates() {
        assert!(check("61 * * * *", "UTC").is_err());
        assert!(check("0 0 * * * *", "UTC").is_err());
        assert!(check("0 3 * * *", "Mars/Olympus").is_err());
        assert!(
            check("0 0 31 2 *", "UTC")
                .unwrap_err()
                .0
                .contains("never fires")
        );
    }
}
