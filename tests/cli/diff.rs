//! `runbook diff OLD NEW`: what a playbook change changes in its plan, snapshot-tested.

use crate::support::{runbook, stderr, stdout};

const OLD: &str = "tests/fixtures/diff/old.yml";
const NEW: &str = "tests/fixtures/diff/new.yml";

#[test]
fn diff_in_text_and_markdown() {
    for format in ["text", "markdown"] {
        let output = runbook(&["diff", OLD, NEW, "--format", format]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        insta::assert_snapshot!(format!("diff-{format}"), stdout(&output));
    }
}

#[test]
fn the_same_plan_is_no_change_whatever_the_layout() {
    let output = runbook(&["diff", "playbooks/restore.yml", "playbooks/restore.yml"]);
    assert_eq!(stdout(&output), "No change to the plan.\n");
    // An input given on the command line reaches every param it feeds.
    let output = runbook(&["diff", OLD, OLD, "--input", "project=shop"]);
    assert_eq!(stdout(&output), "No change to the plan.\n");
}

#[test]
fn an_invalid_side_is_reported_with_its_place() {
    let output = runbook(&["diff", OLD, "tests/fixtures/invalid/cycle.yml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("tests/fixtures/invalid/cycle.yml:"),
        "{}",
        stderr(&output)
    );
}
