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
        // Relative to the playbook's own directory, as editors resolve it.
        let depth = file.matches('/').count();
        let schema = format!("{}schemas/playbook.schema.json", "../".repeat(depth));
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

/// Shell completions and the man page come from the clap definition: every subcommand is
/// in them, and the bash script is valid bash.
#[test]
fn completions_and_man_page_know_every_subcommand() {
    let bash = stdout(&runbook(&["completions", "bash"]));
    let man = stdout(&runbook(&["man"]));
    for command in [
        "validate", "plan", "run", "resume", "show", "approve", "daemon",
    ] {
        assert!(bash.contains(command), "bash completions lack {command}");
        assert!(man.contains(command), "man page lacks {command}");
    }
    assert!(
        man.starts_with(".ie") && man.contains(".TH runbook 1"),
        "{man}"
    );
    let file = std::env::temp_dir().join(format!("runbook-completion-{}.bash", std::process::id()));
    std::fs::write(&file, &bash).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// `docs/verbs.md` is `runbook verbs --format markdown`, as the schema file is `runbook schema`.
#[test]
fn checked_in_verb_reference_is_up_to_date() {
    let output = runbook(&["verbs", "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0));
    let checked_in = std::fs::read_to_string(root().join("docs/verbs.md")).expect("docs/verbs.md");
    assert!(
        stdout(&output) == checked_in,
        "docs/verbs.md is stale: run `cargo run -q -- verbs --format markdown > docs/verbs.md`"
    );
    let one = stdout(&runbook(&["verbs", "docker.stop"]));
    assert!(one.contains("outputs: stopped, changed;"), "{one}");
    let typo = runbook(&["verbs", "docker.stp"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean `docker.stop`?"));
}
