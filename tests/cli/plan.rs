use crate::support::{playbooks, runbook, stderr, stdout};

const FORMATS: &[&str] = &["text", "markdown", "mermaid", "dot", "json"];

/// How the shipped playbooks are planned for review: against their system's production
/// environment file (the demo stacks' own against their demo's), with a release tag for those
/// that need one.
fn plan_args(file: &str) -> Vec<&str> {
    let mut args = vec!["plan", file];
    if file.starts_with("playbooks/car-rental/demo/") {
        args.extend(["--env", "environments/car-rental-demo.yml"]);
    } else if file.starts_with("playbooks/liyaqa/demo/") {
        args.extend(["--env", "environments/liyaqa-demo.yml"]);
    } else if file.starts_with("playbooks/liyaqa/") {
        args.extend(["--env", "environments/liyaqa.yml"]);
    } else if file.starts_with("playbooks/audio-tai-loc/demo/") {
        args.extend(["--env", "environments/audio-tai-loc-demo.yml"]);
    } else if file.starts_with("playbooks/audio-tai-loc/") {
        args.extend(["--env", "environments/audio-tai-loc.yml"]);
    } else if file.starts_with("playbooks/car-rental/") {
        args.extend(["--env", "environments/car-rental.yml"]);
    } else if file.ends_with("fleet-rolling-restart.yml") {
        args.extend(["--env", "environments/goodgo-fleet.yml"]);
    } else if !file.starts_with("playbooks/demo/") {
        args.extend(["--env", "environments/goodgo.yml"]);
    }
    if file.ends_with("deploy-rollback.yml")
        || file.ends_with("car-rental/deploy.yml")
        || file.ends_with("car-rental/rollback.yml")
    {
        args.extend(["--input", "tag=3f2a9c1"]);
    }
    if file.ends_with("blue-green-deploy.yml") {
        args.extend(["--input", "version=v1.0.1"]);
    }
    if file.ends_with("full-system-rollback.yml") {
        args.extend(["--input", "version=v0.9.0"]);
    }
    args
}

#[test]
fn markdown_plans_of_every_shipped_playbook() {
    for file in playbooks() {
        let mut args = plan_args(&file);
        args.extend(["--format", "markdown"]);
        let output = runbook(&args);
        assert_eq!(output.status.code(), Some(0), "{file}: {}", stderr(&output));
        let name = file
            .trim_start_matches("playbooks/")
            .trim_end_matches(".yml")
            .replace('/', "-");
        insta::assert_snapshot!(format!("plan-{name}-markdown"), stdout(&output));
    }
}

#[test]
fn plans_in_every_format() {
    for (file, name) in [
        ("playbooks/restore.yml", "restore"),
        (
            "tests/fixtures/valid/rollback-and-on-failure.yml",
            "drill-shape",
        ),
    ] {
        for format in FORMATS {
            let mut args = plan_args(file);
            args.extend(["--format", format]);
            let output = runbook(&args);
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
                text.contains("password: ••••") || text.contains("\"password\": \"••••\""),
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

/// 2,000 steps: over 1,000, so their views are made in two halves at once, each half with a
/// renderer of its own (engine/src/parallel.rs). Every step is shown, in order, with its
/// templates rendered, in the second half as in the first.
#[test]
fn a_large_plan_shows_every_step_in_order_rendered() {
    let sandbox = crate::support::Sandbox::new();
    let mut text =
        String::from("version: 1\nname: large\ninputs:\n  a: { default: hello }\nsteps:\n");
    for i in 0..2_000 {
        text.push_str(&format!("  - id: s{i}\n"));
        if i > 0 {
            text.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
        text.push_str(&format!(
            "    shell.run: {{ argv: [echo, \"{{{{ inputs.a }}}}-{i}\"] }}\n"
        ));
    }
    let file = sandbox.write("large.yml", &text);
    let output = runbook(&["plan", &file.display().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan = stdout(&output);
    let shown: Vec<&str> = plan
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("argv: "))
        .collect();
    let expected: Vec<String> = (0..2_000).map(|i| format!("[echo, hello-{i}]")).collect();
    assert_eq!(shown, expected);
}
