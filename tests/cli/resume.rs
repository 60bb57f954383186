//! Crashes, signals, locks and approvals: runs that do not simply go from start to end.

use crate::support::{Sandbox, code, events, kinds, on_shared_store, stderr};
use std::process::Child;

/// Step `a` changes something; `b` waits until the test lets it go (`{dir}/go` exists).
const WAITING: &str = r#"
version: 1
name: waiting
lock: "stack-{{ inputs.stack }}"
inputs:
  stack: { default: demo }
steps:
  - id: a
    shell.run: { script: "echo a >> {dir}/a-runs" }
    rollback:
      shell.run: { script: "echo undo-a >> {dir}/undone" }
  - id: b
    needs: [a]
    shell.run: { script: "touch {dir}/b-started; sh {dir}/wait-go.sh" }
  - id: c
    needs: [b]
    shell.run: { script: "echo c >> {dir}/c-runs" }
"#;

const WAIT_GO: &str = "while [ ! -e {dir}/go ]; do sleep 0.05; done\n";

fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn finish(child: Child) -> (i32, String) {
    let output = child.wait_with_output().expect("runbook ends");
    (code(&output), stderr(&output))
}

fn waiting_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("waiting.yml", WAITING);
    sandbox.write("wait-go.sh", WAIT_GO);
    sandbox
}

/// A run of WAITING killed with SIGKILL while `b` runs. The command dies with runbook; what
/// it started (the waiting script) is left behind, as an operator could find it, and `go`
/// lets that leftover end.
fn crashed_while_b_runs() -> Sandbox {
    let sandbox = waiting_sandbox();
    let mut child = sandbox.spawn(&["run", "waiting.yml"]);
    sandbox.wait_for("b-started");
    child.kill().expect("kill -9");
    let _ = child.wait();
    sandbox.write("go", "");
    sandbox
}

#[test]
fn sigterm_cancels_running_steps_rolls_back_and_exits_130() {
    let sandbox = waiting_sandbox();
    let child = sandbox.spawn(&["run", "waiting.yml"]);
    sandbox.wait_for("b-started");
    signal(&child, "TERM");
    let (code, console) = finish(child);
    assert_eq!(code, 130, "{console}");
    assert_eq!(sandbox.read("undone"), "undo-a\n");
    assert!(!sandbox.exists("c-runs"));
    // The waiting script was killed with its process group, not orphaned.
    assert_eq!(sandbox.leftover_processes(), Vec::<String>::new());
    let journal = sandbox.last_journal();
    assert_eq!(events(&journal, "interrupted")[0]["signal"], "SIGTERM");
    assert_eq!(events(&journal, "step_cancelled")[0]["step"], "b");
    assert_eq!(journal.last().unwrap()["status"], "interrupted");
}

/// A lost SSH session (SIGHUP, and a console nobody reads any more) does not stop the run:
/// it is journaled, the run finishes, and `show --follow` watches it from a new session.
#[test]
fn a_hang_up_is_journaled_the_run_goes_on_and_show_follow_watches_it_end() {
    let sandbox = waiting_sandbox();
    let mut child = sandbox.spawn(&["run", "waiting.yml"]);
    sandbox.wait_for("b-started");
    drop(child.stdout.take());
    drop(child.stderr.take());
    signal(&child, "HUP");
    sandbox.wait_for_event("terminal_lost");
    let follower = sandbox.spawn(&["show", "--follow", "last"]);
    sandbox.write("go", "");
    let status = child.wait().expect("runbook ends");
    assert_eq!(status.code(), Some(0));
    let followed = follower.wait_with_output().expect("show ends");
    let text = String::from_utf8_lossy(&followed.stdout);
    assert_eq!(code(&followed), 0, "{text}");
    assert!(text.contains("the terminal hung up (SIGHUP)"), "{text}");
    assert!(text.contains("✓ c"), "{text}");
    assert!(text.contains("succeeded in"), "{text}");
    assert_eq!(sandbox.read("c-runs"), "c\n");
    assert_eq!(
        sandbox.last_journal().last().unwrap()["status"],
        "succeeded"
    );
    assert_eq!(sandbox.leftover_processes(), Vec::<String>::new());
}

