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

/// `runbook schema | head -1`: the reader leaves after one line; runbook ends quietly
/// (exit 0, nothing on stderr), not with a panic and a backtrace (exit 101).
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .arg("schema")
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runbook starts");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the schema begins");
    // The reader is gone; the schema (over 100 KB) no longer fits in the pipe.
    let output = child.wait_with_output().expect("runbook ends");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
