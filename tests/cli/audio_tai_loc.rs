//! The Audio Tài Lộc playbooks end to end on their demo (PostgreSQL and Redis as a Compose
//! project, the api's blue and green environments as Compose projects of their own, NGINX on the
//! host under the sandbox, serving HTTP and HTTPS), brought up once by
//! `playbooks/audio-tai-loc/demo/up.yml`. Each mutating playbook also runs with a failure
//! injected late; afterwards every container is running and healthy, the data is unchanged and
//! NGINX serves the release it served before. The tests take turns.

use std::process::Output;
use std::sync::MutexGuard;

use crate::support::*;

const PROJECT: &str = "rbt-audio";
const PORTS: &str =
    "PG_PORT=25452\nREDIS_PORT=26389\nGREEN_PORT=23201\nBLUE_PORT=23202\nPROM_PORT=29452\n";
const SECRETS: [(&str, &str); 2] = [
    ("DB_PASSWORD", "audio-db-password-91"),
    ("REDIS_PASSWORD", "audio-redis-password-92"),
];

const ENVIRONMENT: &str = r#"
description: The test suite's Audio Tài Lộc stack
inputs:
  project: rbt-audio
  production: false
  compose_dir: demo/audio-tai-loc
  compose_env_file: "{dir}/ports.env"
  build_context: demo/audio-tai-loc/app
  image_repository: rbt-audio-backend
  nginx_prefix: /tmp/rbt-audio-nginx
  http_port: 28090
  https_port: 28443
  green_port: 23201
  blue_port: 23202
  health_path: /health
  site_url: http://127.0.0.1:28090
  site_host: 127.0.0.1
  site_port: 28443
  site_name: api.audiotailoc.com
  certificate: /tmp/rbt-audio-nginx/tls/cert.pem
  ca_file: /tmp/rbt-audio-nginx/tls/ca.pem
  db_host: 127.0.0.1
  db_port: 25452
  db_user: audio
  db_name: audio_tai_loc_prod
  redis_url: redis://127.0.0.1:26389
  backup_dir: "{dir}/backups"
  migrate_command: ["true"]
  prometheus_url: http://127.0.0.1:29452
  prometheus_port: 29452
  monitoring_dir: "{dir}/monitoring"
"#;

/// NGINX runs as a daemon and outlives the test process that started it: it lives under a
/// fixed prefix, so the next run stops the one a previous run left (its ports would be taken).
const NGINX_PREFIX: &str = "/tmp/rbt-audio-nginx";

const DIGEST_SQL: &str = "SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) || '/' || (SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o) FROM products p";

struct Demo {
    sandbox: Sandbox,
}

static DEMO: Shared<Demo> = Shared::new();

fn demo() -> (MutexGuard<'static, ()>, &'static Demo) {
    DEMO.turn(Demo::up)
}

