//! Running the built binary from the repository root, as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn runbook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .current_dir(root())
        // Secrets are never read by validate/plan; a value here must not leak into output.
        .env("DB_PASSWORD", "hunter2-should-never-print")
        .output()
        .expect("the runbook binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// Fixture files under `tests/fixtures/<dir>`, as paths relative to the root, sorted.
pub fn fixtures(dir: &str) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures").join(dir))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            p.strip_prefix(root())
                .expect("under root")
                .display()
                .to_string()
        })
        .collect()
}

/// Every shipped playbook, the demo stacks' own included, sorted.
pub fn playbooks() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "playbooks",
        "playbooks/demo",
        "playbooks/car-rental",
        "playbooks/car-rental/demo",
        "playbooks/audio-tai-loc",
        "playbooks/audio-tai-loc/demo",
        "playbooks/liyaqa",
        "playbooks/liyaqa/demo",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).expect("playbooks dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .to_string();
            if name.ends_with(".yml") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    files
}

/// Whether this pass runs the store-independent tests on the PostgreSQL store
/// (`RUNBOOK_TEST_STORE=postgres`, as `.ci/run` does after the file-store pass).
pub fn on_shared_store() -> bool {
    std::env::var("RUNBOOK_TEST_STORE").as_deref() == Ok("postgres")
}

/// A scratch directory per test, holding its playbooks, files and run journals (and, on the
/// PostgreSQL pass, a store database of its own).
pub struct Sandbox {
    dir: tempfile::TempDir,
    store: Option<crate::database::Database>,
}

impl Sandbox {
    pub fn new() -> Self {
        let store = on_shared_store().then(|| crate::database::Database::store("sandbox"));
        Self {
            dir: tempfile::Builder::new()
                .prefix("runbook-test-")
                .tempdir()
                .expect("temp dir"),
            store,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file; `{dir}` in the text becomes the sandbox path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("fixture directory");
        }
        std::fs::write(
            &path,
            text.replace("{dir}", &self.path().display().to_string()),
        )
        .expect("write fixture");
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path().join(name).exists()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
        command
            .args(args)
            .current_dir(self.path())
            .env("RUNBOOK_STATE_DIR", self.path().join("state"))
            // Lock keys are host-wide by default; tests running at once must not share them.
            .env("RUNBOOK_LOCK_DIR", self.path().join("locks"))
            .env("RUNBOOK_USER", "tester")
            .stdin(std::process::Stdio::null());
        if let Some(store) = &self.store {
            command.env("RUNBOOK_STORE", store.store_url());
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("the runbook binary runs")
    }

    /// Starts runbook in the background, output captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the runbook binary starts")
    }

