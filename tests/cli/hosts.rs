//! Several runner hosts against one PostgreSQL store: each host a container with its own
//! hostname, address, processes and state directory, on a private Docker network with the
//! database (the demo image's PostgreSQL 15). runbook is the binary just built, mounted into
//! each host. What is shown: daemons share a schedule (one run per fire), a dead host's drill
//! is taken over, a host cut off the network stops and is fenced off, locks and approvals
//! work across hosts.

use crate::support::Sandbox;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "hosts-store-pw";
/// The store's database, as the PostgreSQL tools inside its container reach it.
const STORE_DB: &[&str] = &["-h", "127.0.0.1", "-U", "runbook", "-d", "runbook"];
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Polls (up to two minutes: a safety net, not a measurement) until `ready` holds.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A private network with the store's database and `n` runner hosts, removed when dropped.
struct Hosts {
    name: String,
    sandbox: Sandbox,
    runners: Vec<String>,
}

impl Hosts {
    fn new(n: usize) -> Self {
        let built = Command::new("scripts/runner-image.sh")
            .arg(env!("CARGO_BIN_EXE_runbook"))
            .current_dir(crate::support::root())
            .output()
            .expect("scripts/runner-image.sh runs");
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let name = format!(
            "rbt-hosts-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let hosts = Self {
            name: name.clone(),
            sandbox: Sandbox::new(),
            runners: (1..=n).map(|i| format!("{name}-runner-{i}")).collect(),
        };
        docker_ok(&["network", "create", "--label", "runbook.test=hosts", &name]);
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &hosts.db(),
            "--label",
            "runbook.test=hosts",
            "--network",
            &name,
            "--network-alias",
            "db",
            "-e",
            "POSTGRES_USER=runbook",
            "-e",
            &format!("POSTGRES_PASSWORD={PASSWORD}"),
            "-e",
            "POSTGRES_DB=runbook",
            "runbook-demo-postgres:15",
        ]);
        wait_until("the store's database accepts connections", || {
            let db = hosts.db();
            docker(&[&["exec", db.as_str(), "pg_isready", "-q"], STORE_DB].concat())
                .status
                .success()
        });
        let dir = hosts.sandbox.path().display().to_string();
        for (i, runner) in hosts.runners.iter().enumerate() {
            docker_ok(&[
                "run",
                "-d",
                "--init",
                "--name",
                runner,
                "--hostname",
                &format!("runner-{}", i + 1),
                "--label",
                "runbook.test=hosts",
                "--network",
                &name,
                "-v",
                &format!(
                    "{}:/usr/local/bin/runbook:ro",
                    env!("CARGO_BIN_EXE_runbook")
                ),
                "-v",
                &format!("{dir}:{dir}"),
                "-w",
                &dir,
                "-e",
                &format!("RUNBOOK_STORE=postgres://runbook:{PASSWORD}@db:5432/runbook"),
                "-e",
                "RUNBOOK_LEASE_TTL=3s",
                "-e",
                "RUNBOOK_STATE_DIR=/state",
                "-e",
                &format!("RUNBOOK_USER=op-{}", i + 1),
                "runbook-runner:1",
            ]);
        }
        let migrated = hosts.exec(1, &["runbook", "store", "migrate"]);
        assert!(migrated.status.success(), "{}", stderr(&migrated));
        hosts
    }

    fn db(&self) -> String {
        format!("{}-db", self.name)
    }

    fn runner(&self, host: usize) -> &str {
        &self.runners[host - 1]
    }

    /// A command on runner host `host` (1-based), waited for.
    fn exec(&self, host: usize, args: &[&str]) -> Output {
        let mut command = vec!["exec", self.runner(host)];
        command.extend_from_slice(args);
        docker(&command)
    }

    /// A command on runner host `host` left running, its pid (on that host), output and exit
    /// code written to `<name>.pid`, `<name>.out` and `<name>.rc` in the sandbox.
    fn start(&self, host: usize, name: &str, command: &str) {
        let dir = self.sandbox.path().display();
        let script = format!(
            "{command} > {dir}/{name}.out 2>&1 & echo $! > {dir}/{name}.pid; wait $!; echo $? > {dir}/{name}.rc"
        );
        docker_ok(&["exec", "-d", self.runner(host), "sh", "-c", &script]);
    }

    fn psql(&self, sql: &str) -> String {
        let (password, db) = (format!("PGPASSWORD={PASSWORD}"), self.db());
        docker_ok(
            &[
                &["exec", "-e", password.as_str(), db.as_str()],
                &["psql", "-X", "-q", "-A", "-t"][..],
                STORE_DB,
                &["-c", sql],
            ]
            .concat(),
        )
    }

    /// The journal's rows, every run in order: (epoch, event).
    fn rows(&self) -> Vec<(i64, serde_json::Value)> {
        self.psql("SELECT epoch, line FROM runbook_events ORDER BY run_id, seq")
            .lines()
            .map(|row| {
                let (epoch, line) = row.split_once('|').expect("epoch|line");
                (epoch.parse().unwrap(), serde_json::from_str(line).unwrap())
            })
            .collect()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let mut names = self.runners.clone();
        names.push(self.db());
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(names.iter().map(String::as_str));
        let _ = docker(&args);
        let _ = docker(&["network", "rm", &self.name]);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Three daemons on three hosts share one schedule, rehearsed at 30x: every fire is claimed
/// once and run once, whichever daemon's clock reaches it first; none is missed.
#[test]
fn three_daemons_on_three_hosts_run_each_fire_exactly_once() {
    let hosts = Hosts::new(3);
    hosts.sandbox.write(
        "pb/tick.yml",
        "version: 1\nname: tick\nschedule: { cron: \"* * * * *\" }\nsteps:\n  - id: tick\n    shell.run: { script: \"echo $(hostname) >> {dir}/ticks\" }\n",
    );
    let dir = hosts.sandbox.path().join("pb").display().to_string();
    // One rehearsed clock for all: each daemon's starts where the first one's is by then, so
    // all three reach each fire at about the same moment and race for its claim.
    let start = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:30Z").unwrap();
    let launched = Instant::now();
    for host in 1..=3 {
        let now = start + chrono::TimeDelta::from_std(launched.elapsed() * 30).unwrap();
        hosts.start(
            host,
            &format!("daemon-{host}"),
            &format!(
                "{} --clock-start {} --clock-speed 30",
                // The same playbooks, named from another directory on the second host: a fire
                // is claimed under the playbook's path inside the daemon's directory.
                if host == 2 {
                    format!("cd {} && runbook daemon pb", hosts.sandbox.path().display())
                } else {
                    format!("runbook daemon {dir}")
                },
                now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        );
    }
    wait_until("12 fires claimed", || {
        hosts
            .psql("SELECT count(*) FROM runbook_fires")
            .parse::<usize>()
            .unwrap_or(0)
            >= 12
    });
    for host in 1..=3 {
        // SIGTERM: no new runs; the running one finishes.
        let pid = hosts.sandbox.read(&format!("daemon-{host}.pid"));
        let _ = hosts.exec(host, &["kill", "-TERM", pid.trim()]);
    }
    for host in 1..=3 {
        wait_until("the daemon stopped", || {
            hosts.sandbox.exists(&format!("daemon-{host}.rc"))
        });
    }
    let fires: Vec<String> = hosts
        .psql("SELECT to_char(scheduled_for AT TIME ZONE 'UTC', 'HH24:MI') FROM runbook_fires ORDER BY 1")
        .lines()
        .map(str::to_string)
        .collect();
    // None missed: one fire per minute from the first to the last, no gap.
    let minutes: Vec<u32> = fires
        .iter()
        .map(|t| {
            let (h, m) = t.split_once(':').unwrap();
            h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
        })
        .collect();
    assert!(minutes.windows(2).all(|w| w[1] == w[0] + 1), "{fires:?}");
    // Exactly one run per fire, each finished, each started by a daemon.
    let runs = hosts.psql("SELECT count(*) FROM runbook_runs WHERE started_by IS NOT NULL");
    assert_eq!(runs, fires.len().to_string());
    let finished = hosts
        .rows()
        .iter()
        .filter(|(_, e)| e["event"] == "run_finished")
        .count();
    assert_eq!(finished, fires.len());
    let ticks = hosts.sandbox.read("ticks");
    assert_eq!(ticks.lines().count(), fires.len(), "{ticks}");
    let claims = hosts.psql("SELECT daemon || ' ' || count(*) FROM runbook_fires GROUP BY daemon");
    eprintln!("fires per daemon:\n{claims}");
    // Each daemon's metrics count the fires it ran; together, every fire once.
    let ran: u64 = (1..=3)
        .map(|host| {
            let metrics = stdout(&hosts.exec(host, &["cat", "/state/daemon/runbook.prom"]));
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("runbook_fires_run_total{"))
                .and_then(|l| l.rsplit(' ').next())
                .map_or(0, |n| n.parse::<u64>().expect("a count"))
        })
        .sum();
    assert_eq!(ran, fires.len() as u64);
    // Which daemon wins a fire depends on whose clock reaches it first (the clocks are
    // aligned only to within a `docker exec`); the guarantee is the count above, not the split.
}

/// The drill a daemon is running when its host dies (the container killed: every process at
/// once) is taken over by another daemon once the lease lapses: the step caught in flight is
/// idempotent so it runs again; what had succeeded does not.
#[test]
fn a_drill_whose_host_dies_is_taken_over_by_another_daemon() {
    let hosts = Hosts::new(2);
    hosts.sandbox.write(
        "pb/drill.yml",
        r#"version: 1
name: drill
schedule: { cron: "1 0 * * *" }
steps:
  - id: a
    shell.run: { script: "echo $(hostname) >> {dir}/a-runs" }
  - id: b
    needs: [a]
    idempotent: true
    shell.run: { script: "echo $(hostname) >> {dir}/b-runs; while [ ! -e {dir}/go ]; do sleep 0.1; done" }
  - id: c
    needs: [b]
    shell.run: { script: "echo $(hostname) >> {dir}/c-runs" }
"#,
    );
    let dir = hosts.sandbox.path().join("pb").display().to_string();
    for host in 1..=2 {
        hosts.start(
            host,
            &format!("daemon-{host}"),
            &format!("runbook daemon {dir} --clock-start 2027-01-01T00:00:58Z"),
        );
    }
    wait_until("b runs", || hosts.sandbox.exists("b-runs"));
    let first = hosts.sandbox.read("a-runs").trim().to_string();
    let (dead, alive) = if first == "runner-1" { (1, 2) } else { (2, 1) };
    docker_ok(&["kill", hosts.runner(dead)]);
    hosts.sandbox.write("go", "");
    wait_until("the run finishes on the other host", || {
        hosts
            .rows()
            .iter()
            .any(|(_, e)| e["event"] == "run_finished")
    });
    let rows = hosts.rows();
    let resumed: Vec<&serde_json::Value> = rows
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e["event"] == "run_resumed")
        .collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["host"], format!("runner-{alive}"));
    let finished = rows
        .iter()
        .find(|(_, e)| e["event"] == "run_finished")
        .unwrap();
    assert_eq!(finished.1["status"], "succeeded");
    assert!(finished.0 > rows[0].0, "finished by the new owner's epoch");
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0));
    // `a` ran once, on the dead host; `b` ran again (idempotent) and `c` once, on the other.
    assert_eq!(hosts.sandbox.read("a-runs"), format!("runner-{dead}\n"));
    assert_eq!(
        hosts.sandbox.read("b-runs"),
        format!("runner-{dead}\nrunner-{alive}\n")
    );
    assert_eq!(hosts.sandbox.read("c-runs"), format!("runner-{alive}\n"));
    let log = hosts.sandbox.read(&format!("daemon-{alive}.out"));
    assert!(log.contains("taking over run"), "{log}");
}