#[test]
fn resume_after_kill_9_skips_what_succeeded_and_asks_before_rerunning_a_mutating_step() {
    let sandbox = crashed_while_b_runs();

    let runs = sandbox.run(&["runs"]);
    assert!(
        String::from_utf8_lossy(&runs.stdout).contains("abandoned (runbook resume)"),
        "{}",
        String::from_utf8_lossy(&runs.stdout)
    );

    let refused = sandbox.run(&["resume", "last"]);
    assert_eq!(code(&refused), 5);
    assert!(
        stderr(&refused).contains("this step started and never finished, and may have done part of its work: `b` (shell.run)"),
        "{}",
        stderr(&refused)
    );
    let wrong = sandbox.run(&["resume", "last", "--rerun", "a"]);
    assert_eq!(code(&wrong), 5);
    assert!(
        stderr(&wrong)
            .contains("only steps that started and never finished can be re-run (unfinished: b)")
    );

    let resumed = sandbox.run(&["resume", "last", "--rerun", "b"]);
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    // `a` ran once, before the crash; `c` ran after the resume.
    assert_eq!(sandbox.read("a-runs"), "a\n");
    assert_eq!(sandbox.read("c-runs"), "c\n");
    let journal = sandbox.last_journal();
    assert_eq!(events(&journal, "run_resumed")[0]["rerun"][0], "b");
    assert_eq!(journal.last().unwrap()["status"], "succeeded");

    let again = sandbox.run(&["resume", "last"]);
    assert_eq!(code(&again), 5);
    assert!(stderr(&again).contains("already finished: succeeded; nothing to resume"));
}

const LEFTOVER: &str = r#"
version: 1
name: leftover
steps:
  - id: b
    shell.run: { script: "sh {dir}/late.sh & touch {dir}/b-started; wait" }
"#;

/// `b`'s script starts a background job and waits for it; the job would write `late-writes`
/// once `go` exists. A run whose `b` is under way, killed once its process group is journaled.
fn killed_while_the_job_runs() -> (Sandbox, std::process::Child) {
    let sandbox = Sandbox::new();
    sandbox.write(
        "late.sh",
        "while [ ! -e {dir}/go ]; do sleep 0.05; done\necho late >> {dir}/late-writes\n",
    );
    sandbox.write("leftover.yml", LEFTOVER);
    let child = sandbox.spawn(&["run", "leftover.yml"]);
    sandbox.wait_for("b-started");
    // The script can get this far before runbook has journaled its process group: the crash
    // shown here comes after (a loaded machine showed the other order).
    sandbox.wait_for_event("process_started");
    (sandbox, child)
}

/// The children of `pid` that are copies of it (same command line): its guard.
fn guards_of(pid: u32) -> Vec<i32> {
    let cmdline = |pid: &str| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let own = cmdline(&pid.to_string());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid = stat.rsplit(") ").next()?.split_whitespace().nth(1)?;
            (ppid == pid.to_string() && cmdline(&name) == own).then(|| name.parse().ok())?
        })
        .collect()
}

