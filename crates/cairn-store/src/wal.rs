//! The write-ahead log: where an event is durable before it is acknowledged.
//!
//! # On-disk format, version 1
//!
//! The log is a sequence of files `wal/<id>.wal`, `<id>` a zero-padded 20-digit decimal that
//! grows by one for each new file. A file is
//!
//! ```text
//! header  : "CAIRNWAL" (8 bytes) | format version: u32 LE = 1 | reserved: u32 LE = 0
//! frame*  : payload length: u32 LE (1..=MAX_PAYLOAD) | CRC-32C of payload: u32 LE | payload
//! ```
//!
//! A payload is one CloudTrail record's JSON text (UTF-8, insignificant whitespace removed).
//! Everything else cairn knows about the record is derived from that text again on recovery.
//!
//! Frames are appended in batches; a batch is acknowledged only after `fdatasync` returns
//! (group commit: one sync for every batch that arrived while the previous sync ran).
//!
//! Recovery reads each file frame by frame. In the newest file, the first frame that is
//! incomplete, has a bad length, a bad checksum or invalid UTF-8 marks a torn tail: the write
//! that produced it was never acknowledged, and the file is truncated there. The same damage in
//! an older file cannot come from a crash and is reported as corruption.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::log_cursor::LogPosition;

const MAGIC: &[u8; 8] = b"CAIRNWAL";
const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: u64 = 16;
const FRAME_HEADER_LEN: usize = 8;
/// The largest payload a frame may carry (CloudTrail events are at most 1 MB).
pub const MAX_PAYLOAD: usize = 16 << 20;

/// The path of log file `id` in `wal_dir`.
pub(crate) fn wal_path(wal_dir: &Path, id: u64) -> PathBuf {
    wal_dir.join(format!("{id:020}.wal"))
}

