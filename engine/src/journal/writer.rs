//! Appending to a run's journal: one JSON line per event, fsynced before the run goes on.

use chrono::Utc;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::event::{Entry, Event};
use crate::secrets::Redactor;

pub struct JournalWriter {
    file: File,
    redactor: Redactor,
}

impl JournalWriter {
    /// Opens (or creates) a journal for appending. A torn last line, left by a crash in the
    /// middle of a write, is cut off first, so the next event starts on a line of its own.
    pub fn open(path: &Path, redactor: Redactor) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)?;
        if !text.is_empty() && text.last() != Some(&b'\n') {
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(Self { file, redactor })
    }

    /// What this writer hides from every line.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Writes the event and waits until it is on disk: after a crash, what the journal says
    /// happened did happen (or was at least started). The entry comes back redacted, for the
    /// console, even when writing failed.
    pub fn append(&mut self, event: Event) -> (Entry, io::Result<()>) {
        let entry = Entry {
            at: Utc::now(),
            event,
        };
        let line = match serde_json::to_string(&entry) {
            Ok(line) => self.redactor.redact(&line),
            Err(e) => return (entry, Err(io::Error::other(e))),
        };
        let redacted = serde_json::from_str(&line).unwrap_or(entry);
        let written = self
            .file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.file.sync_data());
        (redacted, written)
    }
}
