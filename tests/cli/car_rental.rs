//! The Car Rental playbooks end to end on their demo stack (demo/car-rental/docker-compose.yml,
//! brought up once by the Compose tool through `playbooks/car-rental/demo/up.yml`, as its team
//! would): real containers, PostgreSQL, Redis, an S3 server and NGINX. Each mutating playbook
//! also runs with a failure injected late; afterwards every container is running and healthy,
//! the data is unchanged and NGINX serves the release it served before. The tests take turns.

use std::process::Output;
use std::sync::MutexGuard;

use crate::support::*;

const PROJECT: &str = "rbt-carrental";
const PORTS: &str = "PG_PORT=25442\nREDIS_PORT=26379\nAPI_PORT=23100\nMINIO_PORT=29000\nHTTP_PORT=28080\nPROM_PORT=29190\nAM_PORT=29193\n";
const SECRETS: [(&str, &str); 4] = [
    ("DB_PASSWORD", "cr-db-password-81"),
    ("REDIS_PASSWORD", "cr-redis-password-82"),
    ("MINIO_ACCESS_KEY", "cr-access-83"),
    ("MINIO_SECRET_KEY", "cr-secret-key-84"),
];

/// The test stack's environment file: the demo's, on ports and a project of its own.
const ENVIRONMENT: &str = r#"
description: The test suite's Car Rental stack
inputs:
  project: rbt-carrental
  production: false
  compose_file: demo/car-rental/docker-compose.yml
  compose_env_file: "{dir}/ports.env"
  api_url: http://127.0.0.1:23100
  api_health_path: /health
  site_url: http://127.0.0.1:28080
  db_host: 127.0.0.1
  db_port: 25442
  db_name: carrental
  db_user: carrental
  redis_url: redis://127.0.0.1:26379
  minio_endpoint: http://127.0.0.1:29000
  minio_bucket: carrental
  prometheus_url: http://127.0.0.1:29190
  alertmanager_url: http://127.0.0.1:29193
  backup_dir: "{dir}/backups"
  image_repository: runbook-fixture
  migrate_command: ["true"]
"#;

const DIGEST_SQL: &str = "SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) || '/' || (SELECT md5(string_agg(b::text, ',' ORDER BY b.id)) FROM bookings b) FROM cars c";

struct Stack {
    sandbox: Sandbox,
}

static STACK: Shared<Stack> = Shared::new();

fn stack() -> (MutexGuard<'static, ()>, &'static Stack) {
    STACK.turn(Stack::up)
}

impl Stack {
    fn up() -> Self {
        let sandbox = Sandbox::new();
        sandbox.write("ports.env", PORTS);
        sandbox.write("car-rental.yml", ENVIRONMENT);
        let dir = sandbox.path().display().to_string();
        let stack = Self { sandbox };
        let output = stack.run_playbook(
            "playbooks/car-rental/demo/up.yml",
            &[
                "--input",
                &format!("project={PROJECT}"),
                "--input",
                &format!(
                    "compose_file={}/demo/car-rental/docker-compose.yml",
                    root().display()
                ),
                "--input",
                &format!("compose_env_file={dir}/ports.env"),
                "--input",
                "db_port=25442",
                "--input",
                "minio_endpoint=http://127.0.0.1:29000",
                "--input",
                &format!("backup_dir={dir}/backups"),
                "--input",
                &format!(
                    "demo_data={}/demo/car-rental/seed/cars.sql",
                    root().display()
                ),
                "--input",
                &format!(
                    "demo_photo={}/demo/car-rental/seed/car-1.txt",
                    root().display()
                ),
            ],
        );
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        stack
    }

    /// Runs from the repository (the playbooks' relative paths, as a user runs them), with
    /// the sandbox's state, locks and files.
    fn run_playbook(&self, playbook: &str, args: &[&str]) -> Output {
        let mut all = vec!["run", playbook];
        all.extend_from_slice(args);
        let mut command = self.sandbox.command(&all);
        command.current_dir(root());
        for (name, value) in SECRETS {
            command.env(name, value);
        }
        command.output().unwrap()
    }

