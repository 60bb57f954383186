//! What `runbook daemon` and `runbook schedule` share: the scheduled playbooks of a directory,
//! the daemon's memory of what it fired (so missed runs can be caught up after a restart), and
//! its clock (settable, so a schedule can be rehearsed).

use chrono::{DateTime, Utc};
use runbook_engine::compile::CompileOptions;
use runbook_engine::journal::store::write_atomically;
use runbook_engine::load::Schedule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One schedule of a playbook (a playbook may have several: weekly VACUUM, monthly REINDEX).
#[derive(Clone)]
pub struct Scheduled {
    pub path: PathBuf,
    pub name: String,
    pub schedule: Schedule,
    /// What the daemon keeps this schedule's fires and outcomes under: the path, and for a
    /// named schedule `path#name` (so a playbook's only, unnamed schedule keeps the key it
    /// always had in `state.json`).
    pub key: String,
}

impl Scheduled {
    /// `maintenance` or `maintenance (weekly-vacuum)`, for logs.
    pub fn label(&self) -> String {
        match &self.schedule.name {
            Some(schedule) => format!("{} ({schedule})", self.name),
            None => self.name.clone(),
        }
    }

    /// `--env` and `--input` arguments of its runs.
    pub fn run_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(environment) = &self.schedule.environment {
            let base = self.path.parent().unwrap_or(Path::new("."));
            args.push("--env".into());
            args.push(base.join(environment).display().to_string());
        }
        for (name, value) in &self.schedule.inputs {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            args.push("--input".into());
            args.push(format!("{name}={text}"));
        }
        args
    }
}

/// The scheduled playbooks under `dir` (its `*.yml`, not recursively), in path order. A
/// playbook that does not compile is reported and left out; the others still run.
pub fn find(dir: &Path) -> (Vec<Scheduled>, Vec<String>) {
    let mut catalog = Catalog::default();
    let problems = catalog.refresh(dir).problems;
    (catalog.scheduled(), problems)
}

/// The scheduled playbooks of a directory as the daemon last saw them. The daemon looks every
/// quarter of a second; a file is compiled again only when its size or modification time
/// changed, and a problem is reported once per version of the file, not at every look.
#[derive(Default)]
pub struct Catalog {
    files: BTreeMap<PathBuf, (Stamp, Vec<Scheduled>)>,
    unreadable: Option<String>,
}

/// What tells one version of a file from the next without reading it.
type Stamp = (Option<std::time::SystemTime>, u64);

/// What a look at the directory found new.
pub struct Refreshed {
    /// A playbook appeared, changed or went away.
    pub changed: bool,
    /// Problems not reported before.
    pub problems: Vec<String>,
}

impl Catalog {
    pub fn refresh(&mut self, dir: &Path) -> Refreshed {
        let mut problems = Vec::new();
        let stamps: BTreeMap<PathBuf, Stamp> = match std::fs::read_dir(dir) {
            Ok(entries) => {
                self.unreadable = None;
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                    .map(|p| {
                        let meta = std::fs::metadata(&p).ok();
                        let stamp = (
                            meta.as_ref().and_then(|m| m.modified().ok()),
                            meta.map_or(0, |m| m.len()),
                        );
                        (p, stamp)
                    })
                    .collect()
            }
            Err(e) => {
                let problem = format!("{}: {e}", dir.display());
                if self.unreadable.as_ref() != Some(&problem) {
                    problems.push(problem.clone());
                    self.unreadable = Some(problem);
                }
                // What was scheduled stays scheduled while the directory cannot be read.
                return Refreshed {
                    changed: false,
                    problems,
                };
            }
        };
        let before = self.files.len();
        self.files.retain(|path, _| stamps.contains_key(path));
        let mut changed = self.files.len() != before;
        for (path, stamp) in stamps {
            if self
                .files
                .get(&path)
                .is_some_and(|(seen, _)| *seen == stamp)
            {
                continue;
            }
            changed = true;
            let scheduled = match compile(&path) {
                Ok(scheduled) => scheduled,
                Err(problem) => {
                    problems.push(problem);
                    Vec::new()
                }
            };
            self.files.insert(path, (stamp, scheduled));
        }
        Refreshed { changed, problems }
    }

    /// Every schedule of every playbook, in path order, then as written.
    pub fn scheduled(&self) -> Vec<Scheduled> {
        self.files
            .values()
            .flat_map(|(_, scheduled)| scheduled.iter().cloned())
            .collect()
    }
}

