//! What one step costs, against the physical floor of the same work, measured in one run so
//! that both see the same machine at the same moment (this machine is noisy: read the ratios).
//!
//! `cargo bench --bench per_step` (release). Each workload alternates floor and runbook,
//! `RUNBOOK_BENCH_ROUNDS` times (default 3), and prints medians:
//!
//! - floor of a journaled command: fork/exec of `true` in its own process group with the
//!   death signal set (what a command that must not outlive a crash needs), plus two
//!   fdatasync'd journal appends (its start before it acts, its result before a dependant);
//! - floor of a journaled HTTP check: a GET on a kept-alive connection plus one fdatasync'd
//!   append (its result before a dependant; see docs/decisions.md on read-only starts), and
//!   the bare GET alone;
//! - runbook: chains of `shell.run true`, `http.check` and `assert.that` at 100, 1,000 and
//!   10,000 steps, and fan-outs at `--max-parallel 64`. A one-step run of the same step is
//!   measured too and subtracted (process start, load, compile, reports, and the verb's
//!   first use: the HTTP client and its connection, which the floor also opens before its
//!   clock starts), so "per step" is what each further step adds: (T(n) - T(1)) / (n - 1).
//!
//! `RUNBOOK_BENCH_ONLY=http` runs only the named workloads (see [`wanted`]).
//!
//! Not a test: nothing here asserts on time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rounds() -> usize {
    std::env::var("RUNBOOK_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

/// `RUNBOOK_BENCH_ONLY=http,fanout`: only these workloads (`shell`, `http`, `assert`,
/// `fanout`); all of them by default.
fn wanted(workload: &str) -> bool {
    std::env::var("RUNBOOK_BENCH_ONLY")
        .map(|only| only.split(',').any(|w| w.trim() == workload))
        .unwrap_or(true)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Appends a journal-sized line and waits until it is on disk, as the file store does.
fn durable_append(file: &mut std::fs::File, line: &[u8]) {
    file.write_all(line).expect("append");
    file.sync_data().expect("fdatasync");
}

fn journal(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("floor.jsonl"))
        .expect("journal file")
}

const LINE: &[u8] = br#"{"at":"2026-12-02T17:00:00.000000Z","event":"step_started","step":"s123","verb":"shell.run"}
"#;

#[allow(unsafe_code)]
fn floor_command(dir: &Path, count: usize) -> Duration {
    let mut file = journal(dir);
    let start = Instant::now();
    for _ in 0..count {
        durable_append(&mut file, LINE);
        let mut command = Command::new("true");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: only prctl between fork and exec.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
                Ok(())
            });
        }
        let output = command.output().expect("true runs");
        assert!(output.status.success());
        durable_append(&mut file, LINE);
    }
    start.elapsed()
}

/// A minimal HTTP/1.1 server with keep-alive, a thread per connection: the same server for
/// the floor and for runbook.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    port
}

fn answer(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // Request line and headers, to the blank line; GETs have no body.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let response =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        if writer.write_all(response).is_err() {
            return;
        }
    }
}

fn get(stream: &mut TcpStream, buffer: &mut [u8]) {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut got = 0;
    // The response is small and fixed: read until its body ("ok") has come.
    while !buffer[..got].ends_with(b"ok") {
        let n = stream.read(&mut buffer[got..]).expect("read");
        assert!(n > 0, "server closed");
        got += n;
    }
}

fn floor_http(dir: &Path, port: u16, count: usize, journaled: bool) -> Duration {
    let mut file = journal(dir);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buffer = vec![0u8; 4096];
    let start = Instant::now();
    for _ in 0..count {
        get(&mut stream, &mut buffer);
        if journaled {
            durable_append(&mut file, LINE);
        }
    }
    start.elapsed()
}

enum Shape {
    Chain,
    FanOut,
}

fn playbook(verb: &str, count: usize, shape: &Shape) -> String {
    let mut yaml = String::from("version: 1\nname: bench\nsteps:\n");
    for i in 0..count {
        yaml.push_str(&format!("  - id: s{i}\n"));
        if i > 0 && matches!(shape, Shape::Chain) {
            yaml.push_str(&format!("    needs: [s{}]\n", i - 1));
        }
        yaml.push_str(&format!("    {verb}\n"));
    }
    yaml
}

