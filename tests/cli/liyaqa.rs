//! The Liyaqa playbooks end to end on their demo stack (a Compose project: PostgreSQL, backend,
//! frontend, an S3 server, Prometheus, Alertmanager), brought up once by
//! `playbooks/liyaqa/demo/up.yml`: the secret rotation (the new secret never shown anywhere, the
//! old one back on failure), service down, pool exhausted, disk full, restore, the scheduled
//! backup jobs, and disaster recovery onto a second, new stack from the S3 copy. The tests take
//! turns; each mutating playbook also runs with a failure injected late.

use std::process::Output;
use std::sync::MutexGuard;

use crate::support::*;

const PROJECT: &str = "rbt-liyaqa";
const PORTS: &str = "PG_PORT=25462\nBACKEND_PORT=28081\nFRONTEND_PORT=23300\nS3_PORT=29462\nPROM_PORT=29490\nAM_PORT=29493\n";
const DB_PASSWORD: &str = "lq-db-password-71";
const OLD_SECRET: &str = "the-old-jwt-secret-of-the-tests-72";
const S3_ACCESS_KEY: &str = "lq-access-73";
const S3_SECRET_KEY: &str = "lq-s3-secret-key-74";
const DIGEST_SQL: &str = "SELECT md5(string_agg(m::text, ',' ORDER BY m.id)) FROM members m";

/// The new server of the disaster recovery test: a second stack, on ports of its own.
const DR_PROJECT: &str = "rbt-liyaqa-dr";
const DR_PORTS: &str = "PG_PORT=25463\nBACKEND_PORT=28082\nFRONTEND_PORT=23301\nS3_PORT=29463\nPROM_PORT=29491\nAM_PORT=29494\n";

const ENVIRONMENT: &str = r#"
description: The test suite's Liyaqa stack
inputs:
  project: rbt-liyaqa
  compose_file: demo/liyaqa/docker-compose.yml
  compose_env_file: "{dir}/ports.env"
  secret_file: "{dir}/secrets/jwt_secret"
  backend_url: http://127.0.0.1:28081
  backend_port: 28081
  health_path: /health
  db_host: 127.0.0.1
  db_port: 25462
  db_name: liyaqa
  db_user: liyaqa
  backup_dir: "{dir}/backups"
  s3_endpoint: http://127.0.0.1:29462
  s3_region: us-east-1
  s3_bucket: liyaqa-backups
  frontend_url: http://127.0.0.1:23300/health
  prometheus_url: http://127.0.0.1:29490
  production: false
  prune_all_images: false
  vacuum_journal: false
"#;

/// The new server's: its own stack, the backups still in the first stack's S3 (off-site).
const DR_ENVIRONMENT: &str = r#"
description: The new server of the test suite's Liyaqa disaster recovery
inputs:
  project: rbt-liyaqa-dr
  production: false
  compose_file: demo/liyaqa/docker-compose.yml
  compose_env_file: "{dir}/dr-ports.env"
  secret_file: "{dir}/dr/secrets/jwt_secret"
  work_dir: "{dir}/dr/recovery"
  backend_url: http://127.0.0.1:28082
  health_path: /health
  frontend_url: http://127.0.0.1:23301/health
  db_host: 127.0.0.1
  db_port: 25463
  s3_endpoint: http://127.0.0.1:29462
  s3_region: us-east-1
  s3_bucket: liyaqa-backups
