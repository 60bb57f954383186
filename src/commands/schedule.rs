//! `runbook schedule [DIR]`: the scheduled playbooks of a directory and when each fires next.

use runbook_engine::compile::schedule::next_after;
use std::path::Path;

use crate::Exit;
use crate::cli::ScheduleArgs;
use crate::scheduled::{Clock, State, find};

pub fn run(args: &ScheduleArgs, state_dir: &Path) -> Exit {
    let now = Clock::new(args.now, 1.0).now();
    let (scheduled, problems) = find(&args.dir);
    for problem in &problems {
        sayln!("warning: {problem}");
    }
    let (state, _) = State::load(state_dir);
    outln!(
        "{:<28} {:<18} {:<16} {:<22} {:<22} overlap, catch-up",
        "playbook",
        "cron",
        "time zone",
        "next (UTC)",
        "last fired (UTC)"
    );
    for s in &scheduled {
        let next = next_after(&s.schedule, now).map_or("never".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M").to_string()
        });
        let last = state
            .last_fired
            .get(&s.key)
            .map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string());
        outln!(
            "{:<28} {:<18} {:<16} {:<22} {:<22} {}, {}",
            s.key,
            s.schedule.cron,
            s.schedule.timezone,
            next,
            last,
            match s.schedule.overlap {
                runbook_engine::load::Overlap::Skip => "skip",
                runbook_engine::load::Overlap::Queue => "queue",
            },
            s.schedule
                .catch_up
                .map_or("none".to_string(), |c| c.to_string())
        );
    }
    if scheduled.is_empty() {
        outln!("(no scheduled playbook in {})", args.dir.display());
    }
    if problems.is_empty() {
        Exit::Success
    } else {
        Exit::Invalid
    }
}
