//! Log cursors: named, durable positions in the write-ahead log, for consumers that must see
//! every stored event exactly once, in the order it was stored (trail delivery).
//!
//! A consumer reads the log from its cursor ([`crate::Store::read_log`]), does its work (writes
//! a log file to a bucket, say), then saves the cursor past what it read, together with any
//! state of its own that must move in the same step ([`LogCursor::state`]). A crash before the
//! save makes it read the same events again; after it, never again.
//!
//! The log keeps every file a cursor still points into, even once its events are sealed into
//! a segment: log files are deleted below min(the manifest's floor, the oldest cursor).
//!
//! # On-disk format, version 1
//!
//! `cursors/<name>.json`, `<name>` as catalog names (1–64 of `[a-z0-9._-]`), replaced
//! atomically like catalog documents:
//!
//! ```text
//! {"version": 1, "file": 7, "offset": 1234, "state": <the consumer's JSON, opaque here>}
//! ```
//!
//! `file` is a log file id, `offset` a frame boundary in it (at least the 16-byte header).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{Visibility, validate_name, write_atomically};
use crate::error::{IoContext, Result, StoreError};

const FORMAT_VERSION: u32 = 1;

/// A place in the log: just before the frame at `offset` of log file `file`. Positions order
/// as the events they separate were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogPosition {
    pub file: u64,
    pub offset: u64,
}

/// A consumer's durable place in the log, and its own state saved with it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogCursor {
    pub position: LogPosition,
    pub state: serde_json::Value,
}

/// Events read from the log by [`crate::Store::read_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// The records' JSON text, in the order they were stored.
    pub records: Vec<String>,
    /// Where reading stopped: the position to save once the records are dealt with.
    pub end: LogPosition,
}

#[derive(Serialize, Deserialize)]
struct Document {
    version: u32,
    file: u64,
    offset: u64,
    state: serde_json::Value,
}

pub(crate) fn cursors_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("cursors")
}

fn cursor_path(data_dir: &Path, name: &str) -> Result<PathBuf> {
    validate_name(name)?;
    Ok(cursors_dir(data_dir).join(format!("{name}.json")))
}

/// Every saved cursor, by name.
pub(crate) fn load_all(data_dir: &Path) -> Result<BTreeMap<String, LogCursor>> {
    let dir = cursors_dir(data_dir);
    std::fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let mut cursors = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context(|| format!("listing {}", dir.display()))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue; // a leftover `.tmp` of an interrupted save
        };
        let path = entry.path();
        let bytes = std::fs::read(&path).context(|| format!("reading {}", path.display()))?;
        let document: Document = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::corrupt(&path, format!("not a log cursor: {e}")))?;
        if document.version != FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion {
                path,
                found: document.version,
                supported: FORMAT_VERSION,
            });
        }
        cursors.insert(
            name.to_owned(),
            LogCursor {
                position: LogPosition {
                    file: document.file,
                    offset: document.offset,
                },
                state: document.state,
            },
        );
    }
    Ok(cursors)
}

pub(crate) fn save(data_dir: &Path, name: &str, cursor: &LogCursor) -> Result<()> {
    let path = cursor_path(data_dir, name)?;
    let document = Document {
        version: FORMAT_VERSION,
        file: cursor.position.file,
        offset: cursor.position.offset,
        state: cursor.state.clone(),
    };
    let bytes = serde_json::to_vec(&document)
        .map_err(|e| StoreError::Failed(format!("encoding log cursor {name}: {e}")))?;
    write_atomically(&path, &bytes, Visibility::Plain)
}

pub(crate) fn remove(data_dir: &Path, name: &str) -> Result<()> {
    let path = cursor_path(data_dir, name)?;
    match std::fs::remove_file(&path) {
        Ok(()) => crate::wal::sync_dir(&cursors_dir(data_dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).context(|| format!("removing {}", path.display())),
    }
}
