//! Run notifications: the playbook's `notify:` webhooks and `--notify`, posted to a local
//! stand-in; a webhook that cannot be reached is journaled and never fails the run.

use crate::support::*;

const PLAYBOOK: &str = r#"
version: 1
name: notified
secrets:
  hook: { env: HOOK_URL, optional: true }
notify:
  - webhook: "{{ secrets.hook }}"
    on: [start, success, failure]
  - webhook: "http://127.0.0.1:1/unreachable"
    on: [failure]
objectives: { rto: 1h }
steps:
  - id: work
    shell.run: { script: "true" }
"#;

fn posted(server: &StandIn) -> Vec<serde_json::Value> {
    server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/hook")
        .map(|(_, _, body)| serde_json::from_str(body).unwrap())
        .collect()
}

#[test]
fn webhooks_hear_of_the_start_and_the_end_with_the_report() {
    let server = StandIn::start();
    let sandbox = Sandbox::new();
    sandbox.write("notified.yml", PLAYBOOK);
    let output = sandbox
        .command(&["run", "notified.yml"])
        .env("HOOK_URL", server.url("/hook"))
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let messages = posted(&server);
    let moments: Vec<&str> = messages
        .iter()
        .map(|m| m["runbook"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(moments, ["start", "success"]);
    let text = messages[1]["text"].as_str().unwrap();
    assert!(text.starts_with("✅ *notified* succeeded in "), "{text}");
    assert!(
        text.contains("RTO ") && text.contains("(objective 1h): met"),
        "{text}"
    );
    // Where the report is: its file, or the command that prints it from the shared store.
    let report = messages[1]["runbook"]["report"].as_str().unwrap();
    assert!(
        report.ends_with("report.html") || report.ends_with("--format html"),
        "{report}"
    );
    // The secret URL is never journaled: only its scheme and host.
    let journal = sandbox.last_journal();
    let told = events(&journal, "notified");
    assert_eq!(told.len(), 2);
    assert_eq!(
        told[0]["target"],
        format!("http://127.0.0.1:{}/…", server.port)
    );
}

#[test]
fn a_webhook_that_cannot_be_reached_is_journaled_and_the_outcome_stands() {
    let server = StandIn::start();
    let sandbox = Sandbox::new();
    sandbox.write("notified.yml", PLAYBOOK);
    let output = sandbox
        .command(&["run", "notified.yml", "--fail-at", "work"])
        .env("HOOK_URL", server.url("/hook"))
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "the run's own failure, not the webhook's");
    let messages = posted(&server);
    assert_eq!(messages[1]["runbook"]["event"], "failure");
    assert!(
        messages[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("❌ *notified* failed"),
        "{:?}",
        messages[1]
    );
    let journal = sandbox.last_journal();
    let unreachable = events(&journal, "notified")
        .into_iter()
        .find(|e| e["error"].is_string())
        .expect("the unreachable webhook is journaled");
    assert_eq!(unreachable["target"], "http://127.0.0.1:1/…");
    assert_eq!(unreachable["on"], "failure");
    assert!(
        !unreachable["error"]
            .as_str()
            .unwrap()
            .contains("/unreachable"),
        "the error names the host, never the webhook's path: {unreachable}"
    );

    // Without the secret, the playbook's first webhook is simply not configured.
    let output = sandbox.run(&["run", "notified.yml", "--notify", &server.url("/hook")]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        posted(&server).len(),
        4,
        "--notify hears of start and success"
    );
}

#[test]
fn runbook_notify_keeps_webhooks_off_the_command_line_and_empty_is_none() {
    let server = StandIn::start();
    let sandbox = Sandbox::new();
    sandbox.write(
        "plain.yml",
        "version: 1\nname: plain\nsteps:\n  - id: work\n    shell.run: { script: \"true\" }\n",
    );
    let secret_path = "/services/T0/B0/never-journaled";
    let output = sandbox
        .command(&["run", "plain.yml"])
        .env(
            "RUNBOOK_NOTIFY",
            format!("{} http://127.0.0.1:1{secret_path}", server.url("/hook")),
        )
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(posted(&server).len(), 2, "start and success");
    let journal = serde_json::to_string(&sandbox.last_journal()).unwrap();
    assert!(
        journal.contains("\"target\":\"http://127.0.0.1:1/…\""),
        "{journal}"
    );
    assert!(!journal.contains(secret_path), "{journal}");

    // An empty RUNBOOK_NOTIFY (how the daemon says "none") posts nowhere.
    let output = sandbox
        .command(&["run", "plain.yml"])
        .env("RUNBOOK_NOTIFY", "")
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(events(&sandbox.last_journal(), "notified").is_empty());
}
