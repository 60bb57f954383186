use serde_json::Value;

use crate::support::{fixtures, playbooks, runbook, stderr, stdout};

/// Each invalid fixture names where its mistake is: `# expect: LINE:COL CODE`.
fn expectation(path: &str) -> String {
    // Lossy: one fixture is deliberately not UTF-8.
    let bytes = std::fs::read(crate::support::root().join(path)).expect("fixture");
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .find_map(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{path} has no `# expect:` line"))
        .to_string()
}

#[test]
fn every_invalid_fixture_is_reported_at_its_line_and_column() {
    let files = fixtures("invalid");
    assert!(files.len() >= 20, "only {} fixtures", files.len());
    for file in files {
        let output = runbook(&["validate", "--format", "json", &file]);
        assert_eq!(output.status.code(), Some(2), "{file}: exit code");
        let report: Value = serde_json::from_str(&stdout(&output)).expect("json report");
        let first = &report["files"][0]["diagnostics"][0];
        let found = format!(
            "{}:{} {}",
            first["line"],
            first["column"],
            first["code"].as_str().unwrap_or("")
        );
        assert_eq!(found, expectation(&file), "{file}");
        assert!(first["hint"].is_string(), "{file}: no hint");
    }
}

#[test]
fn invalid_fixture_diagnostics() {
    insta::glob!("../fixtures/invalid", "*.yml", |path| {
        let relative = path
            .strip_prefix(crate::support::root())
            .expect("under root");
        let output = runbook(&["validate", &relative.display().to_string()]);
        assert_eq!(output.status.code(), Some(2));
        assert!(!stderr(&output).contains("panicked"));
        insta::assert_snapshot!(stderr(&output));
    });
}

#[test]
fn all_mistakes_of_a_playbook_are_reported_in_one_run() {
    let output = runbook(&[
        "validate",
        "--format",
        "json",
        "tests/fixtures/invalid/several-mistakes.yml",
    ]);
    let report: Value = serde_json::from_str(&stdout(&output)).expect("json");
    let codes: Vec<&str> = report["files"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| d["code"].as_str().expect("code"))
        .collect();
    assert_eq!(
        codes,
        ["unknown-key", "unknown-need", "undeclared", "unknown-verb"]
    );
}

#[test]
fn shipped_playbooks_and_valid_fixtures_validate() {
    let mut files = playbooks();
    files.extend(fixtures("valid"));
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let output = runbook(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output)
            .lines()
            .filter(|l| l.starts_with("ok: "))
            .count(),
        files.len()
    );
}

#[test]
fn one_bad_file_fails_the_whole_run_but_all_are_checked() {
    let output = runbook(&[
        "validate",
        "tests/fixtures/invalid/cycle.yml",
        "playbooks/restore.yml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("ok: playbooks/restore.yml"));
    assert!(stderr(&output).contains("dependency cycle: a -> c -> b -> a"));
}

#[test]
fn an_unreadable_file_is_a_clear_error() {
    let output = runbook(&["validate", "playbooks/nope.yml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .starts_with("playbooks/nope.yml: error[unreadable-file]: cannot read the playbook")
    );
}

#[test]
fn given_inputs_are_checked_against_their_types() {
    let output = runbook(&[
        "validate",
        "tests/fixtures/valid/required-input.yml",
        "--input",
        "jobs=many",
    ]);
    assert_eq!(output.status.code(), Some(2));
    insta::assert_snapshot!(stderr(&output));
}

#[test]
fn an_empty_list_input_under_for_each_is_blamed_on_the_value_given() {
    let output = runbook(&[
        "validate",
        "playbooks/rolling-restart.yml",
        "--input",
        "apps=[]",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("`for_each: {{ inputs.apps }}` has no items"),
        "{text}"
    );
    assert!(
        text.contains("the value given (by --input or the environment file)"),
        "{text}"
    );
}

/// The inputs that once crashed or hung `validate`, `plan` or a check (`fuzz/corpus/validate/`,
/// where `cargo fuzz run validate` keeps what it finds): each now ends, within the safety net
/// of a minute, with a verdict (exit 0, 1, 2 or 4), never a panic (101), an abort or a signal.
#[test]
fn the_fuzz_corpus_never_crashes() {
    let corpus = crate::support::root().join("fuzz/corpus/validate");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .expect("fuzz corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "only {} corpus files", files.len());
    let sandbox = crate::support::Sandbox::new();
    for file in &files {
        let path = file.display().to_string();
        for args in [
            vec!["validate", &path],
            vec!["validate", "--format", "json", &path],
            vec!["plan", &path],
            vec!["run", "--dry-run", &path],
        ] {
            // To a file: a pipe nobody reads while waiting would stall a long diagnostic.
            let log = sandbox.path().join("stderr.log");
            let mut child = sandbox
                .command(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"))
                .spawn()
                .expect("runbook starts");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{args:?} did not end within a minute");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            let stderr =
                String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
            assert!(
                matches!(status.code(), Some(0 | 1 | 2 | 4)),
                "{args:?}: {status:?}\n{}",
                stderr.chars().take(2000).collect::<String>()
            );
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
    }
}

/// 3,000 steps: over 256 KiB and 1,000 steps, so the playbook is read and compiled in two
/// halves at once (engine/src/parallel.rs). Its mistakes in both halves are reported at their
/// lines and in the order of the file, as a small playbook's are.
#[test]
fn a_large_playbook_s_mistakes_are_reported_at_their_lines_in_order() {
    let sandbox = crate::support::Sandbox::new();
    let mut text =
        String::from("version: 1\nname: large\ninputs:\n  a: { default: \"1\" }\nsteps:\n");
    let mut expected = Vec::new();
    for i in 0..3_000 {
        let line = text.lines().count() + 1;
        text.push_str(&format!("  - id: s{i}\n    needs: [s{}]\n", i.max(1) - 1));
        if i % 1_000 == 7 {
            // A key the loader does not know, then an input the compiler does not.
            text.push_str("    retries: 3\n");
            expected.push(format!("{}:5 unknown-key", line + 2));
            expected.push(format!("{}:35 undeclared", line + 3));
        }
        let input = if i % 1_000 == 7 { "b" } else { "a" };
        text.push_str(&format!(
            "    shell.run: {{ argv: [echo, \"{{{{ inputs.{input} }}}}\", padding, padding] }}\n"
        ));
    }
    // The first step needs itself (s0): a cycle, reported before any step's own mistakes.
    expected.insert(0, "7:13 needs-cycle".to_string());
    assert!(text.len() > 256 * 1024, "{} bytes", text.len());
    let file = sandbox.write("large.yml", &text);
    let output = runbook(&["validate", "--format", "json", &file.display().to_string()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("json report");
    let found: Vec<String> = report["files"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d["line"],
                d["column"],
                d["code"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(found, expected);
}