/// `kill -9` of runbook: its guard kills the whole process group, the background job too,
/// so nothing of the run goes on unobserved.
#[test]
fn a_run_killed_by_kill_9_leaves_nothing_running() {
    let (sandbox, mut child) = killed_while_the_job_runs();
    child.kill().expect("kill -9");
    let _ = child.wait();
    // The guard acts when it sees runbook gone (a safety net, not a measurement).
    for _ in 0..100 {
        if sandbox.leftover_processes().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(sandbox.leftover_processes(), Vec::<String>::new());
}

/// When the guard is gone too (runbook and its guard both killed, as an OOM kill of the
/// session would), the job outlives them. The resume kills that group first, even though it
/// then refuses to go on.
#[test]
fn resume_kills_what_a_dead_run_left_running_before_deciding() {
    let (sandbox, mut child) = killed_while_the_job_runs();
    let guards = guards_of(child.id());
    assert_eq!(guards.len(), 1, "runbook runs one guard");
    kill_9(guards[0]);
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(
        !sandbox.leftover_processes().is_empty(),
        "the background job outlives runbook and its guard"
    );
    let started = events(&sandbox.last_journal(), "process_started")[0].clone();
    assert_eq!(started["step"], "b");

    let refused = sandbox.run(&["resume", "last"]);
    assert_eq!(code(&refused), 5, "{}", stderr(&refused));
    assert_eq!(sandbox.leftover_processes(), Vec::<String>::new());
    assert!(
        stderr(&refused).contains("of the dead run was still running"),
        "{}",
        stderr(&refused)
    );
    let killed = events(&sandbox.last_journal(), "leftover_killed")[0].clone();
    assert_eq!(killed["step"], "b");
    assert_eq!(killed["pgid"], started["group"]["pgid"]);
    sandbox.write("go", "");
    let resumed = sandbox.run(&["resume", "last", "--rerun", "b"]);
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    // The only `late` is the resumed attempt's own.
    assert_eq!(sandbox.read("late-writes"), "late\n");
}

/// `kill -9 PID`.
fn kill_9(pid: i32) {
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
}

#[test]
fn resume_refuses_a_changed_playbook_unless_forced() {
    let sandbox = crashed_while_b_runs();
    // An edit after the crash: `b` becomes read-only, so it may be re-run without asking.
    sandbox.write(
        "waiting.yml",
        &WAITING.replace(
            "sh {dir}/wait-go.sh\" }",
            "sh {dir}/wait-go.sh\", read_only: true }",
        ),
    );
    let refused = sandbox.run(&["resume", "last"]);
    assert_eq!(code(&refused), 5);
    assert!(
        stderr(&refused).contains("changed since run"),
        "{}",
        stderr(&refused)
    );
    let forced = sandbox.run(&["resume", "last", "--force"]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert_eq!(sandbox.read("a-runs"), "a\n");
    assert_eq!(
        events(&sandbox.last_journal(), "run_resumed")[0]["forced"],
        true
    );
}

/// A rollback drill (`--fail-at c`) killed before `c` is resumed as the drill it was, not as
/// a real change; `--no-rollback` is kept the same way.
#[test]
fn resume_keeps_the_options_the_run_started_with() {
    for (extra, status, undone) in [
        (None, "rolled_back", "undo-a\n"),
        (Some("--no-rollback"), "failed", ""),
    ] {
        let sandbox = waiting_sandbox();
        let mut args = vec![
            "run",
            "waiting.yml",
            "--fail-at",
            "c",
            "--max-parallel",
            "2",
        ];
        args.extend(extra);
        let mut child = sandbox.spawn(&args);
        sandbox.wait_for("b-started");
        child.kill().expect("kill -9");
        let _ = child.wait();
        sandbox.write("go", "");
        let started = &sandbox.last_journal()[0];
        assert_eq!(started["fail_at"], "c");
        assert_eq!(started["max_parallel"], 2);

        let resumed = sandbox.run(&["resume", "last", "--rerun", "b"]);
        let console = stderr(&resumed);
        assert_eq!(code(&resumed), 1, "{console}");
        assert!(
            console.contains("failure injected with --fail-at"),
            "{console}"
        );
        let journal = sandbox.last_journal();
        assert_eq!(journal.last().unwrap()["status"], status, "{console}");
        assert_eq!(sandbox.read("undone"), undone);
        assert!(!sandbox.exists("c-runs"));
    }
}

#[test]
fn a_run_killed_while_rolling_back_resumes_its_rollback() {
    let sandbox = Sandbox::new();
    sandbox.write("wait-go.sh", WAIT_GO);
    sandbox.write(
        "undo.yml",
        r#"
version: 1
name: undo
steps:
  - id: first
    shell.run: { script: "true" }
    rollback:
      shell.run: { script: "echo undo-first >> {dir}/undone" }
  - id: second
    needs: [first]
    shell.run: { script: "true" }
    rollback:
      shell.run: { script: "touch {dir}/undo-second-started; sh {dir}/wait-go.sh; echo undo-second >> {dir}/undone" }
  - id: third
    needs: [second]
    shell.run: { script: "exit 1" }
"#,
    );
    let mut child = sandbox.spawn(&["run", "undo.yml"]);
    sandbox.wait_for("undo-second-started");
    child.kill().expect("kill -9");
    let _ = child.wait();
    sandbox.write("go", "");
    // Had the compensation's shell outlived runbook, it would now write `undo-second` a
    // first time, and the resumed rollback a second.
    sandbox.wait_for_no_leftovers();
    let resumed = sandbox.run(&["resume", "last"]);
    assert_eq!(code(&resumed), 1, "{}", stderr(&resumed));
    assert_eq!(sandbox.read("undone"), "undo-second\nundo-first\n");
    let journal = sandbox.last_journal();
    let tail: Vec<String> = kinds(&journal)
        .into_iter()
        .skip_while(|k| k != "run_resumed")
        .filter(|k| k != "process_started")
        .collect();
    assert_eq!(
        tail,
        [
            "run_resumed",
            "compensation_started",
            "compensation_succeeded",
            "compensation_started",
            "compensation_succeeded",
            "rollback_finished",
            "run_finished"
        ]
    );
    assert_eq!(journal.last().unwrap()["status"], "rolled_back");
}

#[test]
fn a_second_run_on_the_same_lock_is_refused_naming_the_holder() {
    let sandbox = waiting_sandbox();
    let first = sandbox.spawn(&["run", "waiting.yml"]);
    sandbox.wait_for("b-started");
    let holder = sandbox.journals()[0][0]["run"]
        .as_str()
        .unwrap()
        .to_string();
    let second = sandbox.run(&["run", "waiting.yml"]);
    assert_eq!(code(&second), 5);
    assert!(
        stderr(&second).contains(&format!(
            "lock `stack-demo` is held by run {holder} (waiting by tester@"
        )),
        "{}",
        stderr(&second)
    );
    // A refused run leaves no run behind, and another stack is not blocked.
    assert_eq!(sandbox.journals().len(), 1);
    let other = sandbox.run(&["run", "waiting.yml", "--input", "stack=other", "--dry-run"]);
    assert_eq!(code(&other), 0, "{}", stderr(&other));
    sandbox.write("go", "");
    let (code, console) = finish(first);
    assert_eq!(code, 0, "{console}");
}

/// Two operators in different directories (so with different default state directories)
/// take the same key: the lock is host-wide, not under the state directory.
#[test]
fn a_lock_key_means_the_same_whatever_the_working_directory() {
    let sandbox = waiting_sandbox();
    std::fs::create_dir_all(sandbox.path().join("alice")).unwrap();
    std::fs::create_dir_all(sandbox.path().join("bob")).unwrap();
    // Unique on this host (the default lock directory is shared by every test and user).
    let stack = format!(
        "cwd-{}",
        sandbox.path().file_name().unwrap().to_string_lossy()
    );
    let from = |dir: &str| {
        let mut command = sandbox.command(&["run", "../waiting.yml", "--input"]);
        command
            .arg(format!("stack={stack}"))
            .current_dir(sandbox.path().join(dir))
            .env_remove("RUNBOOK_STATE_DIR")
            .env_remove("RUNBOOK_LOCK_DIR");
        command
    };
    let first = from("alice")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runbook starts");
    sandbox.wait_for("b-started");
    let second = from("bob").output().expect("runbook runs");
    assert_eq!(code(&second), 5, "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("lock `stack-{stack}` is held by run")),
        "{}",
        stderr(&second)
    );
    sandbox.write("go", "");
    let (code, console) = finish(first);
    assert_eq!(code, 0, "{console}");
    // On the file store, alice's runs are in her directory's state directory.
    assert!(on_shared_store() || sandbox.exists("alice/.runbook/runs"));
}

const GATED: &str = r#"
version: 1
name: gated
steps:
  - id: before
    shell.run: { script: "echo before >> {dir}/log" }
    rollback:
      shell.run: { script: "echo undo-before >> {dir}/log" }
  - id: go-ahead
    needs: [before]
    approval.gate: { message: "Restore production?", approvers: [alice, bob] }
  - id: after
    needs: [go-ahead]
    shell.run: { script: "echo after >> {dir}/log" }
"#;

#[test]
fn approval_from_another_shell_is_checked_and_journaled() {
    let sandbox = Sandbox::new();
    sandbox.write("gated.yml", GATED);
    let child = sandbox.spawn(&["run", "gated.yml"]);
    sandbox.wait_for_event("approval_requested");

    let listing = sandbox.run(&["runs"]);
    assert!(String::from_utf8_lossy(&listing.stdout).contains("waiting for approval: go-ahead"));
    let not_waiting = sandbox.run(&["approve", "last", "after"]);
    assert_eq!(code(&not_waiting), 2);
    assert!(stderr(&not_waiting).contains("is not waiting for approval (waiting: go-ahead)"));
    let stranger = sandbox.run(&["approve", "last", "go-ahead"]);
    assert_eq!(code(&stranger), 5);
    assert!(
        stderr(&stranger)
            .contains("tester may not decide on `go-ahead`; its approvers are alice, bob")
    );

    let approved = sandbox.run(&[
        "approve",
        "last",
        "go-ahead",
        "--as",
        "alice",
        "--comment",
        "ticket OPS-12",
    ]);
    assert_eq!(code(&approved), 0, "{}", stderr(&approved));
    let (code, console) = finish(child);
    assert_eq!(code, 0, "{console}");
    // The command printed at the gate works pasted anywhere: it names the state directory
    // (a shared store is named by RUNBOOK_STORE, whose password is never printed).
    let approve = if on_shared_store() {
        "decide from any shell: runbook approve ".to_string()
    } else {
        format!(
            "decide from any shell: runbook --state-dir '{}' approve ",
            sandbox.path().join("state").display()
        )
    };
    assert!(console.contains(&approve), "{console}");
    assert_eq!(sandbox.read("log"), "before\nafter\n");
    let journal = sandbox.last_journal();
    let decided = events(&journal, "approval_decided");
    assert_eq!(decided[0]["approver"], "alice");
    assert_eq!(decided[0]["approved"], true);
    assert_eq!(decided[0]["comment"], "ticket OPS-12");
    let gate = events(&journal, "step_succeeded")
        .into_iter()
        .find(|e| e["step"] == "go-ahead")
        .unwrap()
        .clone();
    assert_eq!(gate["outputs"]["approver"], "alice");
}

#[test]
fn a_rejected_gate_fails_the_run_and_rolls_back() {
    let sandbox = Sandbox::new();
    sandbox.write("gated.yml", GATED);
    let child = sandbox.spawn(&["run", "gated.yml"]);
    sandbox.wait_for_event("approval_requested");
    let rejected = sandbox.run(&["approve", "last", "go-ahead", "--reject", "--as", "bob"]);
    assert_eq!(code(&rejected), 0);
    let (code, console) = finish(child);
    assert_eq!(code, 1, "{console}");
    assert_eq!(sandbox.read("log"), "before\nundo-before\n");
    let journal = sandbox.last_journal();
    assert_eq!(
        events(&journal, "step_failed")[0]["error"],
        "rejected by bob"
    );
}

#[test]
fn check_mode_runs_probes_previews_changes_and_marks_what_cannot_be_known() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "check.yml",
        r#"
version: 1
name: check
lock: check
steps:
  - id: probe
    shell.run: { argv: [echo, "5"], read_only: true }
  - id: change
    needs: [probe]
    shell.run: { argv: [touch, "{dir}/changed-{{ steps.probe.stdout | trim }}"] }
  - id: count
    needs: [change]
    assert.that: { that: "{{ steps.change.exit_code == 0 }}" }
  - id: later
    needs: [count]
    shell.run: { script: "touch {dir}/later" }
  - id: gate
    needs: [probe]
    approval.gate: { message: "go?" }
  - id: sees-change
    needs: [change]
    file.exists: { path: "{dir}/changed-5" }
"#,
    );
    let output = sandbox.run(&["run", "check.yml", "--dry-run"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!sandbox.exists("changed-5"));
    assert!(!sandbox.exists("later"));
    let journal = sandbox.last_journal();
    assert_eq!(journal[0]["mode"], "check");
    assert!(events(&journal, "lock_acquired").is_empty());
    let previewed = events(&journal, "step_previewed");
    assert_eq!(previewed[0]["step"], "change");
    assert_eq!(
        previewed[0]["preview"],
        format!("would run `touch {}/changed-5`", sandbox.path().display())
    );
    let mut unknown: Vec<&str> = events(&journal, "step_unknown")
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    unknown.sort_unstable();
    // `count` reads an output of the previewed step; `sees-change` would fail only because
    // the change was not made; `later` needs an unknown step.
    assert_eq!(unknown, ["count", "later", "sees-change"]);
    assert!(events(&journal, "step_failed").is_empty());
    assert_eq!(journal.last().unwrap()["status"], "checked");
    let refused = sandbox.run(&["resume", "last"]);
    assert_eq!(code(&refused), 5);
}
