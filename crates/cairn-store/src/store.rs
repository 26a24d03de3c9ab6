//! The store: appends, recovery, sealing, lookups, retention.
//!
//! # Data directory layout
//!
//! ```text
//! <data-dir>/
//!   LOCK                      held while a process has the store open (see lock.rs)
//!   MANIFEST                  live segments and the log's floor (see manifest.rs)
//!   wal/<id>.wal              the write-ahead log (see wal.rs)
//!   segments/<id>.parquet     sealed events (see segment/mod.rs)
//!   segments/<id>.idx         their lookup index (see segment/index.rs)
//!   catalog/<name>            the service's own documents: trails, keys (see catalog.rs)
//!   cursors/<name>.json       consumers' durable places in the log (see log_cursor.rs)
//! ```
//!
//! # How an event moves
//!
//! 1. [`Store::append`] hands records to the writer thread. The writer takes every request
//!    waiting at that moment, drops duplicates (same eventID and same text as a stored record),
//!    appends the rest to the log and syncs once for all of them (group commit). Only then do the
//!    records enter the memtable, where lookups see them, and only then does `append` return.
//! 2. When the memtable is large enough, the writer freezes it, starts a new log file, and hands
//!    it to the sealer thread. The frozen memtable stays visible to lookups.
//! 3. The sealer writes it as a segment, then a manifest that lists the segment and moves the
//!    log's floor past the frozen memtable's log files; then it swaps the segment in for the
//!    frozen memtable and deletes those log files.
//!
//! A crash at any point leaves either the log files (replayed on open) or the listed segment
//! (with the log files below the floor deleted on open): every acknowledged event exactly once.
//!
//! Log files a [`LogCursor`] still points into are kept past the floor (not replayed: their
//! events are in segments) until the cursor moves on; see `log_cursor.rs`.

use cairn_model::time::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use cairn_model::{LookupQuery, PageCursor, Record};

use crate::catalog::{self, Visibility};
use crate::error::{IoContext, Result, StoreError};
use crate::lock::DirLock;
use crate::log_cursor::{self, LogChunk, LogCursor, LogPosition};
use crate::manifest::{self, Manifest};
use crate::memtable::{Memtable, Seen, before_cursor, json_equal};
use crate::readers::ReaderPool;
use crate::segment::scan::{FieldScan, ScanPlan, TemplateCache};
use crate::segment::{self, Candidate, DictionaryCache, Segment, dictionary_cache};
use crate::wal::{self, WalWriter};
use arrow_array::RecordBatch;

/// How a store behaves. Defaults keep everything and seal every 200,000 events or 192 MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Events whose eventTime is older than this many days are not returned, not accepted, and
    /// their segments are deleted once every event in them is that old. `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Seal the memtable into a segment once it holds this many events...
    pub memtable_max_events: usize,
    /// ...or this many bytes of JSON text.
    pub memtable_max_bytes: usize,
    /// Memory for records recently read from segments, kept parsed so that lookups returning
    /// them again (the newest page, a console's refresh) neither decompress nor parse them.
    pub record_cache_bytes: usize,
    /// Memory for the decompressed dictionary pages of segment columns (the distinct values
    /// of identity columns and the like), which every read of a column would otherwise
    /// decompress again.
    pub dictionary_cache_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention_days: None,
            memtable_max_events: 200_000,
            memtable_max_bytes: 192 << 20,
            record_cache_bytes: 64 << 20,
            dictionary_cache_bytes: 64 << 20,
        }
    }
}

/// What became of one appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendStatus {
    /// New, and now durable.
    Stored,
    /// The store already holds this record (same eventID, same text): not stored again.
    Duplicate,
    /// Stored, although another record with the same eventID but different content is stored
    /// too. CloudTrail's own redeliveries are identical; this happens with edited or
    /// re-exported records, and keeping both loses nothing.
    StoredConflictingId,
    /// Older than the retention period: not stored.
    Expired,
}

/// One page of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage {
    /// Newest first.
    pub records: Vec<Arc<Record>>,
    /// Where the next page starts, when there may be one.
    pub next: Option<PageCursor>,
}

/// Counts describing the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    pub events: u64,
    pub segments: u64,
    pub events_in_segments: u64,
    pub events_in_memtable: u64,
    /// Bytes of segment files (Parquet and index).
    pub segment_bytes: u64,
    /// The part of [`Self::segment_bytes`] in lookup index files.
    pub index_bytes: u64,
    /// Bytes of log files.
    pub wal_bytes: u64,
    /// Segment records lookups have returned since the store was opened, by where they came
    /// from: the record cache, or the segment files (decompressed and parsed).
    pub records_from_cache: u64,
    pub records_from_segments: u64,
}

/// What [`Store::open`] found in the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// Acknowledged events replayed from the log into the memtable.
    pub replayed_events: u64,
    /// Bytes of a torn (never acknowledged) write cut from the end of the log.
    pub torn_bytes: u64,
    /// The files those bytes were kept in (`wal/<file>.torn-at-<byte>`), one a damaged tail.
    pub torn_tails: Vec<PathBuf>,
}

impl RecoveryReport {
    /// What a person starting cairn should be told: one line a damaged tail, naming the log
    /// file, the cut and where its bytes were kept.
    pub fn warnings(&self) -> Vec<String> {
        self.torn_tails
            .iter()
            .map(|kept| {
                format!(
                    "the newest event log file ended in damaged bytes, which were cut and \
                     kept in {}: a crash while appending leaves an unacknowledged write \
                     there; other damage (a disk that lost or zeroed blocks) may have taken \
                     acknowledged events with it",
                    kept.display()
                )
            })
            .collect()
    }
}

