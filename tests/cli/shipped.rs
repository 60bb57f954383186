//! The shipped playbooks end to end, on the demo stack (real containers on the real Docker
//! engine, a real PostgreSQL inside them), each with an injected failure whose rollback must
//! leave the stack as it found it: every container running and healthy, the data unchanged.
//!
//! One demo stack serves every test here (brought up once by `playbooks/demo/up.yml`, as a
//! user would); the tests take turns, since each one judges the whole stack's state.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::MutexGuard;

use crate::database::{CONTENT_SQL, psql_on};
use crate::support::*;

const PROJECT: &str = "rbt-demo";
const DB_PORT: &str = "25432";
const API_PORT: &str = "23001";
const AM_PORT: &str = "29093";
/// The demo stack's services: PostgreSQL, PgBouncer, Redis, api, web, Prometheus, Alertmanager.
const SERVICES: usize = 7;
const DB_PASSWORD: &str = "demo-db-password";
const REDIS_PASSWORD: &str = "demo-redis-password";

/// The test stack's environment file: the demo's, on ports of its own.
const ENVIRONMENT: &str = r#"
description: The test suite's demo stack
inputs:
  project: rbt-demo
  production: false
  apps: [api, web]
  data_services: [redis]
  db_host: 127.0.0.1
  db_port: 25432
  db_name: goodgo
  db_user: goodgo
  api_url: http://127.0.0.1:23001
  web_url: http://127.0.0.1:23000
  api_port: 23001
  web_port: 23000
  backup_dir: "{dir}/backups"
  migrate_command: ["true"]
  reindex_command: []
  image_repository: runbook-fixture
  prometheus_port: 29090
  alertmanager_port: 29093
  prometheus_url: http://127.0.0.1:29090
  alertmanager_url: http://127.0.0.1:29093
  dr_test_image: runbook-demo-postgres:15
  dr_test_port: 25433
  dr_test_compose_file: "{root}/compose/goodgo-dr-test.yml"
"#;

struct Demo {
    sandbox: Sandbox,
    /// The data as the nightly backup holds it; the live data has moved on since.
    backup_content: String,
}

static DEMO: Shared<Demo> = Shared::new();

/// The shared demo stack, and this test's turn on it.
fn demo() -> (MutexGuard<'static, ()>, &'static Demo) {
    DEMO.turn(Demo::up)
}

/// What a rollback must give back: each container's `name image state health`, and the data.
#[derive(Debug, PartialEq)]
struct State {
    containers: Vec<String>,
    content: String,
}

impl Demo {
    fn up() -> Self {
        // A stack left by an earlier run on this machine (killed, or stopped by a reboot) would
        // be taken as it is: start from none, as a fresh CI machine does.
        let removed = Command::new("scripts/demo-stack.sh")
            .arg("down")
            .current_dir(root())
            .env("PROJECT", PROJECT)
            .output()
            .expect("scripts/demo-stack.sh runs");
        assert!(removed.status.success(), "demo down: {}", stderr(&removed));
        let sandbox = Sandbox::new();
        // Absolute, as a production environment file has it: the daemon runs elsewhere.
        let root = root().display().to_string();
        sandbox.write("env.yml", &ENVIRONMENT.replace("{root}", &root));
        let mut demo = Self {
            sandbox,
            backup_content: String::new(),
        };
        let output = demo.run("playbooks/demo/up.yml", &[]);
        assert_eq!(code(&output), 0, "demo up: {}", stderr(&output));
        demo.backup_content = demo.content();
        // The live data moves on after the nightly backup, so that a restore is visible.
        demo.sql(
            r#"INSERT INTO "User" (email, name) VALUES ('late@example.com', 'After the backup')"#,
        );
        demo
    }

    /// Every container of the stack stopped, as a host that went down leaves them.
    fn stop_all(&self) {
        for service in ["api", "web", "pgbouncer", "redis", "postgres"] {
            docker(&["stop", &format!("{PROJECT}-{service}-1")]);
        }
    }

    /// Every container running and healthy again, and the backup's data back.
    fn assert_recovered(&self) {
        let recovered = self.state();
        assert!(
            recovered
                .containers
                .iter()
                .all(|c| c.ends_with("running healthy")),
            "{recovered:?}"
        );
        assert_eq!(recovered.content, self.backup_content);
    }

