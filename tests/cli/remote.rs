//! Steps on remote hosts over SSH (`host:` on a step, `hosts:` in the environment file), against
//! real sshd (Debian's openssh-server, imaged as `runbook-test-sshd:2` by
//! scripts/test-services.sh): each host a container with its own address and host key, whose
//! key the test writes into a known_hosts file of its own. What is shown: a command and its
//! rollback run on the host, one login serves every step (multiplexing), nothing secret on the
//! remote command line or in sshd's log, an unknown host key refused with its fingerprint, a
//! timed-out command's whole process group gone from the host, an undeclared host refused by
//! the compiler.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;

static NEXT: AtomicUsize = AtomicUsize::new(0);
const SECRET: &str = "remote-secret-token-8841";

/// An sshd host of its own: a container, its keys, its address.
pub(crate) struct SshHost {
    pub(crate) name: String,
    keys: tempfile::TempDir,
    address: String,
}

impl SshHost {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// With more `docker run` arguments (a mounted engine socket, a network).
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        let name = format!(
            "rbt-ssh-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let keys = tempfile::tempdir().expect("key directory");
        for key in ["host_ed25519", "id"] {
            let made = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(keys.path().join(key))
                .status()
                .expect("ssh-keygen runs");
            assert!(made.success());
        }
        std::fs::copy(
            keys.path().join("id.pub"),
            keys.path().join("authorized_keys"),
        )
        .unwrap();
        let mount = format!("{}:/keys:ro", keys.path().display());
        let mut args = vec!["run", "-d", "--name", &name, "-v", &mount];
        args.extend_from_slice(extra);
        args.push("runbook-test-sshd:2");
        docker(&args);
        let address = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &name,
        ]);
        let host = Self {
            name,
            keys,
            address,
        };
        host.trust();
        // sshd listens a moment after the container starts (a safety net, not a measurement).
        for _ in 0..100 {
            if host.log().contains("Server listening") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        host
    }

    /// known_hosts with this host's key, as an operator who checked it would have.
    fn trust(&self) {
        let public = std::fs::read_to_string(self.keys.path().join("host_ed25519.pub")).unwrap();
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        std::fs::write(
            self.known_hosts(),
            format!("{} {}\n", self.address, key.join(" ")),
        )
        .unwrap();
    }

    fn known_hosts(&self) -> PathBuf {
        self.keys.path().join("known_hosts")
    }

    /// The environment file's entry for this host.
    pub(crate) fn entry(&self, host: &str) -> String {
        self.entry_with(host, "")
    }

    /// With more keys (`, docker_socket: ...`).
    fn entry_with(&self, host: &str, more: &str) -> String {
        format!(
            "  {host}: {{ ssh: root@{}, identity_file: {}, known_hosts: {}{more} }}\n",
            self.address,
            self.keys.path().join("id").display(),
            self.known_hosts().display()
        )
    }

    pub(crate) fn exec(&self, command: &str) -> String {
        docker(&["exec", &self.name, "sh", "-c", command])
    }

    pub(crate) fn log(&self) -> String {
        let output = std::process::Command::new("docker")
            .args(["logs", &self.name])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// A Docker network of a test's own, removed after the hosts on it (declare it first).
struct Network(String);

impl Network {
    fn create(name: &str, options: &[&str]) -> Self {
        let mut args = vec!["network", "create"];
        args.extend_from_slice(options);
        args.push(name);
        docker(&args);
        Self(name.to_string())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["network", "rm", &self.0])
            .output();
    }
}

/// A sandbox whose environment file declares `hosts` and whose master connections live in it.
fn sandbox_with(hosts: &[(&str, &SshHost)]) -> Sandbox {
    let sandbox = Sandbox::new();
    let mut env = String::from("description: SSH test hosts\nhosts:\n");
    for (name, host) in hosts {
        env.push_str(&host.entry(name));
    }
    sandbox.write("env.yml", &env);
    sandbox
}

fn run(sandbox: &Sandbox, playbook: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["run", playbook, "--env", "env.yml"];
    all.extend_from_slice(args);
    sandbox
        .command(&all)
        .env("RUNBOOK_SSH_CONTROL_DIR", sandbox.path().join("ssh"))
        .env("TOKEN", SECRET)
        .output()
        .unwrap()
}

const ON_THE_HOST: &str = r#"
version: 1
name: on-the-host
secrets:
  token: { env: TOKEN }