impl Demo {
    fn up() -> Self {
        // The master a previous run left: stopped, and gone (it still holds the ports, and
        // deletes its pid file on the way out) before this run starts its own.
        let old_master = std::fs::read_to_string(format!("{NGINX_PREFIX}/nginx.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok());
        if let Some(pid) = old_master {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(NGINX_PREFIX);
        let sandbox = Sandbox::new();
        sandbox.write("ports.env", PORTS);
        sandbox.write("audio.yml", ENVIRONMENT);
        let demo = Self { sandbox };
        let output = demo.run("playbooks/audio-tai-loc/demo/up.yml", &[]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        demo
    }

    /// Runs from the repository with the test stack's environment file.
    fn run(&self, playbook: &str, args: &[&str]) -> Output {
        let environment = self.sandbox.path().join("audio.yml");
        let mut all = vec!["run", playbook, "--env", environment.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut command = self.sandbox.command(&all);
        command.current_dir(root());
        for (name, value) in SECRETS {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        let said = format!("{}{}", stdout(&output), stderr(&output));
        let written = self.sandbox.evidence();
        for (name, value) in SECRETS {
            assert!(
                !said.contains(value) && !written.contains(value),
                "{name} was shown"
            );
        }
        output
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        self.sandbox.last_journal()
    }

    fn digest(&self) -> String {
        psql_value(
            "25452",
            "audio",
            "audio_tai_loc_prod",
            SECRETS[0].1,
            DIGEST_SQL,
        )
    }

    /// The containers (each running and healthy or not), the data's digest, and the release
    /// NGINX serves. Compose's own containers: not the previous ones compose.up keeps.
    fn state(&self) -> (Vec<String>, String, String) {
        let name = format!("name={PROJECT}");
        let containers = container_health(&[&name, "label=com.docker.compose.project"]);
        (containers, self.digest(), get("/version"))
    }

    fn settle(&self) {
        for _ in 0..120 {
            let (containers, _, served) = self.state();
            if !containers.is_empty()
                && containers.iter().all(|c| c.ends_with("running ok"))
                && !served.is_empty()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        panic!("the demo did not settle: {:?}", self.state());
    }
}

/// What NGINX serves on `path`.
fn get(path: &str) -> String {
    http_body(&format!("http://127.0.0.1:28090{path}"))
}

fn failure_at_leaves_the_stack_as_it_was(demo: &Demo, playbook: &str, step: &str, args: &[&str]) {
    demo.settle();
    let before = demo.state();
    let mut all = args.to_vec();
    all.extend(["--fail-at", step]);
    let output = demo.run(playbook, &all);
    assert_eq!(code(&output), 1, "{playbook}: {}", stderr(&output));
    assert_eq!(
        demo.journal().last().unwrap()["status"],
        "rolled_back",
        "{}",
        stderr(&output)
    );
    demo.settle();
    assert_eq!(demo.state(), before, "{playbook} with a failure at {step}");
}

#[test]
fn blue_green_deploy_switches_nginx_and_both_rollbacks_bring_green_back() {
    let (_turn, demo) = demo();
    demo.settle();
    assert_eq!(get("/version"), "v1.0.0", "green serves the first release");
    let deploy = "playbooks/audio-tai-loc/blue-green-deploy.yml";
    let to_blue = [
        "--input",
        "version=v1.0.1",
        "--input",
        "new_url=http://127.0.0.1:23202",
    ];
    failure_at_leaves_the_stack_as_it_was(demo, deploy, "retire", &to_blue);
    assert_eq!(get("/version"), "v1.0.0", "NGINX serves green again");

    let output = demo.run(deploy, &to_blue);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(get("/version"), "v1.0.1");
    let journal = demo.journal();
    let reload = events(&journal, "step_succeeded")
        .into_iter()
        .find(|e| e["step"] == "reload")
        .unwrap()["outputs"]
        .clone();
    assert_ne!(reload["old_workers"], reload["new_workers"], "{reload}");
    // The demo's Prometheus loaded the seed's rules and scrapes both colours.
    let alerts = outputs_of(&journal, "alerts");
    assert_eq!(alerts["status"], "succeeded", "{alerts}");
    let targets = http_body("http://127.0.0.1:29452/api/v1/targets?state=active");
    assert!(
        targets.contains("127.0.0.1:23201") && targets.contains("127.0.0.1:23202"),
        "{targets}"
    );

    // Immediate rollback: green back up (it was retired), NGINX on it, blue stopped.
    let rollback = "playbooks/audio-tai-loc/immediate-rollback.yml";
    let to_green = ["--input", "to_url=http://127.0.0.1:23201"];
    failure_at_leaves_the_stack_as_it_was(demo, rollback, "stop-bad", &to_green);
    assert_eq!(get("/version"), "v1.0.1");
    let output = demo.run(rollback, &to_green);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(get("/version"), "v1.0.0");
    let measured = events(&demo.journal(), "objectives_measured")[0].clone();
    assert_eq!(measured["rto"]["met"], true, "{measured}");
}

#[test]
fn a_full_system_rollback_restores_release_data_and_cache() {
    let (_turn, demo) = demo();
    demo.settle();
    let full = "playbooks/audio-tai-loc/full-system-rollback.yml";
    let args = [
        "--input",
        "version=v1.0.0",
        "--input",
        "restore_database=true",
    ];
    // A failure before the flush: nothing changed for good.
    failure_at_leaves_the_stack_as_it_was(demo, full, "cache", &args);
    let output = demo.run(full, &args);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let plan = stdout(&demo.run_plan(full, &args));
    assert!(
        plan.contains("cannot be undone: the keys flushed are gone"),
        "{plan}"
    );
    demo.settle();
}

impl Demo {
    fn run_plan(&self, playbook: &str, args: &[&str]) -> Output {
        let environment = self.sandbox.path().join("audio.yml");
        let mut all = vec!["plan", playbook, "--env", environment.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut command = self.sandbox.command(&all);
        command.current_dir(root());
        command.output().unwrap()
    }
}

#[test]
fn maintenance_runs_vacuum_reindex_redis_certificate_and_backup() {
    let (_turn, demo) = demo();
    demo.settle();
    let before = demo.digest();
    for playbook in [
        "vacuum",
        "reindex",
        "redis-maintenance",
        "cert-check",
        "backup",
    ] {
        let output = demo.run(&format!("playbooks/audio-tai-loc/{playbook}.yml"), &[]);
        assert_eq!(code(&output), 0, "{playbook}: {}", stderr(&output));
        let journal = demo.journal();
        match playbook {
            "cert-check" => {
                let served = events(&journal, "step_succeeded")
                    .into_iter()
                    .find(|e| e["step"] == "served")
                    .unwrap()["outputs"]
                    .clone();
                assert!(
                    matches!(served["days_left"].as_i64(), Some(58..=60)),
                    "{served}"
                );
                assert_eq!(served["chain_verified"], true);
            }
            "redis-maintenance" => {
                let kept = demo.sandbox.path().join("backups/redis-config-backup.txt");
                let mode = std::os::unix::fs::PermissionsExt::mode(
                    &std::fs::metadata(&kept).unwrap().permissions(),
                );
                assert_eq!(mode & 0o777, 0o600);
            }
            _ => {}
        }
    }
    assert_eq!(
        demo.digest(),
        before,
        "maintenance leaves the data as it is"
    );
    // Renewal due (90 days wanted) with a renew command that fails: the check says so.
    let due = demo.run(
        "playbooks/audio-tai-loc/cert-check.yml",
        &[
            "--input",
            "renew_within_days=90",
            "--input",
            "renew_command=false",
        ],
    );
    assert_eq!(code(&due), 1, "{}", stderr(&due));
    let failed = events(&demo.journal(), "step_failed")[0].clone();
    assert_eq!(failed["step"], "renew", "{failed}");
}
