//! `runbook run`: the executor end to end, with real processes, files and HTTP.

use crate::support::{Sandbox, StandIn, code, events, kinds, stderr};

/// Three steps that each leave a trace and undo it, then one that can be made to fail.
const CHAIN: &str = r#"
version: 1
name: chain
steps:
  - id: a
    shell.run: { script: "echo a >> {dir}/done" }
    rollback:
      shell.run: { script: "echo undo-a >> {dir}/undone" }
  - id: b
    needs: [a]
    shell.run: { script: "echo b >> {dir}/done" }
    rollback:
      shell.run: { script: "echo undo-b >> {dir}/undone" }
  - id: c
    needs: [a]
    shell.run: { script: "echo c >> {dir}/done" }
    rollback:
      - shell.run: { script: "echo undo-c1 >> {dir}/undone" }
      - shell.run: { script: "echo undo-c2 >> {dir}/undone" }
  - id: d
    needs: [b, c]
    shell.run: { script: "test ! -e {dir}/break" }
"#;

#[test]
fn a_successful_run_passes_outputs_on_and_journals_every_step() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "hello.yml",
        r#"
version: 1
name: hello
inputs:
  who: { default: world }
steps:
  - id: greet
    shell.run: { argv: [echo, "hello {{ inputs.who }}"], read_only: true }
  - id: check
    needs: [greet]
    assert.that: { that: "{{ steps.greet.stdout | trim == 'hello ops' }}" }
  - id: skipped
    needs: [check]
    when: inputs.who == 'nobody'
    shell.run: { argv: ["false"] }