    /// `runbook run PLAYBOOK --env env.yml ARGS`, from the repository root like a user.
    fn run(&self, playbook: &str, args: &[&str]) -> Output {
        self.run_with(playbook, args, &[])
    }

    fn run_with(&self, playbook: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.run_in("env.yml", playbook, args, env)
    }

    /// With another environment file of the sandbox.
    fn run_in(
        &self,
        env_file: &str,
        playbook: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
        // Nothing is posted anywhere unless a test says where.
        command.env_remove("SLACK_WEBHOOK_URL");
        command.envs(env.iter().copied());
        let output = command
            .current_dir(root())
            .args(["run", playbook, "--env"])
            .arg(self.sandbox.path().join(env_file))
            .args(args)
            .env("RUNBOOK_STATE_DIR", self.sandbox.path().join("state"))
            .env("RUNBOOK_LOCK_DIR", self.sandbox.path().join("locks"))
            .env("RUNBOOK_USER", "tester")
            .env("DB_PASSWORD", DB_PASSWORD)
            .env("REDIS_PASSWORD", REDIS_PASSWORD)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the runbook binary runs");
        self.assert_secrets_kept(&output);
        output
    }

    /// The passwords the runs are given appear nowhere runbook writes: its output, and every
    /// file of every run (journal, plan, inputs, reports), and the verification reports.
    fn assert_secrets_kept(&self, output: &Output) {
        let mut written = vec![
            ("stdout".to_string(), stdout(output)),
            ("stderr".to_string(), stderr(output)),
        ];
        for dir in self.sandbox.run_dirs().iter().chain([&self.backups()]) {
            // Before the demo is up there is no backup directory yet.
            let Ok(files) = std::fs::read_dir(dir) else {
                continue;
            };
            for file in files {
                let path = file.expect("entry").path();
                if let Ok(text) = std::fs::read_to_string(&path) {
                    written.push((path.display().to_string(), text));
                }
            }
        }
        for (place, text) in &written {
            for secret in [DB_PASSWORD, REDIS_PASSWORD] {
                assert!(!text.contains(secret), "a password in {place}:\n{text}");
            }
        }
    }

    fn sql(&self, sql: &str) -> String {
        psql_on(DB_PORT, "goodgo", DB_PASSWORD, "goodgo", sql)
    }

    fn content(&self) -> String {
        self.sql(CONTENT_SQL)
    }

    fn backups(&self) -> PathBuf {
        self.sandbox.path().join("backups")
    }

    /// Waits (a safety net of 90 s, not a measurement) until all five containers are healthy,
    /// then reads the state; after the deadline, the state as it is (the comparison says why).
    fn state(&self) -> State {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        let containers = loop {
            let containers = containers();
            let healthy = containers.len() == SERVICES
                && containers.iter().all(|c| c.ends_with(" running healthy"));
            if healthy || std::time::Instant::now() > deadline {
                break containers;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        State {
            containers,
            content: self.content(),
        }
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        self.sandbox.last_journal()
    }

    /// The report.md of the last run.
    fn report(&self) -> String {
        std::fs::read_to_string(self.sandbox.last_run_dir().join("report.md")).expect("report.md")
    }
}

fn containers() -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={PROJECT}");
    let ids = docker(&["ps", "-aq", "--filter", &filter]);
    let mut args = vec![
        "inspect",
        "--format",
        "{{.Name}} {{.Config.Image}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
    ];
    args.extend(ids.split_whitespace());
    if args.len() == 3 {
        return Vec::new();
    }
    let mut lines: Vec<String> = docker(&args).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// When the container last started: a restart changes it.
fn started_at(container: &str) -> String {
    docker(&["inspect", "--format", "{{.State.StartedAt}}", container])
}

/// A GET on the demo's api, as `status body`.
fn api(path: &str) -> String {
    api_request("GET", path)
}

/// A request to the demo's api, as `status body`.
fn api_request(method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{API_PORT}")).expect("api");
    write!(stream, "{method} {path} HTTP/1.0\r\n\r\n").expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let status = answer.split_whitespace().nth(1).unwrap_or("?").to_string();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    format!("{status} {body}")
}

fn event<'j>(journal: &'j [serde_json::Value], kind: &str) -> &'j serde_json::Value {
    events(journal, kind)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no `{kind}` in {:?}", kinds(journal)))
}

