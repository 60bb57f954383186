//! Telling people: webhooks posted when a run starts and ends. The engine decides when and
//! what; a [`Notifier`] (the CLI's uses reqwest) does the posting. A notification that cannot
//! be sent is journaled and never changes the run's outcome.

use serde_json::{Value, json};

use crate::action::BoxFuture;
use crate::journal::RunStatus;
use crate::load::NotifyOn;
use crate::params::human;
use crate::report::Report;

/// Posts a JSON payload to a URL.
pub trait Notifier: Send + Sync {
    fn post<'a>(&'a self, url: &'a str, payload: &'a Value) -> BoxFuture<'a, Result<(), String>>;
}

/// A webhook and the moments it wants, with its URL rendered.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub on: Vec<NotifyOn>,
}

/// The moment a finished run is.
pub fn moment(status: RunStatus) -> NotifyOn {
    match status {
        RunStatus::Succeeded | RunStatus::Checked => NotifyOn::Success,
        RunStatus::RollbackFailed => NotifyOn::RollbackFailed,
        RunStatus::RolledBack
        | RunStatus::Failed
        | RunStatus::PreconditionFailed
        | RunStatus::Interrupted
        | RunStatus::ObjectivesMissed
        | RunStatus::Abandoned => NotifyOn::Failure,
    }
}

/// Where a URL points, without its path or query (a Slack webhook's path is its secret).
pub fn shown_target(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "…".to_string(),
    }
}

/// A failed post's error without the webhook's path and query: HTTP clients name the URL
/// they could not reach, and a Slack webhook's path is its credential.
pub fn shown_error(error: &str, url: &str) -> String {
    let mut shown = error.replace(url, &shown_target(url));
    let secret = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find(['/', '?']).map(|i| &rest[i..]));
    if let Some(secret) = secret.filter(|s| s.len() > 1) {
        shown = shown.replace(secret, "/…");
    }
    shown
}

/// A Slack-compatible payload: `text` for people, `runbook` for machines.
pub fn payload(on: NotifyOn, report: &Report, report_path: &str) -> Value {
    let icon = match on {
        NotifyOn::Start => "▶️",
        NotifyOn::Success => "✅",
        NotifyOn::Failure => "❌",
        NotifyOn::RollbackFailed => "🚨",
    };
    let mut lines = vec![match on {
        NotifyOn::Start => format!(
            "{icon} *{}* started by {} (run {})",
            report.playbook, report.started_by, report.run
        ),
        _ => format!(
            "{icon} *{}* {} in {} (exit {}), run {}",
            report.playbook,
            report.status.replace('_', " "),
            human(report.duration.unwrap_or(0.0)),
            report.exit_code.unwrap_or(-1),
            report.run
        ),
    }];
    if let Some(error) = &report.error {
        lines.push(error.clone());
    }
    if on == NotifyOn::RollbackFailed {
        lines.push("Manual action needed: a compensation failed.".to_string());
    }
    if let Some(objectives) = &report.objectives {
        let parts: Vec<String> = objectives
            .each()
            .map(|(name, m)| match m.measured {
                Some(v) => format!(
                    "{name} {} (objective {}): {}",
                    human(v),
                    human(m.objective),
                    if m.met { "met" } else { "MISSED" }
                ),
                None => format!("{name} not measured"),
            })
            .collect();
        if !parts.is_empty() {
            lines.push(parts.join(" · "));
        }
    }
    if on != NotifyOn::Start {
        lines.push(format!("Report: {report_path}"));
    }
    json!({
        "text": lines.join("\n"),
        "runbook": {
            "event": on.as_str(),
            "playbook": report.playbook,
            "run": report.run,
            "status": report.status,
            "exit_code": report.exit_code,
            "duration": report.duration,
            "error": report.error,
            "report": report_path,
            "objectives": report.objectives,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_shown_without_its_secret_path() {
        assert_eq!(
            shown_target("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            shown_target("http://user:pw@127.0.0.1:9/hook?x=1"),
            "http://127.0.0.1:9/…"
        );
    }

    #[test]
    fn an_error_about_a_post_keeps_the_host_and_drops_the_path() {
        let url = "https://hooks.slack.com/services/T0/B0/secret";
        assert_eq!(
            shown_error(
                &format!("POST {url}: error sending request for url ({url})"),
                url
            ),
            "POST https://hooks.slack.com/…: error sending request for url (https://hooks.slack.com/…)"
        );
        // Where the client rewrote the URL, its path is still taken out.
        assert_eq!(
            shown_error(
                "connect to hooks.slack.com/services/T0/B0/secret failed",
                url
            ),
            "connect to hooks.slack.com/… failed"
        );
    }

    #[test]
    fn every_status_has_a_moment() {
        assert_eq!(moment(RunStatus::ObjectivesMissed), NotifyOn::Failure);
        assert_eq!(moment(RunStatus::RollbackFailed), NotifyOn::RollbackFailed);
        assert_eq!(moment(RunStatus::Succeeded), NotifyOn::Success);
    }
}
