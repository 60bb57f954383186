//! Writing to the terminal without ever panicking.
//!
//! `println!` panics when its write fails: `runbook schema | head -1` died with exit 101 and a
//! backtrace once `head` closed the pipe, and a run whose SSH session hung up would die at its
//! next console line (writes to a vanished terminal fail with EIO). So:
//! - standard output closed by its reader (`| head`) ends the command quietly with exit 0,
//!   as `ripgrep` and other tools do; nothing is left to say to a reader that has left;
//! - any other failure to write (a terminal that hung up) is ignored: the journal, not the
//!   terminal, is the record of a run, and a run must never stop because nobody watches it.
//!
//! Every write to standard error goes through here, so this is also where a run's console
//! lines may wait to be written together ([`stderr_soon`]) without changing their order.

use std::fmt;
use std::io::Write;
use std::sync::{Condvar, Mutex};

/// `print!` that cannot panic (see the module's comment).
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `println!` that cannot panic.
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that cannot panic.
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!($($arg)*)) };
}

/// `eprintln!` that cannot panic.
macro_rules! sayln {
    () => { $crate::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub fn stdout(text: fmt::Arguments<'_>) {
    flush_soon();
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(text).and_then(|()| stdout.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        flush_soon();
        std::process::exit(0);
    }
}

pub fn stderr(text: fmt::Arguments<'_>) {
    if crate::logs::json() {
        crate::logs::line(&text.to_string());
        return;
    }
    // Standard error is unbuffered: `write_fmt` would make a system call per piece (a line
    // and its newline apart, a console line per journal event). Formatted first, it is one.
    // After the console lines kept for later: the order on the terminal stays the order
    // of events.
    let mut soon = SOON.lock().unwrap_or_else(|e| e.into_inner());
    soon.text.push_str(&text.to_string());
    soon.write();
}

/// A run's console lines when standard error is not a terminal (a CI log, a pipe, a file):
/// kept, and written together by a thread of their own at most [`SOON_AFTER`] after the
/// first of them, or before anything else is printed, or at exit ([`flush_soon`]). A
/// system call per line, on the thread that runs the steps, was a visible part of what a
/// short step costs (two lines per step); a reader of a log sees them a moment later and in
/// the same order. (On a terminal the live view prints at once.)
pub fn stderr_soon(line: &str) {
    let mut soon = SOON.lock().unwrap_or_else(|e| e.into_inner());
    let first = soon.text.is_empty();
    soon.text.push_str(line);
    soon.text.push('\n');
    if first {
        if !soon.writer_started {
            soon.writer_started = std::thread::Builder::new()
                .name("console".into())
                .spawn(write_soon)
                .is_ok();
        }
        if soon.writer_started {
            SOON_KEPT.notify_one();
        } else {
            soon.write();
        }
    }
}

/// Writes the console lines kept by [`stderr_soon`], if any.
pub fn flush_soon() {
    SOON.lock().unwrap_or_else(|e| e.into_inner()).write();
}

/// How long a console line may wait for the ones after it.
const SOON_AFTER: std::time::Duration = std::time::Duration::from_millis(50);

struct Soon {
    text: String,
    writer_started: bool,
}

impl Soon {
    /// Writes what is kept, in one system call. Called with the lock held, so two writers
    /// cannot swap their lines.
    fn write(&mut self) {
        if !self.text.is_empty() {
            let _ = std::io::stderr()
                .lock()
                .write_all(std::mem::take(&mut self.text).as_bytes());
        }
    }
}

static SOON: Mutex<Soon> = Mutex::new(Soon {
    text: String::new(),
    writer_started: false,
});
static SOON_KEPT: Condvar = Condvar::new();

/// The console thread: waits for a first line, lets more come for [`SOON_AFTER`], writes.
fn write_soon() {
    loop {
        let soon = SOON.lock().unwrap_or_else(|e| e.into_inner());
        let soon = SOON_KEPT
            .wait_while(soon, |soon| soon.text.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        drop(soon);
        std::thread::sleep(SOON_AFTER);
        flush_soon();
    }
}
