use crate::support::{playbooks, root, runbook, stdout};

#[test]
fn checked_in_schema_is_up_to_date() {
    let output = runbook(&["schema"]);
    assert_eq!(output.status.code(), Some(0));
    let checked_in =
        std::fs::read_to_string(root().join("schemas/playbook.schema.json")).expect("schema file");
    assert!(
        stdout(&output) == checked_in,
        "schemas/playbook.schema.json is stale: run `cargo run -q -- schema > schemas/playbook.schema.json`"
    );
}

#[test]
fn schema_knows_every_verb_and_envelope_key() {
    let schema: serde_json::Value =
        serde_json::from_str(&stdout(&runbook(&["schema"]))).expect("json");
    let step = &schema["$defs"]["Step"]["properties"];
    for key in [
        "id",
        "needs",
        "rollback",
        "for_each",
        "docker.rolling_restart",
        "postgres.verify_backup",
        "wait.until",
    ] {
        assert!(
            step.get(key).is_some(),
            "{key} missing from the step schema"
        );
    }
    assert_eq!(schema["$defs"]["Step"]["additionalProperties"], false);
}

#[test]
fn playbooks_declare_the_schema_for_editors() {
    for file in playbooks() {
        let text = std::fs::read_to_string(root().join(&file)).expect("playbook");
        let schema = if file.starts_with("playbooks/demo/") {
            "../../schemas/playbook.schema.json"
        } else {
            "../schemas/playbook.schema.json"
        };
        assert!(
            text.starts_with(&format!("# yaml-language-server: $schema={schema}")),
            "{file} lacks the schema modeline"
        );
    }
}
