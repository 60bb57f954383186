//! `schedule:` is checked now (cron syntax, time zone, that it ever fires) and used by the
//! daemon later.

use chrono::Utc;
use chrono_tz::Tz;

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

#[cfg(test)]
mod tests {
    use super::*;

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
