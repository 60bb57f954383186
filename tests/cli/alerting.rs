//! `prometheus.*` and `alertmanager.*` against a local stand-in of their HTTP APIs (the demo
//! stack has neither; the DR drill checks them where they are configured).

use crate::support::*;

const PLAYBOOK: &str = r#"
version: 1
name: alerting
steps:
  - id: up
    prometheus.query: { url: "URL", query: "up", min: 1, require_data: true }
  - id: rules
    prometheus.rules: { url: "URL", groups: [goodgo], alerts: [PostgresDown, ApiDown], min_rules: 2 }
  - id: alerts
    prometheus.alerts: { url: "URL", firing: [Watchdog], not_firing: [ApiDown, PostgresDown] }
  - id: silence
    needs: [up, rules, alerts]
    alertmanager.silence:
      url: "URL"
      matchers: { env: drill, alertname: PostgresDown }
      duration: 30m
      comment: "DR drill {{ run.id }}"
    rollback:
      alertmanager.unsilence: { url: "URL", silence_id: "{{ steps.silence.silence_id }}" }
  - id: drill
    needs: [silence]
    assert.that: { that: "true" }
"#;

#[test]
fn alerting_checks_pass_and_a_silence_is_expired_by_the_rollback() {
    let server = StandIn::start();
    let sandbox = Sandbox::new();
    sandbox.write("alerting.yml", &PLAYBOOK.replace("URL", &server.url("")));
    let output = sandbox.run(&["run", "alerting.yml", "--fail-at", "drill"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));

    let journal = sandbox.last_journal();
    let done = events(&journal, "step_succeeded");
    let outputs = |id: &str| done.iter().find(|e| e["step"] == id).unwrap()["outputs"].clone();
    assert_eq!(outputs("up")["value"], 1.0);
    assert_eq!(outputs("up")["series"][1]["labels"]["job"], "web");
    assert_eq!(outputs("rules")["rule_count"], 3);
    assert_eq!(outputs("alerts")["firing"], serde_json::json!(["Watchdog"]));
    assert_eq!(outputs("silence")["silence_id"], "s-1");

    let requests = server.requests.lock().unwrap().clone();
    let (_, _, body) = requests
        .iter()
        .find(|(m, p, _)| m == "POST" && p == "/api/v2/silences")
        .expect("a silence was created");
    let silence: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        silence["matchers"],
        serde_json::json!([
            {"name": "alertname", "value": "PostgresDown", "isRegex": false, "isEqual": true},
            {"name": "env", "value": "drill", "isRegex": false, "isEqual": true}
        ])
    );
    assert!(
        silence["comment"]
            .as_str()
            .unwrap()
            .starts_with("DR drill ")
    );
    assert!(
        requests
            .iter()
            .any(|(m, p, _)| m == "DELETE" && p == "/api/v2/silence/s-1"),
        "the rollback expires the silence: {requests:?}"
    );
}

#[test]
fn missing_rules_and_thresholds_fail_with_what_was_found() {
    let server = StandIn::start();
    let sandbox = Sandbox::new();
    let playbook = r#"
version: 1
name: alerting-fails
steps:
  - id: rules
    prometheus.rules: { url: "URL", alerts: [PostgresDown, RedisDown] }
    continue_on_error: true
  - id: threshold
    prometheus.query: { url: "URL", query: "up_down", min: 1 }
    continue_on_error: true
  - id: firing
    prometheus.alerts: { url: "URL", none_firing: true }
"#
    .replace("URL", &server.url(""));
    sandbox.write("fails.yml", &playbook);
    let output = sandbox.run(&["run", "fails.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let failed = events(&journal, "step_failed");
    let error = |id: &str| {
        failed.iter().find(|e| e["step"] == id).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        error("rules"),
        "alert `RedisDown` is not defined; loaded groups: goodgo"
    );
    assert_eq!(
        error("threshold"),
        r#"`up_down` is 0 for {"job":"api"}, below the minimum 1"#
    );
    assert_eq!(error("firing"), "alerts are firing (firing: Watchdog)");
}
