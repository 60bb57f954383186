//! The host family on this machine: disk use as `df` reports it, memory, and ports.

use crate::support::{Sandbox, code, events, stderr};

#[test]
fn disk_memory_and_port_checks_read_the_host_and_fail_on_their_limits() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = crate::support::free_port();
    let sandbox = Sandbox::new();
    sandbox.write(
        "host.yml",
        &r#"
version: 1
name: host
steps:
  - id: disk
    host.disk: { path: DIR, max_percent: 100 }
  - id: memory
    host.memory: { min_available: 1MiB }
  - id: up
    host.port: { port: OPEN }
  - id: down
    host.port: { port: CLOSED, expect: closed }
  - id: full
    needs: [disk, memory, up, down]
    host.disk: { path: DIR, min_free: 1024TiB }
"#
        .replace("DIR", sandbox.path().to_str().unwrap())
        .replace("OPEN", &open.to_string())
        .replace("CLOSED", &closed.to_string()),
    );
    let output = sandbox.run(&["run", "host.yml"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let journal = sandbox.last_journal();
    let done = events(&journal, "step_succeeded");
    let by_id = |id: &str| {
        done.iter()
            .find(|e| e["step"] == id)
            .map(|e| e["outputs"].clone())
            .unwrap_or_else(|| panic!("{id} did not succeed"))
    };
    // Free bytes as df counts them (available to ordinary users), read in the same second.
    let df = std::process::Command::new("df")
        .args(["-B1", "--output=avail", sandbox.path().to_str().unwrap()])
        .output()
        .unwrap();
    let avail: f64 = String::from_utf8_lossy(&df.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let free = by_id("disk")["free_bytes"].as_f64().unwrap();
    assert!(
        (free - avail).abs() < avail * 0.01 + 64e6,
        "{free} vs df {avail}"
    );
    assert!(by_id("memory")["available_bytes"].as_u64().unwrap() > 1 << 20);
    assert_eq!(by_id("up")["listening"], true);
    assert_eq!(by_id("down")["listening"], false);
    let failed = events(&journal, "step_failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        failed.contains("free (at least 1024.0 TiB wanted)"),
        "{failed}"
    );
    drop(listener);
}
