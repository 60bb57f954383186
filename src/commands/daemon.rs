//! `runbook daemon [DIR]`: runs the scheduled playbooks of a directory when their cron time
//! comes. Each run is `runbook run` in a child process (its own journal, locks, rollback and
//! signals), so the daemon only decides when: never two runs of one playbook at once (the
//! schedule's `overlap: skip|queue`), runs missed while it was down caught up within the
//! schedule's `catch_up` window, and on SIGTERM/SIGINT no new run while running ones finish
//! (a second signal passes it on to them: they stop and roll back).

use chrono::{DateTime, Utc};
use runbook_engine::compile::schedule::{Due, due, next_after};
use runbook_engine::journal::store::write_atomically;
use runbook_engine::load::Overlap;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tokio::process::{Child, Command};

use crate::Exit;
use crate::cli::{Cli, DaemonArgs};
use crate::metrics::{Outcome, metrics};
use crate::scheduled::{Catalog, Clock, Scheduled, State};
use runbook_engine::journal::{SharedStore, Store};

struct Running {
    child: Child,
    name: String,
    /// The schedule that started it (its outcome is kept under this key).
    key: String,
    started: std::time::Instant,
}

pub fn run(args: &DaemonArgs, cli: &Cli, store: SharedStore) -> Exit {
    let runtime = match super::runtime() {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    runtime.block_on(Daemon::new(args, cli, store).run())
}

struct Daemon<'a> {
    args: &'a DaemonArgs,
    cli: &'a Cli,
    state_dir: &'a Path,
    /// Where runs are kept; shared with other daemons when it is PostgreSQL: each fire is
    /// claimed there, so it runs once whichever daemons are alive.
    store: SharedStore,
    /// This daemon, as the claims and the runs it starts name it.
    id: String,
    /// Whether this daemon leads (catch-up, takeover of abandoned runs), and until when it
    /// need not ask again.
    leading: bool,
    lead_checked: Option<std::time::Instant>,
    /// Runs of dead daemons this one is resuming, and those it already tried.
    takeovers: BTreeMap<String, Child>,
    tried: BTreeSet<String>,
    clock: Clock,
    catalog: Catalog,
    state: State,
    running: BTreeMap<PathBuf, Running>,
    /// Schedules (by key) that fired while their playbook was running (`overlap: queue`).
    queued: BTreeSet<String>,
    outcomes: BTreeMap<String, Outcome>,
    finished_runs: usize,
    failed_runs: usize,
    stopping: bool,
}

impl<'a> Daemon<'a> {
    fn new(args: &'a DaemonArgs, cli: &'a Cli, store: SharedStore) -> Self {
        let state_dir = cli.state_dir.as_path();
        let (state, unreadable) = State::load(state_dir);
        let operator = runbook_engine::execute::session::Operator::current();
        let daemon = Self {
            args,
            cli,
            state_dir,
            store,
            id: format!(
                "daemon {}@{} pid {}",
                operator.user, operator.host, operator.pid
            ),
            leading: false,
            lead_checked: None,
            takeovers: BTreeMap::new(),
            tried: BTreeSet::new(),
            clock: Clock::new(args.clock_start, args.clock_speed),
            catalog: Catalog::default(),
            state,
            running: BTreeMap::new(),
            queued: BTreeSet::new(),
            outcomes: BTreeMap::new(),
            finished_runs: 0,
            failed_runs: 0,
            stopping: false,
        };
        if let Some(why) = unreadable {
            daemon.log(&format!(
                "warning: the daemon's state cannot be read ({why}); starting afresh: what was missed while it was down is not caught up"
            ));
        }
        daemon
    }

    fn log(&self, message: &str) {
        sayln!(
            "{}  {message}",
            self.clock.now().format("%Y-%m-%dT%H:%M:%SZ")
        );
    }