/// cairn's durable event store over one data directory.
pub struct Store {
    recovery: RecoveryReport,
    shared: Arc<Shared>,
    writer: Option<Sender<WriterMessage>>,
    threads: Vec<JoinHandle<()>>,
    _lock: DirLock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

/// The free space below which [`Store::writable`] says no: room for the appends under way
/// and the records of the calls refused meanwhile.
pub const WRITE_RESERVE_BYTES: u64 = 1 << 20;

struct Shared {
    dir: PathBuf,
    options: StoreOptions,
    state: RwLock<State>,
    /// True while the sealer works on a frozen memtable.
    sealing: Mutex<bool>,
    seal_finished: Condvar,
    recent_records: RecordCache,
    /// Decompressed dictionary pages of segment columns (see `segment/dictionaries.rs`).
    dictionaries: Arc<DictionaryCache>,
    /// Threads that read segments for lookups beside the caller's.
    readers: ReaderPool,
    records_from_cache: AtomicU64,
    records_from_segments: AtomicU64,
    /// The end of the acknowledged log: readers of the log stop here.
    log_end: Mutex<LogPosition>,
    /// Saved log cursors; held while log files are deleted, so none goes that one still needs.
    cursors: Mutex<BTreeMap<String, LogCursor>>,
    /// Set when the last append failed for want of space, cleared by the next one that works.
    out_of_space: std::sync::atomic::AtomicBool,
    /// Set while the sealer waits for room to write a segment (a full disk): the writer then
    /// keeps appending to the active memtable instead of waiting for the seal.
    seal_waits_for_space: std::sync::atomic::AtomicBool,
    /// Set when the store closes: a seal waiting for space gives up (its events stay in the log).
    closing: std::sync::atomic::AtomicBool,
}

/// A record a lookup read from a segment, for the pick at `pick` of the lookup's picks.
struct SegmentRecord {
    segment_id: u64,
    row: u32,
    pick: usize,
    record: Arc<Record>,
}

/// Reads and parses the wanted rows of each segment (by segment position: (row, pick) pairs);
/// with several segments to read, the store's reader threads share the work (`readers.rs`).
fn read_segment_rows(
    readers: &ReaderPool,
    segments: &[Arc<Segment>],
    unread: HashMap<usize, Vec<(u32, usize)>>,
) -> Result<Vec<SegmentRecord>> {
    type Read = Result<Vec<SegmentRecord>>;
    let tasks = unread
        .into_iter()
        .map(|(i, mut wanted)| {
            let segment = segments[i].clone();
            let weight = wanted.len();
            let task = move || -> Read {
                wanted.sort_unstable();
                let rows: Vec<u32> = wanted.iter().map(|&(row, _)| row).collect();
                let texts = segment.fetch(&rows)?;
                wanted
                    .into_iter()
                    .zip(texts)
                    .map(|((row, pick), text)| {
                        let record = Record::parse(&text).map_err(|e| {
                            StoreError::corrupt(
                                segment.meta.id.to_string(),
                                format!("stored record does not parse: {e}"),
                            )
                        })?;
                        Ok(SegmentRecord {
                            segment_id: segment.meta.id,
                            row,
                            pick,
                            record: Arc::new(record),
                        })
                    })
                    .collect()
            };
            (weight, Box::new(task) as Box<dyn FnOnce() -> Read + Send>)
        })
        .collect();
    let mut read = Vec::new();
    for records in readers.run_all(tasks) {
        read.extend(records?);
    }
    Ok(read)
}

/// Records read from segments, parsed, by (segment id, row). Segments are immutable and their
/// ids never reused, so an entry never goes stale; one of a deleted segment ages out.
type RecordCache = quick_cache::sync::Cache<(u64, u32), Arc<Record>, RecordWeight>;

#[derive(Debug, Clone)]
struct RecordWeight;

impl quick_cache::Weighter<(u64, u32), Arc<Record>> for RecordWeight {
    fn weight(&self, _: &(u64, u32), record: &Arc<Record>) -> u64 {
        // The JSON text, and about as much again for the fields taken from it.
        (2 * record.json.len() + 256) as u64
    }
}

struct State {
    active: Memtable,
    /// The first log file whose events are in `active` (those of `frozen` are in the files from
    /// the manifest's floor up to this one).
    active_from: u64,
    frozen: Option<Arc<Memtable>>,
    segments: Vec<Arc<Segment>>,
    manifest: Manifest,
    /// Set when a write or seal failed; the store then refuses writes (nothing stored is at risk).
    failure: Option<String>,
}

/// Where the writer answers an append.
type AppendReply = SyncSender<Result<Vec<AppendStatus>>>;

enum WriterMessage {
    Append {
        records: Vec<Record>,
        reply: AppendReply,
    },
    Seal {
        reply: SyncSender<Result<()>>,
    },
}

struct SealJob {
    memtable: Arc<Memtable>,
    /// The log file the writer moved on to: everything before it is in `memtable`.
    wal_floor: u64,
    replies: Vec<SyncSender<Result<()>>>,
}

fn segments_dir(dir: &Path) -> PathBuf {
    dir.join("segments")
}

fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("wal")
}

impl StoreOptions {
    /// The oldest eventTime retention keeps, if any.
    fn cutoff_ms(&self) -> Option<i64> {
        self.retention_days
            .map(|days| now_ms() - i64::from(days) * 86_400_000)
    }
}

/// The segments and the memtable events a read takes at one moment.
type Sources = (Vec<Arc<Segment>>, Vec<Arc<Record>>);