    /// A shipped playbook against the test stack's environment file.
    fn run(&self, playbook: &str, args: &[&str]) -> Output {
        let environment = self.sandbox.path().join("car-rental.yml");
        let mut all = vec!["--env", environment.to_str().unwrap()];
        all.extend_from_slice(args);
        let output = self.run_playbook(playbook, &all);
        let said = format!("{}{}", stdout(&output), stderr(&output));
        let journal = self.sandbox.evidence();
        for (name, value) in SECRETS {
            assert!(
                !said.contains(value) && !journal.contains(value),
                "{name} was shown"
            );
        }
        output
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        self.sandbox.last_journal()
    }

    fn digest(&self) -> String {
        psql_value("25442", "carrental", "carrental", SECRETS[0].1, DIGEST_SQL)
    }

    /// Every container running (and healthy where it has a healthcheck), the data's digest,
    /// and the release NGINX serves.
    fn state(&self) -> (Vec<String>, String, String) {
        let project = format!("label=com.docker.compose.project={PROJECT}");
        (
            container_health(&[&project]),
            self.digest(),
            site("/api/version"),
        )
    }

    /// Waits (a safety net) until every container is running and healthy again.
    fn settle(&self) {
        for _ in 0..120 {
            let (containers, _, _) = self.state();
            if containers.len() == 8 && containers.iter().all(|c| c.ends_with("running ok")) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("the stack did not settle: {:?}", self.state());
    }
}

/// What NGINX answers on `path`.
fn site(path: &str) -> String {
    http_body(&format!("http://127.0.0.1:28080{path}"))
}

/// A run with a failure injected at `step`: the stack as it was afterwards (what was undone
/// undone; restarts stay done). Returns how the run ended (`rolled_back`, or `failed` where
/// nothing before `step` had a rollback).
fn failure_at_leaves_the_stack_as_it_was(
    stack: &Stack,
    playbook: &str,
    step: &str,
    args: &[&str],
) -> String {
    stack.settle();
    let before = stack.state();
    let mut all = args.to_vec();
    all.extend(["--fail-at", step]);
    let output = stack.run(playbook, &all);
    assert_eq!(code(&output), 1, "{playbook}: {}", stderr(&output));
    stack.settle();
    assert_eq!(stack.state(), before, "{playbook} with a failure at {step}");
    stack.journal().last().unwrap()["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_health_check_passes_and_redis_down_is_a_warning_that_redis_down_repairs() {
    let (_turn, stack) = stack();
    stack.settle();
    let output = stack.run("playbooks/car-rental/health-check.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = stack.journal();
    assert_eq!(outputs_of(&journal, "containers")["running"], 8);
    // Prometheus and Alertmanager of the demo answered for real.
    for step in ["prometheus", "alertmanager"] {
        assert_eq!(outputs_of(&journal, step)["status_code"], 200);
    }

    docker(&["stop", &format!("{PROJECT}_redis_1")]);
    let degraded = stack.run("playbooks/car-rental/health-check.yml", &[]);
    assert_eq!(
        code(&degraded),
        1,
        "compose.ps sees redis stopped: {}",
        stderr(&degraded)
    );
    let journal = stack.journal();
    let redis = events(&journal, "step_failed")
        .into_iter()
        .find(|e| e["step"] == "redis")
        .expect("the redis check failed")
        .clone();
    assert_eq!(redis["warning"], true, "{redis}");
    assert!(
        redis["error"]
            .as_str()
            .unwrap()
            .contains("Redis 127.0.0.1:26379 db 0"),
        "{redis}"
    );

    let before = stack.digest();
    let repaired = stack.run("playbooks/car-rental/redis-down.yml", &[]);
    assert_eq!(code(&repaired), 0, "{}", stderr(&repaired));
    stack.settle();
    assert_eq!(stack.digest(), before);
    failure_at_leaves_the_stack_as_it_was(
        stack,
        "playbooks/car-rental/redis-down.yml",
        "verify",
        &[],
    );
}

#[test]
fn an_api_that_does_not_answer_is_diagnosed_and_restarted() {
    let (_turn, stack) = stack();
    stack.settle();
    // The api hangs (its process stopped, as a Node.js process stuck in a loop): health checks
    // time out, NGINX would answer 502; only a restart brings it back.
    let top = docker(&["top", &format!("{PROJECT}_api_1"), "-o", "pid,comm"]);
    let pid = top
        .lines()
        .find(|l| l.contains("fixture-servic"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the api's process")
        .to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = stack.run("playbooks/car-rental/api-not-responding.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = stack.journal();
    assert_eq!(outputs_of(&journal, "port")["host_port"], 23100);
    assert_eq!(
        outputs_of(&journal, "state")["containers"][0]["oom_killed"],
        false
    );
    stack.settle();
    failure_at_leaves_the_stack_as_it_was(
        stack,
        "playbooks/car-rental/api-not-responding.yml",
        "verify-site",
        &[],
    );
}

#[test]
fn a_deploy_is_rolled_back_to_the_release_and_data_it_replaced() {
    let (_turn, stack) = stack();
    stack.settle();
    assert_eq!(site("/api/version"), "1");
    let ended = failure_at_leaves_the_stack_as_it_was(
        stack,
        "playbooks/car-rental/deploy.yml",
        "logs",
        &["--input", "tag=2"],
    );
    assert_eq!(ended, "rolled_back");
    assert_eq!(
        site("/api/version"),
        "1",
        "NGINX serves the release it served before"
    );

    let output = stack.run("playbooks/car-rental/deploy.yml", &["--input", "tag=2"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(site("/api/version"), "2");
    let deployed = outputs_of(&stack.journal(), "deploy");
    assert_eq!(
        deployed["recreated"],
        serde_json::json!(["api", "web"]),
        "{deployed}"
    );

    // 4.4 on its own: back to release 1, its own failure putting 2 back.
    let ended = failure_at_leaves_the_stack_as_it_was(
        stack,
        "playbooks/car-rental/rollback.yml",
        "verify",
        &["--input", "tag=1"],
    );
    assert_eq!(ended, "rolled_back");
    assert_eq!(site("/api/version"), "2");
    let back = stack.run("playbooks/car-rental/rollback.yml", &["--input", "tag=1"]);
    assert_eq!(code(&back), 0, "{}", stderr(&back));
    stack.settle();
    assert_eq!(site("/api/version"), "1");
}

#[test]
fn a_restore_measures_its_objectives_and_a_late_failure_puts_the_data_back() {
    let (_turn, stack) = stack();
    stack.settle();
    // The data moves on after the backup; a failed restore must leave it as it is now.
    let output = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", "25442", "-U", "carrental", "-d", "carrental", "-c",
            "INSERT INTO bookings VALUES (99, 2, 'After The Backup', '2026-12-24') ON CONFLICT DO NOTHING"])
        .env("PGPASSWORD", SECRETS[0].1)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ended = failure_at_leaves_the_stack_as_it_was(
        stack,
        "playbooks/car-rental/restore.yml",
        "verify",
        &[],
    );
    assert_eq!(ended, "rolled_back");
    let with_new_booking = stack.digest();

    let output = stack.run("playbooks/car-rental/restore.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_ne!(
        stack.digest(),
        with_new_booking,
        "the backup's data is back"
    );
    let measured = events(&stack.journal(), "objectives_measured")[0].clone();
    assert_eq!(measured["rto"]["met"], true, "{measured}");
    assert_eq!(measured["rpo"]["met"], true, "{measured}");
    stack.settle();
}

#[test]
fn the_bucket_is_mirrored_into_the_backups_with_every_object() {
    let (_turn, stack) = stack();
    let output = stack.run("playbooks/car-rental/minio-backup.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = stack.journal();
    let count = outputs_of(&journal, "objects")["count"].as_u64().unwrap();
    assert!(count >= 1);
    assert_eq!(
        outputs_of(&journal, "mirror")["copied"].as_u64().unwrap(),
        count
    );
    let run = journal[0]["run"].as_str().unwrap_or_default().to_string();
    let copy = stack
        .sandbox
        .path()
        .join("backups")
        .join(format!("minio-backup-{run}"))
        .join("cars/car-1.txt");
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display())),
        "car 1: a photo stands in here\n"
    );
}