const LONG: &str = r#"version: 1
name: long
lock: long
steps:
  - id: a
    shell.run: { script: "echo $(hostname) >> {dir}/a-runs" }
  - id: gate
    needs: [a]
    approval.gate: { message: "Go on?" }
  - id: b
    needs: [gate]
    shell.run: { script: "touch {dir}/b-started; while [ ! -e {dir}/go ]; do sleep 0.1; done" }
  - id: c
    needs: [b]
    shell.run: { script: "echo $(hostname) >> {dir}/c-runs" }
"#;

/// One host runs a playbook; the others see it, are refused its lock (the holder named, every
/// time), approve its gate. Then its network is cut: it stops before its lease lapses, exits
/// 7, and writes nothing more; another host takes the run over and finishes it.
#[test]
fn hosts_share_runs_locks_and_approvals_and_a_cut_host_is_fenced_off() {
    let hosts = Hosts::new(3);
    hosts.sandbox.write("long.yml", LONG);
    hosts.start(1, "first", "runbook run long.yml --no-prompt");
    wait_until("the gate waits", || {
        stdout(&hosts.exec(2, &["runbook", "runs"])).contains("waiting for approval: gate")
    });
    for host in [2, 3, 2] {
        let refused = hosts.exec(host, &["runbook", "run", "long.yml", "--no-prompt"]);
        assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("lock `long` is held by run")
                && stderr(&refused).contains("(long by op-1@runner-1, pid "),
            "{}",
            stderr(&refused)
        );
    }
    let shown = hosts.exec(3, &["runbook", "show", "last"]);
    assert!(
        stdout(&shown).contains("⏸ gate  waits for approval: Go on?"),
        "{}",
        stdout(&shown)
    );
    let approved = hosts.exec(2, &["runbook", "approve", "last", "gate"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    wait_until("b runs", || hosts.sandbox.exists("b-started"));

    let name = hosts.name.clone();
    docker_ok(&["network", "disconnect", &name, hosts.runner(1)]);
    wait_until("the cut host stops", || hosts.sandbox.exists("first.rc"));
    assert_eq!(hosts.sandbox.read("first.rc").trim(), "7");
    let console = hosts.sandbox.read("first.out");
    assert!(console.contains("this runner lost run"), "{console}");
    let before_takeover = hosts.rows().len();

    hosts.sandbox.write("go", "");
    // Refused while the cut host's lease has not lapsed yet; then taken over.
    let mut resumed = hosts.exec(2, &["runbook", "resume", "last", "--rerun", "b"]);
    wait_until("the lease lapses and host 2 takes the run over", || {
        if stderr(&resumed).contains("is being worked on by") {
            resumed = hosts.exec(2, &["runbook", "resume", "last", "--rerun", "b"]);
            false
        } else {
            true
        }
    });
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let rows = hosts.rows();
    assert!(rows.len() > before_takeover);
    // The cut host wrote nothing after it stopped, and owners never interleave.
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0));
    let first_epoch = rows[0].0;
    assert_eq!(
        rows.iter().filter(|(e, _)| *e == first_epoch).count(),
        before_takeover
    );
    assert_eq!(hosts.sandbox.read("a-runs"), "runner-1\n");
    assert_eq!(hosts.sandbox.read("c-runs"), "runner-2\n");
    let report = hosts.exec(3, &["runbook", "report", "last", "--format", "markdown"]);
    assert!(
        stdout(&report).contains("# Run report: long"),
        "{}",
        stdout(&report)
    );
    assert!(stdout(&report).contains("succeeded"), "{}", stdout(&report));
}
