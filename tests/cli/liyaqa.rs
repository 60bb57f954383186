//! The Liyaqa playbooks shipped so far, end to end on their demo stack (a Compose project:
//! PostgreSQL, backend, frontend), brought up once by `playbooks/liyaqa/demo/up.yml`: the
//! secret rotation (the new secret never shown anywhere, the old one back on failure) and the
//! service-down procedure. The tests take turns.

use std::process::Output;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::support::*;

const PROJECT: &str = "rbt-liyaqa";
const PORTS: &str = "PG_PORT=25462\nBACKEND_PORT=28081\nFRONTEND_PORT=23300\n";
const DB_PASSWORD: &str = "lq-db-password-71";
const OLD_SECRET: &str = "the-old-jwt-secret-of-the-tests-72";

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
  db_port: 25462
"#;

struct Stack {
    sandbox: Sandbox,
}

static STACK: OnceLock<Stack> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

fn stack() -> (MutexGuard<'static, ()>, &'static Stack) {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    (turn, STACK.get_or_init(Stack::up))
}

impl Stack {
    fn up() -> Self {
        let sandbox = Sandbox::new();
        sandbox.write("ports.env", PORTS);
        let dir = sandbox.path().display().to_string();
        sandbox.write("liyaqa.yml", &ENVIRONMENT.replace("{dir}", &dir));
        let stack = Self { sandbox };
        let output = stack.run("playbooks/liyaqa/demo/up.yml", &[]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        stack
    }

    /// Runs from the repository with the test stack's environment file; the container names
    /// of the compose file (`liyaqa-backend`, as the seed's) get the tests' prefix.
    fn run(&self, playbook: &str, args: &[&str]) -> Output {
        let environment = self.sandbox.path().join("liyaqa.yml");
        let mut all = vec!["run", playbook, "--env", environment.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut command = self.sandbox.command(&all);
        command
            .current_dir(root())
            .env("PREFIX", PROJECT)
            .env("DB_PASSWORD", DB_PASSWORD)
            .env("JWT_SECRET", OLD_SECRET);
        command.output().unwrap()
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
            if containers.len() == 3 && containers.iter().all(|c| c.ends_with("running ok")) {
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

    let output = stack.run(
        "playbooks/liyaqa/service-down.yml",
        &["--fail-at", "verify"],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(
        stack.settle(),
        before,
        "a restart stays done; the stack is as it was"
    );
}
