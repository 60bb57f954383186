//! Writing to the terminal without ever panicking.
//!
//! `println!` panics when its write fails: `runbook schema | head -1` died with exit 101 and a
//! backtrace once `head` closed the pipe, and a run whose SSH session hung up would die at its
//! next console line (writes to a vanished terminal fail with EIO). So:
//! - standard output closed by its reader (`| head`) ends the command quietly with exit 0,
//!   as `ripgrep` and other tools do; nothing is left to say to a reader that has left;
//! - any other failure to write (a terminal that hung up) is ignored: the journal, not the
//!   terminal, is the record of a run, and a run must never stop because nobody watches it.

use std::fmt;
use std::io::Write;

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
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(text).and_then(|()| stdout.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
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
    let _ = std::io::stderr()
        .lock()
        .write_all(text.to_string().as_bytes());
}