fn lock_poisoned<T>(_: T) -> StoreError {
    StoreError::Failed("an internal lock was poisoned by a panic".to_owned())
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, recovering from the log.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_owned();
        for d in [&dir, &segments_dir(&dir), &wal_dir(&dir)] {
            std::fs::create_dir_all(d).context(|| format!("creating {}", d.display()))?;
        }
        let lock = DirLock::acquire(&dir)?;
        let mut manifest = match Manifest::load(&dir)? {
            Some(m) => m,
            None => {
                let m = Manifest::empty();
                m.store(&dir)?;
                m
            }
        };
        remove_unlisted_segment_files(&dir, &manifest)?;
        if drop_expired(&mut manifest, &options) {
            manifest.store(&dir)?;
            remove_unlisted_segment_files(&dir, &manifest)?;
        }
        let dictionaries = Arc::new(dictionary_cache(options.dictionary_cache_bytes));
        let segments = manifest
            .segments
            .iter()
            .map(|meta| {
                Segment::open(&segments_dir(&dir), *meta, dictionaries.clone())
                    .map(Arc::new)
                    .map_err(|e| {
                        StoreError::corrupt(
                            dir.join(manifest::FILE_NAME),
                            format!("it lists segment {}, which cannot be read: {e}", meta.id),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;

        // Replay the log above the floor; delete what is below it and no cursor needs.
        let wal_dir = wal_dir(&dir);
        let cursors = log_cursor::load_all(&dir)?;
        let keep_from = deletion_floor(manifest.wal_floor, &cursors);
        let mut active = Memtable::default();
        let ids = wal::list_wal_files(&wal_dir)?;
        let mut newest: Option<(u64, u64)> = None;
        let mut recovery = RecoveryReport::default();
        for &id in &ids {
            if id < keep_from {
                let path = wal::wal_path(&wal_dir, id);
                std::fs::remove_file(&path).context(|| format!("removing {}", path.display()))?;
                continue;
            }
            if id < manifest.wal_floor {
                continue;
            }
            let is_newest = Some(&id) == ids.last();
            let recovered = wal::recover_file(&wal_dir, id, is_newest)?;
            recovery.torn_bytes += recovered.torn_bytes;
            recovery.torn_tails.extend(recovered.torn_tail);
            let records = recovered
                .payloads
                .iter()
                .map(|payload| {
                    Record::parse(payload).map_err(|e| {
                        StoreError::corrupt(
                            wal::wal_path(&wal_dir, id),
                            format!("a logged record no longer parses: {e}"),
                        )
                    })
                })
                .collect::<Result<Vec<Record>>>()?;
            let all: Vec<&Record> = records.iter().collect();
            let in_segments = seen_in_segments(&segments, &all, Err)?;
            drop(all);
            for (record, in_segments) in records.into_iter().zip(in_segments) {
                let seen = in_segments.or(active.seen(&record));
                if seen != Seen::Duplicate {
                    active.insert(record);
                    recovery.replayed_events += 1;
                }
            }
            newest = Some((id, recovered.valid_len));
        }
        let wal_writer = match newest {
            Some((id, len)) => WalWriter::reopen(&wal_dir, id, len)?,
            None => WalWriter::create(&wal_dir, manifest.wal_floor)?,
        };

        let recent_records = RecordCache::with_weighter(
            options.record_cache_bytes / 4096 + 1,
            options.record_cache_bytes as u64,
            RecordWeight,
        );
        let shared = Arc::new(Shared {
            dir,
            options,
            state: RwLock::new(State {
                active,
                active_from: manifest.wal_floor,
                frozen: None,
                segments,
                manifest,
                failure: None,
            }),
            sealing: Mutex::new(false),
            seal_finished: Condvar::new(),
            recent_records,
            dictionaries,
            readers: ReaderPool::start()?,
            records_from_cache: AtomicU64::new(0),
            records_from_segments: AtomicU64::new(0),
            out_of_space: std::sync::atomic::AtomicBool::new(false),
            seal_waits_for_space: std::sync::atomic::AtomicBool::new(false),
            closing: std::sync::atomic::AtomicBool::new(false),
            log_end: Mutex::new(wal_writer.end()),
            cursors: Mutex::new(cursors),
        });
        let (writer_tx, writer_rx) = mpsc::channel();
        let (sealer_tx, sealer_rx) = mpsc::channel();
        let threads = vec![
            spawn("cairn-store-writer", {
                let shared = shared.clone();
                move || run_writer(&shared, wal_writer, &writer_rx, &sealer_tx)
            })?,
            spawn("cairn-store-sealer", {
                let shared = shared.clone();
                move || run_sealer(&shared, &sealer_rx)
            })?,
        ];
        Ok(Store {
            recovery,
            shared,
            writer: Some(writer_tx),
            threads,
            _lock: lock,
        })
    }

    /// What opening the store recovered from the log.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The catalog document `name` (see `catalog.rs`), if there is one.
    pub fn read_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        catalog::read(&self.shared.dir, name)
    }

    /// Removes the catalog document `name`, if there is one, durably.
    pub fn remove_document(&self, name: &str) -> Result<()> {
        catalog::remove(&self.shared.dir, name)
    }

    /// Replaces the catalog document `name` atomically and durably.
    pub fn write_document(&self, name: &str, bytes: &[u8], visibility: Visibility) -> Result<()> {
        catalog::write(&self.shared.dir, name, bytes, visibility)
    }

    /// The end of the acknowledged log: where a new [`LogCursor`] starts to see only what is
    /// stored from now on.
    pub fn log_end(&self) -> Result<LogPosition> {
        Ok(*self.shared.log_end.lock().map_err(lock_poisoned)?)
    }

    /// The saved log cursor `name`, if there is one.
    pub fn log_cursor(&self, name: &str) -> Result<Option<LogCursor>> {
        let cursors = self.shared.cursors.lock().map_err(lock_poisoned)?;
        Ok(cursors.get(name).cloned())
    }

    /// The names of the saved log cursors.
    pub fn log_cursor_names(&self) -> Result<Vec<String>> {
        let cursors = self.shared.cursors.lock().map_err(lock_poisoned)?;
        Ok(cursors.keys().cloned().collect())
    }

    /// Saves log cursor `name` durably. Its position must lie within the log still kept: at
    /// or after the oldest saved cursor or the floor, at or before [`Self::log_end`].
    pub fn save_log_cursor(&self, name: &str, cursor: &LogCursor) -> Result<()> {
        {
            let mut cursors = self.shared.cursors.lock().map_err(lock_poisoned)?;
            let end = self.log_end()?;
            let wal_floor = self
                .shared
                .state
                .read()
                .map_err(lock_poisoned)?
                .manifest
                .wal_floor;
            let oldest_kept = deletion_floor(wal_floor, &cursors);
            let position = cursor.position;
            if position > end || position.file < oldest_kept || position.offset < wal::HEADER_LEN {
                return Err(StoreError::Failed(format!(
                    "log cursor {name}: position {position:?} is outside the kept log \
                     (files from {oldest_kept}, end {end:?})"
                )));
            }
            log_cursor::save(&self.shared.dir, name, cursor)?;
            cursors.insert(name.to_owned(), cursor.clone());
            // Only a cursor leaving the oldest kept file frees log files.
            if deletion_floor(wal_floor, &cursors) == oldest_kept {
                return Ok(());
            }
        }
        delete_unneeded_log_files(&self.shared)
    }

    /// Removes log cursor `name` (if saved), releasing the log files it kept.
    pub fn remove_log_cursor(&self, name: &str) -> Result<()> {
        {
            let mut cursors = self.shared.cursors.lock().map_err(lock_poisoned)?;
            log_cursor::remove(&self.shared.dir, name)?;
            cursors.remove(name);
        }
        delete_unneeded_log_files(&self.shared)
    }

    /// The records stored from `from` up to `until` (at most [`Self::log_end`]), in the order
    /// they were stored, stopping after about `max_bytes` of JSON text (at least one record
    /// when there is one). `from` must be a position a cursor keeps (or [`Self::log_end`]);
    /// `until` one this store gave out.
    pub fn read_log(
        &self,
        from: LogPosition,
        until: LogPosition,
        max_bytes: usize,
    ) -> Result<LogChunk> {
        let end = self.log_end()?.min(until);
        let wal_dir = wal_dir(&self.shared.dir);
        let mut records = Vec::new();
        let mut at = from;
        let budget = max_bytes.max(1);
        let mut bytes = 0;
        while at < end && bytes < budget {
            let until = (at.file == end.file).then_some(end.offset);
            let read = wal::read_frames(&wal_dir, at.file, at.offset, until, budget - bytes)?;
            bytes += read.payloads.iter().map(String::len).sum::<usize>();
            records.extend(read.payloads);
            at.offset = read.next_offset;
            if read.reached_until && at.file < end.file {
                // A finished log file: the next one follows it.
                at = LogPosition {
                    file: at.file + 1,
                    offset: wal::HEADER_LEN,
                };
            } else if !read.reached_until {
                break;
            }
        }
        Ok(LogChunk { records, end: at })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends records; returns once every stored one is durable. The statuses are in the order
    /// of `records`.
    pub fn append(&self, records: Vec<Record>) -> Result<Vec<AppendStatus>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, response) = mpsc::sync_channel(1);
        self.send(WriterMessage::Append { records, reply })?;
        response.recv().map_err(|_| StoreError::ShuttingDown)?
    }

    /// Whether appends may work: false while the data directory's filesystem has less than
    /// [`WRITE_RESERVE_BYTES`] free, or after an append failed for want of space until one
    /// works again. Callers that must not act on what they may fail to record (the capture
    /// proxy, with `sync` durability) ask first; appends themselves go on into the reserve.
    pub fn writable(&self) -> bool {
        let failed = self
            .shared
            .out_of_space
            .load(std::sync::atomic::Ordering::Relaxed);
        let free = rustix::fs::statvfs(&self.shared.dir)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(u64::MAX);
        !failed && free >= WRITE_RESERVE_BYTES
    }

    /// Seals every acknowledged event that is still only in the log into a segment, and waits
    /// until that is done.
    pub fn seal(&self) -> Result<()> {
        let (reply, response) = mpsc::sync_channel(1);
        self.send(WriterMessage::Seal { reply })?;
        response.recv().map_err(|_| StoreError::ShuttingDown)?
    }

    fn send(&self, message: WriterMessage) -> Result<()> {
        self.writer
            .as_ref()
            .ok_or(StoreError::ShuttingDown)?
            .send(message)
            .map_err(|_| StoreError::ShuttingDown)
    }

    /// One page of events matching `query`, newest first, starting after `cursor`.
    pub fn lookup(
        &self,
        query: &LookupQuery,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Result<LookupPage> {
        let mut query = query.clone();
        if let Some(cutoff) = self.shared.options.cutoff_ms() {
            query.start_ms = Some(query.start_ms.map_or(cutoff, |s| s.max(cutoff)));
        }
        let want = limit + 1;
        enum Pick {
            Memory(Arc<Record>),
            Segment(usize, u32),
        }
        // (time, fingerprint when known, pick): a memtable knows its records' fingerprints;
        // a segment's are known once its records are read.
        let mut picks: Vec<(i64, Option<u64>, Pick)> = Vec::new();
        let segments: Vec<Arc<Segment>> = {
            let state = self.shared.state.read().map_err(lock_poisoned)?;
            for memtable in std::iter::once(&state.active).chain(state.frozen.as_deref()) {
                for record in memtable.top(&query, cursor, want) {
                    picks.push((
                        record.fields.event_time_ms,
                        Some(record.fingerprint),
                        Pick::Memory(record.clone()),
                    ));
                }
            }
            state.segments.clone()
        };
        for (i, segment) in segments.iter().enumerate() {
            for Candidate { time_ms, row } in segment.top(&query, cursor, want) {
                picks.push((time_ms, None, Pick::Segment(i, row)));
            }
        }
        // Keep the newest `want` picks that are surely after the cursor, with every pick of
        // the same time as the last of them (and those of the cursor's own time): the order
        // within one time is known only once the records are read.
        picks.sort_unstable_by_key(|(time, _, _)| std::cmp::Reverse(*time));
        // A memtable's picks (fingerprint known) are after the cursor; a segment's are when
        // older than the cursor's time.
        let (mut counted, mut last_counted_time, mut kept) = (0, None, picks.len());
        for (i, &(time, fingerprint, _)) in picks.iter().enumerate() {
            if counted >= want && Some(time) != last_counted_time {
                kept = i;
                break;
            }
            if fingerprint.is_some() || cursor.is_none_or(|c| time < c.time_ms) {
                counted += 1;
                last_counted_time = Some(time);
            }
        }
        picks.truncate(kept);

        // The picked records, from memory or the cache; the others are read below, one read
        // per segment: (pick's position, row) by segment.
        let cache = &self.shared.recent_records;
        let mut found: Vec<Option<Arc<Record>>> = Vec::with_capacity(picks.len());
        let mut unread: HashMap<usize, Vec<(u32, usize)>> = HashMap::new();
        let (mut from_cache, mut from_segments) = (0, 0);
        for (at, (_, _, pick)) in picks.into_iter().enumerate() {
            found.push(match pick {
                Pick::Memory(record) => Some(record),
                Pick::Segment(i, row) => {
                    let cached = cache.get(&(segments[i].meta.id, row));
                    if cached.is_some() {
                        from_cache += 1;
                    } else {
                        from_segments += 1;
                        unread.entry(i).or_default().push((row, at));
                    }
                    cached
                }
            });
        }
        let shared = &self.shared;
        shared
            .records_from_segments
            .fetch_add(from_segments, Ordering::Relaxed);
        shared
            .records_from_cache
            .fetch_add(from_cache, Ordering::Relaxed);
        for read in read_segment_rows(&shared.readers, &segments, unread)? {
            cache.insert((read.segment_id, read.row), read.record.clone());
            found[read.pick] = Some(read.record);
        }
        // The segment index works on hashes: confirm each match on the record itself.
        let mut records: Vec<Arc<Record>> = found
            .into_iter()
            .flatten()
            .filter(|record| query.matches(&record.fields) && before_cursor(record, cursor))
            .collect();
        records
            .sort_unstable_by_key(|r| std::cmp::Reverse((r.fields.event_time_ms, r.fingerprint)));
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|r| PageCursor {
                time_ms: r.fields.event_time_ms,
                fingerprint: r.fingerprint,
            })
        } else {
            None
        };
        Ok(LookupPage { records, next })
    }

    /// Calls `f` with the JSON text of every stored record that was appended to one of the log
    /// files `from..to` (`to` `None`: up to now). A stretch of log files is whole segments and
    /// memtables when its ends are places where [`Self::seal`] moved the log to a new file
    /// (or the log's current file, when it held no events yet): consumers that need "every
    /// event appended between two moments" seal at each moment and keep [`Self::log_end`]'s
    /// file. Segments sealed before cairn recorded their log files are never in a stretch.
    pub fn for_each_record_in_log_files(
        &self,
        from: u64,
        to: Option<u64>,
        mut f: impl FnMut(&str),
    ) -> Result<()> {
        let (segments, memory) = self.snapshot()?.sources_of_log_files(from, to);
        for segment in &segments {
            for text in segment.fetch_all()? {
                f(&text);
            }
        }
        memory.iter().for_each(|record| f(&record.json));
        Ok(())
    }

    /// The store's events at this moment, for scans that must read one state of the store
    /// however many parts or passes they take (events sealed meanwhile are neither read twice
    /// nor missed).
    pub fn snapshot(&self) -> Result<Snapshot> {
        let state = self.shared.state.read().map_err(lock_poisoned)?;
        Ok(Snapshot {
            segments: state.segments.clone(),
            frozen: state.frozen.as_ref().map(|m| m.records().to_vec()),
            active: state.active.records().to_vec(),
            wal_floor: state.manifest.wal_floor,
            active_from: state.active_from,
            cutoff_ms: self.shared.options.cutoff_ms(),
        })
    }

    /// [`Snapshot::scan_all`] of the store now.
    pub fn scan_all(
        &self,
        scan: &FieldScan,
        f: impl FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        self.snapshot()?.scan_all(scan, f)
    }

    /// Calls `f` with every stored record's JSON text (segments in order, then the memtable).
    pub fn for_each_record(&self, mut f: impl FnMut(&str)) -> Result<()> {
        let (segments, memory): (Vec<Arc<Segment>>, Vec<String>) = {
            let state = self.shared.state.read().map_err(lock_poisoned)?;
            let memory = std::iter::once(&state.active)
                .chain(state.frozen.as_deref())
                .flat_map(|m| m.records().iter().map(|r| r.json.clone()))
                .collect();
            (state.segments.clone(), memory)
        };
        for segment in &segments {
            for text in segment.fetch_all()? {
                f(&text);
            }
        }
        memory.iter().for_each(|text| f(text));
        Ok(())
    }

    pub fn stats(&self) -> Result<StoreStats> {
        let state = self.shared.state.read().map_err(lock_poisoned)?;
        let events_in_memtable =
            (state.active.len() + state.frozen.as_ref().map_or(0, |m| m.len())) as u64;
        let events_in_segments: u64 = state.segments.iter().map(|s| s.meta.rows).sum();
        let wal_dir = wal_dir(&self.shared.dir);
        let wal_bytes = wal::list_wal_files(&wal_dir)?
            .into_iter()
            .filter_map(|id| std::fs::metadata(wal::wal_path(&wal_dir, id)).ok())
            .map(|m| m.len())
            .sum();
        let (parquet_bytes, index_bytes) = state
            .segments
            .iter()
            .map(|s| s.file_bytes())
            .fold((0, 0), |(p, i), (sp, si)| (p + sp, i + si));
        Ok(StoreStats {
            events: events_in_segments + events_in_memtable,
            segments: state.segments.len() as u64,
            events_in_segments,
            events_in_memtable,
            segment_bytes: parquet_bytes + index_bytes,
            index_bytes,
            wal_bytes,
            records_from_cache: self.shared.records_from_cache.load(Ordering::Relaxed),
            records_from_segments: self.shared.records_from_segments.load(Ordering::Relaxed),
        })
    }

    /// Stops the store's threads. Everything acknowledged is already durable; events not yet
    /// sealed stay in the log and are replayed on the next open.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.writer = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .context(|| format!("starting thread {name}"))
}

/// Removes segment files the manifest does not list (unfinished seals, expired segments).
fn remove_unlisted_segment_files(dir: &Path, manifest: &Manifest) -> Result<()> {
    let seg_dir = segments_dir(dir);
    let listed: std::collections::HashSet<u64> = manifest.segments.iter().map(|s| s.id).collect();
    let entries =
        std::fs::read_dir(&seg_dir).context(|| format!("listing {}", seg_dir.display()))?;
    for entry in entries {
        let path = entry
            .context(|| format!("listing {}", seg_dir.display()))?
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = name.split('.').next().and_then(|n| n.parse::<u64>().ok());
        let finished = name.ends_with(".parquet") || name.ends_with(".idx");
        if id.is_none_or(|id| !listed.contains(&id)) || !finished {
            std::fs::remove_file(&path).context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Drops the segments whose every event is past retention from the manifest.
fn drop_expired(manifest: &mut Manifest, options: &StoreOptions) -> bool {
    let Some(cutoff) = options.cutoff_ms() else {
        return false;
    };
    let before = manifest.segments.len();
    manifest.segments.retain(|s| s.max_time_ms >= cutoff);
    manifest.segments.len() != before
}

fn run_writer(
    shared: &Shared,
    mut wal: WalWriter,
    requests: &Receiver<WriterMessage>,
    sealer: &Sender<SealJob>,
) {
    while let Ok(first) = requests.recv() {
        let mut appends = Vec::new();
        let mut seals = Vec::new();
        let mut queued = 0;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                WriterMessage::Append { records, reply } => {
                    queued += records.len();
                    appends.push((records, reply));
                }
                WriterMessage::Seal { reply } => seals.push(reply),
            }
            // Group commit: take whatever else is already waiting, up to a bound.
            if queued < 100_000 {
                next = requests.try_recv().ok();
            }
        }
        if !appends.is_empty() {
            write_group(shared, &mut wal, appends);
        }
        let full = shared.state.read().is_ok_and(|s| {
            s.active.len() >= shared.options.memtable_max_events
                || s.active.json_bytes() >= shared.options.memtable_max_bytes
        });
        // While a seal waits for disk space, a full memtable grows on (appends fail anyway
        // when the log has no room) rather than block the writer; asked-for seals wait.
        let seal_waits = shared.seal_waits_for_space.load(Ordering::Relaxed);
        if (full && !seal_waits) || !seals.is_empty() {
            freeze(shared, &mut wal, sealer, seals);
        }
    }
}

/// The store's events at one moment ([`Store::snapshot`]): its segments and the events of its
/// memtables then. Scans of a snapshot read exactly those events, whatever the store does
/// meanwhile; a segment a snapshot holds is not deleted while it does.
#[derive(Clone)]
pub struct Snapshot {
    segments: Vec<Arc<Segment>>,
    /// The frozen memtable's events (being sealed), if any.
    frozen: Option<Vec<Arc<Record>>>,
    active: Vec<Arc<Record>>,
    /// The first log file of the frozen memtable's events.
    wal_floor: u64,
    /// The first log file of the active memtable's events.
    active_from: u64,
    /// The store's retention: events before this (ms) are no longer its.
    cutoff_ms: Option<i64>,
}

impl Snapshot {
    /// Like [`Store::for_each_record_in_log_files`], but calls `f` with batches of the members
    /// `scan` asks for (see [`FieldScan`]), read from the segments' columns: what SQL over the
    /// store reads. Segments wholly outside the scan's times are skipped.
    pub fn scan_log_files(
        &self,
        from: u64,
        to: Option<u64>,
        scan: &FieldScan,
        mut f: impl FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        scan_sources(self.sources_of_log_files(from, to), scan, &mut f)
    }

    /// [`Self::scan_log_files`] over every event of the snapshot, wherever it is (segments
    /// sealed before cairn recorded their log files included).
    pub fn scan_all(
        &self,
        scan: &FieldScan,
        mut f: impl FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let memory = self.frozen.iter().flatten().chain(&self.active).cloned();
        scan_sources((self.segments.clone(), memory.collect()), scan, &mut f)
    }

    /// A field scan ([`Self::scan_all`]) of the events `query` looks up (its scope, history
    /// category and times, within the store's retention), in no particular order: for reading
    /// a member of many matching events at once (the console's facets). The segments' lookup
    /// indexes choose their rows, and know an attribute's value by a hash: a rare collision
    /// adds events of another value, so a caller of a query with an attribute re-checks it on
    /// the members it reads. The scan's `conditions` and `part` apply too (its times do not:
    /// the query's do).
    pub fn scan_lookup(
        &self,
        query: &LookupQuery,
        scan: &FieldScan,
        mut f: impl FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let mut query = query.clone();
        if let Some(cutoff) = self.cutoff_ms {
            query.start_ms = Some(query.start_ms.map_or(cutoff, |s| s.max(cutoff)));
        }
        let plan = ScanPlan::new(scan)?;
        let mut templates = TemplateCache::default();
        let (part, parts) = scan.part;
        let in_part = |k: usize| parts <= 1 || k % parts == part;
        for (k, segment) in self.segments.iter().enumerate() {
            if in_part(k) {
                let rows = segment.lookup_rows(&query);
                segment.scan_rows(&plan, &mut templates, &rows, &mut f)?;
            }
        }
        if parts > 1 && part != 0 {
            return Ok(());
        }
        let recent: Vec<&Record> = (self.frozen.iter().flatten().chain(&self.active))
            .map(Arc::as_ref)
            .filter(|r| query.matches(&r.fields))
            .collect();
        segment::scan_records(&plan, &mut templates, &recent, &mut f)
    }

    /// The segments and the memtable events of log files `from..to` (see
    /// [`Store::for_each_record_in_log_files`]).
    fn sources_of_log_files(&self, from: u64, to: Option<u64>) -> Sources {
        let within = |first: u64, end: Option<u64>| {
            from <= first
                && match (end, to) {
                    (_, None) => true,
                    (Some(end), Some(to)) => end <= to,
                    (None, Some(_)) => false,
                }
        };
        let segments = self
            .segments
            .iter()
            .filter(|s| s.meta.log_files.is_some_and(|[a, b]| within(a, Some(b))))
            .cloned()
            .collect();
        let frozen = self
            .frozen
            .iter()
            .filter(|_| within(self.wal_floor, Some(self.active_from)));
        let active = Some(&self.active).filter(|_| within(self.active_from, None));
        let memory = frozen.chain(active).flatten().cloned().collect();
        (segments, memory)
    }
}

/// A field scan of `sources`, skipping segments wholly outside the scan's times.
fn scan_sources(
    (segments, memory): Sources,
    scan: &FieldScan,
    f: &mut impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let plan = ScanPlan::new(scan)?;
    let min = scan.min_time_ms.unwrap_or(i64::MIN);
    let max = scan.max_time_ms.unwrap_or(i64::MAX);
    let mut templates = TemplateCache::default();
    let (part, parts) = scan.part;
    let in_part = |k: usize| parts <= 1 || k % parts == part;
    for (k, segment) in segments.iter().enumerate() {
        if in_part(k) && segment.meta.max_time_ms >= min && segment.meta.min_time_ms <= max {
            segment.scan(&plan, &mut templates, &mut *f)?;
        }
    }
    if parts > 1 && part != 0 {
        return Ok(());
    }
    let recent: Vec<&Record> = memory
        .iter()
        .map(Arc::as_ref)
        .filter(|r| (min..=max).contains(&r.fields.event_time_ms))
        .collect();
    segment::scan_records(&plan, &mut templates, &recent, f)
}

/// Writes one group commit: dedup, append, one sync, publish, reply.
/// What `segments` hold of each of `records` (each segment reads once for all of them);
/// `unreadable` answers for a segment that cannot be read, or fails.
fn seen_in_segments(
    segments: &[Arc<Segment>],
    records: &[&Record],
    unreadable: impl Fn(StoreError) -> Result<Vec<Seen>>,
) -> Result<Vec<Seen>> {
    let mut seen = vec![Seen::New; records.len()];
    for segment in segments {
        let in_segment = segment.seen_all(records).or_else(&unreadable)?;
        for (seen, other) in seen.iter_mut().zip(in_segment) {
            *seen = seen.or(other);
        }
    }
    Ok(seen)
}

fn write_group(shared: &Shared, wal: &mut WalWriter, appends: Vec<(Vec<Record>, AppendReply)>) {
    let failure = shared
        .state
        .read()
        .map(|s| s.failure.clone())
        .unwrap_or(Some("poisoned".to_owned()));
    if let Some(failure) = failure {
        for (_, reply) in appends {
            let _ = reply.send(Err(StoreError::Failed(failure.clone())));
        }
        return;
    }
    let cutoff = shared.options.cutoff_ms();
    let mut accepted: Vec<Record> = Vec::new();
    let mut replies = Vec::with_capacity(appends.len());
    {
        let Ok(state) = shared.state.read() else {
            return;
        };
        // What the segments hold of each record of the group, in order: each segment reads
        // what it needs once for the whole group.
        let mut in_segments = {
            let all: Vec<&Record> = appends.iter().flat_map(|(records, _)| records).collect();
            // A segment that cannot be read cannot prove a duplicate: keep the records.
            seen_in_segments(&state.segments, &all, |_| {
                Ok(vec![Seen::OtherWithSameId; all.len()])
            })
            .unwrap_or_else(|_| vec![Seen::OtherWithSameId; all.len()])
            .into_iter()
        };
        // Records earlier in this same group, by eventID.
        let mut group: HashMap<String, Vec<usize>> = HashMap::new();
        for (records, reply) in appends {
            let mut statuses = Vec::with_capacity(records.len());
            for record in records {
                let in_segments = in_segments.next().unwrap_or(Seen::New);
                if cutoff.is_some_and(|c| record.fields.event_time_ms < c) {
                    statuses.push(AppendStatus::Expired);
                    continue;
                }
                let mut seen = in_segments.or(state.active.seen(&record));
                if let Some(frozen) = &state.frozen {
                    seen = seen.or(frozen.seen(&record));
                }
                if let Some(earlier) = group.get(&record.fields.event_id) {
                    let same = earlier.iter().any(|&i| {
                        accepted[i].json == record.json
                            || json_equal(&accepted[i].json, &record.json)
                    });
                    seen = seen.or(if same {
                        Seen::Duplicate
                    } else {
                        Seen::OtherWithSameId
                    });
                }
                statuses.push(match seen {
                    Seen::Duplicate => AppendStatus::Duplicate,
                    Seen::OtherWithSameId => AppendStatus::StoredConflictingId,
                    Seen::New => AppendStatus::Stored,
                });
                if seen != Seen::Duplicate {
                    group
                        .entry(record.fields.event_id.clone())
                        .or_default()
                        .push(accepted.len());
                    accepted.push(record);
                }
            }
            replies.push((statuses, reply));
        }
    }
    let appended = wal.append_durably(accepted.iter().map(|r| r.json.as_bytes()));
    shared.out_of_space.store(
        appended.as_ref().is_err_and(StoreError::is_out_of_space),
        std::sync::atomic::Ordering::Relaxed,
    );
    match appended {
        Ok(()) => {
            if let Ok(mut state) = shared.state.write() {
                for record in accepted {
                    state.active.insert(record);
                }
            }
            if let Ok(mut end) = shared.log_end.lock() {
                *end = wal.end();
            }
            for (statuses, reply) in replies {
                let _ = reply.send(Ok(statuses));
            }
        }
        Err(e) => {
            let message = e.to_string();
            // A failed append the log could take back (a full disk, say) fails only its own
            // events: the next append is tried afresh. One it could not take back stops the
            // store writing until it is opened again and recovery cuts the log's tail.
            if !wal.intact()
                && let Ok(mut state) = shared.state.write()
            {
                state.failure = Some(message.clone());
            }
            for (_, reply) in replies {
                let _ = reply.send(Err(StoreError::Failed(message.clone())));
            }
        }
    }
}

/// Freezes the active memtable and hands it to the sealer (waiting for a seal in progress
/// first, which bounds memory to two memtables). `replies` are answered when the seal is done.
fn freeze(
    shared: &Shared,
    wal: &mut WalWriter,
    sealer: &Sender<SealJob>,
    replies: Vec<SyncSender<Result<()>>>,
) {
    if let Ok(mut sealing) = shared.sealing.lock() {
        while *sealing {
            match shared.seal_finished.wait(sealing) {
                Ok(guard) => sealing = guard,
                Err(_) => return,
            }
        }
    }
    let (empty, failure) = match shared.state.read() {
        Ok(s) => (s.active.is_empty(), s.failure.clone()),
        Err(_) => return,
    };
    if let Some(failure) = failure {
        return reply_all(replies, &Err(StoreError::Failed(failure)));
    }
    if empty {
        return reply_all(replies, &Ok(()));
    }
    let next_wal = match WalWriter::create(&wal_dir(&shared.dir), wal.id() + 1) {
        Ok(w) => w,
        Err(e) => return reply_all(replies, &Err(e)),
    };
    let memtable = {
        let Ok(mut state) = shared.state.write() else {
            return;
        };
        let memtable = Arc::new(std::mem::take(&mut state.active));
        state.frozen = Some(memtable.clone());
        state.active_from = next_wal.id();
        memtable
    };
    *wal = next_wal;
    if let Ok(mut end) = shared.log_end.lock() {
        *end = wal.end();
    }
    if let Ok(mut sealing) = shared.sealing.lock() {
        *sealing = true;
    }
    let job = SealJob {
        memtable,
        wal_floor: wal.id(),
        replies,
    };
    if let Err(mpsc::SendError(job)) = sealer.send(job) {
        reply_all(job.replies, &Err(StoreError::ShuttingDown));
    }
}

/// Answers everyone waiting for a seal with its outcome.
fn reply_all(replies: Vec<SyncSender<Result<()>>>, result: &Result<()>) {
    for reply in replies {
        let _ = reply.send(match result {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::Failed(e.to_string())),
        });
    }
}

/// How long a seal that failed for want of space waits before it is tried again.
const SEAL_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `error` is the disk's being full (ENOSPC, which Parquet's writer reports as text).
fn failed_for_want_of_space(error: &StoreError) -> bool {
    error.is_out_of_space() || error.to_string().contains("os error 28")
}