"#;

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
        sandbox.write("liyaqa.yml", ENVIRONMENT);
        sandbox.write("dr-ports.env", DR_PORTS);
        sandbox.write("dr.yml", DR_ENVIRONMENT);
        let stack = Self { sandbox };
        let output = stack.run("playbooks/liyaqa/demo/up.yml", &[]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        stack
    }

    /// Runs from the repository with the test stack's environment file; the container names
    /// of the compose file (`liyaqa-backend`, as the seed's) get the tests' prefix.
    fn run(&self, playbook: &str, args: &[&str]) -> Output {
        self.run_on("liyaqa.yml", PROJECT, playbook, args)
    }

    /// Runs with one of the sandbox's environment files, the containers named with `prefix`.
    fn run_on(&self, environment: &str, prefix: &str, playbook: &str, args: &[&str]) -> Output {
        let environment = self.sandbox.path().join(environment);
        let mut all = vec!["run", playbook, "--env", environment.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut command = self.sandbox.command(&all);
        command
            .current_dir(root())
            .env("PREFIX", prefix)
            .env("DB_PASSWORD", DB_PASSWORD)
            .env("JWT_SECRET", OLD_SECRET)
            .env("S3_ACCESS_KEY", S3_ACCESS_KEY)
            .env("S3_SECRET_KEY", S3_SECRET_KEY);
        let output = command.output().unwrap();
        let said = format!("{}{}", stdout(&output), stderr(&output));
        let evidence = self.sandbox.evidence();
        for secret in [DB_PASSWORD, S3_SECRET_KEY] {
            assert!(
                !said.contains(secret) && !evidence.contains(secret),
                "{playbook}: a secret was shown"
            );
        }
        output
    }

    /// A run with a failure injected at `step` fails and leaves the stack as `before`
    /// (restarts stay done; what can be undone is).
    fn fail_at_leaves(&self, playbook: &str, step: &str, before: &[String]) {
        let output = self.run(playbook, &["--fail-at", step]);
        assert_eq!(code(&output), 1, "{playbook}: {}", stderr(&output));
        assert_eq!(
            self.settle(),
            before,
            "{playbook} --fail-at {step}: the stack is not as it was"
        );
    }

    fn digest(&self, port: &str) -> String {
        psql_value(port, "liyaqa", "liyaqa", DB_PASSWORD, DIGEST_SQL)
    }

    fn sql(&self, sql: &str) -> String {
        psql_value("25462", "liyaqa", "liyaqa", DB_PASSWORD, sql)
    }

    /// The objects of the off-site bucket (the S3 server keeps them as files).
    fn bucket(&self) -> Vec<String> {
        let listing = docker(&[
            "exec",
            &format!("{PROJECT}-s3"),
            "ls",
            "/data/liyaqa-backups",
        ]);
        listing.split_whitespace().map(str::to_string).collect()
    }

    /// A backup file in the stack's backup directory, `days` old.
    fn old_backup(&self, name: &str, days: u32) -> std::path::PathBuf {
        let path = self
            .sandbox
            .write(&format!("backups/{name}"), "an old dump");
        let touched = std::process::Command::new("touch")
            .args(["-d", &format!("{days} days ago")])
            .arg(&path)
            .status()
            .unwrap();
        assert!(touched.success());
        path
    }

    fn backup(&self) -> String {
        let output = self.run("playbooks/liyaqa/backup.yml", &[]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        let journal = self.sandbox.last_journal();
        outputs_of(&journal, "dump")["path"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn backend_secret(&self) -> String {
        docker(&[
            "exec",
            &format!("{PROJECT}-backend"),
            "sh",
            "-c",
            "echo $JWT_SECRET",
        ])
    }

    fn secret_file(&self) -> String {
        self.sandbox.read("secrets/jwt_secret")
    }

    fn settle(&self) -> Vec<String> {
        let project = format!("label=com.docker.compose.project={PROJECT}");
        for _ in 0..120 {
            let containers = container_health(&[&project]);
            if containers.len() == 6 && containers.iter().all(|c| c.ends_with("running ok")) {
                return containers;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!(
            "the stack did not settle: {:?}",
            container_health(&[&project])
        );
    }
}

#[test]
fn a_rotated_secret_is_never_shown_and_the_old_one_comes_back_on_failure() {
    let (_turn, stack) = stack();
    stack.settle();
    assert_eq!(stack.backend_secret(), OLD_SECRET);
    assert_eq!(stack.secret_file(), OLD_SECRET);

    let output = stack.run(
        "playbooks/liyaqa/rotate-secret.yml",
        &["--fail-at", "health"],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(
        stack.sandbox.last_journal().last().unwrap()["status"],
        "rolled_back"
    );
    stack.settle();
    assert_eq!(
        stack.backend_secret(),
        OLD_SECRET,
        "the old secret is back in the backend"
    );
    assert_eq!(stack.secret_file(), OLD_SECRET, "and in the secret file");

    let output = stack.run("playbooks/liyaqa/rotate-secret.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    stack.settle();
    let new = stack.backend_secret();
    assert_ne!(new, OLD_SECRET);
    assert_eq!(new.len(), 44, "32 random bytes in base64");
    assert_eq!(stack.secret_file(), new);
    let said = format!("{}{}", stdout(&output), stderr(&output));
    let evidence = stack.sandbox.evidence();
    assert!(
        !said.contains(&new) && !evidence.contains(&new),
        "the new secret was shown"
    );
    assert!(!evidence.contains(OLD_SECRET), "the old secret was shown");
}

#[test]
fn a_backend_that_hangs_is_diagnosed_restarted_and_healthy_again() {
    let (_turn, stack) = stack();
    let before = stack.settle();
    // The backend's process stops (a JVM stuck in a full GC): only a restart brings it back.
    let top = docker(&["top", &format!("{PROJECT}-backend"), "-o", "pid,comm"]);
    let pid = top
        .lines()
        .find(|l| l.contains("fixture-servic"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the backend's process")
        .to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = stack.run("playbooks/liyaqa/service-down.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stack.settle(), before);

    stack.fail_at_leaves("playbooks/liyaqa/service-down.yml", "verify", &before);
}

#[test]
fn the_scheduled_jobs_back_up_off_site_verify_and_clean_up() {
    let (_turn, stack) = stack();
    stack.settle();
    let dump = stack.backup();
    let name = dump.rsplit('/').next().unwrap().to_string();
    let bucket = stack.bucket();
    assert!(
        bucket.contains(&name) && bucket.contains(&"liyaqa_latest.sql.gz".to_string()),
        "{bucket:?}"
    );
    let output = stack.run("playbooks/liyaqa/verify-backup.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        outputs_of(&stack.sandbox.last_journal(), "integrity")["failed"],
        0
    );

    // A failure after the upload fails the run and keeps the backups it made: a backup is
    // never undone, the off-site copy least of all.
    let output = stack.run("playbooks/liyaqa/backup.yml", &["--fail-at", "latest"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = stack.sandbox.last_journal();
    assert_eq!(journal.last().unwrap()["status"], "failed");
    let failed_dump = outputs_of(&journal, "dump")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let failed_name = failed_dump.rsplit('/').next().unwrap();
    assert!(
        std::path::Path::new(&failed_dump).exists()
            && stack.bucket().iter().any(|o| o == failed_name),
        "{:?}",
        stack.bucket()
    );

    // Appendix C's Monday cleanup: past 30 days goes, the rest (and the newest) stays.
    let old = stack.old_backup("liyaqa_20250101_020000.sql.gz", 45);
    let recent = stack.old_backup("liyaqa_20261120_020000.sql.gz", 10);
    let output = stack.run("playbooks/liyaqa/clean-backups.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!old.exists() && recent.exists());
    assert!(std::path::Path::new(&dump).exists());

    // The other jobs, each also with a failure injected at its last step.
    for (job, last) in [
        ("vacuum", "stats"),
        ("docker-cleanup", "after"),
        ("clean-backups", "prune"),
    ] {
        let playbook = format!("playbooks/liyaqa/{job}.yml");
        let output = stack.run(&playbook, &["--fail-at", last]);
        assert_eq!(code(&output), 1, "{job}: {}", stderr(&output));
        let output = stack.run(&playbook, &[]);
        assert_eq!(code(&output), 0, "{job}: {}", stderr(&output));
    }
    assert!(recent.exists(), "the cleanup keeps what is recent");
    stack.settle();
}

#[test]
fn an_exhausted_pool_is_freed_and_only_the_long_query_is_terminated() {
    let (_turn, stack) = stack();
    stack.settle();
    // A query that holds its connection (a leak in the backend, as the seed fears).
    let postgres = format!("{PROJECT}-postgres");
    let held = "SELECT pg_sleep(120) /* the stuck query */";
    docker(&[
        "exec", "-d", &postgres, "psql", "-U", "liyaqa", "-d", "liyaqa", "-c", held,
    ]);
    let count = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%'";
    for _ in 0..40 {
        if stack.sql(count) == "1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(stack.sql(count), "1", "the stuck query runs");
    std::thread::sleep(std::time::Duration::from_secs(2));

    let output = stack.run(
        "playbooks/liyaqa/pool-exhausted.yml",
        &["--input", "long_query_age=1s"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stack.sql(count), "0", "the stuck query was terminated");
    let journal = stack.sandbox.last_journal();
    // The diagnosis journaled the query, and the resolution which pid it ended.
    let long = outputs_of(&journal, "long-queries")["rows"].clone();
    let stuck = long
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"].as_str().unwrap_or("").contains("pg_sleep(120)"))
        .unwrap_or_else(|| panic!("{long}"));
    let terminated = outputs_of(&journal, "terminate")["pids"].clone();
    assert_eq!(terminated, serde_json::json!([stuck["pid"]]), "{long}");
    let before = stack.settle();

    stack.fail_at_leaves("playbooks/liyaqa/pool-exhausted.yml", "verify", &before);
}

#[test]
fn a_full_disk_loses_only_old_backups_and_the_backend_comes_back() {
    let (_turn, stack) = stack();
    stack.settle();
    let old = stack.old_backup("liyaqa_20240101_020000.sql.gz", 400);
    let recent = stack.old_backup("liyaqa_20261125_020000.sql.gz", 5);
    let output = stack.run("playbooks/liyaqa/disk-full.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(!old.exists() && recent.exists());
    let journal = stack.sandbox.last_journal();
    let skipped: Vec<&str> = events(&journal, "step_skipped")
        .iter()
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert!(
        skipped.contains(&"journal") && skipped.contains(&"images"),
        "{skipped:?}"
    );
    outputs_of(&journal, "dangling-images");
    let before = stack.settle();

    let old = stack.old_backup("liyaqa_20240102_020000.sql.gz", 399);
    let output = stack.run("playbooks/liyaqa/disk-full.yml", &["--fail-at", "verify"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        !old.exists(),
        "a deletion cannot be undone; it is journaled"
    );
    assert_eq!(stack.settle(), before);
}

#[test]
fn a_restore_brings_back_the_backup_and_a_late_failure_the_data_it_found() {
    let (_turn, stack) = stack();
    stack.settle();
    stack.backup();
    let backed_up = stack.digest("25462");
    stack.sql("INSERT INTO members VALUES (100, 'riyadh-fit', 'After the backup') RETURNING id");
    let moved_on = stack.digest("25462");
    assert_ne!(moved_on, backed_up);
    let before = stack.settle();

    let output = stack.run("playbooks/liyaqa/restore.yml", &["--fail-at", "verify"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(stack.digest("25462"), moved_on, "the data it found is back");
    assert_eq!(stack.settle(), before);

    let output = stack.run("playbooks/liyaqa/restore.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stack.digest("25462"), backed_up);
    assert_eq!(stack.settle(), before);
}

#[test]
fn disaster_recovery_rebuilds_the_stack_on_a_new_server_from_the_s3_copy() {
    let (_turn, stack) = stack();
    stack.settle();
    stack.backup();
    let backed_up = stack.digest("25462");
    let dr = format!("label=com.docker.compose.project={DR_PROJECT}");
    let dr_run = |args: &[&str]| {
        stack.run_on(
            "dr.yml",
            DR_PROJECT,
            "playbooks/liyaqa/disaster-recovery.yml",
            args,
        )
    };

    // A failure at the last step leaves the new server as bare as it was.
    let output = dr_run(&["--fail-at", "frontend"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(
        stack.sandbox.last_journal().last().unwrap()["status"],
        "rolled_back"
    );
    assert_eq!(container_health(&[&dr]), Vec::<String>::new());

    let output = dr_run(&[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let containers = container_health(&[&dr]);
    assert_eq!(containers.len(), 6, "{containers:?}");
    assert!(
        containers.iter().all(|c| c.ends_with("running ok")),
        "{containers:?}"
    );
    assert_eq!(
        stack.digest("25463"),
        backed_up,
        "the new server has the backup's data"
    );
    assert_eq!(stack.sandbox.read("dr/secrets/jwt_secret"), OLD_SECRET);
    let journal = stack.sandbox.last_journal();
    let measured = events(&journal, "objectives_measured")[0];
    for objective in ["rto", "rpo"] {
        assert_eq!(measured[objective]["met"], true, "{measured}");
    }
    assert_eq!(measured["rto"]["objective"], 4.0 * 3600.0);

    let output = stack.run_on("dr.yml", DR_PROJECT, "playbooks/liyaqa/demo/down.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(container_health(&[&dr]), Vec::<String>::new());
}
