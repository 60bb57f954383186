//! The live view on a terminal: a line per running step with its elapsed time, kept below the
//! event lines, so a 30-minute restore shows it is still going (and for how long) instead of
//! one line and then nothing. Only on a terminal; logs and pipes get the plain lines.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: MultiProgress,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// When stderr is a terminal and logs are text.
    pub fn on_terminal() -> Option<Self> {
        if !std::io::stderr().is_terminal() || crate::logs::json() {
            return None;
        }
        Some(Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            running: Mutex::new(HashMap::new()),
        })
    }

    /// An event line, printed above the running steps.
    pub fn print(&self, line: &str) {
        // A terminal that hung up: the run goes on without it (see output.rs).
        let _ = self.multi.println(line);
    }

    /// `key` started: a spinner with its elapsed time until [`Progress::ended`].
    pub fn started(&self, key: &str, label: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("          {spinner} {msg}  {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        if let Some(old) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), bar)
        {
            old.finish_and_clear();
        }
    }

    pub fn ended(&self, key: &str) {
        let bar = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}