/// The ids of the log files in `wal_dir`, ascending.
pub(crate) fn list_wal_files(wal_dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    let entries =
        std::fs::read_dir(wal_dir).context(|| format!("listing {}", wal_dir.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("listing {}", wal_dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name
            .strip_suffix(".wal")
            .and_then(|n| n.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Appends one frame holding `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The log file currently being appended to.
#[derive(Debug)]
pub(crate) struct WalWriter {
    file: File,
    path: PathBuf,
    id: u64,
    len: u64,
    buffer: Vec<u8>,
    /// False once a failed append could not be taken back: the file may end in a partial
    /// frame that later frames would follow.
    intact: bool,
}

impl WalWriter {
    /// Creates log file `id`, durable (file and directory entry) before it returns.
    pub(crate) fn create(wal_dir: &Path, id: u64) -> Result<WalWriter> {
        let path = wal_path(wal_dir, id);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .context(|| format!("creating {}", path.display()))?;
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .context(|| format!("writing {}", path.display()))?;
        sync_dir(wal_dir)?;
        Ok(WalWriter {
            file,
            path,
            id,
            len: HEADER_LEN,
            buffer: Vec::new(),
            intact: true,
        })
    }

    /// Continues appending to an existing, recovered log file of length `len`.
    pub(crate) fn reopen(wal_dir: &Path, id: u64, len: u64) -> Result<WalWriter> {
        let path = wal_path(wal_dir, id);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .context(|| format!("opening {}", path.display()))?;
        Ok(WalWriter {
            file,
            path,
            id,
            len,
            buffer: Vec::new(),
            intact: true,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Where the next frame goes: the end of everything acknowledged.
    pub(crate) fn end(&self) -> LogPosition {
        LogPosition {
            file: self.id,
            offset: self.len,
        }
    }

    /// Appends one frame per payload and syncs. On error the file is cut back to where it was,
    /// so a failed batch leaves nothing behind that recovery would take for an event.
    /// Whether the file ends after its last whole frame (see [`Self::append_durably`]).
    pub(crate) fn intact(&self) -> bool {
        self.intact
    }

    pub(crate) fn append_durably<'a>(
        &mut self,
        payloads: impl Iterator<Item = &'a [u8]>,
    ) -> Result<()> {
        self.buffer.clear();
        for payload in payloads {
            encode_frame(payload, &mut self.buffer);
        }
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = self
            .file
            .write_all(&self.buffer)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += self.buffer.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Take the partial frames back, and write the next append where they began
                // (the file of `create` is not in append mode). If this fails too, recovery's
                // checksums still reject the partial frames, but later frames would follow
                // garbage, so the store stops writing.
                use std::io::{Seek, SeekFrom};
                let len = self.len;
                let taken_back = self
                    .file
                    .set_len(len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(len)).map(|_| ()))
                    .and_then(|()| self.file.sync_data());
                self.intact = taken_back.is_ok();
                Err(e).context(|| format!("appending to {}", self.path.display()))
            }
        }
    }
}

/// Frames read from one log file by [`read_frames`].
#[derive(Debug)]
pub(crate) struct FramesRead {
    pub payloads: Vec<String>,
    /// The offset just past the last frame read.
    pub next_offset: u64,
    /// True when reading stopped at `until` (or at the end of the file), not at `max_bytes`.
    pub reached_until: bool,
}

/// Reads the frames of log file `id` from byte `offset` (a frame boundary) up to `until` (the
/// file's end when `None`), stopping early once `max_bytes` of payload are read. Only
/// acknowledged frames lie below `until`, so damage there is corruption.
pub(crate) fn read_frames(
    wal_dir: &Path,
    id: u64,
    offset: u64,
    until: Option<u64>,
    max_bytes: usize,
) -> Result<FramesRead> {
    use std::io::{BufReader, Seek, SeekFrom};
    let path = wal_path(wal_dir, id);
    let file = File::open(&path).context(|| format!("opening {}", path.display()))?;
    let until = match until {
        Some(until) => until,
        None => file
            .metadata()
            .context(|| format!("reading {}", path.display()))?
            .len(),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader
        .seek(SeekFrom::Start(offset))
        .context(|| format!("reading {}", path.display()))?;
    let mut payloads = Vec::new();
    let mut at = offset;
    let mut bytes = 0;
    while at < until && bytes < max_bytes {
        let corrupt = |detail: &str| StoreError::corrupt(&path, format!("{detail} at byte {at}"));
        let mut header = [0u8; FRAME_HEADER_LEN];
        reader
            .read_exact(&mut header)
            .map_err(|_| corrupt("incomplete frame header"))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 || len > MAX_PAYLOAD {
            return Err(corrupt("bad frame length"));
        }
        let mut payload = vec![0u8; len];
        reader
            .read_exact(&mut payload)
            .map_err(|_| corrupt("incomplete frame"))?;
        if crc32c::crc32c(&payload) != crc {
            return Err(corrupt("frame checksum mismatch"));
        }
        let text = String::from_utf8(payload).map_err(|_| corrupt("frame is not UTF-8"))?;
        bytes += text.len();
        payloads.push(text);
        at += (FRAME_HEADER_LEN + len) as u64;
    }
    Ok(FramesRead {
        payloads,
        next_offset: at,
        reached_until: at >= until,
    })
}

/// What recovery found in one log file.
#[derive(Debug)]
pub(crate) struct RecoveredFile {
    pub payloads: Vec<String>,
    /// Length of the valid prefix (where appending continues).
    pub valid_len: u64,
    /// Bytes after the valid prefix (a torn tail), removed from the newest file.
    pub torn_bytes: u64,
    /// Where those bytes were kept (see [`keep_torn_tail`]).
    pub torn_tail: Option<PathBuf>,
}

/// Reads log file `id`. With `is_newest`, a damaged tail is truncated; otherwise it is an error.
pub(crate) fn recover_file(wal_dir: &Path, id: u64, is_newest: bool) -> Result<RecoveredFile> {
    let path = wal_path(wal_dir, id);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .context(|| format!("reading {}", path.display()))?;

    if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
        // A newest file whose header never became durable holds no acknowledged frame.
        if is_newest && MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            rewrite_header(&path)?;
            return Ok(RecoveredFile {
                payloads: Vec::new(),
                valid_len: HEADER_LEN,
                torn_bytes: bytes.len() as u64,
                torn_tail: None,
            });
        }
        return Err(StoreError::corrupt(
            &path,
            "not a cairn log file (bad header)",
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
    if version != VERSION {
        return Err(StoreError::UnsupportedVersion {
            path,
            found: version,
            supported: VERSION,
        });
    }

    let mut payloads = Vec::new();
    let mut at = HEADER_LEN as usize;
    let damage = loop {
        if at == bytes.len() {
            break None;
        }
        let Some(header) = bytes.get(at..at + FRAME_HEADER_LEN) else {
            break Some("incomplete frame header");
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 || len > MAX_PAYLOAD {
            break Some("bad frame length");
        }
        let Some(payload) = bytes.get(at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + len) else {
            break Some("incomplete frame");
        };
        if crc32c::crc32c(payload) != crc {
            break Some("frame checksum mismatch");
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            break Some("frame is not UTF-8");
        };
        payloads.push(text.to_owned());
        at += FRAME_HEADER_LEN + len;
    };
    let torn_bytes = (bytes.len() - at) as u64;
    let mut torn_tail = None;
    if let Some(detail) = damage {
        if !is_newest {
            return Err(StoreError::corrupt(&path, format!("{detail} at byte {at}")));
        }
        torn_tail = Some(keep_torn_tail(&path, at, &bytes[at..])?);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .context(|| format!("opening {}", path.display()))?;
        file.set_len(at as u64)
            .and_then(|()| file.sync_all())
            .context(|| format!("truncating the torn tail of {}", path.display()))?;
    }
    Ok(RecoveredFile {
        payloads,
        valid_len: at as u64,
        torn_bytes,
        torn_tail,
    })
}

/// Keeps the damaged tail `bytes` of log file `path`, found at byte `at`, in
/// `<file>.torn-at-<at>` beside it before recovery cuts it: a crash mid-append leaves an
/// unacknowledged frame there, but damage of another kind (a disk that zero-filled or lost
/// blocks) may have taken acknowledged frames with it, and those bytes are the evidence. The
/// store never reads such files; they are the operator's to inspect and remove.
fn keep_torn_tail(path: &Path, at: usize, bytes: &[u8]) -> Result<PathBuf> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".torn-at-{at}"));
    let kept = path.with_file_name(name);
    std::fs::write(&kept, bytes)
        .and_then(|()| File::open(&kept)?.sync_all())
        .context(|| {
            format!(
                "keeping the torn tail of {} in {}",
                path.display(),
                kept.display()
            )
        })?;
    Ok(kept)
}

fn rewrite_header(path: &Path) -> Result<()> {
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    std::fs::write(path, &header)
        .and_then(|()| File::open(path)?.sync_all())
        .context(|| format!("rewriting the header of {}", path.display()))
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context(|| format!("syncing directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), 1).unwrap();
        w.append_durably([b"{\"a\":1}".as_slice(), b"{\"b\":2}".as_slice()].into_iter())
            .unwrap();
        let good_len = std::fs::metadata(wal_path(dir.path(), 1)).unwrap().len();
        drop(w);
        // A torn write: half of a frame.
        let mut frame = Vec::new();
        encode_frame(b"{\"c\":3}", &mut frame);
        let mut f = OpenOptions::new()
            .append(true)
            .open(wal_path(dir.path(), 1))
            .unwrap();
        f.write_all(&frame[..frame.len() / 2]).unwrap();

        let older = recover_file(dir.path(), 1, false);
        assert!(
            matches!(older, Err(StoreError::Corrupt { .. })),
            "{older:?}"
        );
        let r = recover_file(dir.path(), 1, true).unwrap();
        assert_eq!(r.payloads, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(r.valid_len, good_len);
        assert_eq!(
            std::fs::metadata(wal_path(dir.path(), 1)).unwrap().len(),
            good_len
        );
    }
}
