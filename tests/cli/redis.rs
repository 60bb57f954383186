//! The redis family against a real Redis server (Debian's redis-server), one per test on a
//! free loopback port with a password, stopped when the test ends.

use crate::support::{Sandbox, code, events, free_port, stderr, stdout};
use std::process::{Child, Command, Stdio};

const PASSWORD: &str = "redis-pw-7f3a9c";

struct Redis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                PASSWORD,
                "--dir",
                dir.path().to_str().unwrap(),
                "--maxmemory",
                "64mb",
                "--maxmemory-policy",
                "allkeys-lru",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/test-services.sh installs it)");
        let redis = Self {
            port,
            child,
            _dir: dir,
        };
        for _ in 0..100 {
            if redis.cli(&["PING"]) == "PONG" {
                return redis;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server on {port} never answered");
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "--no-auth-warning",
                "-a",
                PASSWORD,
            ])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sandbox(redis: &Redis, playbook: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("p.yml", &playbook.replace("URL", &redis.url()));
    sandbox
}

fn run(sandbox: &Sandbox, args: &[&str], password: &str) -> std::process::Output {
    sandbox
        .command(args)
        .env("REDIS_PASSWORD", password)
        .output()
        .unwrap()
}

const HEAD: &str = r#"
version: 1
name: redis
secrets:
  redis_password: { env: REDIS_PASSWORD }
"#;

#[test]
fn info_reads_memory_policy_and_clients_and_fails_on_a_limit() {
    let redis = Redis::start();
    let sandbox = sandbox(
        &redis,
        &format!(
            "{HEAD}steps:
  - id: ping
    redis.ping: {{ url: URL, password: \"{{{{ secrets.redis_password }}}}\" }}
  - id: info
    needs: [ping]
    redis.info:
      url: URL
      password: \"{{{{ secrets.redis_password }}}}\"
      expect: {{ maxmemory_policy: allkeys-lru, max_memory_percent: 90, aof_enabled: false, role: master }}
  - id: crowded
    needs: [info]
    redis.info:
      url: URL
      password: \"{{{{ secrets.redis_password }}}}\"
      expect: {{ max_clients: 0 }}
"
        ),
    );
    let output = run(&sandbox, &["run", "p.yml"], PASSWORD);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let info = &events(&journal, "step_succeeded")[1]["outputs"];
    assert_eq!(info["maxmemory"], 64 * 1024 * 1024, "{info}");
    assert_eq!(info["maxmemory_policy"], "allkeys-lru");
    assert!(info["connected_clients"].as_i64().unwrap() >= 1);
    assert!(info["version"].as_str().unwrap().starts_with('7'));
    let failed = events(&journal, "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        failed,
        format!(
            "Redis 127.0.0.1:{} db 0: 1 clients connected (limit 0)",
            redis.port
        )
    );
}

#[test]
fn a_wrong_password_names_the_server_and_never_the_password() {
    let redis = Redis::start();
    let sandbox = sandbox(
        &redis,
        &format!(
            "{HEAD}steps:
  - id: ping
    redis.ping: {{ url: URL, password: \"{{{{ secrets.redis_password }}}}\" }}
"
        ),
    );
    let wrong = "not-the-redis-password-91";
    let output = run(&sandbox, &["run", "p.yml"], wrong);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        said.contains(&format!(
            "cannot connect to Redis 127.0.0.1:{} db 0",
            redis.port
        )) && said.contains("the password is not the server's"),
        "{said}"
    );
    let journal = std::fs::read_to_string(sandbox.last_run_dir().join("journal.jsonl")).unwrap();
    assert!(!said.contains(wrong) && !journal.contains(wrong));
}

#[test]
fn flush_previews_the_keys_it_would_delete_and_says_it_cannot_be_undone() {
    let redis = Redis::start();
    let sandbox = sandbox(
        &redis,
        &format!(
            "{HEAD}steps:
  - id: set
    redis.command: {{ url: URL, password: \"{{{{ secrets.redis_password }}}}\", command: [SET, greeting, hello], expect: OK }}
  - id: get
    needs: [set]
    redis.command: {{ url: URL, password: \"{{{{ secrets.redis_password }}}}\", command: [GET, greeting], read_only: true, expect: hello }}
  - id: flush
    needs: [get]
    redis.flush: {{ url: URL, password: \"{{{{ secrets.redis_password }}}}\" }}
"
        ),
    );
    for key in ["a", "b"] {
        redis.cli(&["SET", key, "1"]);
    }
    let plan = stdout(&sandbox.run(&["plan", "p.yml"]));
    assert!(
        plan.contains("cannot be undone: the keys flushed are gone"),
        "{plan}"
    );
    sandbox.write(
        "flush.yml",
        &format!(
            "{HEAD}steps:
  - id: flush
    redis.flush: {{ url: URL, password: \"{{{{ secrets.redis_password }}}}\" }}
"
        )
        .replace("URL", &redis.url()),
    );
    let check = run(&sandbox, &["run", "flush.yml", "--dry-run"], PASSWORD);
    assert!(
        stderr(&check).contains(&format!(
            "would delete 2 keys of Redis 127.0.0.1:{} db 0 (cannot be undone)",
            redis.port
        )),
        "{}",
        stderr(&check)
    );
    assert_eq!(redis.cli(&["DBSIZE"]), "2", "the check changed nothing");
    let output = run(&sandbox, &["run", "p.yml"], PASSWORD);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    assert_eq!(
        events(&journal, "step_succeeded")[1]["outputs"]["reply"],
        "hello"
    );
    assert_eq!(
        events(&journal, "step_succeeded")[2]["outputs"]["keys_deleted"],
        3
    );
    assert_eq!(redis.cli(&["DBSIZE"]), "0");
}