"#,
    );
    let output = sandbox.run(&["run", "hello.yml", "--input", "who=ops"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    assert_eq!(
        kinds(&journal),
        [
            "run_started",
            "step_started",
            // `echo`'s process group, for a resume after a crash (assert.that starts none).
            "process_started",
            "step_succeeded",
            "step_started",
            "step_succeeded",
            "step_skipped",
            "run_finished"
        ]
    );
    assert_eq!(events(&journal, "process_started")[0]["program"], "echo");
    let greet = events(&journal, "step_succeeded")[0];
    assert_eq!(greet["outputs"]["stdout"], "hello ops\n");
    assert_eq!(greet["outputs"]["exit_code"], 0);
    assert_eq!(journal[7]["status"], "succeeded");
    assert_eq!(journal[0]["inputs"]["who"], "ops");

    let runs = sandbox.run(&["runs"]);
    let listing = String::from_utf8_lossy(&runs.stdout).into_owned();
    assert!(
        listing.contains("hello") && listing.contains("succeeded"),
        "{listing}"
    );

    let show = sandbox.run(&["show", "last"]);
    let timeline = String::from_utf8_lossy(&show.stdout).into_owned();
    assert!(timeline.contains("✓ greet"), "{timeline}");
    assert!(
        timeline.contains("- skipped  skipped: `when` is false"),
        "{timeline}"
    );
}

#[test]
fn a_failure_rolls_back_completed_steps_newest_first() {
    let sandbox = Sandbox::new();
    sandbox.write("chain.yml", CHAIN);
    sandbox.write("break", "");
    let output = sandbox.run(&["run", "chain.yml", "--max-parallel", "1"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    // With one step at a time the completion order is a, b, c: undone c, b, a, and each
    // step's own compensations in the order written.
    assert_eq!(sandbox.read("done"), "a\nb\nc\n");
    assert_eq!(sandbox.read("undone"), "undo-c1\nundo-c2\nundo-b\nundo-a\n");
    let journal = sandbox.last_journal();
    let finished = journal.last().expect("events");
    assert_eq!(finished["status"], "rolled_back");
    assert_eq!(finished["exit_code"], 1);
    assert_eq!(finished["error"], "step `d` failed");
    assert!(stderr(&output).contains("rolled back"));
}

#[test]
fn fail_at_injects_a_failure_and_no_rollback_leaves_things_as_they_are() {
    let sandbox = Sandbox::new();
    sandbox.write("chain.yml", CHAIN);
    let output = sandbox.run(&["run", "chain.yml", "--fail-at", "b", "--no-rollback"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(!sandbox.exists("undone"));
    let journal = sandbox.last_journal();
    let failed = events(&journal, "step_failed");
    assert_eq!(failed[0]["step"], "b");
    assert_eq!(failed[0]["error"], "failure injected with --fail-at");
    assert_eq!(journal.last().expect("events")["status"], "failed");
    assert!(
        events(&journal, "step_started")
            .iter()
            .all(|e| e["step"] != "d")
    );

    let unknown = sandbox.run(&["run", "chain.yml", "--fail-at", "zz"]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("--fail-at `zz`: the playbook has no such step"));
}

#[test]
fn a_failed_compensation_is_reported_without_hiding_the_original_error() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "bad-undo.yml",
        r#"
version: 1
name: bad-undo
steps:
  - id: first
    shell.run: { script: "true" }
    rollback:
      shell.run: { script: "echo undo-first >> {dir}/undone" }
  - id: second
    needs: [first]
    shell.run: { script: "true" }
    rollback:
      shell.run: { script: "echo cannot undo >&2; exit 7" }
  - id: third
    needs: [second]
    shell.run: { script: "echo disk full >&2; exit 1" }
"#,
    );
    let output = sandbox.run(&["run", "bad-undo.yml"]);
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    // The other compensation still ran.
    assert_eq!(sandbox.read("undone"), "undo-first\n");
    let journal = sandbox.last_journal();
    assert_eq!(
        events(&journal, "step_failed")[0]["error"],
        "`sh` exited with 1:\ndisk full"
    );
    let failed = events(&journal, "compensation_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["step"], "second");
    let finished = journal.last().expect("events");
    assert_eq!(finished["status"], "rollback_failed");
    assert_eq!(finished["error"], "step `third` failed");
    assert!(stderr(&output).contains("rollback failed, manual action needed"));
}

#[test]
fn a_precondition_failing_before_any_change_exits_4() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pre.yml",
        r#"
version: 1
name: pre
steps:
  - id: look
    file.exists: { path: "{dir}/pre.yml" }
  - id: change
    needs: [look]
    requires:
      - file.exists: { path: "{dir}/missing.dump" }
    shell.run: { script: "touch {dir}/changed" }
"#,
    );
    let output = sandbox.run(&["run", "pre.yml"]);
    assert_eq!(code(&output), 4, "{}", stderr(&output));
    assert!(!sandbox.exists("changed"));
    let journal = sandbox.last_journal();
    let failed = events(&journal, "precondition_failed");
    assert_eq!(failed[0]["precondition"], "file.exists");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("missing.dump")
    );
    assert_eq!(
        journal.last().expect("events")["status"],
        "precondition_failed"
    );
    // The check predicts the real run's exit code.
    let checked = sandbox.run(&["run", "pre.yml", "--dry-run"]);
    assert_eq!(code(&checked), 4, "{}", stderr(&checked));
    assert_eq!(
        sandbox.last_journal().last().expect("events")["status"],
        "precondition_failed"
    );
}

#[test]
fn continue_on_error_records_the_failure_and_goes_on() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "soft.yml",
        r#"
version: 1
name: soft
steps:
  - id: optional
    continue_on_error: true
    shell.run: { script: "exit 2" }
    rollback:
      shell.run: { script: "touch {dir}/rolled-back" }
  - id: after
    needs: [optional]
    assert.that: { that: "{{ steps.optional.status == 'failed' }}" }
"#,
    );
    let output = sandbox.run(&["run", "soft.yml"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!sandbox.exists("rolled-back"));
    let journal = sandbox.last_journal();
    assert_eq!(events(&journal, "step_failed")[0]["continued"], true);
    assert_eq!(events(&journal, "step_succeeded")[0]["step"], "after");
}