steps:
  - id: marker
    host: app-1
    shell.run:
      script: |
        hostname > /tmp/marker
        # What the host's processes show while a command with a secret runs.
        ps -o args > /tmp/ps.txt
        echo "token of ${#TOKEN} characters on $(hostname)"
      env: { TOKEN: "{{ secrets.token }}" }
    rollback:
      shell.run: { argv: [rm, -f, /tmp/marker] }
  - id: argv
    needs: [marker]
    host: "{{ 'app' ~ '-1' }}"
    shell.run: { argv: [cat, /tmp/marker] }
  - id: last
    needs: [argv]
    host: app-1
    shell.run: { argv: ["true"] }
"#;

#[test]
fn commands_and_their_rollback_run_on_the_host_over_one_connection_with_nothing_secret_shown() {
    let host = SshHost::start();
    let sandbox = sandbox_with(&[("app-1", &host)]);
    sandbox.write("on-host.yml", ON_THE_HOST);

    let output = run(&sandbox, "on-host.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let marker = &outputs_of(&journal, "marker")["stdout"];
    let hostname = host.exec("hostname");
    assert_eq!(
        marker.as_str().unwrap().trim(),
        format!("token of {} characters on {hostname}", SECRET.len())
    );
    assert_eq!(
        outputs_of(&journal, "argv")["stdout"]
            .as_str()
            .unwrap()
            .trim(),
        hostname
    );
    // One login for the three steps: they went over the master connection.
    let log = host.log();
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");
    // Nothing secret on the host's command lines, in sshd's log, or in what runbook wrote.
    let ps = host.exec("cat /tmp/ps.txt");
    assert!(ps.contains("eval \"$RUNBOOK_SCRIPT\""), "{ps}");
    assert!(!ps.contains(SECRET), "{ps}");
    assert_secret_shown_nowhere(&sandbox, &output, &host);

    // A failure later runs the rollback on the host too.
    let output = run(&sandbox, "on-host.yml", &["--fail-at", "last"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(
        host.exec("test -e /tmp/marker && echo kept || echo gone"),
        "gone",
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint() {
    let host = SshHost::start();
    let sandbox = sandbox_with(&[("app-1", &host)]);
    std::fs::write(host.known_hosts(), "").unwrap();
    sandbox.write("on-host.yml", ON_THE_HOST);
    let output = run(&sandbox, "on-host.yml", &[]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let error = events(&sandbox.last_journal(), "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    let fingerprint = std::process::Command::new("ssh-keygen")
        .args(["-l", "-f"])
        .arg(host.keys.path().join("host_ed25519.pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        error.contains("is unknown")
            && error.contains(&fingerprint)
            && error.contains("ssh-keyscan"),
        "{error}"
    );
    assert_eq!(
        host.exec("test -e /tmp/marker && echo ran || echo not"),
        "not"
    );
}

#[test]
fn a_timed_out_command_leaves_nothing_running_on_the_host() {
    let host = SshHost::start();
    let sandbox = sandbox_with(&[("app-1", &host)]);
    sandbox.write(
        "slow.yml",
        r#"
version: 1
name: slow
steps:
  - id: slow
    host: app-1
    shell.run: { script: "sleep 311 & sleep 312; echo never" }
    timeout: 2s
"#,
    );
    let output = run(&sandbox, "slow.yml", &[]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let mut left = String::new();
    for _ in 0..40 {
        left = host.exec("ps -o args | grep 'sleep 31[12]' || true");
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(left, "", "the command's process group outlived the step");
}

#[test]
fn a_host_that_is_not_declared_is_a_compile_error() {
    let host = SshHost::start();
    let sandbox = sandbox_with(&[("app-1", &host)]);
    sandbox.write(
        "typo.yml",
        "version: 1\nname: typo\nsteps:\n  - id: a\n    host: app-2\n    shell.run: { argv: [\"true\"] }\n",
    );
    let output = sandbox.run(&["validate", "typo.yml", "--env", "env.yml"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        said.contains("host `app-2` is not declared")
            && said.contains("app-1")
            && said.contains("typo.yml:5"),
        "{said}"
    );
}

/// The secret in neither sshd's log, what runbook said, nor anything it wrote.
fn assert_secret_shown_nowhere(sandbox: &Sandbox, output: &std::process::Output, host: &SshHost) {
    let log = host.log();
    let said = format!("{}{}", stdout(output), stderr(output));
    assert!(!log.contains(SECRET), "{log}");
    assert!(!said.contains(SECRET) && !sandbox.evidence().contains(SECRET));
}

/// A backup pushed to a host, found and checksummed there, carried to a second host and
/// brought back; a directory tree pushed too.
const COPIES: &str = r#"
version: 1
name: copies
inputs:
  backup: {}
  stack: {}
  back: {}
steps:
  - id: push
    host: app-1
    file.copy: { src: "{{ inputs.backup }}", dest: /backups/app_20261204.sql.gz, mode: "0600" }
  - id: found
    needs: [push]
    host: app-1
    file.latest: { glob: "/backups/app_*.sql.gz", min_size: 1024 }
  - id: summed
    needs: [found]
    host: app-1
    file.checksum: { path: "{{ steps.found.path }}", expect: "{{ steps.push.checksum }}" }
  - id: tree
    host: app-1
    file.copy: { src: "{{ inputs.stack }}", dest: /srv/stack }
  - id: across
    needs: [push]
    file.copy: { from: app-1, to: app-2, src: /backups/app_20261204.sql.gz, dest: /restore/app.sql.gz }
  - id: back
    needs: [across]
    file.copy: { from: app-2, src: /restore/app.sql.gz, dest: "{{ inputs.back }}" }
"#;

#[test]
fn files_copied_to_from_and_between_hosts_arrive_whole_and_are_not_copied_twice() {
    let hosts: Vec<SshHost> = (0..2).map(|_| SshHost::start()).collect();
    let sandbox = sandbox_with(&[("app-1", &hosts[0]), ("app-2", &hosts[1])]);
    sandbox.write("copies.yml", COPIES);
    // 200 kB that no compression or truncation keeps whole by accident.
    let backup: Vec<u8> = (0u32..200_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(sandbox.path().join("backup.sql.gz"), &backup).unwrap();
    sandbox.write("stack/docker-compose.yml", "services: {}\n");
    sandbox.write("stack/nginx/site.conf", "server { listen 80; }\n");
    let inputs = [
        "--input",
        "backup=backup.sql.gz",
        "--input",
        "stack=stack",
        "--input",
        "back=returned/app.sql.gz",
    ];

    let output = run(&sandbox, "copies.yml", &inputs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let sha = sha256_hex(&backup);
    let push = outputs_of(&journal, "push");
    assert_eq!(push["checksum"], sha.as_str(), "{push}");
    assert_eq!(
        (push["size"].as_u64(), push["to"].as_str()),
        (Some(200_000), Some("app-1"))
    );
    assert_eq!(
        hosts[0].exec(
            "sha256sum < /backups/app_20261204.sql.gz; stat -c %a /backups/app_20261204.sql.gz"
        ),
        format!("{sha}  -\n600")
    );
    assert_eq!(outputs_of(&journal, "found")["size"], 200_000);
    assert_eq!(outputs_of(&journal, "tree")["files"], 2);
    assert_eq!(
        hosts[0].exec("cat /srv/stack/nginx/site.conf"),
        "server { listen 80; }"
    );
    assert_eq!(
        hosts[1].exec("sha256sum < /restore/app.sql.gz"),
        format!("{sha}  -")
    );
    let returned = std::fs::read(sandbox.path().join("returned/app.sql.gz")).unwrap();
    assert_eq!(returned, backup, "the round trip kept every byte");
    assert!(
        !hosts[0]
            .exec("ls -a /backups /srv")
            .contains("runbook-partial")
    );

    // Run again: every destination already holds the source, so nothing is copied.
    let output = run(&sandbox, "copies.yml", &inputs);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    for step in ["push", "tree", "across", "back"] {
        assert_eq!(outputs_of(&journal, step)["changed"], false, "{step}");
    }

    // A destination that holds something else is not overwritten unless asked.
    hosts[0].exec("echo changed >> /srv/stack/docker-compose.yml");
    let output = run(&sandbox, "copies.yml", &inputs);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let failed = &events(&journal, "step_failed")[0];
    assert_eq!(failed["step"], "tree");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("./docker-compose.yml has 21 bytes instead of 13")
            && error.contains("replace: true"),
        "{error}"
    );
}

/// A configuration file changed on a host, with a secret in it, and put back by the rollback.
const CONFIG_CHANGE: &str = r#"
version: 1
name: config-change
secrets:
  token: { env: TOKEN }
steps:
  - id: config
    host: app-1
    file.write: { path: /etc/app/app.conf, content: "token={{ secrets.token }}\nworkers=8\n", mode: "0640" }
    rollback:
      file.restore: { path: /etc/app/app.conf, previous: "{{ steps.config.previous }}" }
  - id: fresh
    host: app-1
    file.write: { path: /etc/app/new.conf, content: "new\n" }
    rollback:
      file.restore: { path: /etc/app/new.conf, previous: "{{ steps.fresh.previous }}" }
  - id: reload
    needs: [config, fresh]
    host: app-1
    shell.run: { argv: [grep, -q, "workers=8", /etc/app/app.conf] }
"#;

#[test]
fn a_file_written_on_a_host_is_put_back_by_its_rollback_and_its_secret_shown_nowhere() {
    let host = SshHost::start();
    let sandbox = sandbox_with(&[("app-1", &host)]);
    sandbox.write("config.yml", CONFIG_CHANGE);
    host.exec("mkdir -p /etc/app && printf 'workers=2\n' > /etc/app/app.conf");

    let output = run(&sandbox, "config.yml", &["--fail-at", "reload"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert_eq!(host.exec("cat /etc/app/app.conf"), "workers=2");
    assert_eq!(
        host.exec("ls -a /etc/app"),
        ".\n..\napp.conf",
        "new.conf removed, nothing kept"
    );

    let output = run(&sandbox, "config.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        host.exec("cat /etc/app/app.conf"),
        format!("token={SECRET}\nworkers=8")
    );
    assert_eq!(host.exec("stat -c %a /etc/app/app.conf"), "640");
    let journal = sandbox.last_journal();
    assert_eq!(outputs_of(&journal, "config")["changed"], true);
    assert_eq!(
        outputs_of(&journal, "config")["previous"],
        "/etc/app/.app.conf.runbook-previous"
    );
    assert_eq!(
        host.exec("cat /etc/app/.app.conf.runbook-previous"),
        "workers=2"
    );
    // Again: the same content is no change.
    let output = run(&sandbox, "config.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        outputs_of(&sandbox.last_journal(), "config")["changed"],
        false
    );

    assert_secret_shown_nowhere(&sandbox, &output, &host);
}

/// A rolling restart across hosts, one batch (host) at a time, each gated on its health.
const ROLLING: &str = r#"
version: 1
name: rolling
inputs:
  hosts: { type: list, default: [app-1, app-2, app-3] }
steps:
  - id: restart
    name: Restart on {{ item }}, then its health gate
    for_each: "{{ inputs.hosts }}"
    serial: 1
    host: "{{ item }}"
    shell.run:
      script: |
        touch /tmp/restarted
        # The health gate: a host whose service does not come back (here /tmp/broken) fails
        # its batch, and the batches after it never start.
        if [ -e /tmp/broken ]; then echo "unhealthy after the restart" >&2; exit 1; fi
        [ ! -e /tmp/slow ] || sleep 60
    timeout: 5s
    rollback:
      shell.run: { argv: [rm, -f, /tmp/restarted] }
"#;

fn restarted(host: &SshHost) -> bool {
    host.exec("test -e /tmp/restarted && echo yes || echo no") == "yes"
}

#[test]
fn a_rolling_restart_stops_at_the_host_that_fails_its_health_gate_and_undoes_the_others() {
    let hosts: Vec<SshHost> = (0..3).map(|_| SshHost::start()).collect();
    let sandbox = sandbox_with(&[
        ("app-1", &hosts[0]),
        ("app-2", &hosts[1]),
        ("app-3", &hosts[2]),
    ]);
    sandbox.write("rolling.yml", ROLLING);

    let output = run(&sandbox, "rolling.yml", &[]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(hosts.iter().all(restarted));
    for host in &hosts {
        host.exec("rm -f /tmp/restarted");
    }

    hosts[1].exec("touch /tmp/broken");
    let output = run(&sandbox, "rolling.yml", &[]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    assert_eq!(journal.last().unwrap()["status"], "rolled_back");
    let failed = &events(&journal, "step_failed")[0];
    assert_eq!(failed["step"], "restart[app-2]");
    assert!(
        failed["error"].as_str().unwrap().contains("unhealthy"),
        "{failed}"
    );
    // app-1 was restarted and undone; app-3's batch never started.
    assert!(!restarted(&hosts[0]) && !restarted(&hosts[2]));
    assert!(
        !events(&journal, "step_started")
            .iter()
            .any(|e| e["step"] == "restart[app-3]")
    );
}

#[test]
fn a_host_cut_off_mid_step_fails_it_within_its_timeout_and_the_others_are_rolled_back() {
    // A network of their own: an address freed by the cut must not go to another test's host.
    let network = Network::create(&format!("rbt-ssh-cut-{}", std::process::id()), &[]);
    let network = &network.0;
    let hosts: Vec<SshHost> = (0..2)
        .map(|_| SshHost::start_with(&["--network", network]))
        .collect();
    let sandbox = sandbox_with(&[("app-1", &hosts[0]), ("app-2", &hosts[1])]);
    sandbox.write("rolling.yml", ROLLING);
    hosts[1].exec("touch /tmp/slow");
    let child = sandbox
        .command(&[
            "run",
            "rolling.yml",
            "--env",
            "env.yml",
            "--input",
            r#"hosts=["app-1","app-2"]"#,
        ])
        .env("RUNBOOK_SSH_CONTROL_DIR", sandbox.path().join("ssh"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // app-2 is in its step (it restarted, then hangs): its network goes.
    for _ in 0..80 {
        if restarted(&hosts[1]) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(restarted(&hosts[1]), "app-2's step never started");
    docker(&["network", "disconnect", network, &hosts[1].name]);
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let failed = &events(&journal, "step_failed")[0];
    assert_eq!(failed["step"], "restart[app-2]");
    assert!(
        failed["error"].as_str().unwrap().contains("timed out"),
        "{failed}"
    );
    assert_eq!(journal.last().unwrap()["status"], "rolled_back");
    assert!(!restarted(&hosts[0]), "app-1's restart was rolled back");
}

#[test]
fn docker_and_postgres_steps_reach_what_only_the_host_can_reach() {
    // The host's engine is this machine's (its socket mounted), reached through the host's
    // SSH connection; its database is on a network only the host is on.
    let network = Network::create(
        &format!("rbt-ssh-db-{}", std::process::id()),
        &["--internal"],
    );
    let network = &network.0;
    let db = format!("{network}-postgres");
    docker(&[
        "run",
        "-d",
        "--name",
        &db,
        "--network",
        network,
        "--network-alias",
        "db",
        "-e",
        "POSTGRES_USER=app",
        "-e",
        "POSTGRES_PASSWORD=tunnel-pw-5521",
        "-e",
        "POSTGRES_DB=app",
        "runbook-demo-postgres:15",
    ]);
    // Where a rootless engine listens, declared in the host's entry.
    let host = SshHost::start_with(&["-v", "/var/run/docker.sock:/run/user/1000/docker.sock"]);
    docker(&["network", "connect", network, &host.name]);
    let sandbox = Sandbox::new();
    sandbox.write(
        "env.yml",
        &format!(
            "hosts:\n{}",
            host.entry_with("app-1", ", docker_socket: /run/user/1000/docker.sock")
        ),
    );
    sandbox.write(
        "through.yml",
        &format!(
            r#"
version: 1
name: through-the-host
secrets:
  db_password: {{ env: DB_PASSWORD }}
steps:
  - id: engine
    host: app-1
    docker.inspect: {{ containers: ["{db}"] }}
  - id: query
    host: app-1
    postgres.query:
      host: db
      port: 5432
      user: app
      password: "{{{{ secrets.db_password }}}}"
      database: app
      sql: SELECT 40 + 2 AS answer
    retry: {{ attempts: 30, delay: 500ms }}
"#
        ),
    );
    let output = sandbox
        .command(&["run", "through.yml", "--env", "env.yml"])
        .env("RUNBOOK_SSH_CONTROL_DIR", sandbox.path().join("ssh"))
        .env("DB_PASSWORD", "tunnel-pw-5521")
        .output()
        .unwrap();
    let log = host.log();
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &db])
        .output();
    drop(host);
    assert_eq!(code(&output), 0, "{}\n{log}", stderr(&output));
    let journal = sandbox.last_journal();
    assert_eq!(
        outputs_of(&journal, "engine")["containers"][0]["state"],
        "running"
    );
    assert_eq!(outputs_of(&journal, "query")["rows"][0]["answer"], 42);
}

/// The SHA-256 of `bytes` as coreutils' `sha256sum` prints it.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
