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

pub fn playbooks() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("playbooks"))
        .expect("playbooks dir")
        .map(|e| {
            format!(
                "playbooks/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .filter(|p| p.ends_with(".yml"))
        .collect();
    files.sort();
    files
}
