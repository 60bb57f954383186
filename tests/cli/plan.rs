use crate::support::{playbooks, runbook, stderr, stdout};

const FORMATS: &[&str] = &["text", "markdown", "mermaid", "dot", "json"];

#[test]
fn plans_of_shipped_playbooks_in_every_format() {
    let mut planned = vec![
        ("playbooks/restore.yml", "restore"),
        ("playbooks/rolling-restart.yml", "rolling-restart"),
    ];
    planned.push((
        "tests/fixtures/valid/rollback-and-on-failure.yml",
        "drill-shape",
    ));
    for (file, name) in planned {
        for format in FORMATS {
            let output = runbook(&["plan", file, "--format", format]);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{file} {format}: {}",
                stderr(&output)
            );
            insta::assert_snapshot!(format!("plan-{name}-{format}"), stdout(&output));
        }
    }
}

#[test]
fn every_shipped_playbook_plans() {
    for file in playbooks() {
        let output = runbook(&["plan", &file, "--format", "markdown"]);
        assert_eq!(output.status.code(), Some(0), "{file}: {}", stderr(&output));
    }
}

#[test]
fn plans_are_byte_identical_across_runs() {
    for format in FORMATS {
        let first = runbook(&["plan", "playbooks/restore.yml", "--format", format]);
        let second = runbook(&["plan", "playbooks/restore.yml", "--format", format]);
        assert_eq!(first.stdout, second.stdout, "{format}");
    }
}

#[test]
fn secrets_are_never_printed() {
    for format in FORMATS {
        let output = runbook(&["plan", "playbooks/restore.yml", "--format", format]);
        let text = stdout(&output);
        assert!(!text.contains("hunter2"), "{format}");
        if *format != "mermaid" && *format != "dot" {
            assert!(
                text.contains("postgres://goodgo:••••@localhost/goodgo"),
                "{format}"
            );
        }
    }
}

#[test]
fn plan_needs_required_inputs() {
    let output = runbook(&["plan", "tests/fixtures/valid/required-input.yml"]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&output));

    let output = runbook(&[
        "plan",
        "tests/fixtures/valid/required-input.yml",
        "--input",
        "backup_file=/backups/goodgo_20260411.dump",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("file: /backups/goodgo_20260411.dump"));
    assert!(stdout(&output).contains("jobs: \"2\""));
}

#[test]
fn unknown_inputs_are_refused_with_a_suggestion() {
    let output = runbook(&["plan", "playbooks/restore.yml", "--input", "db_nme=shop"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("error[unknown-input]: unknown input `db_nme` given"),
        "{text}"
    );
    assert!(text.contains("did you mean `db_name`?"), "{text}");
}

#[test]
fn for_each_items_come_from_inputs() {
    let output = runbook(&[
        "plan",
        "playbooks/rolling-restart.yml",
        "--input",
        "apps=api,worker",
    ]);
    let text = stdout(&output);
    assert!(
        text.contains("apps[worker]  docker.rolling_restart"),
        "{text}"
    );
    assert!(text.contains("needs: apps[api]"), "{text}");
    assert!(!text.contains("apps[web]"), "{text}");
}
