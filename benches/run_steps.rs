//! The executor's own cost: the real `runbook run` binary on generated playbooks.
//!
//! `cargo bench --bench run_steps` prints wall time per playbook (best and median of several
//! runs) and what that means per step. Every step writes at least two fsynced journal lines,
//! so the first figure is dominated by the disk's fsync latency; the second adds a process
//! spawn per step. Not a test: timings depend on the machine, so nothing here asserts on them.

use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// `chains` independent chains of `length` steps; each step reads its predecessor's output.
fn asserts(chains: usize, length: usize) -> String {
    let mut yaml = String::from("version: 1\nname: bench-asserts\nsteps:\n");
    for c in 0..chains {
        for i in 0..length {
            yaml.push_str(&format!("  - id: c{c}-s{i}\n"));
            if i > 0 {
                yaml.push_str(&format!(
                    "    needs: [c{c}-s{p}]\n    assert.that: {{ that: \"{{{{ steps['c{c}-s{p}'].status == 'succeeded' }}}}\" }}\n",
                    p = i - 1
                ));
            } else {
                yaml.push_str("    assert.that: { that: \"{{ 1 + 1 == 2 }}\" }\n");
            }
        }
    }
    yaml
}

fn commands(count: usize) -> String {
    let mut yaml = String::from("version: 1\nname: bench-shell\nsteps:\n");
    for i in 0..count {
        yaml.push_str(&format!(
            "  - id: s{i}\n    shell.run: {{ argv: [\"true\"] }}\n"
        ));
    }
    yaml
}

fn measure(name: &str, yaml: &str, steps: usize) {
    let dir = std::env::temp_dir().join(format!("runbook-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let file = dir.join(format!("{name}.yml"));
    std::fs::write(&file, yaml).expect("write playbook");
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
                .args(["run", file.to_str().expect("utf-8 path")])
                .env("RUNBOOK_STATE_DIR", dir.join("state"))
                .output()
                .expect("runbook runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            start.elapsed()
        })
        .collect();
    times.sort();
    let (best, median) = (times[0], times[RUNS / 2]);
    println!(
        "{name:<28} {steps:>5} steps  best {:>7.1} ms  median {:>7.1} ms  ({:.2} ms/step)",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3 / steps as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    measure("assert.that, 10 chains x100", &asserts(10, 100), 1000);
    measure("shell.run true, 4 at once", &commands(200), 200);
}
