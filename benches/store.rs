//! The journal's cost on each store: a chain of `shell.run true` steps run by the real binary
//! on the file store and on the PostgreSQL store, alternately in one process so that both
//! see the same machine at the same moment.
//!
//! `cargo bench --bench store` (the test server of `scripts/test-postgres.sh start`; another
//! with RUNBOOK_BENCH_STORE=postgres://...). Prints ms per step for each store, and the ratio.
//! Not a test: nothing here asserts on time.

use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

fn chain(count: usize) -> String {
    let mut yaml = String::from("version: 1\nname: bench-chain\nsteps:\n");
    for i in 0..count {
        yaml.push_str(&format!("  - id: s{i}\n"));
        if i > 0 {
            yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
        yaml.push_str("    shell.run: { argv: [\"true\"] }\n");
    }
    yaml
}

fn psql(database: &str, sql: &str) {
    let port = std::env::var("RUNBOOK_TEST_PG_PORT").unwrap_or_else(|_| "54329".into());
    let password = std::env::var("RUNBOOK_TEST_PG_PASSWORD")
        .unwrap_or_else(|_| "runbook-test-password".into());
    let status = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-p", &port, "-U", "runbook"])
        .args(["-d", database, "-c", sql])
        .env("PGPASSWORD", password)
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql {sql}");
}

/// A fresh, migrated store database on the test server (or RUNBOOK_BENCH_STORE as it is).
fn store_url() -> String {
    if let Ok(url) = std::env::var("RUNBOOK_BENCH_STORE") {
        return url;
    }
    let port = std::env::var("RUNBOOK_TEST_PG_PORT").unwrap_or_else(|_| "54329".into());
    let password = std::env::var("RUNBOOK_TEST_PG_PASSWORD")
        .unwrap_or_else(|_| "runbook-test-password".into());
    psql("postgres", "DROP DATABASE IF EXISTS rb_bench_store");
    psql("postgres", "CREATE DATABASE rb_bench_store");
    let url = format!("postgres://runbook:{password}@127.0.0.1:{port}/rb_bench_store");
    let migrated = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["store", "migrate"])
        .env("RUNBOOK_STORE", &url)
        .output()
        .expect("runbook runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    url
}

fn run(file: &std::path::Path, dir: &std::path::Path, store: Option<&str>) -> Duration {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
    command
        .args([
            "run",
            file.to_str().expect("utf-8 path"),
            "--max-parallel",
            "1",
        ])
        .env("RUNBOOK_STATE_DIR", dir.join("state"))
        .env("RUNBOOK_LOCK_DIR", dir.join("locks"))
        .env_remove("RUNBOOK_STORE");
    if let Some(url) = store {
        command.env("RUNBOOK_STORE", url);
    }
    let start = Instant::now();
    let output = command.output().expect("runbook runs");
    let took = start.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let url = store_url();
    let dir = std::env::temp_dir().join(format!("runbook-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    println!(
        "{:<22} {:>12} {:>12} {:>7}",
        "chain of shell.run", "file ms/step", "pg ms/step", "ratio"
    );
    for steps in [100, 1000] {
        let file = dir.join(format!("chain-{steps}.yml"));
        std::fs::write(&file, chain(steps)).expect("write playbook");
        let (mut files, mut pg) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            files.push(run(&file, &dir, None));
            pg.push(run(&file, &dir, Some(&url)));
        }
        let per_step = |d: Duration| d.as_secs_f64() * 1e3 / steps as f64;
        let (f, p) = (per_step(median(files)), per_step(median(pg)));
        println!(
            "{:<22} {f:>12.2} {p:>12.2} {:>6.2}x",
            format!("{steps} steps"),
            p / f
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