/// Runs with `--fail-at STEP` and checks the failure was rolled back to `before`.
fn injected_failure_leaves(demo: &Demo, playbook: &str, step: &str, args: &[&str], before: &State) {
    let mut all = vec!["--fail-at", step];
    all.extend(args);
    let output = demo.run(playbook, &all);
    assert_eq!(
        code(&output),
        1,
        "{playbook} --fail-at {step}: {}",
        stderr(&output)
    );
    let journal = demo.journal();
    assert_eq!(
        event(&journal, "step_failed")["error"],
        "failure injected with --fail-at",
        "{playbook}"
    );
    assert_eq!(
        &demo.state(),
        before,
        "{playbook}: not back where it started"
    );
}

#[test]
fn the_demo_stack_comes_up_healthy_with_a_backup() {
    let (_turn, demo) = demo();
    let state = demo.state();
    assert_eq!(
        state.containers,
        [
            "/rbt-demo-alertmanager-1 runbook-demo-alertmanager:1 running healthy",
            "/rbt-demo-api-1 runbook-fixture:1 running healthy",
            "/rbt-demo-pgbouncer-1 runbook-demo-pgbouncer:1 running healthy",
            "/rbt-demo-postgres-1 runbook-demo-postgres:15 running healthy",
            "/rbt-demo-prometheus-1 runbook-demo-prometheus:1 running healthy",
            "/rbt-demo-redis-1 runbook-demo-redis:7 running healthy",
            "/rbt-demo-web-1 runbook-fixture:1 running healthy",
        ]
    );
    // The api's readiness runs SELECT 1 through PgBouncer.
    assert_eq!(
        api("/health/ready"),
        r#"200 {"status":"ok","info":{"database":{"status":"up"}}}"#
    );
    let backups: Vec<String> = std::fs::read_dir(demo.backups())
        .expect("backups")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with("goodgo_") && name.ends_with(".sql.gz"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_ne!(demo.sql(r#"SELECT count(*) FROM "User""#), "0");
}

#[test]
fn restore_rolls_back_to_the_data_it_found_then_restores_the_backup() {
    let (_turn, demo) = demo();
    demo.sql(
        r#"INSERT INTO "User" (email) VALUES ('restore-test@example.com') ON CONFLICT DO NOTHING"#,
    );
    let before = demo.state();
    assert_ne!(before.content, demo.backup_content);

    injected_failure_leaves(demo, "playbooks/restore.yml", "ready", &[], &before);
    let journal = demo.journal();
    let undone: Vec<&str> = events(&journal, "compensation_succeeded")
        .iter()
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(undone, ["restore", "stop-pgbouncer", "stop-apps"]);
    // No Slack webhook here: the notification is journaled as skipped, not as sent.
    assert_eq!(event(&journal, "handler_finished")["skipped"], true);

    let output = demo.run("playbooks/restore.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let after = demo.state();
    assert_eq!(after.containers, before.containers);
    assert_eq!(
        after.content, demo.backup_content,
        "the backup's data is back"
    );
    let measured = event(&demo.journal(), "objectives_measured").clone();
    assert_eq!(measured["rto"]["met"], true, "{measured}");
    assert_eq!(measured["rpo"]["met"], true, "{measured}");
}

#[test]
fn full_host_recovery_brings_back_a_stack_whose_containers_all_stopped() {
    let (_turn, demo) = demo();
    demo.stop_all();
    let output = demo.run("playbooks/full-host-recovery.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    demo.assert_recovered();
    let measured = event(&demo.journal(), "objectives_measured").clone();
    assert_eq!(
        measured["rto"]["between"],
        "the start of `start-infra` and the end of `verify-web`"
    );

    // A recovery that fails puts back what the database held when it started.
    demo.sql(r#"UPDATE "Listing" SET price = price + 1 WHERE id = 1"#);
    let before = demo.state();
    injected_failure_leaves(
        demo,
        "playbooks/full-host-recovery.yml",
        "verify-web",
        &[],
        &before,
    );
}

#[test]
fn full_host_recovery_runs_from_a_bastion_against_the_new_host() {
    let (_turn, demo) = demo();
    demo.stop_all();
    // The new host: sshd whose engine is this machine's (the stack's containers are there, as
    // `compose create` left them), on the stack's network (its database is `postgres:5432`
    // there). This test is the bastion: the backup, the stack's directory, the journal.
    let host =
        crate::remote::SshHost::start_with(&["-v", "/var/run/docker.sock:/var/run/docker.sock"]);
    docker(&[
        "network",
        "connect",
        &format!("{PROJECT}_default"),
        &host.name,
    ]);
    let root = root().display().to_string();
    demo.sandbox.write(
        "bastion.yml",
        &format!(
            "{}hosts:\n{}",
            ENVIRONMENT.replace("{root}", &root),
            host.entry("new-1")
        ),
    );
    demo.sandbox
        .write("stack/docker-compose.yml", "services: {}\n");
    let stack = format!("stack_dir={}", demo.sandbox.path().join("stack").display());
    let control = demo.sandbox.path().join("ssh");
    let output = demo.run_in(
        "bastion.yml",
        "playbooks/full-host-recovery.yml",
        &[
            "--input",
            "new_host=new-1",
            "--input",
            "db_host=postgres",
            "--input",
            "db_port=5432",
            "--input",
            &stack,
        ],
        &[("RUNBOOK_SSH_CONTROL_DIR", control.to_str().unwrap())],
    );
    let log = host.log();
    assert_eq!(code(&output), 0, "{}\n{log}", stderr(&output));
    demo.assert_recovered();

    let journal = demo.journal();
    let found = outputs_of(&journal, "backup");
    let backup = std::fs::read(found["path"].as_str().unwrap()).unwrap();
    let copied = outputs_of(&journal, "copy-backup");
    assert_eq!(copied["to"], "new-1", "{copied}");
    assert_eq!(
        host.exec(&format!("sha256sum < {}", copied["path"].as_str().unwrap())),
        format!("{}  -", crate::remote::sha256_hex(&backup)),
        "the backup on the new host is the bastion's"
    );
    assert_eq!(
        host.exec("cat /opt/goodgo/docker-compose.yml"),
        "services: {}"
    );
    // One login served the copies, the engine's socket and the database's tunnel.
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");
    let measured = event(&journal, "objectives_measured").clone();
    assert_eq!(measured["rto"]["met"], true, "{measured}");
}

#[test]
fn rolling_restart_comes_back_healthy_and_a_failure_stops_where_it_is() {
    let (_turn, demo) = demo();
    let before = demo.state();
    let output = demo.run("playbooks/rolling-restart.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(demo.state(), before);
    let restarted: Vec<String> = events(&demo.journal(), "step_succeeded")
        .iter()
        .filter_map(|e| e["step"].as_str())
        .filter(|s| s.starts_with("apps[") || s.starts_with("data-services["))
        .map(String::from)
        .collect();
    assert_eq!(
        restarted,
        ["data-services[redis]", "apps[api]", "apps[web]"]
    );

    // A restart cannot be undone: the run says so, and the stack is still healthy.
    injected_failure_leaves(demo, "playbooks/rolling-restart.yml", "ready", &[], &before);
    let finished = event(&demo.journal(), "run_finished").clone();
    assert!(
        finished["error"].as_str().unwrap().contains(
            "changed without a rollback: data-services[redis], pooler, apps[api], apps[web]"
        ),
        "{finished}"
    );
}

#[test]
fn dr_drill_measures_rto_and_rpo_and_a_tighter_objective_fails_it() {
    let (_turn, demo) = demo();
    let before = demo.state();
    let output = demo.run("playbooks/dr-drill.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        demo.state(),
        before,
        "the drill leaves the stack as it found it"
    );
    let journal = demo.journal();
    let measured = event(&journal, "objectives_measured");
    for objective in ["rto", "rpo"] {
        assert_eq!(measured[objective]["met"], true, "{measured}");
        assert!(
            measured[objective]["measured"].as_f64().unwrap() > 0.0,
            "{measured}"
        );
    }
    assert_eq!(measured["rto"]["objective"], 1800.0);
    let verify = outputs_of(&journal, "verify-backup");
    // The live data moved on since the backup: row counts drift within the tolerance.
    assert_eq!(verify["failed"], 0, "{verify}");
    assert!(demo.backups().join("verify-latest.json").exists());
    // Step 3: the backup restored onto a server of its own, which is gone afterwards.
    let tables = &outputs_of(&journal, "dr-tables")["rows"][0];
    assert!(tables["users"].as_i64().unwrap() > 0, "{tables}");
    assert!(
        dr_test_containers().is_empty(),
        "{:?}",
        dr_test_containers()
    );
    // Step 5 ran against the demo's real Prometheus and Alertmanager, none skipped.
    let rules = outputs_of(&journal, "rules-loaded");
    assert!(rules["rule_count"].as_i64().unwrap() >= 5, "{rules}");
    for step in ["silence", "alerts-quiet", "alertmanager-up", "end-silence"] {
        outputs_of(&journal, step);
    }
    let silence = outputs_of(&journal, "silence")["silence_id"]
        .as_str()
        .expect("a silence id")
        .to_string();
    let silences = http_body(&format!(
        "http://127.0.0.1:{AM_PORT}/api/v2/silence/{silence}"
    ));
    assert!(
        silences.contains(r#""state":"expired""#) && silences.contains(r#""value":"rbt-demo""#),
        "the drill's silence matched the stack and ended with it: {silences}"
    );
    let report = demo.report();
    assert!(
        report.contains("full restore onto a fresh server in "),
        "{report}"
    );
    assert!(report.contains("## Recovery objectives"), "{report}");
    assert!(report.contains("| RTO | 30m |"), "{report}");
    assert!(report.contains("✅ met"), "{report}");

    // The same drill with an RTO below what it takes: every step succeeds, the drill fails.
    let drill = std::fs::read_to_string(root().join("playbooks/dr-drill.yml")).unwrap();
    let tight = demo.sandbox.write(
        "tight-drill.yml",
        &drill.replace("  rto: 30m\n", "  rto: 1s\n"),
    );
    let output = demo.run(tight.to_str().unwrap(), &[]);
    assert_eq!(code(&output), 6, "{}", stderr(&output));
    let finished = event(&demo.journal(), "run_finished").clone();
    assert_eq!(finished["status"], "objectives_missed");
    assert!(
        finished["error"]
            .as_str()
            .unwrap()
            .starts_with("RTO missed: "),
        "{finished}"
    );
    assert!(demo.report().contains("❌ **missed**"));
    assert_eq!(demo.state(), before);

    // Refused on production: nothing starts, nothing restarts.
    let postgres_started = started_at("rbt-demo-postgres-1");
    let output = demo.run("playbooks/dr-drill.yml", &["--input", "production=true"]);
    assert_eq!(code(&output), 4, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is a production stack"),
        "{}",
        stderr(&output)
    );
    assert!(events(&demo.journal(), "step_succeeded").is_empty());
    assert_eq!(started_at("rbt-demo-postgres-1"), postgres_started);

    injected_failure_leaves(demo, "playbooks/dr-drill.yml", "checklist", &[], &before);
    // A failure while the DR test server is up removes it (its rollback).
    injected_failure_leaves(demo, "playbooks/dr-drill.yml", "dr-tables", &[], &before);
    assert!(
        dr_test_containers().is_empty(),
        "{:?}",
        dr_test_containers()
    );
}

/// The containers of the DR drill's separate database server (step 3).
fn dr_test_containers() -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={PROJECT}-dr-test");
    docker(&["ps", "-aq", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn deploy_rollback_puts_the_running_release_back_when_verification_fails() {
    let (_turn, demo) = demo();
    let before = demo.state();
    injected_failure_leaves(
        demo,
        "playbooks/deploy-rollback.yml",
        "verify-web",
        &["--input", "tag=2"],
        &before,
    );

    // Where Slack is configured, the failure is posted there (a stand-in of its webhook).
    let slack = StandIn::start();
    let output = demo.run_with(
        "playbooks/deploy-rollback.yml",
        &["--input", "tag=2", "--fail-at", "verify-web"],
        &[("SLACK_WEBHOOK_URL", &slack.url("/hook"))],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let posted = slack.requests.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0]
            .2
            .contains("rollback of rbt-demo to 2 failed; the previous release was put back"),
        "{posted:?}"
    );
    assert_eq!(demo.state(), before);

    let output = demo.run("playbooks/deploy-rollback.yml", &["--input", "tag=2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let rolled = demo.state();
    assert!(
        rolled
            .containers
            .contains(&"/rbt-demo-api-1 runbook-fixture:2 running healthy".to_string())
    );
    assert!(
        rolled
            .containers
            .contains(&"/rbt-demo-web-1 runbook-fixture:2 running healthy".to_string())
    );

    let output = demo.run("playbooks/deploy-rollback.yml", &["--input", "tag=1"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(demo.state(), before);
}

#[test]
fn db_pool_exhaustion_terminates_the_stuck_query_only() {
    let (_turn, demo) = demo();
    let stuck = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            DB_PORT,
            "-U",
            "goodgo",
            "-d",
            "goodgo",
        ])
        .args(["-c", "SELECT pg_sleep(600) /* stuck */"])
        .env("PGPASSWORD", DB_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while demo.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%/* stuck */' AND state = 'active' AND pid <> pg_backend_pid()") != "1" {
        assert!(std::time::Instant::now() < deadline, "the stuck query never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let output = demo.run(
        "playbooks/db-pool-exhaustion.yml",
        &["--input", "long_query_age=1s"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = demo.journal();
    let terminated = outputs_of(&journal, "terminate");
    assert_eq!(terminated["count"], 1, "{terminated}");
    let ended = stuck.wait_with_output().expect("psql ends");
    assert!(!ended.status.success());
    assert!(
        String::from_utf8_lossy(&ended.stderr)
            .contains("terminating connection due to administrator command"),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );

    let before = demo.state();
    injected_failure_leaves(
        demo,
        "playbooks/db-pool-exhaustion.yml",
        "ready",
        &[],
        &before,
    );
}

#[test]
fn redis_recovery_restarts_redis_and_the_api_is_ready_again() {
    let (_turn, demo) = demo();
    let before = demo.state();
    let started = started_at("rbt-demo-redis-1");
    let output = demo.run("playbooks/redis-recovery.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_ne!(
        started_at("rbt-demo-redis-1"),
        started,
        "redis was restarted"
    );
    assert_eq!(demo.state(), before);
    injected_failure_leaves(demo, "playbooks/redis-recovery.yml", "ready", &[], &before);
}

#[test]
fn payment_callbacks_restarts_an_unready_api_and_lists_the_recent_pending_payments() {
    let (_turn, demo) = demo();
    // A payment left pending a minute ago; the demo's other payments are months old.
    demo.sql(
        r#"INSERT INTO "Payment" ("userId", amount, status, "createdAt") SELECT id, 99, 'PENDING', now() - interval '1 minute' FROM "User" ORDER BY id LIMIT 1"#,
    );
    let before = demo.state();
    let gateway = StandIn::start();
    let inputs = |settings: &str| {
        vec![
            "--input".to_string(),
            "check_gateways=true".to_string(),
            "--input".to_string(),
            format!("gateways={}", gateway.url("/gateway/vnpay")),
            "--input".to_string(),
            format!("gateway_env={settings}"),
        ]
    };

    // The api stops being ready (as when its event loop hangs): the playbook restarts it.
    let api_started = started_at("rbt-demo-api-1");
    assert_eq!(api_request("POST", "/admin/unhealthy"), "200 unhealthy");
    let healthy_inputs = inputs("PORT,VERSION");
    let healthy_inputs: Vec<&str> = healthy_inputs.iter().map(String::as_str).collect();
    let output = demo.run("playbooks/payment-callbacks.yml", &healthy_inputs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_ne!(
        started_at("rbt-demo-api-1"),
        api_started,
        "the api was restarted"
    );
    let journal = demo.journal();
    let succeeded: Vec<&str> = events(&journal, "step_succeeded")
        .iter()
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert!(succeeded.contains(&"restart-api"), "{succeeded:?}");
    let pending = outputs_of(&journal, "pending");
    assert_eq!(pending["row_count"], 1, "{pending}");
    assert_eq!(
        pending["rows"][0]["amount"].as_f64(),
        Some(99.0),
        "{pending}"
    );
    // The provider's stand-in was asked, and its refusal of a GET counts as an answer.
    assert_eq!(gateway.requests.lock().unwrap()[0].1, "/gateway/vnpay");
    assert_eq!(demo.state(), before);

    // A missing gateway setting is named, its value never printed; nothing else changes.
    let args = inputs("PORT,VNPAY_HASH_SECRET");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = demo.run("playbooks/payment-callbacks.yml", &args);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not set in the api container: VNPAY_HASH_SECRET"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("3001"),
        "the value of PORT is never printed"
    );

    injected_failure_leaves(
        demo,
        "playbooks/payment-callbacks.yml",
        "verdict",
        &healthy_inputs,
        &before,
    );
}

#[test]
fn disk_cleanup_deletes_only_backups_past_retention() {
    let (_turn, demo) = demo();
    let old = demo.backups().join("goodgo_20200101_020000.sql.gz");
    let make_old = || {
        std::fs::write(&old, "an old backup").unwrap();
        let status = Command::new("touch")
            .args(["-d", "10 days ago"])
            .arg(&old)
            .status()
            .unwrap();
        assert!(status.success());
    };
    make_old();
    let before = demo.state();
    let output = demo.run("playbooks/disk-cleanup.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!old.exists(), "the old backup is deleted");
    let kept = outputs_of(&demo.journal(), "backups-left")["path"].clone();
    assert!(kept.as_str().unwrap().contains("/goodgo_2"), "{kept}");

    // A deletion cannot be undone; the run says what it changed for good.
    make_old();
    injected_failure_leaves(
        demo,
        "playbooks/disk-cleanup.yml",
        "backups-left",
        &[],
        &before,
    );
    let finished = event(&demo.journal(), "run_finished").clone();
    assert!(
        finished["error"]
            .as_str()
            .unwrap()
            .contains("changed without a rollback: delete-old-backups"),
        "{finished}"
    );
}

#[test]
fn the_daemon_runs_the_quarterly_drill_and_leaves_reports_metrics_and_a_webhook_call() {
    let (_turn, demo) = demo();
    let before = demo.state();
    // The shipped drill, scheduled with the test stack's environment file.
    let drill = std::fs::read_to_string(root().join("playbooks/dr-drill.yml")).unwrap();
    let env = demo.sandbox.path().join("env.yml");
    let scheduled = drill.replace(
        r#"schedule: { cron: "0 3 1 */3 *", timezone: UTC }"#,
        &format!(
            r#"schedule: {{ cron: "0 3 1 */3 *", timezone: UTC, environment: "{}" }}"#,
            env.display()
        ),
    );
    assert_ne!(scheduled, drill, "the drill's schedule line moved");
    demo.sandbox.write("scheduled/dr-drill.yml", &scheduled);
    let slack = StandIn::start();
    let hook = slack.url("/hook");
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .current_dir(demo.sandbox.path())
        .args([
            "daemon",
            "scheduled",
            "--clock-start",
            "2027-01-01T02:59:58Z",
            "--max-runs",
            "1",
            "--notify",
            &hook,
        ])
        .env("RUNBOOK_STATE_DIR", demo.sandbox.path().join("state"))
        .env("DB_PASSWORD", DB_PASSWORD)
        .env("REDIS_PASSWORD", REDIS_PASSWORD)
        .env_remove("SLACK_WEBHOOK_URL")
        .output()
        .unwrap();
    demo.assert_secrets_kept(&output);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("started dr-drill (cron time 2027-01-01 03:00 UTC)"),
        "{}",
        stderr(&output)
    );
    assert_eq!(demo.state(), before);

    let run = demo.sandbox.last_run_dir();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["playbook"], "dr-drill");
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["objectives"]["rto"]["met"], true);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("restart-postgres"),
        "the timeline"
    );
    let junit = std::fs::read_to_string(run.join("report.junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="dr-drill""#) && junit.contains(r#"failures="0""#),
        "{junit}"
    );

    let posted: Vec<serde_json::Value> = slack
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, body)| serde_json::from_str(body).unwrap())
        .collect();
    let moments: Vec<&str> = posted
        .iter()
        .map(|p| p["runbook"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(moments, ["start", "success"]);
    assert!(
        posted[1]["runbook"]["report"]
            .as_str()
            .unwrap()
            .ends_with("report.html")
    );

    let metrics = demo.sandbox.read("state/daemon/runbook.prom");
    assert!(
        metrics.contains(r#"runbook_last_run_exit_code{playbook="dr-drill""#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"runbook_rto_objective_seconds{playbook="dr-drill",file="scheduled/dr-drill.yml"} 1800"#), "{metrics}");
    assert!(
        metrics.contains("runbook_last_rto_seconds{playbook=\"dr-drill\""),
        "{metrics}"
    );
}
