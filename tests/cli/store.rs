//! The shared PostgreSQL store (`--store`/RUNBOOK_STORE), on the real server of the test
//! set-up: what only a shared store does (leases, fencing, takeover, the schema check,
//! import). The store-independent tests run on it too: `.ci/run` runs them a second time with
//! RUNBOOK_TEST_STORE=postgres (see `support::Sandbox`).

use crate::database::Database;
use crate::support::{Sandbox, code, stderr, stdout};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A sandbox whose runs go to a store database of its own, whatever the pass.
fn shared() -> (Sandbox, Database) {
    (Sandbox::new(), Database::store("store"))
}

fn runbook(sandbox: &Sandbox, store: &Database, args: &[&str]) -> Command {
    let mut command = sandbox.command(args);
    command.env("RUNBOOK_STORE", store.store_url());
    command
}

fn run(sandbox: &Sandbox, store: &Database, args: &[&str]) -> std::process::Output {
    runbook(sandbox, store, args)
        .output()
        .expect("runbook runs")
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Polls (up to a minute, a safety net, not a measurement) until `ready` holds.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The journal's events of every run, in order, with the epoch of the owner that wrote each.
fn rows(store: &Database) -> Vec<(i64, serde_json::Value)> {
    store
        .psql("SELECT epoch, line FROM runbook_events ORDER BY run_id, seq")
        .lines()
        .map(|row| {
            let (epoch, line) = row.split_once('|').expect("epoch|line");
            (
                epoch.parse().expect("epoch"),
                serde_json::from_str(line).expect("a JSON event"),
            )
        })
        .collect()
}

fn count(rows: &[(i64, serde_json::Value)], kind: &str, step: &str) -> usize {
    rows.iter()
        .filter(|(_, e)| e["event"] == kind && e["step"] == step)
        .count()
}

#[test]
fn an_unreachable_store_is_exit_2_naming_the_host_and_never_the_password() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command(&["runs"])
        .env(
            "RUNBOOK_STORE",
            "postgres://runbook:canary-pw-4417@127.0.0.1:9/runbook",
        )
        .output()
        .expect("runbook runs");
    let console = stderr(&output);
    assert_eq!(code(&output), 2, "{console}");
    assert!(console.contains("127.0.0.1:9"), "{console}");
    assert!(console.contains("hint: check RUNBOOK_STORE"), "{console}");
    assert!(!console.contains("canary-pw-4417"), "{console}");
    assert!(!stdout(&output).contains("canary-pw-4417"));
}

#[test]
fn a_schema_of_another_version_is_refused_with_what_to_do() {
    let sandbox = Sandbox::new();
    let empty = Database::empty("schema");
    let before = run(&sandbox, &empty, &["runs"]);
    assert_eq!(code(&before), 2);
    assert!(
        stderr(&before).contains("has schema version none (empty database), this runbook needs 1; run `runbook store migrate`"),
        "{}",
        stderr(&before)
    );
    let migrate = run(&sandbox, &empty, &["store", "migrate"]);
    assert_eq!(code(&migrate), 0, "{}", stderr(&migrate));
    assert!(stdout(&migrate).contains("applied migration(s) 1"));
    assert_eq!(code(&run(&sandbox, &empty, &["runs"])), 0);
    // A newer runbook migrated the store further.
    empty.psql(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (2, 'future', '', '0')",
    );
    let newer = run(&sandbox, &empty, &["runs"]);
    assert_eq!(code(&newer), 2);
    assert!(
        stderr(&newer)
            .contains("has schema version 2, newer than this runbook knows (1); upgrade runbook"),
        "{}",
        stderr(&newer)
    );
}

/// Step `b` runs until the test lets it go; `c` comes after it.
const LONG: &str = r#"
version: 1
name: long
lock: long-{{ inputs.stack }}
inputs:
  stack: { default: demo }
secrets:
  token: { env: CANARY_TOKEN }
steps:
  - id: a
    shell.run:
      script: 'echo "a ran" >> {dir}/a-runs; echo "token $T"'
      env: { T: "{{ secrets.token }}" }
  - id: b
    needs: [a]
    shell.run: { script: "touch {dir}/b-started; while [ ! -e {dir}/go ]; do sleep 0.05; done" }
  - id: c
    needs: [b]
    shell.run: { script: "echo c >> {dir}/c-runs" }
"#;