fn run_sealer(shared: &Shared, jobs: &Receiver<SealJob>) {
    while let Ok(job) = jobs.recv() {
        let mut result = seal(shared, &job);
        // A full disk: the frozen events stay readable in memory and durable in the log; what
        // the seal wrote is removed to give the room back, and it is tried again until it
        // fits (or the store closes: the next open replays the log).
        while let Err(e) = &result {
            if !failed_for_want_of_space(e) || shared.closing.load(Ordering::Relaxed) {
                break;
            }
            shared.seal_waits_for_space.store(true, Ordering::Relaxed);
            shared.out_of_space.store(true, Ordering::Relaxed);
            if let Ok(state) = shared.state.read() {
                let _ = remove_unlisted_segment_files(&shared.dir, &state.manifest);
            }
            std::thread::sleep(SEAL_RETRY_INTERVAL);
            result = seal(shared, &job);
        }
        shared.seal_waits_for_space.store(false, Ordering::Relaxed);
        if let Err(e) = &result
            && let Ok(mut state) = shared.state.write()
        {
            // The frozen events are still in the log and in memory: nothing is lost, but the
            // store stops taking writes rather than grow without bound.
            state.failure = Some(format!("sealing a segment failed: {e}"));
        }
        if let Ok(mut sealing) = shared.sealing.lock() {
            *sealing = false;
        }
        shared.seal_finished.notify_all();
        reply_all(job.replies, &result);
    }
}

