//! Appending to a run's journal: each event redacted, then handed to the store's sink, which
//! returns once it is durable (fsynced, or committed) before the run goes on.

use chrono::Utc;

use super::event::{Entry, Event};
use super::store::{JournalSink, StoreError};
use crate::secrets::Redactor;

pub struct JournalWriter {
    sink: Box<dyn JournalSink>,
    redactor: Redactor,
}

impl JournalWriter {
    pub fn new(sink: Box<dyn JournalSink>, redactor: Redactor) -> Self {
        Self { sink, redactor }
    }

    /// A file journal (`journal.jsonl`) opened for appending; see [`super::store::file`].
    pub fn open(path: &std::path::Path, redactor: Redactor) -> std::io::Result<Self> {
        let sink = super::store::file::FileJournal::open(path)?;
        Ok(Self::new(Box::new(sink), redactor))
    }

    /// What this writer hides from every line.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Writes the event and waits until it is durable: after a crash, what the journal says
    /// happened did happen (or was at least started). The entry comes back redacted, for the
    /// console, even when writing failed. Secrets are hidden here, once, for every store.
    pub fn append(&mut self, event: Event) -> (Entry, Result<(), StoreError>) {
        let (entry, written) = self.write(event);
        (entry, written.and_then(|()| self.sink.sync()))
    }

    /// Writes the event without waiting for the disk: it outlives this process at once, and
    /// a power loss only once [`Self::sync`] (or a later [`Self::append`]) has returned.
    pub fn write(&mut self, event: Event) -> (Entry, Result<(), StoreError>) {
        let entry = Entry {
            at: Utc::now(),
            event,
        };
        let line = match serde_json::to_string(&entry) {
            Ok(line) => line,
            Err(e) => return (entry, Err(StoreError::Unavailable(e.to_string()))),
        };
        // Parsed back only when something was hidden: the console must not see it either.
        match self.redactor.redact_borrowed(&line) {
            std::borrow::Cow::Borrowed(line) => (entry, self.sink.write(line)),
            std::borrow::Cow::Owned(redacted) => {
                let entry = serde_json::from_str(&redacted).unwrap_or(entry);
                (entry, self.sink.write(&redacted))
            }
        }
    }

    /// Makes everything written so far durable (one fdatasync for all of it).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.sink.sync()
    }
}
