//! Load + compile + plan of a generated 10,000-step playbook.
//!
//! `cargo bench --bench compile_10k` prints the time of each stage (best and median of
//! several runs) and the process's peak resident memory. Target on the reference machine
//! (2 cores): under 200 ms for load+compile+plan and under 100 MB peak RSS. As `runbook plan`
//! does it: a playbook this large is read, compiled and planned in two halves at once where
//! there are two cores (engine/src/parallel.rs).
//!
//! Beside them, in the same runs, a floor: the playbook's YAML events read by the parser the
//! loader uses, with nothing built from them. This machine's speed swings by half from one
//! minute to the next, and the seven runs share their minute; the floor slows with them, so
//! the pipeline's ratio to it (the median of each run's) says what the milliseconds cannot.
//! Not a test: timings depend on the machine, so nothing here asserts on them.

use std::time::{Duration, Instant};

use runbook_engine::compile::{CompileOptions, compile};
use runbook_engine::load::load;
use runbook_engine::plan::{Format, render};
use runbook_engine::source::SourceFile;
use runbook_steps::Action;

const STEPS: usize = 10_000;
const RUNS: usize = 7;

/// A mix of the shapes real playbooks have: chains of 10 where each step reads its
/// predecessor's output, fan-out of 20 health checks joined by one step, and `for_each`
/// restarts in serial batches.
fn generate() -> String {
    let mut yaml = String::from(
        "version: 1\nname: bench\ninputs:\n  base: { default: \"http://localhost:3001\" }\n  project: { default: goodgo }\n\
         secrets:\n  db: { env: DB_PASSWORD }\nsteps:\n",
    );
    let mut written = 0;
    let mut block = 0;
    while written < STEPS {
        let b = block;
        match block % 3 {
            0 => {
                for i in 0..10 {
                    let id = format!("chain{b}-{i}");
                    if i == 0 {
                        yaml.push_str(&format!("  - id: {id}\n    file.latest: {{ glob: \"/backups/b{b}_*.gz\", max_age: 25h }}\n"));
                    } else {
                        yaml.push_str(&format!(
                            "  - id: {id}\n    needs: [chain{b}-{p}]\n    file.checksum: {{ path: \"{{{{ steps['chain{b}-{p}'].path }}}}\" }}\n",
                            p = i - 1
                        ));
                    }
                }
                written += 10;
            }
            1 => {
                for i in 0..20 {
                    yaml.push_str(&format!(
                        "  - id: fan{b}-{i}\n    needs: [chain{prev}-9]\n    http.check: {{ url: \"{{{{ inputs.base }}}}/health/{i}\", expect: {{ status: 200 }} }}\n    retry: {{ attempts: 3, delay: 1s }}\n",
                        prev = b - 1
                    ));
                }
                let needs: Vec<String> = (0..20).map(|i| format!("fan{b}-{i}")).collect();
                yaml.push_str(&format!(
                    "  - id: join{b}\n    needs: [{}]\n    postgres.query: {{ url: \"postgres://app:{{{{ secrets.db }}}}@db/app\", sql: \"SELECT 1\" }}\n",
                    needs.join(", ")
                ));
                written += 21;
            }
            _ => {
                yaml.push_str(&format!(
                    "  - id: roll{b}\n    needs: [join{prev}]\n    for_each: [api, web, worker, ai]\n    serial: 2\n    docker.restart: {{ project: \"{{{{ inputs.project }}}}\", services: [\"{{{{ item }}}}\"] }}\n    rollback:\n      docker.start: {{ project: \"{{{{ inputs.project }}}}\", services: [\"{{{{ item }}}}\"] }}\n",
                    prev = b - 1
                ));
                written += 1;
            }
        }
        block += 1;
    }
    yaml
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<22} best {:>8.1} ms   median {:>8.1} ms",
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() / 2].as_secs_f64() * 1e3
    );
}

/// The floor: every YAML event of `text` read, nothing kept.
fn read_events(text: &str) -> usize {
    let mut events = 0;
    for event in serde_saphyr::granit_parser::Parser::new_from_str(text) {
        std::hint::black_box(event.expect("generated YAML parses"));
        events += 1;
    }
    events
}

fn main() {
    let source = SourceFile::new("bench.yml", generate());
    let (mut t_load, mut t_compile, mut t_plan, mut t_total) = (vec![], vec![], vec![], vec![]);
    let (mut t_floor, mut ratios) = (vec![], vec![]);
    let mut shape = (0, 0, 0);
    for _ in 0..RUNS {
        let floor_start = Instant::now();
        std::hint::black_box(read_events(&source.text));
        let floor = floor_start.elapsed();
        let start = Instant::now();
        let loaded = load(&source);
        let raw = loaded.playbook.expect("generated playbook loads");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors.first());
        let loaded_at = Instant::now();
        let playbook = compile::<Action>(&raw, &source, &CompileOptions::default())
            .unwrap_or_else(|e| panic!("generated playbook compiles: {:?}", e.first()));
        let compiled_at = Instant::now();
        let text = render(&playbook, Format::Text);
        let end = Instant::now();
        std::hint::black_box(&text);
        shape = (raw.steps.len(), playbook.steps.len(), playbook.stages.len());
        t_load.push(loaded_at - start);
        t_compile.push(compiled_at - loaded_at);
        t_plan.push(end - compiled_at);
        t_total.push(end - start);
        t_floor.push(floor);
        ratios.push((end - start).as_secs_f64() / floor.as_secs_f64());
    }
    println!(
        "playbook: {} bytes, {} steps written, {} after for_each expansion, {} stages",
        source.text.len(),
        shape.0,
        shape.1,
        shape.2
    );
    summary("load", t_load);
    summary("compile", t_compile);
    summary("plan (text)", t_plan);
    summary("load+compile+plan", t_total);
    summary("floor: YAML events", t_floor);
    ratios.sort_by(f64::total_cmp);
    println!(
        "load+compile+plan over the floor: {:.2}x (median of the runs' ratios)",
        ratios[ratios.len() / 2]
    );
    println!("peak RSS {:.1} MB", peak_rss_mb());
}
