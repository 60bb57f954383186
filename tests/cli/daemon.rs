//! `runbook daemon` and `runbook schedule` with a controllable clock (`--clock-start`,
//! `--clock-speed`): a schedule is rehearsed in seconds, at the instants the test chooses.

use crate::support::*;

const TICK: &str = r#"
version: 1
name: tick
schedule: { cron: "* * * * *", overlap: skip }
steps:
  - id: work
    shell.run: { script: "sleep 3" }
"#;

/// (first, last) event times of each run, oldest run first.
fn spans(sandbox: &Sandbox) -> Vec<(String, String)> {
    sandbox
        .journals()
        .iter()
        .map(|j| {
            (
                j.first().unwrap()["at"].as_str().unwrap().to_string(),
                j.last().unwrap()["at"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The daemon over `pb/`, its clock starting two seconds before 00:01 and running thirty
/// times real speed, until two runs have finished; its log, once it exited 0.
fn two_runs_from_00_00_58(sandbox: &Sandbox) -> String {
    let output = sandbox.run(&[
        "daemon",
        "pb",
        "--clock-start",
        "2027-01-01T00:00:58Z",
        "--clock-speed",
        "30",
        "--max-runs",
        "2",
    ]);
    let log = stderr(&output);
    assert_eq!(code(&output), 0, "{log}");
    log
}

/// Runs the daemon over TICK with this overlap policy until two runs have finished: two
/// seconds before 00:01, thirty times real speed, so a 3 s run spans the 00:02 fire. Checks
/// the two runs came one after the other, never at once; returns the log and the metrics.
fn two_ticks(overlap: &str) -> (String, String) {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb/tick.yml",
        &TICK.replace("overlap: skip", &format!("overlap: {overlap}")),
    );
    let log = two_runs_from_00_00_58(&sandbox);
    // The cron time is exact; the clock time it is logged at may slip by a few (accelerated)
    // seconds on a loaded machine.
    assert!(
        log.contains("started tick (cron time 2027-01-01 00:01 UTC)"),
        "{log}"
    );
    // Exactly two: after --max-runs, nothing queued or due is started.
    let runs = spans(&sandbox);
    assert_eq!(runs.len(), 2, "{log}");
    assert!(runs[0].1 < runs[1].0, "overlapping runs: {runs:?}");
    (log, sandbox.read("state/daemon/runbook.prom"))
}

#[test]
fn the_daemon_fires_at_the_cron_time_and_skips_a_fire_while_the_run_is_going() {
    let (log, metrics) = two_ticks("skip");
    assert!(
        log.contains("skipped tick (cron time 2027-01-01 00:02 UTC): its previous run"),
        "{log}"
    );
    assert!(
        log.contains("started tick (cron time 2027-01-01 00:03 UTC)"),
        "{log}"
    );
    assert!(
        metrics.contains(r#"runbook_runs_skipped_total{playbook="tick",file="pb/tick.yml"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"runbook_last_run_exit_code{playbook="tick",file="pb/tick.yml"} 0"#),
        "{metrics}"
    );
}

#[test]
fn with_overlap_queue_a_fire_during_a_run_starts_when_it_ends() {
    let (log, metrics) = two_ticks("queue");
    assert!(
        log.contains(
            "queued tick (cron time 2027-01-01 00:02 UTC): it starts when the running one ends"
        ),
        "{log}"
    );
    assert!(
        log.contains("started tick (queued while the previous run was going)"),
        "{log}"
    );
    assert!(
        metrics.contains(r#"runbook_runs_skipped_total{playbook="tick",file="pb/tick.yml"} 0"#),
        "{metrics}"
    );
}

#[test]
fn a_run_missed_while_the_daemon_was_down_is_caught_up_within_its_window_only() {
    let sandbox = Sandbox::new();
    for (name, window) in [("wide", "2h"), ("tight", "10m")] {
        sandbox.write(
            &format!("pb/{name}.yml"),
            &format!(
                "version: 1\nname: {name}\nschedule: {{ cron: \"0 * * * *\", catch_up: {window} }}\nsteps:\n  - id: work\n    shell.run: {{ script: \"true\" }}\n"
            ),
        );
    }
    // The daemon last fired both at 07:00 and was down until 10:20: 10:00 is 20 minutes late.
    sandbox.write(
        "state/daemon/state.json",
        r#"{ "last_fired": { "pb/tight.yml": "2027-01-01T07:00:00Z", "pb/wide.yml": "2027-01-01T07:00:00Z" } }"#,
    );
    let output = sandbox.run(&[
        "daemon",
        "pb",
        "--once",
        "--clock-start",
        "2027-01-01T10:20:00Z",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let log = stderr(&output);
    assert!(
        log.contains(
            "started wide (catching up 2027-01-01 10:00 UTC (missed while the daemon was down))"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "missed tight at 2027-01-01 10:00 UTC: beyond its catch-up window (10m), not run"
        ),
        "{log}"
    );
    assert_eq!(
        sandbox.journals().len(),
        1,
        "one catch-up, not one per missed hour: {log}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&sandbox.read("state/daemon/state.json")).unwrap();
    assert_eq!(state["last_fired"]["pb/wide.yml"], "2027-01-01T10:00:00Z");
    let schedule = sandbox.run(&["schedule", "pb", "--now", "2027-01-01T10:20:00Z"]);
    assert!(
        stdout(&schedule).contains("2027-01-01 11:00"),
        "{}",
        stdout(&schedule)
    );
}

#[test]
fn a_signal_stops_new_runs_and_lets_the_running_one_finish() {
    let sandbox = Sandbox::new();
    sandbox.write("pb/tick.yml", TICK);
    let daemon = sandbox.spawn(&["daemon", "pb", "--clock-start", "2027-01-01T00:00:59.5Z"]);
    sandbox.wait_for_event("step_started");
    let pid = nix::unistd::Pid::from_raw(daemon.id() as i32);
    // A hang-up (its terminal is gone) is logged and changes nothing.
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = daemon.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("SIGTERM: no new runs; waiting for 1 running run(s) to finish")
    );
    assert!(
        stderr(&output).contains("SIGHUP: the terminal is gone; the daemon goes on"),
        "{}",
        stderr(&output)
    );
    let journal = sandbox.last_journal();
    assert_eq!(
        journal.last().unwrap()["status"],
        "succeeded",
        "the drill finished"
    );
}

#[test]
fn a_second_signal_stops_the_running_drill_and_it_rolls_back() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb/drill.yml",
        r#"
version: 1
name: drill
schedule: { cron: "* * * * *" }
steps:
  - id: prepare
    shell.run: { script: "touch prepared" }
    rollback:
      shell.run: { script: "rm prepared" }
  - id: work
    needs: [prepare]
    shell.run: { script: "sleep 60" }
"#,
    );
    let daemon = sandbox.spawn(&["daemon", "pb", "--clock-start", "2027-01-01T00:00:59.5Z"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sandbox
        .journals()
        .iter()
        .flatten()
        .any(|e| e["event"] == "step_started" && e["step"] == "work")
    {
        assert!(std::time::Instant::now() < deadline, "`work` never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(sandbox.exists("prepared"));
    let pid = nix::unistd::Pid::from_raw(daemon.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    // Two signals, not one coalesced: the daemon handles each as it comes.
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = daemon.wait_with_output().unwrap();
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "a run failed: {log}");
    assert!(
        log.contains("SIGTERM again: stopping drill (it rolls back)"),
        "{log}"
    );
    let journal = sandbox.last_journal();
    assert_eq!(
        journal.last().unwrap()["status"],
        "interrupted",
        "{journal:?}"
    );
    assert!(
        !sandbox.exists("prepared"),
        "the compensation of `prepare` ran"
    );
}

/// Several schedules in one playbook (weekly VACUUM, monthly REINDEX): each fires at its own
/// cron time with its own inputs, and is kept apart in the state and the metrics.
#[test]
fn each_schedule_of_a_playbook_fires_with_its_own_inputs() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "pb/maintenance.yml",
        r#"
version: 1
name: maintenance
inputs:
  task: { default: none }
schedule:
  - { name: vacuum, cron: "1 0 * * *", inputs: { task: vacuum } }
  - { name: reindex, cron: "2 0 * * *", inputs: { task: reindex } }
steps:
  - id: work
    shell.run: "echo {{ inputs.task }} >> {dir}/done"
"#,
    );
    let log = two_runs_from_00_00_58(&sandbox);
    assert_eq!(sandbox.read("done"), "vacuum\nreindex\n", "{log}");
    assert!(
        log.contains("started maintenance (vacuum) (cron time 2027-01-01 00:01 UTC)"),
        "{log}"
    );
    assert!(
        log.contains("started maintenance (reindex) (cron time 2027-01-01 00:02 UTC)"),
        "{log}"
    );
    let state = sandbox.read("state/daemon/state.json");
    assert!(
        state.contains("pb/maintenance.yml#vacuum") && state.contains("pb/maintenance.yml#reindex"),
        "{state}"
    );
    let metrics = sandbox.read("state/daemon/runbook.prom");
    assert!(
        metrics.contains(r#"runbook_last_run_exit_code{playbook="maintenance",file="pb/maintenance.yml",schedule="reindex"} 0"#),
        "{metrics}"
    );
}