fn runbook(dir: &Path, yaml: &str, parallel: usize) -> Duration {
    let file = dir.join("bench.yml");
    std::fs::write(&file, yaml).expect("write playbook");
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", file.to_str().expect("utf-8 path")])
        .args(["--max-parallel", &parallel.to_string()])
        .env("RUNBOOK_STATE_DIR", &state)
        .env("RUNBOOK_LOCK_DIR", dir.join("locks"))
        .output()
        .expect("runbook runs");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// Milliseconds per item of `count` that took `total`.
fn ms_each(total: Duration, count: usize) -> f64 {
    total.as_secs_f64() * 1e3 / count as f64
}

struct Bench {
    dir: PathBuf,
    rounds: usize,
}

/// What a run of `count` steps added per step over a one-step run of the same step (`base`):
/// the run's own cost (process, load, reports) and the verb's first use (its HTTP client
/// and connection, as the floor connects before its clock starts) are not a step's.
fn per_step(total: Duration, base: Duration, count: usize) -> f64 {
    ms_each(total.saturating_sub(base), count.saturating_sub(1).max(1))
}

impl Bench {
    /// The median one-step run of `step`, printed.
    fn one_step(&self, step: &str) -> Duration {
        let one = playbook(step, 1, &Shape::Chain);
        // More samples than the workloads: one slow start would skew every figure below.
        let base = median(
            (0..self.rounds * 3)
                .map(|_| runbook(&self.dir, &one, 1))
                .collect(),
        );
        let verb = step.split(':').next().unwrap_or(step);
        println!(
            "{:<44} {:>9.3} ms   (subtracted below)",
            format!("{verb}, one-step run"),
            base.as_secs_f64() * 1e3
        );
        base
    }

    /// runbook's median on `yaml`, and the floor's median measured alternately with it.
    fn side_by_side(
        &self,
        yaml: &str,
        parallel: usize,
        mut floor: impl FnMut() -> Duration,
    ) -> (Duration, Duration) {
        let mut ours = Vec::new();
        let mut floors = Vec::new();
        for _ in 0..self.rounds {
            floors.push(floor());
            ours.push(runbook(&self.dir, yaml, parallel));
        }
        (median(ours), median(floors))
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("runbook-per-step-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let port = serve();
    let rounds = rounds();
    let bench = Bench { dir, rounds };
    println!(
        "{:<44} {:>12} {:>12} {:>7}",
        "workload", "runbook", "floor", "ratio"
    );

    let shell = "shell.run: { argv: [\"true\"] }";
    if wanted("shell") {
        let base = bench.one_step(shell);
        for count in [100, 1_000, 10_000] {
            let yaml = playbook(shell, count, &Shape::Chain);
            let (ours, floor) = bench.side_by_side(&yaml, 1, || floor_command(&bench.dir, count));
            let (ours, floor) = (per_step(ours, base, count), ms_each(floor, count));
            println!(
                "{:<44} {ours:>9.3} ms {floor:>9.3} ms {:>6.2}x",
                format!("shell.run true, {count} chained"),
                ours / floor
            );
        }
    }

    let check = format!("http.check: {{ url: \"http://127.0.0.1:{port}/\" }}");
    if wanted("http") {
        let base = bench.one_step(&check);
        for count in [100, 1_000, 10_000] {
            let yaml = playbook(&check, count, &Shape::Chain);
            let (ours, floor) =
                bench.side_by_side(&yaml, 1, || floor_http(&bench.dir, port, count, true));
            let bare = ms_each(floor_http(&bench.dir, port, count, false), count);
            let (ours, floor) = (per_step(ours, base, count), ms_each(floor, count));
            println!(
                "{:<44} {ours:>9.3} ms {floor:>9.3} ms {:>6.2}x   (bare GET {bare:.3} ms: {:.1}x)",
                format!("http.check, {count} chained"),
                ours / floor,
                ours / bare
            );
        }
    }

    let assert = "assert.that: { that: \"{{ 1 + 1 == 2 }}\" }";
    if wanted("assert") {
        let base = bench.one_step(assert);
        for count in [100, 1_000, 10_000] {
            let yaml = playbook(assert, count, &Shape::Chain);
            let (ours, _) = bench.side_by_side(&yaml, 1, || Duration::ZERO);
            println!(
                "{:<44} {:>9.3} ms",
                format!("assert.that, {count} chained"),
                per_step(ours, base, count)
            );
        }
    }

    if wanted("fanout") {
        for (verb, step, counts) in [
            ("http.check", check.as_str(), &[100, 1_000, 10_000][..]),
            ("shell.run true", shell, &[100, 1_000][..]),
        ] {
            let base = bench.one_step(step);
            for &count in counts {
                let yaml = playbook(step, count, &Shape::FanOut);
                let (ours, _) = bench.side_by_side(&yaml, 64, || Duration::ZERO);
                println!(
                    "{:<44} {:>9.3} ms   (total {:.3} s, one-step run subtracted)",
                    format!("{verb}, {count} independent, 64 at once"),
                    per_step(ours, base, count),
                    ours.saturating_sub(base).as_secs_f64()
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&bench.dir);
}
