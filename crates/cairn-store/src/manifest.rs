//! The manifest: which segments make up the store, and where in the log recovery starts.
//!
//! # On-disk format, version 1
//!
//! `MANIFEST` in the data directory, a JSON object:
//!
//! ```json
//! {"format": 1, "next_segment_id": 3, "wal_floor": 7,
//!  "segments": [{"id": 1, "rows": 200000, "min_time_ms": 1543444319000, "max_time_ms": 1543530719000,
//!                "log_files": [5, 7]}]}
//! ```
//!
//! - `log_files` (since this member was added; optional): the log files `[first, end)` whose
//!   events the segment holds;
//! - `segments`: the live segments; a segment file not listed here is an unfinished seal and is
//!   deleted on open;
//! - `wal_floor`: the first log file whose events are not yet in a segment; older log files are
//!   deleted;
//! - `next_segment_id`: the id the next sealed segment gets.
//!
//! It is replaced atomically: written to `MANIFEST.tmp`, synced, renamed, directory synced.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::{Visibility, write_atomically};
use crate::error::{IoContext, Result, StoreError};
use crate::segment::SegmentMeta;

pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE_NAME: &str = "MANIFEST";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub format: u32,
    pub next_segment_id: u64,
    pub wal_floor: u64,
    pub segments: Vec<SegmentMeta>,
}

impl Manifest {
    pub(crate) fn empty() -> Manifest {
        Manifest {
            format: FORMAT,
            next_segment_id: 1,
            wal_floor: 1,
            segments: Vec::new(),
        }
    }

    /// Reads the manifest of `dir`, `None` if the store is new.
    pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
        };
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let version: Version =
            serde_json::from_slice(&text).map_err(|e| StoreError::corrupt(&path, e.to_string()))?;
        if version.format != FORMAT {
            return Err(StoreError::UnsupportedVersion {
                path,
                found: version.format,
                supported: FORMAT,
            });
        }
        let manifest =
            serde_json::from_slice(&text).map_err(|e| StoreError::corrupt(&path, e.to_string()))?;
        Ok(Some(manifest))
    }

    /// Replaces the manifest of `dir` atomically and durably.
    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE_NAME);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| StoreError::corrupt(&path, e.to_string()))?;
        write_atomically(&path, &text, Visibility::Plain)
    }
}