#[test]
fn retries_back_off_and_a_timeout_kills_the_whole_process_group() {
    let sandbox = Sandbox::new();
    sandbox.write("spin.sh", "while true; do sleep 1; done\n");
    sandbox.write(
        "slow.yml",
        r#"
version: 1
name: slow
steps:
  - id: flaky
    shell.run: { script: "echo x >> {dir}/tries; test $(wc -l < {dir}/tries) -ge 3" }
    retry: { attempts: 5, delay: 10ms, backoff: exponential }
  - id: hang
    needs: [flaky]
    timeout: 1s
    shell.run: { script: "sh {dir}/spin.sh & sh {dir}/spin.sh" }
"#,
    );
    let output = sandbox.run(&["run", "slow.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let retried = events(&journal, "attempt_failed");
    assert_eq!(retried.len(), 2);
    assert_eq!(retried[0]["retry_in"], 0.01);
    assert_eq!(retried[1]["retry_in"], 0.02);
    assert_eq!(events(&journal, "step_succeeded")[0]["attempts"], 3);
    assert_eq!(
        events(&journal, "step_failed")[0]["error"],
        "timed out after 1s"
    );
    assert_eq!(sandbox.leftover_processes(), Vec::<String>::new());
}

/// Every form a secret comes back in, looked for in every file a run leaves and on the
/// console: as given, percent-encoded (an HTTP client's error), base64 (alone and in a
/// Basic-auth `user:secret`), hex, and a piece of it left by the 16 KiB output cut.
#[test]
fn secrets_are_redacted_in_every_encoding_and_across_the_output_cut() {
    let secret = "Canary/p@ss w0rd+Tail";
    let sandbox = Sandbox::new();
    sandbox.write(
        "leaks.yml",
        r#"
version: 1
name: leaks
secrets:
  token: { env: LEAK_TOKEN }
steps:
  - id: encodings
    shell.run:
      script: |
        printf '%s' "$T" | base64
        printf 'user:%s' "$T" | base64
        printf '%s' "$T" | od -An -tx1 | tr -d ' \n'; echo
      env: { T: "{{ secrets.token }}" }
  - id: cut
    needs: [encodings]
    # The secret, then 16,380 bytes: the 16 KiB tail starts inside the secret.
    shell.run:
      script: printf '%s' "$T"; head -c 16380 /dev/zero | tr '\0' x
      env: { T: "{{ secrets.token }}" }
  - id: url
    needs: [cut]
    http.check: { url: "http://127.0.0.1:9/health?token={{ secrets.token }}", request_timeout: 2s }
"#,
    );
    let output = sandbox
        .command(&["run", "leaks.yml"])
        .env("LEAK_TOKEN", secret)
        .output()
        .expect("runs");
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let mut everything = stderr(&output);
    everything.push_str(&sandbox.evidence());
    use std::process::Command;
    let shell = |script: &str| {
        let out = Command::new("sh")
            .args(["-c", script])
            .env("T", secret)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let forms = [
        ("as given", secret.to_string()),
        // 21 + 16,380 bytes cut to 16,384: what is left of the secret is its last 4 bytes.
        ("its end, after a cut", "Tailxxxx".to_string()),
        ("base64", shell("printf '%s' \"$T\" | base64")),
        (
            "base64 in user:secret",
            shell("printf 'user:%s' \"$T\" | base64")[8..24].to_string(),
        ),
        (
            "hex",
            shell("printf '%s' \"$T\" | od -An -tx1 | tr -d ' \\n'"),
        ),
    ];
    for (what, form) in forms {
        assert!(!everything.contains(&form), "{what} `{form}` leaked");
    }
    // Percent-encoded, in any mix (`p@ss%20w0rd`, `p%40ss%20w0rd`): decoding finds nothing.
    let decoded = percent_decode(&everything);
    assert!(!decoded.contains(secret), "a percent-encoded form leaked");
    // The request was made, and failed, with its target shown without the query's value.
    assert!(
        everything.contains("http://127.0.0.1:9/health?token=••••"),
        "{everything}"
    );
}

#[test]
fn secrets_reach_commands_but_never_the_journal_or_console() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "secret.yml",
        r#"
version: 1
name: secret
secrets:
  token: { env: DEMO_TOKEN }
steps:
  - id: use
    shell.run:
      script: 'test ${#TOKEN} -eq 12; echo "token=$TOKEN"; echo "token=$TOKEN" >&2; exit 1'
      env: { TOKEN: "{{ secrets.token }}" }
"#,
    );
    let output = sandbox
        .command(&["run", "secret.yml"])
        .env("DEMO_TOKEN", "s3cr3t-value")
        .output()
        .expect("runs");
    assert_eq!(code(&output), 1);
    let console = stderr(&output);
    assert!(console.contains("token=••••"), "{console}");
    let everything = sandbox.evidence();
    assert!(everything.contains("token=••••"));
    assert!(!everything.contains("s3cr3t-value"));
    assert!(!console.contains("s3cr3t-value"));

    let missing = sandbox.run(&["run", "secret.yml"]);
    assert_eq!(code(&missing), 2);
    assert!(
        stderr(&missing).contains(
            "secret `token`: environment variable `DEMO_TOKEN` is not set; export it before the run"
        ),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn http_file_and_notify_steps_work_against_real_endpoints() {
    let server = StandIn::start();
    let sandbox = Sandbox::new();
    sandbox.write("backup_1.sql.gz", "old");
    sandbox.write("backup_2.sql.gz", "newest backup");
    let playbook = r#"
version: 1
name: probes
steps:
  - id: health
    http.check:
      url: "URL/health"
      expect: { status: 200, json: { "info.database.status": "up" }, body: "ok" }
  - id: latest
    file.latest: { glob: "{dir}/backup_*.sql.gz", max_age: 1h, min_size: 5 }
  - id: sum
    needs: [latest]
    file.checksum: { path: "{{ steps.latest.path }}", algorithm: md5 }
  - id: tell
    needs: [health, sum]
    notify.webhook:
      url: "URL/hook"
      text: "backup {{ steps.sum.checksum }} is fine, health {{ steps.health.status_code }}"
  - id: degraded
    needs: [tell]
    http.check:
      url: "URL/degraded"
      expect: { json: { "info.database.status": "up" } }
"#
    .replace("URL", &server.url(""));
    sandbox.write("probes.yml", &playbook);
    let output = sandbox.run(&["run", "probes.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let done = events(&journal, "step_succeeded");
    assert_eq!(done.len(), 4, "{}", stderr(&output));
    let latest = done.iter().find(|e| e["step"] == "latest").unwrap();
    assert!(
        latest["outputs"]["path"]
            .as_str()
            .unwrap()
            .ends_with("backup_2.sql.gz")
    );
    assert_eq!(latest["outputs"]["size"], 13);
    let sum = done.iter().find(|e| e["step"] == "sum").unwrap();
    // md5 of "newest backup"
    assert_eq!(
        sum["outputs"]["checksum"],
        "1cdbf5dfeb089d6a27e0deff8fa1162d"
    );
    let hooks: Vec<_> = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, path, _)| path == "/hook")
        .cloned()
        .collect();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].0, "POST");
    let body: serde_json::Value = serde_json::from_str(&hooks[0].2).unwrap();
    assert_eq!(
        body["text"],
        "backup 1cdbf5dfeb089d6a27e0deff8fa1162d is fine, health 200"
    );
    let failed = events(&journal, "step_failed");
    assert_eq!(failed[0]["step"], "degraded");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("`info.database.status` is \"down\", expected \"up\""),
        "{}",
        failed[0]["error"]
    );
}

