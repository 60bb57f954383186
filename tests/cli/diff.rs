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

/// `git` in `dir`, which must succeed.
fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn the_pull_request_comment_diffs_and_plans_each_changed_playbook() {
    // A scratch repository: a base commit, then a pull request that changes one playbook,
    // removes one and adds one.
    let repo = crate::support::Sandbox::new();
    let dir = repo.path();
    let old = std::fs::read_to_string(crate::support::root().join(OLD)).unwrap();
    let new = std::fs::read_to_string(crate::support::root().join(NEW)).unwrap();
    repo.write("environments/test.yml", "inputs: { project: shop }\n");
    repo.write("playbooks/restore.yml", &old);
    repo.write(
        "playbooks/gone.yml",
        &old.replace("name: restore", "name: gone"),
    );
    repo.write(
        "playbooks/unchanged.yml",
        &old.replace("name: restore", "name: same"),
    );
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "base"]);
    repo.write("playbooks/restore.yml", &new);
    repo.write(
        "playbooks/added.yml",
        &old.replace("name: restore", "name: added"),
    );
    std::fs::remove_file(dir.join("playbooks/gone.yml")).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "the pull request"]);

    let output = std::process::Command::new(crate::support::root().join("scripts/plan-comment.sh"))
        .current_dir(dir)
        .args(["HEAD~1", "environments/test.yml"])
        .env("RUNBOOK", env!("CARGO_BIN_EXE_runbook"))
        .output()
        .expect("the script runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let comment = stdout(&output);
    // What the diff and the plan say is snapshot-tested above and in plan.rs; here, that the
    // comment has each piece in its place.
    let sections: Vec<&str> = comment
        .lines()
        .filter(|l| {
            l.starts_with("<details")
                || l.starts_with("### `")
                || l.starts_with("## Plan:")
                || l.starts_with("### Plan changes")
                || *l == "New playbook."
                || *l == "Removed."
        })
        .collect();
    assert_eq!(
        sections,
        [
            "<details open><summary><code>playbooks/added.yml</code></summary>",
            "New playbook.",
            "## Plan: `added`",
            "### `playbooks/gone.yml`",
            "Removed.",
            "<details open><summary><code>playbooks/restore.yml</code></summary>",
            "### Plan changes",
            "## Plan: `restore`",
        ],
        "{comment}"
    );
    assert!(
        comment.contains("`objectives.rto` | `15m` | `10m`"),
        "{comment}"
    );
    assert!(comment.contains("```mermaid"), "{comment}");
    assert!(!comment.contains("unchanged.yml"), "{comment}");
}
