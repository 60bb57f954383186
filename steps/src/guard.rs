//! The guard: a small process forked once when a run starts, before runbook has a thread,
//! that kills the process groups of the programs runbook started when runbook is gone (even
//! by `kill -9`, when no destructor runs). A program left running unobserved would finish
//! work the journal says never finished, and a resume would do it a second time.
//!
//! Why not the kernel's death signal (`PR_SET_PDEATHSIG`) set in each child: that has to be
//! done between fork and exec, which makes every spawn a fork of the whole runbook process
//! (its page tables grow with the playbook: 9 ms for a 40 MB process here, against well under
//! 1 ms for the `posix_spawn` that the standard library uses otherwise). The guard also kills
//! what the command started in its group, which the death signal did not.
//!
//! Protocol: runbook writes `+PGID` after a spawn and `-PGID` after it killed the group at
//! the step's end, each line one `write` on a pipe (atomic under `PIPE_BUF`). The pipe's
//! write end is close-on-exec, so only runbook holds it: end of file means runbook is gone.
//! Then the guard kills every group still registered, and exits. It leaves runbook's process
//! group, so a Ctrl-C in the terminal reaches runbook (which rolls back) and not the guard.
//! Left open: runbook killed in the microseconds between a spawn and its registration.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{ForkResult, Pid};

/// The guard's pid and the pipe's write end (taken by [`stop`]).
static GUARD: OnceLock<(Pid, Mutex<Option<File>>)> = OnceLock::new();

/// Starts the guard. Must be called while the process has one thread (before any runtime,
/// store connection or log writer starts one): a fork copies only the calling thread.
#[allow(unsafe_code)]
pub fn start() -> std::io::Result<()> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the process is single-threaded here (the caller's contract), so the child may
    // allocate and use std as a normal process does; it never returns into runbook's code.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            drop(write);
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            // Not holding runbook's terminal or pipes: whoever reads runbook's output sees
            // its end when runbook ends.
            if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(&null);
                let _ = nix::unistd::dup2_stdout(&null);
                let _ = nix::unistd::dup2_stderr(&null);
            }
            watch(File::from(read));
            // SAFETY: `_exit` ends the child without running runbook's exit handlers.
            unsafe { nix::libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(read);
            let _ = GUARD.set((child, Mutex::new(Some(File::from(write)))));
            Ok(())
        }
    }
}

/// Whether a guard watches this process's programs (the CLI's runs); without one (library
/// use, unit tests) each program gets the kernel's death signal instead.
pub fn active() -> bool {
    GUARD.get().is_some()
}

/// A started program's process group, to be killed if runbook dies.
pub fn register(pgid: u32) {
    tell('+', pgid);
}

/// The group was killed (its step ended): forget it, its number may be reused.
pub fn forget(pgid: u32) {
    tell('-', pgid);
}

fn tell(sign: char, pgid: u32) {
    if let Some((_, pipe)) = GUARD.get() {
        let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pipe) = pipe.as_mut() {
            let _ = pipe.write_all(format!("{sign}{pgid}\n").as_bytes());
        }
    }
}

/// At a normal exit: the guard told to finish (its pipe closed) and waited for, so that
/// nothing of this run is still alive once runbook has exited.
pub fn stop() {
    if let Some((pid, pipe)) = GUARD.get() {
        drop(pipe.lock().unwrap_or_else(|e| e.into_inner()).take());
        let _ = nix::sys::wait::waitpid(*pid, None);
    }
}

/// The guard's life: read registrations until runbook is gone, then kill what is left.
fn watch(pipe: File) {
    let mut groups = std::collections::BTreeSet::new();
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        let (sign, number) = line.split_at(line.len().min(1));
        let Ok(pgid) = number.parse::<i32>() else {
            continue;
        };
        match sign {
            "+" => groups.insert(pgid),
            _ => groups.remove(&pgid),
        };
    }
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}