#[test]
fn wait_until_polls_a_read_only_action_and_reports_its_last_failure() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "poll.yml",
        r#"
version: 1
name: poll
steps:
  - id: slow-writer
    shell.run: { script: "sleep 0.3; touch {dir}/ready" }
  - id: ready
    timeout: 30s
    wait.until:
      check: { file.exists: { path: "{dir}/ready" } }
      interval: 50ms
  - id: never
    needs: [ready, slow-writer]
    timeout: 300ms
    wait.until:
      check: { file.exists: { path: "{dir}/never" } }
      interval: 50ms
"#,
    );
    let output = sandbox.run(&["run", "poll.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let ready = events(&journal, "step_succeeded")
        .into_iter()
        .find(|e| e["step"] == "ready")
        .expect("ready succeeded")
        .clone();
    assert!(ready["outputs"]["polls"].as_u64().unwrap() > 1, "{ready}");
    let failed = events(&journal, "step_failed");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("`file.exists` still failing after ")
            && error.contains("polls: ")
            && error.ends_with("/never: No such file or directory (os error 2)"),
        "{error}"
    );
}

/// `%XX` escapes decoded (what anyone reading a leaked URL would do).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `shell.run: "script"` and `shell.run: [argv...]` run as `script:` and `argv:` do.
#[test]
fn shell_run_shorthands_run_as_their_long_forms() {
    let sandbox = Sandbox::new();
    let playbook = crate::support::root().join("tests/fixtures/valid/shell-shorthand.yml");
    let output = sandbox.run(&["run", &playbook.display().to_string()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let said: Vec<&str> = events(&journal, "step_succeeded")
        .iter()
        .map(|e| e["outputs"]["stdout"].as_str().unwrap())
        .collect();
    assert_eq!(said, ["from a script\n", "from argv\n"]);
}

/// Without `$USER` (cron, systemd, root over some SSH set-ups) the operator is the uid's
/// account, not `unknown`.
#[test]
fn the_operator_is_named_from_the_uid_when_user_is_unset() {
    let sandbox = Sandbox::new();
    let playbook = crate::support::root().join("tests/fixtures/valid/shell-shorthand.yml");
    let output = sandbox
        .command(&["run", &playbook.display().to_string()])
        .env_remove("RUNBOOK_USER")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .expect("runs");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let whoami = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    let name = String::from_utf8_lossy(&whoami.stdout).trim().to_string();
    assert_eq!(sandbox.last_journal()[0]["user"], name.as_str());
}

/// `show:` puts what a diagnostic step found on the console and in every report; a
/// `sensitive` output (a secret made during the run) reaches later steps but nothing written.
#[test]
fn show_reports_findings_and_sensitive_outputs_stay_hidden() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "diagnose.yml",
        r#"
version: 1
name: diagnose
steps:
  - id: disk
    shell.run: { script: "echo '/dev/sda1  91% /'", read_only: true }
    show: stdout
  - id: count
    needs: [disk]
    shell.run: { script: "echo 3", read_only: true }
    show: "{{ steps.count.stdout | trim }} connections idle in transaction"
  - id: mint
    shell.run: "printf 'tok-%s-fresh' $$"
    sensitive: [stdout]
    show: stdout
  - id: use
    needs: [mint]
    shell.run:
      script: 'printf %s "$T" > {dir}/minted; echo "using $T"'
      env: { T: "{{ steps.mint.stdout }}" }
"#,
    );
    let output = sandbox.run(&["run", "diagnose.yml"]);
    let console = stderr(&output);
    assert_eq!(code(&output), 0, "{console}");
    assert!(
        console.contains("ℹ disk  found: /dev/sda1  91% /"),
        "{console}"
    );
    assert!(
        console.contains("ℹ count  found: 3 connections idle in transaction"),
        "{console}"
    );
    let token = sandbox.read("minted");
    assert!(
        token.starts_with("tok-") && token.ends_with("-fresh"),
        "{token}"
    );
    let mut everything = console.clone();
    everything.push_str(&sandbox.evidence());
    assert!(!everything.contains(&token), "the minted token leaked");
    assert!(console.contains("ℹ mint  found: ••••"), "{console}");
    let report = sandbox.report("md");
    assert!(report.contains("## What the steps found"), "{report}");
    assert!(
        report.contains("3 connections idle in transaction"),
        "{report}"
    );
    let junit = sandbox.report("junit.xml");
    assert!(
        junit.contains("<system-out>/dev/sda1  91% /</system-out>"),
        "{junit}"
    );
}