/// One playbook: its schedules (none if it has none), or why it cannot be scheduled.
fn compile(path: &Path) -> Result<Vec<Scheduled>, String> {
    // Read once: an environment file kept beside the playbooks is not a playbook with
    // problems, and is told apart from its text.
    let checked = match crate::commands::read(path) {
        Ok(source) if runbook_engine::load::load_environment(&source).is_ok() => {
            return Ok(Vec::new());
        }
        Ok(source) => crate::commands::check_source(source, &CompileOptions::default()),
        Err(unreadable) => Err(unreadable),
    };
    match checked {
        Ok((_, playbook)) => Ok(playbook
            .schedules
            .iter()
            .map(|schedule| Scheduled {
                path: path.to_path_buf(),
                name: playbook.name.clone(),
                key: match &schedule.name {
                    Some(name) => format!("{}#{name}", path.display()),
                    None => path.display().to_string(),
                },
                schedule: schedule.clone(),
            })
            .collect()),
        Err((source, diagnostics)) => Err(format!(
            "{}: {} problem(s), not scheduled ({})",
            source.name(),
            diagnostics.len(),
            diagnostics
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_default()
        )),
    }
}

/// What the daemon fired, per playbook path, kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub last_fired: BTreeMap<String, DateTime<Utc>>,
}

impl State {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("daemon/state.json")
    }

    /// What was saved; nothing when there is no file yet. A file that cannot be read is
    /// named in the warning, and the daemon starts afresh (no catch-up of what it missed).
    pub fn load(state_dir: &Path) -> (Self, Option<String>) {
        let path = Self::path(state_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => return (Self::default(), Some(format!("{}: {e}", path.display()))),
        };
        match serde_json::from_str(&text) {
            Ok(state) => (state, None),
            Err(e) => (Self::default(), Some(format!("{}: {e}", path.display()))),
        }
    }

    /// Written aside and renamed: a crash leaves the old state or the new one, never half.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        write_atomically(
            &Self::path(state_dir),
            serde_json::to_string_pretty(self)
                .unwrap_or_default()
                .as_bytes(),
        )
    }
}

/// The daemon's clock: the real one, or one that starts at a chosen instant and may run
/// faster (`--clock-start`, `--clock-speed`), to rehearse a quarterly schedule in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: std::time::Instant,
    start: DateTime<Utc>,
    speed: f64,
}

impl Clock {
    pub fn new(start: Option<DateTime<Utc>>, speed: f64) -> Self {
        Self {
            started: std::time::Instant::now(),
            start: start.unwrap_or_else(Utc::now),
            speed,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed().as_secs_f64() * self.speed;
        self.start + chrono::TimeDelta::milliseconds((elapsed * 1000.0) as i64)
    }

    /// Real time until the clock shows `at`.
    pub fn real_until(&self, at: DateTime<Utc>) -> std::time::Duration {
        let seconds = (at - self.now()).num_milliseconds() as f64 / 1000.0 / self.speed;
        std::time::Duration::from_secs_f64(seconds.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULED: &str = "version: 1\nname: nightly\nschedule: { cron: \"@daily\" }\nsteps:\n  - id: work\n    shell.run: { script: \"true\" }\n";

    /// `runbook schedule DIR` over a directory that also holds environment files.
    #[test]
    fn environment_files_beside_playbooks_are_not_problems() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nightly.yml"), SCHEDULED).unwrap();
        std::fs::write(
            dir.path().join("staging.yml"),
            "description: staging\ninputs:\n  stack: staging\n",
        )
        .unwrap();
        let (scheduled, problems) = find(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(scheduled.len(), 1);
    }

    #[test]
    fn a_file_is_compiled_again_only_when_it_changes_and_a_problem_is_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nightly.yml");
        std::fs::write(&file, "version: 1\nname: nightly\nsteps: [ { id: a } ]\n").unwrap();
        let mut catalog = Catalog::default();

        let first = catalog.refresh(dir.path());
        assert!(first.changed);
        assert_eq!(first.problems.len(), 1, "{:?}", first.problems);
        let again = catalog.refresh(dir.path());
        assert!(!again.changed);
        assert!(again.problems.is_empty(), "told once: {:?}", again.problems);
        assert!(catalog.scheduled().is_empty());

        // Fixed (a new size): scheduled at the next look, without a restart.
        std::fs::write(&file, SCHEDULED).unwrap();
        let fixed = catalog.refresh(dir.path());
        assert!(fixed.changed && fixed.problems.is_empty());
        let names: Vec<String> = catalog.scheduled().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["nightly"]);

        std::fs::remove_file(&file).unwrap();
        assert!(catalog.refresh(dir.path()).changed);
        assert!(catalog.scheduled().is_empty());
    }

    #[test]
    fn a_missing_state_is_no_news_and_a_broken_one_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let (state, warning) = State::load(dir.path());
        assert!(state.last_fired.is_empty() && warning.is_none());
        std::fs::create_dir_all(dir.path().join("daemon")).unwrap();
        std::fs::write(State::path(dir.path()), "{broken").unwrap();
        let (state, warning) = State::load(dir.path());
        assert!(state.last_fired.is_empty());
        assert!(warning.unwrap().contains("state.json"));
    }
}