    async fn run(mut self) -> Exit {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            sayln!("error: cannot watch signals");
            return Exit::Refused;
        };
        self.log(&format!(
            "daemon watching {} (runs in {}; this is {})",
            self.args.dir.display(),
            self.store.describe(),
            self.id
        ));
        loop {
            self.reap();
            self.reap_takeovers();
            if !self.accepting() && self.running.is_empty() && self.takeovers.is_empty() {
                break;
            }
            let wait = if !self.accepting() {
                std::time::Duration::from_millis(200)
            } else {
                let wait = self.tick();
                if self.args.once {
                    self.stopping = true;
                }
                wait
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = int.recv() => self.signal("SIGINT"),
                _ = term.recv() => self.signal("SIGTERM"),
                // As for a run: a lost terminal is no reason to stop firing drills (and
                // playbooks are re-read when they change, so there is nothing to reload).
                _ = hup.recv() => self.log("SIGHUP: the terminal is gone; the daemon goes on"),
            }
        }
        self.log(&format!(
            "daemon stopped after {} run(s), {} failed",
            self.finished_runs, self.failed_runs
        ));
        if self.failed_runs > 0 {
            Exit::Failed
        } else {
            Exit::Success
        }
    }

    /// Whether new runs may start: not after a signal, nor once `--max-runs` have finished.
    fn accepting(&self) -> bool {
        let done = self
            .args
            .max_runs
            .is_some_and(|max| self.finished_runs >= max);
        !self.stopping && !done
    }

    /// First signal: no new runs, running ones finish. Second: they are told to stop too.
    fn signal(&mut self, name: &str) {
        if !self.stopping {
            self.stopping = true;
            self.log(&format!(
                "{name}: no new runs; waiting for {} running run(s) to finish (again to stop them, with rollback)",
                self.running.len()
            ));
            return;
        }
        for running in self.running.values() {
            if let Some(pid) = running.child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
                self.log(&format!(
                    "{name} again: stopping {} (it rolls back)",
                    running.name
                ));
            }
        }
    }

    /// Looks at every scheduled playbook once; returns how long to sleep (real time).
    fn tick(&mut self) -> std::time::Duration {
        let now = self.clock.now();
        self.check_lead();
        self.take_over_abandoned();
        let refreshed = self.catalog.refresh(&self.args.dir);
        for problem in &refreshed.problems {
            self.log(problem);
        }
        // State and metrics are written when something was decided, not at every look.
        let mut decided = refreshed.changed;
        let scheduled = self.catalog.scheduled();
        // What the other daemons sharing the store fired is fired: never again here.
        match self.store.claimed_fires() {
            Ok(claimed) => {
                let local: BTreeMap<String, &str> = scheduled
                    .iter()
                    .map(|playbook| (self.fire_key(playbook), playbook.key.as_str()))
                    .collect();
                for (shared, at) in claimed {
                    let Some(key) = local.get(&shared) else {
                        continue;
                    };
                    let last = self.state.last_fired.entry(key.to_string()).or_insert(at);
                    *last = (*last).max(at);
                }
            }
            Err(e) => self.log(&format!("warning: cannot read the claimed fires: {e}")),
        }
        let mut next: Option<DateTime<Utc>> = None;
        for playbook in &scheduled {
            let key = playbook.key.clone();
            // A playbook seen for the first time fires from now on, not for its past.
            let last = *self.state.last_fired.entry(key.clone()).or_insert_with(|| {
                decided = true;
                now
            });
            let verdict = due(&playbook.schedule, last, now);
            decided |= !matches!(verdict, Due::NotYet { .. });
            match verdict {
                Due::NotYet { next: at } => {
                    next = match (next, at) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
                Due::Fire { at } => {
                    self.state.last_fired.insert(key, at);
                    if self.claim(playbook, at) {
                        self.fire(
                            playbook,
                            &format!("cron time {}", at.format("%Y-%m-%d %H:%M UTC")),
                        );
                    }
                }
                // Catching up is the leader's: N daemons coming back must not race for it.
                Due::CatchUp { at } if !self.leading => {
                    self.state.last_fired.insert(key, at);
                }
                Due::CatchUp { at } => {
                    self.state.last_fired.insert(key, at);
                    if !self.claim(playbook, at) {
                        continue;
                    }
                    self.fire(
                        playbook,
                        &format!(
                            "catching up {} (missed while the daemon was down)",
                            at.format("%Y-%m-%d %H:%M UTC")
                        ),
                    );
                }
                Due::Missed { at } => {
                    self.state.last_fired.insert(key, at);
                    self.outcome(&playbook.key).missed += 1;
                    self.log(&format!(
                        "missed {} at {}: beyond its catch-up window ({}), not run",
                        playbook.label(),
                        at.format("%Y-%m-%d %H:%M UTC"),
                        playbook
                            .schedule
                            .catch_up
                            .map_or("none".to_string(), |c| c.to_string())
                    ));
                }
            }
        }
        if decided {
            if let Err(e) = self.state.save(self.state_dir) {
                self.log(&format!("warning: cannot save the daemon state: {e}"));
            }
            self.write_metrics(&scheduled);
        }
        // Wake at the next fire, and every 250 ms to notice runs that ended.
        let until_next = next.map_or(std::time::Duration::from_secs(1), |at| {
            self.clock.real_until(at)
        });
        until_next.min(std::time::Duration::from_millis(250))
    }

    fn fire(&mut self, playbook: &Scheduled, why: &str) {
        if let Some(running) = self.running.get(&playbook.path) {
            let ago = running.started.elapsed().as_secs_f64();
            match playbook.schedule.overlap {
                Overlap::Skip => {
                    self.outcome(&playbook.key).skipped_overlap += 1;
                    self.log(&format!(
                        "skipped {} ({why}): its previous run started {ago:.1}s ago is still going (overlap: skip)",
                        playbook.label()
                    ));
                }
                Overlap::Queue => {
                    self.queued.insert(playbook.key.clone());
                    self.log(&format!(
                        "queued {} ({why}): it starts when the running one ends (overlap: queue)",
                        playbook.label()
                    ));
                }
            }
            return;
        }
        self.start(playbook, why);
    }

    /// What a fire is claimed under in a shared store: the playbook's path inside the daemon's
    /// directory (and its schedule's name), so daemons that keep the same playbooks at
    /// different paths, or start from different directories, claim the same fire.
    fn fire_key(&self, playbook: &Scheduled) -> String {
        let inside = playbook
            .path
            .strip_prefix(&self.args.dir)
            .unwrap_or(&playbook.path);
        match &playbook.schedule.name {
            Some(name) => format!("{}#{name}", inside.display()),
            None => inside.display().to_string(),
        }
    }

    /// Claims one fire in the store: false (and logged) when another daemon has it.
    fn claim(&mut self, playbook: &Scheduled, at: DateTime<Utc>) -> bool {
        match self
            .store
            .claim_fire(&self.fire_key(playbook), at, &self.id)
        {
            Ok(true) => {
                self.outcome(&playbook.key).fired += 1;
                true
            }
            Ok(false) => {
                self.outcome(&playbook.key).claimed_elsewhere += 1;
                self.log(&format!(
                    "{} at {}: claimed by another daemon, which runs it",
                    playbook.label(),
                    at.format("%Y-%m-%d %H:%M UTC")
                ));
                false
            }
            Err(e) => {
                // Unclaimed is unrun: a fire is never started without its claim.
                self.outcome(&playbook.key).missed += 1;
                self.log(&format!(
                    "cannot claim {} at {}: {e}; not run by this daemon",
                    playbook.label(),
                    at.format("%Y-%m-%d %H:%M UTC")
                ));
                false
            }
        }
    }

    /// Renews (or tries to take) the leader lease, at most every third of a lease.
    fn check_lead(&mut self) {
        let ttl = self.cli.lease_ttl;
        if self.lead_checked.is_some_and(|at| at.elapsed() < ttl / 3) {
            return;
        }
        self.lead_checked = Some(std::time::Instant::now());
        let leading = match self.store.lead(&self.id, ttl) {
            Ok(leading) => leading,
            Err(e) => {
                self.log(&format!("warning: cannot renew the leader lease: {e}"));
                false
            }
        };
        if leading != self.leading {
            self.log(if leading {
                "leading the daemons: catch-up and takeover of abandoned runs are this daemon's"
            } else {
                "another daemon leads now"
            });
        }
        self.leading = leading;
    }

    /// The leader resumes runs that a daemon started and whose runner died (its lease
    /// lapsed), by resume's rules: a step caught in flight is re-run only if read-only or
    /// idempotent; otherwise the run waits for a person, and the webhooks say what to type.
    fn take_over_abandoned(&mut self) {
        if !self.leading || !self.accepting() {
            return;
        }
        let abandoned = match self.store.abandoned_daemon_runs() {
            Ok(runs) => runs,
            Err(e) => {
                self.log(&format!("warning: cannot list abandoned runs: {e}"));
                return;
            }
        };
        for id in abandoned {
            if !self.tried.insert(id.clone()) {
                continue;
            }
            let mut command = self.runbook();
            command.args(["resume", &id, "--no-prompt"]);
            match command.spawn() {
                Ok(child) => {
                    self.log(&format!(
                        "taking over run {id}: its runner stopped renewing its lease"
                    ));
                    self.takeovers.insert(id, child);
                }
                Err(e) => self.log(&format!("cannot take over run {id}: {e}")),
            }
        }
    }

    /// Takeovers that ended; a refused one is told to the webhooks with the command a
    /// person must type.
    fn reap_takeovers(&mut self) {
        let ended: Vec<(String, Option<i32>)> = self
            .takeovers
            .iter_mut()
            .filter_map(|(id, child)| match child.try_wait() {
                Ok(Some(status)) => Some((id.clone(), status.code())),
                Ok(None) => None,
                Err(_) => Some((id.clone(), None)),
            })
            .collect();
        for (id, code) in ended {
            self.takeovers.remove(&id);
            self.log(&format!(
                "took over run {id}: exit {}",
                code.map_or("?".into(), |c| c.to_string())
            ));
            if code == Some(i32::from(Exit::Refused.code())) {
                self.needs_a_person(&id);
            }
        }
    }

    /// A taken-over run that resume refused: say exactly what a person must do.
    fn needs_a_person(&self, id: &str) {
        let unfinished = self
            .store
            .open(id)
            .ok()
            .and_then(|run| run.journal().ok())
            .map(|journal| {
                runbook_engine::journal::RunRecord::from_entries(&journal.entries)
                    .unfinished()
                    .iter()
                    .map(|s| (*s).to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let rerun: String = unfinished.iter().map(|s| format!(" --rerun {s}")).collect();
        let text = format!(
            "runbook: run {id} was abandoned by its runner and cannot be taken over automatically: {} started and never finished and may have done part of its work. Check it, then: runbook resume {id}{rerun}",
            if unfinished.is_empty() {
                "a step".to_string()
            } else {
                unfinished.join(", ")
            }
        );
        self.log(&text);
        let payload = serde_json::json!({ "text": text });
        for url in self
            .args
            .webhooks
            .notify
            .iter()
            .filter(|u| !u.trim().is_empty())
        {
            let (url, payload) = (url.clone(), payload.clone());
            tokio::spawn(async move {
                use runbook_engine::execute::notify::Notifier;
                let _ = runbook_steps::notify::RunNotifier
                    .post(&url, &payload)
                    .await;
            });
        }
    }

    /// `runbook` as this daemon's runs are started: the same store, this daemon named.
    fn runbook(&self) -> Command {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("runbook"));
        let mut command = Command::new(exe);
        command
            .arg("--state-dir")
            .arg(self.state_dir)
            .stdin(std::process::Stdio::null());
        // Through the environment, not argv: a Slack webhook's path is its secret, a store
        // URL holds a password, and any user on the host can read a command line.
        command.env("RUNBOOK_NOTIFY", self.args.webhooks.notify.join(" "));
        if let Some(url) = &self.cli.store {
            command.env("RUNBOOK_STORE", url);
        }
        command.env(
            "RUNBOOK_LEASE_TTL",
            format!("{}ms", self.cli.lease_ttl.as_millis()),
        );
        command.env("RUNBOOK_DAEMON", &self.id);
        // Its runs log as it does.
        if crate::logs::json() {
            command.env("RUNBOOK_LOG_FORMAT", "json");
        }
        command
    }

    fn start(&mut self, playbook: &Scheduled, why: &str) {
        let mut command = self.runbook();
        command
            .arg("run")
            .arg(&playbook.path)
            .arg("--no-prompt")
            .args(playbook.run_args());
        match command.spawn() {
            Ok(child) => {
                self.log(&format!("started {} ({why})", playbook.label()));
                self.running.insert(
                    playbook.path.clone(),
                    Running {
                        child,
                        name: playbook.name.clone(),
                        key: playbook.key.clone(),
                        started: std::time::Instant::now(),
                    },
                );
            }
            Err(e) => {
                self.failed_runs += 1;
                self.log(&format!("cannot start {}: {e}", playbook.name));
            }
        }
    }

    /// Collects runs that ended; starts a queued one in their place.
    fn reap(&mut self) {
        let ended: Vec<(PathBuf, Option<i32>)> = self
            .running
            .iter_mut()
            .filter_map(|(path, r)| match r.child.try_wait() {
                Ok(Some(status)) => Some((path.clone(), status.code())),
                Ok(None) => None,
                Err(_) => Some((path.clone(), None)),
            })
            .collect();
        if ended.is_empty() {
            return;
        }
        let scheduled = self.catalog.scheduled();
        for (path, code) in ended {
            let Some(running) = self.running.remove(&path) else {
                continue;
            };
            self.finished_runs += 1;
            if code != Some(0) {
                self.failed_runs += 1;
            }
            let duration = running.started.elapsed().as_secs_f64();
            self.log(&format!(
                "finished {}: exit {} in {duration:.1}s",
                running.name,
                code.map_or("?".into(), |c| c.to_string())
            ));
            let (rto, objective) = last_rto(self.store.as_ref(), &running.name);
            let finished = self.clock.now();
            let outcome = self.outcome(&running.key);
            outcome.exit_code = code;
            outcome.finished = Some(finished);
            outcome.duration = Some(duration);
            outcome.rto = rto;
            outcome.rto_objective = objective;
            // One queued schedule of this playbook starts in its place (one run at a time).
            let queued = scheduled
                .iter()
                .find(|s| s.path == path && self.queued.contains(&s.key));
            if let Some(playbook) = queued {
                self.queued.remove(&playbook.key);
                if self.accepting() {
                    self.start(playbook, "queued while the previous run was going");
                }
            }
        }
        // The outcome is in the metrics as soon as the run ends.
        self.write_metrics(&scheduled);
    }

    fn outcome(&mut self, key: &str) -> &mut Outcome {
        self.outcomes.entry(key.to_string()).or_default()
    }

    fn write_metrics(&self, scheduled: &[Scheduled]) {
        let empty = Outcome::default();
        let now = self.clock.now();
        let rows: Vec<(&Scheduled, &Outcome, Option<DateTime<Utc>>)> = scheduled
            .iter()
            .map(|s| {
                (
                    s,
                    self.outcomes.get(&s.key).unwrap_or(&empty),
                    next_after(&s.schedule, now),
                )
            })
            .collect();
        let path = self
            .args
            .metrics_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join("daemon/runbook.prom"));
        if let Err(e) = write_atomically(&path, metrics(&rows).as_bytes()) {
            self.log(&format!("warning: cannot write {}: {e}", path.display()));
        }
    }
}

/// The RTO measured by the newest run of this playbook, and its objective (its report.json).
fn last_rto(store: &dyn Store, playbook: &str) -> (Option<f64>, Option<f64>) {
    let runs = store.runs().unwrap_or_default();
    for run in runs.iter().rev() {
        let Ok(text) = run.read_report("json") else {
            continue;
        };
        let Ok(report) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if report["playbook"] == playbook {
            let rto = &report["objectives"]["rto"];
            return (rto["measured"].as_f64(), rto["objective"].as_f64());
        }
    }
    (None, None)
}
