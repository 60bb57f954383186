//! file.link/file.write and nginx.* against a real nginx (Debian's nginx-light), one per test
//! under a prefix of its own on loopback ports: a site proxying to a blue or a green upstream
//! (two more servers of the same nginx), switched by a symlink or a rewritten file.

use crate::support::{Sandbox, code, events, free_port, stderr};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Nginx {
    prefix: PathBuf,
    app: u16,
}

const NGINX: &str = "/usr/sbin/nginx";

impl Nginx {
    fn start(sandbox: &Sandbox) -> Self {
        let prefix = sandbox.path().join("nginx");
        for dir in ["sites-available", "sites-enabled", "tmp", "logs"] {
            std::fs::create_dir_all(prefix.join(dir)).unwrap();
        }
        let (blue, green, app) = (free_port(), free_port(), free_port());
        let p = prefix.display();
        std::fs::write(
            prefix.join("nginx.conf"),
            format!(
                "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  server {{ listen 127.0.0.1:{blue}; return 200 \"blue\\n\"; }}\n  server {{ listen 127.0.0.1:{green}; return 200 \"green\\n\"; }}\n  include {p}/sites-enabled/*;\n}}\n"
            ),
        )
        .unwrap();
        for (colour, port) in [("blue", blue), ("green", green)] {
            std::fs::write(
                prefix.join(format!("sites-available/app-{colour}")),
                format!("server {{ listen 127.0.0.1:{app}; location / {{ proxy_pass http://127.0.0.1:{port}; }} }}\n"),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink(
            prefix.join("sites-available/app-blue"),
            prefix.join("sites-enabled/app"),
        )
        .unwrap();
        let nginx = Self { prefix, app };
        let started = nginx
            .command(&[])
            .output()
            .expect("nginx starts (scripts/test-services.sh)");
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
        assert_eq!(nginx.get(), "blue");
        nginx
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(NGINX);
        command
            .args(["-e", &format!("{}/logs/error.log", self.prefix.display())])
            .args(["-p", self.prefix.to_str().unwrap()])
            .args(["-c", self.prefix.join("nginx.conf").to_str().unwrap()])
            .args(args);
        command
    }

    /// What the site serves now.
    fn get(&self) -> String {
        for _ in 0..50 {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.app)) {
                use std::io::{Read, Write};
                let _ = write!(stream, "GET / HTTP/1.0\r\nHost: app\r\n\r\n");
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response);
                if let Some((_, body)) = response.split_once("\r\n\r\n") {
                    return body.trim().to_string();
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        String::new()
    }

    fn params(&self) -> String {
        format!(
            "nginx: {NGINX}, prefix: {p}, config: {p}/nginx.conf",
            p = self.prefix.display()
        )
    }

    fn playbook(&self, text: &str) -> String {
        text.replace("NGINX_PARAMS", &self.params())
            .replace("PREFIX", self.prefix.to_str().unwrap())
            .replace("APP", &self.app.to_string())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.command(&["-s", "stop"]).output();
    }
}

fn link_target(path: &Path) -> String {
    std::fs::read_link(path).unwrap().display().to_string()
}

#[test]
fn a_blue_green_switch_is_verified_then_undone_when_a_later_step_fails() {
    let sandbox = Sandbox::new();
    let nginx = Nginx::start(&sandbox);
    sandbox.write(
        "switch.yml",
        &nginx.playbook(
            r#"
version: 1
name: switch
steps:
  - id: switch
    file.link: { path: PREFIX/sites-enabled/app, target: PREFIX/sites-available/app-green }
    rollback:
      - file.restore: { path: PREFIX/sites-enabled/app, previous: "{{ steps.switch.previous }}" }
      - nginx.reload: { NGINX_PARAMS }
  - id: reload
    needs: [switch]
    nginx.reload: { NGINX_PARAMS }
  - id: verify
    needs: [reload]
    http.check: { url: "http://127.0.0.1:APP/", expect: { body: "^green" } }
  - id: watch-errors
    needs: [verify]
    assert.that: { that: "true" }
"#,
        ),
    );
    let check = sandbox.run(&["run", "switch.yml", "--dry-run"]);
    let said = stderr(&check);
    assert!(
        said.contains(&format!(
            "would point {p}/sites-enabled/app at {p}/sites-available/app-green (now -> {p}/sites-available/app-blue)",
            p = nginx.prefix.display()
        )) && said.contains("would reload nginx (master pid"),
        "{said}"
    );
    assert_eq!(nginx.get(), "blue", "the check changed nothing");

    let output = sandbox.run(&["run", "switch.yml", "--fail-at", "watch-errors"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let succeeded = events(&journal, "step_succeeded");
    let verify = succeeded
        .iter()
        .find(|e| e["step"] == "verify")
        .expect("verify ran");
    assert_eq!(verify["outputs"]["body"].as_str().unwrap().trim(), "green");
    let reload = &succeeded.iter().find(|e| e["step"] == "reload").unwrap()["outputs"];
    assert_ne!(reload["old_workers"], reload["new_workers"], "{reload}");
    assert_eq!(journal.last().unwrap()["status"], "rolled_back");
    assert_eq!(nginx.get(), "blue");
    assert_eq!(
        link_target(&nginx.prefix.join("sites-enabled/app")),
        nginx
            .prefix
            .join("sites-available/app-blue")
            .display()
            .to_string()
    );
    assert!(
        !nginx
            .prefix
            .join("sites-enabled/.app.runbook-previous")
            .exists(),
        "the kept link went back into place"
    );
}

#[test]
fn a_configuration_that_does_not_test_is_never_loaded_and_the_file_comes_back() {
    let sandbox = Sandbox::new();
    let nginx = Nginx::start(&sandbox);
    let site = nginx.prefix.join("sites-enabled/upstream.conf");
    std::fs::write(&site, "# no upstream yet\n").unwrap();
    sandbox.write(
        "broken.yml",
        &nginx.playbook(
            r#"
version: 1
name: broken
inputs:
  directive: { default: "bogus_directive on;" }
steps:
  - id: write
    file.write: { path: PREFIX/sites-enabled/upstream.conf, content: "{{ inputs.directive }}\n", mode: "0640" }
    rollback:
      file.restore: { path: PREFIX/sites-enabled/upstream.conf, previous: "{{ steps.write.previous }}" }
  - id: reload
    needs: [write]
    nginx.reload: { NGINX_PARAMS }
"#,
        ),
    );
    let check = sandbox.run(&["run", "broken.yml", "--dry-run"]);
    assert!(
        stderr(&check).contains(&format!(
            "would change {} (+1 -1 lines, from line 1",
            site.display()
        )),
        "{}",
        stderr(&check)
    );
    let output = sandbox.run(&["run", "broken.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let failed = events(&sandbox.last_journal(), "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        failed.contains("does not test (nothing was reloaded)")
            && failed.contains(&format!(
                "unknown directive \"bogus_directive\" in {}:1",
                site.display()
            )),
        "{failed}"
    );
    assert_eq!(
        std::fs::read_to_string(&site).unwrap(),
        "# no upstream yet\n"
    );
    assert_eq!(nginx.get(), "blue");
}