fn seal(shared: &Shared, job: &SealJob) -> Result<()> {
    let seg_dir = segments_dir(&shared.dir);
    let mut manifest = shared.state.read().map_err(lock_poisoned)?.manifest.clone();
    let id = manifest.next_segment_id;
    let mut meta = segment::write(&seg_dir, id, job.memtable.records())?;
    meta.log_files = Some([manifest.wal_floor, job.wal_floor]);
    let segment = Arc::new(Segment::open(&seg_dir, meta, shared.dictionaries.clone())?);
    manifest.segments.push(meta);
    manifest.next_segment_id = id + 1;
    manifest.wal_floor = job.wal_floor;
    drop_expired(&mut manifest, &shared.options);
    manifest.store(&shared.dir)?;
    {
        let mut state = shared.state.write().map_err(lock_poisoned)?;
        state.segments.push(segment);
        let live: std::collections::HashSet<u64> = manifest.segments.iter().map(|s| s.id).collect();
        state.segments.retain(|s| live.contains(&s.meta.id));
        state.frozen = None;
        state.manifest = manifest.clone();
    }
    // Past the manifest, these deletions are housekeeping: open() redoes any it misses.
    delete_unneeded_log_files(shared)?;
    remove_unlisted_segment_files(&shared.dir, &manifest)
}

/// The first log file to keep: the manifest's floor, or an older file a cursor points into.
fn deletion_floor(wal_floor: u64, cursors: &BTreeMap<String, LogCursor>) -> u64 {
    cursors
        .values()
        .map(|c| c.position.file)
        .fold(wal_floor, u64::min)
}

/// Deletes the log files below [`deletion_floor`], holding the cursors so that none moves back
/// meanwhile.
fn delete_unneeded_log_files(shared: &Shared) -> Result<()> {
    let wal_floor = shared
        .state
        .read()
        .map_err(lock_poisoned)?
        .manifest
        .wal_floor;
    let cursors = shared.cursors.lock().map_err(lock_poisoned)?;
    let keep_from = deletion_floor(wal_floor, &cursors);
    let wal_dir = wal_dir(&shared.dir);
    for old in wal::list_wal_files(&wal_dir)?
        .into_iter()
        .filter(|&id| id < keep_from)
    {
        let _ = std::fs::remove_file(wal::wal_path(&wal_dir, old));
    }
    Ok(())
}
