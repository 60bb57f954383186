//! Programs a dead run left running.
//!
//! A step's program dies with runbook (`PR_SET_PDEATHSIG`), but what *it* started does not:
//! after a `kill -9` of runbook, a script's background jobs and children go on, and one was
//! seen writing its output after the resumed run had finished. So every program a step
//! starts is journaled with its process group ([`Event::ProcessStarted`]), and `resume`
//! kills the groups of the dead run that are still there before it decides anything about
//! their steps.
//!
//! A process group id is a pid, and pids are reused. A recorded group is only killed when it
//! is provably the same: the same boot, and either its leader alive with the start time
//! recorded, or the leader gone and every member started after it (the kernel does not hand
//! out a pid again while it still names a process group).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::journal::{Entry, Event, ProcessGroup};

/// The group a just-started program leads (it was started in a group of its own).
pub fn group_of(pid: u32) -> Option<ProcessGroup> {
    Some(ProcessGroup {
        pgid: pid,
        since: start_time(pid)?,
        boot: boot_id()?,
    })
}

/// A group of the dead run that was still there, and was killed.
#[derive(Debug, Clone, PartialEq)]
pub struct Killed {
    pub step: String,
    pub program: String,
    pub pgid: u32,
    /// Processes found in it.
    pub processes: usize,
    /// Processes of it still there [`GONE_WITHIN`] after the SIGKILL (a process in
    /// uninterruptible sleep dies only when its I/O ends): 0 when the group is gone.
    pub survivors: usize,
}

/// Kills every group a journal recorded that is still running (its runbook is dead: the
/// caller holds the run). Returns what was killed, for the journal and the operator.
pub fn kill(entries: &[Entry]) -> Vec<Killed> {
    let Some(boot) = boot_id() else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for entry in entries {
        let Event::ProcessStarted {
            step,
            program,
            group,
        } = &entry.event
        else {
            continue;
        };
        if group.boot != boot {
            continue;
        }
        let members = members(group);
        if members == 0 {
            continue;
        }
        let Ok(pgid) = i32::try_from(group.pgid) else {
            continue;
        };
        if killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok() {
            killed.push(Killed {
                step: step.clone(),
                program: program.clone(),
                pgid: group.pgid,
                processes: members,
                survivors: wait_gone(group),
            });
        }
    }
    killed
}

/// A SIGKILL takes effect when each process of the group next runs, not when `killpg`
/// returns: on a loaded host a killed script was seen still alive after the resume had
/// decided. Waits until none of the group is left (bounded: a process stuck in the kernel,
/// in uninterruptible sleep, dies only when its I/O ends), so that nothing the resume does
/// next overlaps the dead run's programs. Returns how many are left (0: gone).
fn wait_gone(group: &ProcessGroup) -> usize {
    let deadline = std::time::Instant::now() + GONE_WITHIN;
    loop {
        let left = members(group);
        if left == 0 || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// How long a resume waits for a killed group to be gone before going on.
pub(crate) const GONE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How many processes are in the recorded group now; 0 when it is gone, or when the id now
/// names another group.
fn members(group: &ProcessGroup) -> usize {
    if let Some(since) = start_time(group.pgid) {
        // The leader's pid is alive: it must be the same process.
        if since != group.since {
            return 0;
        }
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(stat) = stat(pid) else { continue };
        // Zombies are already dead; only their parent can clear them.
        if stat.pgrp == group.pgid && stat.state != 'Z' && stat.since >= group.since {
            count += 1;
        }
    }
    count
}

struct Stat {
    state: char,
    pgrp: u32,
    since: u64,
}

/// Fields of `/proc/PID/stat` after the command name (which may hold spaces and parens).
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state (3), ppid (4), pgrp (5) ... starttime (22).
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        since: fields.get(19)?.parse().ok()?,
    })
}

fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.since)
}

/// This boot's id, read once: it cannot change while this process lives, and every program a
/// step starts is journaled with it.
fn boot_id() -> Option<String> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_recognised_by_its_leader_start_time() {
        let me = std::process::id();
        let group = group_of(me).expect("this process has a stat");
        assert_eq!(start_time(me), Some(group.since));
        // Another start time under the same id is another process: never killed.
        let other = ProcessGroup {
            since: group.since + 1,
            ..group
        };
        assert_eq!(members(&other), 0);
    }

    #[test]
    fn a_killed_group_is_gone_when_kill_returns() {
        use std::os::unix::process::CommandExt;
        // A leader and a background job, in a group of their own, as a step's script.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .process_group(0)
            .spawn()
            .expect("sh");
        let group = group_of(child.id()).expect("the group");
        // The shell and its job are there before the kill (the job may take a moment).
        for _ in 0..200 {
            if members(&group) >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let entries = [Entry {
            at: chrono::Utc::now(),
            event: Event::ProcessStarted {
                step: "b".into(),
                program: "sh".into(),
                group: group.clone(),
            },
        }];
        let killed = kill(&entries);
        assert_eq!(members(&group), 0, "nothing of the group runs after kill");
        assert_eq!(killed.len(), 1);
        assert_eq!(killed[0].pgid, group.pgid);
        assert!(killed[0].processes >= 2, "{killed:?}");
        assert_eq!(killed[0].survivors, 0, "{killed:?}");
        let _ = child.wait();
    }
}