/// `severity: warning`: a failed check that should not stop the run is a warning on the
/// console, in the reports and in JUnit (which passes it), and the run succeeds.
#[test]
fn a_warning_is_a_warning_everywhere_and_the_run_succeeds() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "deep.yml",
        r#"
version: 1
name: deep
steps:
  - id: disk-space
    shell.run: { script: "echo 'disk 91% used' >&2; exit 1", read_only: true }
    severity: warning
  - id: api
    needs: [disk-space]
    shell.run: { script: "true", read_only: true }
"#,
    );
    let output = sandbox.run(&["run", "deep.yml"]);
    let console = stderr(&output);
    assert_eq!(code(&output), 0, "{console}");
    assert!(
        console.contains("⚠ disk-space  warning: `sh` exited with 1"),
        "{console}"
    );
    assert!(console.contains("✓ api"), "{console}");
    let markdown = sandbox.report("md");
    assert!(
        markdown.contains("| `disk-space` | ⚠️ warning |"),
        "{markdown}"
    );
    let junit = sandbox.report("junit.xml");
    assert!(junit.contains(r#"failures="0""#), "{junit}");
    assert!(
        junit.contains("<system-err>warning: `sh` exited with 1"),
        "{junit}"
    );
    assert_eq!(
        sandbox.last_journal().last().unwrap()["status"],
        "succeeded"
    );
}

/// `--log-format json`: every line on stderr is one JSON object; `RUST_LOG` filters levels.
#[test]
fn json_logs_are_one_object_per_line_and_filtered_by_level() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "fails.yml",
        "version: 1\nname: fails\nsteps:\n  - id: ok\n    shell.run: \"true\"\n  - id: broken\n    needs: [ok]\n    shell.run: \"exit 3\"\n",
    );
    let all = sandbox.run(&["--log-format", "json", "run", "fails.yml"]);
    assert_eq!(code(&all), 1);
    let lines: Vec<serde_json::Value> = stderr(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let failed = lines
        .iter()
        .find(|l| l["fields"]["event"] == "step_failed")
        .expect("a step_failed record");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["fields"]["step"], "broken");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["event"] == "step_succeeded")
    );

    let quiet = sandbox
        .command(&["--log-format", "json", "run", "fails.yml"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    let levels: Vec<String> = stderr(&quiet)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["level"].to_string())
        .collect();
    assert!(
        !levels.is_empty() && levels.iter().all(|l| l != "\"INFO\""),
        "{levels:?}"
    );
}

/// On a terminal (a pty from `script`), running steps are shown with their elapsed time;
/// through a pipe (every other test) the console is the plain lines.
#[test]
fn a_terminal_shows_running_steps_with_their_elapsed_time() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "slow.yml",
        "version: 1\nname: slow\nsteps:\n  - id: restore\n    shell.run: \"sleep 1.2\"\n",
    );
    let typescript = sandbox.path().join("typescript");
    // `script -qec COMMAND FILE`: COMMAND on a pseudo-terminal, what it drew kept in FILE.
    let command = format!("{} run slow.yml", env!("CARGO_BIN_EXE_runbook"));
    let status = std::process::Command::new("script")
        .args(["-qfec", &command])
        .arg(&typescript)
        .current_dir(sandbox.path())
        .env("RUNBOOK_STATE_DIR", sandbox.path().join("state"))
        .env("RUNBOOK_LOCK_DIR", sandbox.path().join("locks"))
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script (util-linux) runs");
    assert!(status.success());
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(screen.contains("restore  shell.run  0s"), "{screen}");
    assert!(screen.contains("succeeded in"), "{screen}");
}