/// A runner that stops renewing its lease (frozen here with SIGSTOP, as a runner cut off from
/// the database is) loses the run: it is abandoned, another runner takes it over, and the old
/// one, back, writes nothing more and exits 7. The journal never mixes the two owners.
#[test]
fn a_runner_that_loses_its_lease_is_fenced_off_and_the_run_is_taken_over() {
    let (sandbox, store) = shared();
    sandbox.write("long.yml", LONG);
    let first = runbook(&sandbox, &store, &["run", "long.yml"])
        .env("RUNBOOK_LEASE_TTL", "2s")
        .env("CANARY_TOKEN", "canary-secret-9931")
        .env("RUNBOOK_USER", "alice")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runbook starts");
    sandbox.wait_for("b-started");
    signal(&first, "STOP");

    // Nobody renews the lease: after it lapses the run is abandoned for every host.
    wait_until("the run is abandoned", || {
        stdout(&run(&sandbox, &store, &["runs"])).contains("abandoned (runbook resume)")
    });
    // Another operator takes it over; `b` was caught in flight, so it must be named.
    let refused = runbook(&sandbox, &store, &["resume", "last"])
        .env("RUNBOOK_USER", "bob")
        .env("CANARY_TOKEN", "canary-secret-9931")
        .output()
        .unwrap();
    assert_eq!(code(&refused), 5, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("resume with `--rerun STEP`"));
    sandbox.write("go", "");
    let resumed = runbook(&sandbox, &store, &["resume", "last", "--rerun", "b"])
        .env("RUNBOOK_USER", "bob")
        .env("CANARY_TOKEN", "canary-secret-9931")
        .output()
        .unwrap();
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));

    // The first runner comes back: it is fenced off, stops, and journals nothing.
    let journaled = rows(&store).len();
    signal(&first, "CONT");
    let output = first.wait_with_output().expect("the first runner ends");
    let console = stderr(&output);
    assert_eq!(code(&output), 7, "{console}");
    assert!(console.contains("this runner lost run"), "{console}");
    let rows = rows(&store);
    assert_eq!(
        rows.len(),
        journaled,
        "the old owner wrote after the takeover"
    );
    // Owners never interleave: epochs only grow along the journal.
    assert!(
        rows.windows(2).all(|w| w[0].0 <= w[1].0),
        "{:?}",
        rows.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    // What had succeeded did not run again; the run finished once, under its new owner.
    assert_eq!(sandbox.read("a-runs"), "a ran\n");
    assert_eq!(sandbox.read("c-runs"), "c\n");
    assert_eq!(count(&rows, "step_succeeded", "a"), 1);
    let finished: Vec<&(i64, serde_json::Value)> = rows
        .iter()
        .filter(|(_, e)| e["event"] == "run_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].1["status"], "succeeded");
    assert!(finished[0].0 > rows[0].0, "finished by the new owner");
    // The secret reached no row of any table.
    let everywhere = store.psql(
        "SELECT count(*) FROM runbook_events e, runbook_runs r WHERE e.line LIKE '%canary-secret%' OR r.plan LIKE '%canary-secret%' OR r.playbook LIKE '%canary-secret%'",
    );
    assert_eq!(everywhere, "0");
    let reports =
        store.psql("SELECT count(*) FROM runbook_reports WHERE body LIKE '%canary-secret%'");
    assert_eq!(reports, "0");
}

/// The database goes away in the middle of a run (here: it stops accepting connections and
/// drops them). The runner stops, rolls nothing back, and the run resumes once it is back.
#[test]
fn a_store_lost_in_the_middle_of_a_run_stops_it_and_it_resumes_when_back() {
    let (sandbox, store) = shared();
    sandbox.write(
        "undo.yml",
        r#"
version: 1
name: undo
steps:
  - id: a
    shell.run: { script: "echo a >> {dir}/a-runs" }
    rollback:
      shell.run: { script: "echo undo >> {dir}/undone" }
  - id: b
    needs: [a]
    shell.run: { script: "touch {dir}/b-started; while [ ! -e {dir}/go ]; do sleep 0.05; done" }
"#,
    );
    let first = runbook(&sandbox, &store, &["run", "undo.yml"])
        .env("RUNBOOK_LEASE_TTL", "2s")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runbook starts");
    sandbox.wait_for("b-started");
    let cut = format!(
        "ALTER DATABASE {0} ALLOW_CONNECTIONS false; SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{0}'",
        store.name
    );
    crate::database::psql("postgres", &cut);
    let output = first.wait_with_output().expect("the runner ends");
    let console = stderr(&output);
    assert_eq!(code(&output), 7, "{console}");
    assert!(!sandbox.exists("undone"), "rolled back without a journal");

    crate::database::psql(
        "postgres",
        &format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", store.name),
    );
    sandbox.write("go", "");
    // The runner died: its run is taken over on this host at once.
    let resumed = run(&sandbox, &store, &["resume", "last", "--rerun", "b"]);
    assert_eq!(code(&resumed), 0, "{}", stderr(&resumed));
    assert_eq!(sandbox.read("a-runs"), "a\n");
    assert!(!sandbox.exists("undone"));
    let rows = rows(&store);
    assert_eq!(
        rows.iter()
            .filter(|(_, e)| e["event"] == "run_finished")
            .count(),
        1
    );
}

#[test]
fn a_local_history_is_imported_with_its_journal_and_reports() {
    let (sandbox, store) = shared();
    sandbox.write(
        "hello.yml",
        "version: 1\nname: hello\nsteps:\n  - id: a\n    shell.run: { argv: [echo, hi] }\n",
    );
    // On the file store of the sandbox's state directory.
    let local = sandbox
        .command(&["run", "hello.yml"])
        .env_remove("RUNBOOK_STORE")
        .output()
        .unwrap();
    assert_eq!(code(&local), 0, "{}", stderr(&local));
    let imported = run(&sandbox, &store, &["store", "import", "state"]);
    assert_eq!(code(&imported), 0, "{}", stderr(&imported));
    assert!(
        stdout(&imported)
            .contains("imported 1 run(s) (5 events) from state; 0 already in the store"),
        "{}",
        stdout(&imported)
    );
    let again = run(&sandbox, &store, &["store", "import", "state"]);
    assert!(
        stdout(&again).contains("imported 0 run(s) (0 events) from state; 1 already in the store")
    );
    let listed = stdout(&run(&sandbox, &store, &["runs"]));
    assert!(
        listed.contains("hello") && listed.contains("succeeded"),
        "{listed}"
    );
    let report = run(
        &sandbox,
        &store,
        &["report", "last", "--format", "markdown"],
    );
    assert!(stdout(&report).contains("# Run report: hello"));
}
