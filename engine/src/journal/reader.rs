//! Reading a journal back. A crash can tear the last line; that line is dropped, anything
//! else unreadable is an error naming the line. A file journal may end in zeros written
//! ahead of its lines (see [`super::store::file::FileJournal`]); its lines end at the first.

use std::fmt;
use std::io;
use std::path::Path;

use super::event::Entry;

#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Corrupt { line: usize, message: String },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Corrupt { line, message } => {
                write!(f, "journal line {line} is not a valid event: {message}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

pub struct Journal {
    pub entries: Vec<Entry>,
    /// The last line was cut short (the process died while writing it).
    pub torn: bool,
}

pub fn read(path: &Path) -> Result<Journal, ReadError> {
    let bytes = std::fs::read(path).map_err(ReadError::Io)?;
    let text = std::str::from_utf8(written(&bytes))
        .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    parse(text)
}

/// What was written of a journal: up to the first zero byte. JSON escapes every control
/// character, so no line holds one; a zero is where the zeros written ahead begin.
pub fn written(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

pub fn parse(text: &str) -> Result<Journal, ReadError> {
    let complete = text.ends_with('\n') || text.is_empty();
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::with_capacity(lines.len());
    let mut torn = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if i + 1 == lines.len() && !complete => torn = true,
            Err(e) => {
                return Err(ReadError::Corrupt {
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(Journal { entries, torn })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::Event;
    use crate::journal::writer::JournalWriter;
    use crate::secrets::Redactor;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("runbook-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.jsonl")
    }

    fn started(step: &str) -> Event {
        Event::StepStarted {
            step: step.into(),
            verb: "shell.run".into(),
        }
    }

    #[test]
    fn torn_last_line_is_dropped_and_cut_before_appending() {
        let path = scratch("torn");
        let mut writer = JournalWriter::open(&path, Redactor::default()).unwrap();
        writer.append(started("a")).1.unwrap();
        drop(writer);
        // A crash in the middle of the second write.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(r#"{"at":"2026-11-21T10:00:00Z","event":"step_sta"#);
        std::fs::write(&path, &text).unwrap();

        let journal = read(&path).unwrap();
        assert!(journal.torn);
        assert_eq!(journal.entries.len(), 1);

        let mut writer = JournalWriter::open(&path, Redactor::default()).unwrap();
        writer.append(started("b")).1.unwrap();
        let journal = read(&path).unwrap();
        assert!(!journal.torn);
        let steps: Vec<_> = journal
            .entries
            .iter()
            .filter_map(|e| e.event.step())
            .collect();
        assert_eq!(steps, ["a", "b"]);
    }

    #[test]
    fn a_corrupt_line_in_the_middle_is_an_error_naming_it() {
        let text = "{\"at\":\"2026-11-21T10:00:00Z\",\"event\":\"lock_acquired\",\"key\":\"k\"}\nnot json\n";
        match parse(text) {
            Err(ReadError::Corrupt { line, .. }) => assert_eq!(line, 2),
            other => panic!(
                "expected a corrupt line, got {:?}",
                other.map(|j| j.entries)
            ),
        }
    }

    #[test]
    fn secrets_are_redacted_before_they_reach_the_disk() {
        let path = scratch("redact");
        let mut writer =
            JournalWriter::open(&path, Redactor::new(["hunter22".to_string()])).unwrap();
        let (entry, written) = writer.append(Event::StepFailed {
            step: "a".into(),
            attempts: 1,
            duration: 0.5,
            error: "login failed for hunter22".into(),
            continued: false,
            warning: false,
        });
        written.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("login failed for ••••"));
        assert!(
            matches!(entry.event, Event::StepFailed { ref error, .. } if error.ends_with("••••"))
        );
    }
}