    /// Waits (up to a minute, a safety net not a measurement) until `name` exists.
    pub fn wait_for(&self, name: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.exists(name) {
            assert!(
                std::time::Instant::now() < deadline,
                "{name} never appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits until some run's journal holds an event of this kind.
    pub fn wait_for_event(&self, kind: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.journals().iter().flatten().any(|e| e["event"] == kind) {
            assert!(std::time::Instant::now() < deadline, "no `{kind}` event");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Every run's directory, oldest first (run ids are time-ordered); none before a run.
    pub fn run_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.path().join("state/runs"))
            .map(|entries| entries.map(|e| e.expect("entry").path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    /// The newest run's directory.
    pub fn last_run_dir(&self) -> PathBuf {
        self.run_dirs().pop().expect("a run")
    }

    /// Every run's journal, oldest run first, as JSON events (from the store's rows on the
    /// PostgreSQL pass).
    pub fn journals(&self) -> Vec<Vec<serde_json::Value>> {
        if let Some(store) = &self.store {
            let text = store.psql(
                "SELECT string_agg(line, ' ' ORDER BY seq) FROM runbook_events GROUP BY run_id ORDER BY run_id",
            );
            return text
                .lines()
                .map(|run| {
                    serde_json::Deserializer::from_str(run)
                        .into_iter::<serde_json::Value>()
                        .filter_map(Result::ok)
                        .collect()
                })
                .collect();
        }
        self.run_dirs()
            .iter()
            .map(|dir| {
                std::fs::read_to_string(dir.join("journal.jsonl"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|line| serde_json::from_str(line).ok())
                    .collect()
            })
            .collect()
    }

    /// Everything the runs left in the store, as one text: every file of every run directory,
    /// or every row of the store's tables (journals, snapshots, plans, reports).
    pub fn evidence(&self) -> String {
        if let Some(store) = &self.store {
            return store.psql(
                "SELECT string_agg(t, E'\\n') FROM (SELECT line AS t FROM runbook_events UNION ALL SELECT playbook || plan || inputs FROM runbook_runs UNION ALL SELECT body FROM runbook_reports UNION ALL SELECT decision FROM runbook_approvals) x",
            );
        }
        self.run_dirs()
            .iter()
            .flat_map(|run| std::fs::read_dir(run).unwrap().flatten())
            .filter(|f| f.path().is_file())
            .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
            .collect()
    }

    /// The newest run's report as written when it ended (`md`, `json`, `html`, `junit.xml`).
    pub fn report(&self, extension: &str) -> String {
        if let Some(store) = &self.store {
            return store.psql(&format!(
                "SELECT body FROM runbook_reports WHERE format = '{extension}' AND run_id = (SELECT max(id) FROM runbook_runs)"
            ));
        }
        std::fs::read_to_string(self.last_run_dir().join(format!("report.{extension}")))
            .unwrap_or_default()
    }

    pub fn last_journal(&self) -> Vec<serde_json::Value> {
        self.journals().pop().expect("a run was journaled")
    }

    /// Waits (up to a minute, a safety net) until no process mentions this sandbox.
    pub fn wait_for_no_leftovers(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.leftover_processes().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "still running: {:?}",
                self.leftover_processes()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Processes still alive whose command line mentions this sandbox.
    pub fn leftover_processes(&self) -> Vec<String> {
        let needle = self.path().display().to_string();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let zombie = std::fs::read_to_string(entry.path().join("stat"))
                .is_ok_and(|stat| stat.contains(") Z "));
            if cmdline.contains(&needle) && !zombie {
                found.push(cmdline);
            }
        }
        found
    }
}

/// `event` names of a journal, in order.
pub fn kinds(journal: &[serde_json::Value]) -> Vec<String> {
    journal
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Events of one kind.
/// A stack shared by one module's tests: brought up by the first test that needs it, then
/// used in turns, since each test judges the whole stack's state.
pub struct Shared<T> {
    value: std::sync::OnceLock<T>,
    turn: std::sync::Mutex<()>,
}

impl<T> Shared<T> {
    pub const fn new() -> Self {
        Self {
            value: std::sync::OnceLock::new(),
            turn: std::sync::Mutex::new(()),
        }
    }

    /// This test's turn on the stack (a test that failed during its turn does not end the
    /// others'), and the stack, brought `up` if no test has yet.
    pub fn turn(&'static self, up: fn() -> T) -> (std::sync::MutexGuard<'static, ()>, &'static T) {
        let turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        (turn, self.value.get_or_init(up))
    }
}

/// The outputs of the step that succeeded with this id.
pub fn outputs_of(journal: &[serde_json::Value], step: &str) -> serde_json::Value {
    events(journal, "step_succeeded")
        .into_iter()
        .find(|e| e["step"] == step)
        .unwrap_or_else(|| panic!("`{step}` did not succeed"))["outputs"]
        .clone()
}

pub fn events<'j>(journal: &'j [serde_json::Value], kind: &str) -> Vec<&'j serde_json::Value> {
    journal.iter().filter(|e| e["event"] == kind).collect()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// A small HTTP server for `http.*` and `notify.*` steps: answers by path and records what
/// it was sent.
pub struct StandIn {
    pub port: u16,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
}

impl StandIn {
    pub fn start() -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut parts = request_line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                seen.lock().expect("lock").push((
                    method.clone(),
                    path.clone(),
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let (status, body) = match path.split('?').next().unwrap_or("") {
                    // Prometheus and Alertmanager, as much of their APIs as runbook reads.
                    "/api/v1/query" if path.contains("down") => (
                        "200 OK",
                        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1,"0"]}]}}"#,
                    ),
                    "/api/v1/query" => (
                        "200 OK",
                        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1,"1"]},{"metric":{"job":"web"},"value":[1,"1"]}]}}"#,
                    ),
                    "/api/v1/rules" => (
                        "200 OK",
                        r#"{"status":"success","data":{"groups":[{"name":"goodgo","rules":[{"type":"alerting","name":"PostgresDown","health":"ok"},{"type":"alerting","name":"ApiDown","health":"ok"},{"type":"recording","name":"job:up:sum","health":"ok"}]}]}}"#,
                    ),
                    "/api/v1/alerts" => (
                        "200 OK",
                        r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"Watchdog"},"state":"firing"},{"labels":{"alertname":"ApiDown"},"state":"pending"}]}}"#,
                    ),
                    "/api/v2/silences" if method == "POST" => ("200 OK", r#"{"silenceID":"s-1"}"#),
                    "/api/v2/silence/s-1" if method == "DELETE" => ("200 OK", ""),
                    "/health" => (
                        "200 OK",
                        r#"{"status":"ok","info":{"database":{"status":"up"}}}"#,
                    ),
                    "/degraded" => (
                        "200 OK",
                        r#"{"status":"error","info":{"database":{"status":"down"}}}"#,
                    ),
                    "/hook" => ("200 OK", "ok"),
                    // A payment provider's API: a GET on an endpoint that takes POSTs.
                    p if p.starts_with("/gateway/") => ("405 Method Not Allowed", "{}"),
                    _ => ("503 Service Unavailable", "down"),
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Containers labelled as one compose project on the real Docker engine, made from the local
/// test images (`scripts/test-images.sh`), removed when dropped, also when a test fails.
pub struct Stack {
    pub project: String,
}

impl Stack {
    pub fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let project = format!("rbt-{name}-{}-{n}", std::process::id());
        Self { project }
    }

    /// Starts replica `number` of `service` with the fixture service; `healthcheck` adds the
    /// compose-style container healthcheck (`/fixture-service probe`).
    pub fn add(&self, service: &str, number: u32, image: &str, healthcheck: bool) -> String {
        let name = format!("{}-{service}-{number}", self.project);
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--init",
            "--name",
            &name,
            "--label",
            &format!("com.docker.compose.project={}", self.project),
            "--label",
            &format!("com.docker.compose.service={service}"),
            "--label",
            &format!("com.docker.compose.container-number={number}"),
            "--label",
            "runbook.test=true",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        if healthcheck {
            args.extend(
                [
                    "--health-cmd",
                    "/fixture-service probe",
                    "--health-interval",
                    "300ms",
                    "--health-retries",
                    "2",
                ]
                .map(String::from),
            );
        }
        args.push(image.to_string());
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
        name
    }

    /// `state health started-at id image` of a container, or "" if it does not exist.
    pub fn state(&self, name: &str) -> String {
        let output = Command::new("docker")
            .args(["inspect", name])
            .output()
            .expect("docker inspect runs");
        let parsed: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
        let Some(c) = parsed.get(0) else {
            return String::new();
        };
        format!(
            "{} {} {} {} {}",
            c["State"]["Status"].as_str().unwrap_or("?"),
            c["State"]["Health"]["Status"].as_str().unwrap_or("none"),
            c["State"]["StartedAt"].as_str().unwrap_or("?"),
            c["Id"].as_str().unwrap_or("?"),
            c["Config"]["Image"].as_str().unwrap_or("?"),
        )
    }

    /// Waits (a safety net, not a measurement) until every container of the project is healthy.
    pub fn wait_healthy(&self, names: &[&str]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !names
            .iter()
            .all(|n| self.state(n).starts_with("running healthy"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "never healthy: {:?}",
                names.iter().map(|n| self.state(n)).collect::<Vec<_>>()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // The project's containers, and the previous containers `compose.up` kept for it
        // (their compose labels are moved aside, so they carry a label of their own).
        let listed = |kind: &str, label: String| -> Vec<String> {
            Command::new("docker")
                .args([kind, "ls", "-aq", "--filter", &format!("label={label}")])
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .map(String::from)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let mut ids = listed(
            "container",
            format!("com.docker.compose.project={}", self.project),
        );
        ids.extend(listed(
            "container",
            format!("runbook.previous-project={}", self.project),
        ));
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &self.project])
            .output();
        let _ = Command::new("docker")
            .args(["network", "rm", &format!("{}_default", self.project)])
            .output();
    }
}

/// Runs the docker CLI (test setup only; runbook itself talks to the engine API).
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A loopback port nobody listens on now (the OS picks it), for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `name state ok|unhealthy` of each container `docker ps -a` lists with these filters,
/// sorted: running-and-healthy (or running without a healthcheck) reads `running ok`.
pub fn container_health(filters: &[&str]) -> Vec<String> {
    let mut args = vec!["ps", "-a"];
    for filter in filters {
        args.extend(["--filter", filter]);
    }
    args.extend(["--format", "{{.Names}} {{.State}} {{.Status}}"]);
    let mut lines: Vec<String> = docker(&args)
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap_or_default();
            let state = words.next().unwrap_or_default();
            let ok = !l.contains('(') || l.contains("(healthy)");
            format!("{name} {state} {}", if ok { "ok" } else { "unhealthy" })
        })
        .collect();
    lines.sort();
    lines
}

/// One value from a query with psql on a loopback port (test checks only).
pub fn psql_value(port: &str, user: &str, database: &str, password: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            user,
            "-d",
            database,
            "-tAc",
            sql,
        ])
        .env("PGPASSWORD", password)
        .output()
        .expect("psql runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The body a URL answers with ("" when nothing answers within 5 seconds).
pub fn http_body(url: &str) -> String {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
