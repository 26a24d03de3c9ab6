//! Sealed segments: immutable Parquet files with a lookup index beside them.
//!
//! # On-disk format, version 2
//!
//! Segment `<id>` (zero-padded 20-digit decimal) is two files in `segments/`:
//! - `<id>.parquet`: one row per event, sorted by (account, region, eventTime, fingerprint)
//!   ascending, so that every (account, region) scope is one stretch of time-sorted rows (the
//!   API always looks up within one scope, as AWS keeps event history per account and region);
//!   zstd,
//!   page statistics and offset index, a bloom filter on `eventID`. Columns ([`arrow_schema`]):
//!   the fields lookups and SQL filter on, named as in CloudTrail Lake, and `record`, the
//!   event's JSON text exactly as stored (whitespace removed). The key-value metadata
//!   `cairn.segment.version` = `2` marks the format (version 1 sorted by time alone).
//! - `<id>.idx`: the lookup index, format in [`index`].
//!
//! A segment is written under `.tmp` names, synced and renamed; it becomes part of the store
//! only when the manifest lists it. Nothing modifies a segment after that; retention deletes
//! whole segments.

pub(crate) mod index;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use cairn_model::lookup::attribute_index_key;
use cairn_model::{LookupAttributeKey, LookupQuery, PageCursor, Record};
use memmap2::Mmap;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, PageIndexPolicy};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{IoContext, Result, StoreError};
use crate::memtable::{Seen, json_equal};
use crate::wal::sync_dir;
use index::{Postings, SegmentIndex};

const FORMAT_KEY: &str = "cairn.segment.version";
const FORMAT_VERSION: &str = "2";
/// The column holding the record's JSON text.
pub const RECORD_COLUMN: &str = "record";
/// Rows encoded per batch while writing, and most rows in one data page of `record`, so that
/// fetching one event decompresses little.
const RECORD_PAGE_BYTES: usize = 128 << 10;
const WRITE_BATCH_ROWS: usize = 8192;

/// The Parquet schema of a segment.
pub fn arrow_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(
            "eventTime",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("eventID", DataType::Utf8, false),
        text("eventSource"),
        text("eventName"),
        text("awsRegion"),
        // The account the event belongs to: recipientAccountId, else userIdentity.accountId.
        text("accountId"),
        Field::new("readOnly", DataType::Boolean, true),
        text("eventType"),
        text("eventCategory"),
        text("userIdentityType"),
        text("userIdentityArn"),
        text("username"),
        text("accessKeyId"),
        text("sourceIPAddress"),
        text("userAgent"),
        text("errorCode"),
        Field::new(RECORD_COLUMN, DataType::Utf8, false),
    ]))
}

/// What the manifest records about a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentMeta {
    pub id: u64,
    pub rows: u64,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

pub(crate) fn parquet_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.parquet"))
}

pub(crate) fn index_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.idx"))
}

/// Writes segment `id` from `records` (any order) into `dir`, durably.
pub(crate) fn write(dir: &Path, id: u64, records: &[Arc<Record>]) -> Result<SegmentMeta> {
    let mut rows: Vec<&Record> = records.iter().map(Arc::as_ref).collect();
    fn order_key(r: &Record) -> (Option<&str>, Option<&str>, i64, u64) {
        let f = &r.fields;
        (
            f.account_id.as_deref(),
            f.aws_region.as_deref(),
            f.event_time_ms,
            r.fingerprint,
        )
    }
    rows.sort_unstable_by(|a, b| order_key(a).cmp(&order_key(b)));
    let times = rows.iter().map(|r| r.fields.event_time_ms);
    let (Some(min_time_ms), Some(max_time_ms)) = (times.clone().min(), times.max()) else {
        return Err(StoreError::corrupt(
            dir,
            "refusing to write an empty segment",
        ));
    };
    let meta = SegmentMeta {
        id,
        rows: rows.len() as u64,
        min_time_ms,
        max_time_ms,
    };

    let parquet_final = parquet_path(dir, id);
    let parquet_tmp = parquet_final.with_extension("parquet.tmp");
    write_parquet(&parquet_tmp, &rows)?;
    let index_final = index_path(dir, id);
    let index_tmp = index_final.with_extension("idx.tmp");
    let index_bytes = index::build(&rows);
    write_synced(&index_tmp, &index_bytes)?;
    std::fs::rename(&parquet_tmp, &parquet_final)
        .and_then(|()| std::fs::rename(&index_tmp, &index_final))
        .context(|| format!("renaming segment {id} into place"))?;
    sync_dir(dir)?;
    Ok(meta)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    File::create(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .context(|| format!("writing {}", path.display()))
}

fn writer_properties() -> WriterProperties {
    let zstd = ZstdLevel::try_new(3)
        .map(Compression::ZSTD)
        .unwrap_or(Compression::SNAPPY);
    WriterProperties::builder()
        .set_compression(zstd)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_write_batch_size(1024)
        .set_column_dictionary_enabled(ColumnPath::from("eventID"), false)
        .set_column_bloom_filter_enabled(ColumnPath::from("eventID"), true)
        .set_column_bloom_filter_fpp(ColumnPath::from("eventID"), 0.01)
        .set_column_dictionary_enabled(ColumnPath::from(RECORD_COLUMN), false)
        .set_column_statistics_enabled(ColumnPath::from(RECORD_COLUMN), EnabledStatistics::None)
        .set_column_data_page_size_limit(ColumnPath::from(RECORD_COLUMN), RECORD_PAGE_BYTES)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FORMAT_KEY.to_owned(),
            FORMAT_VERSION.to_owned(),
        )]))
        .build()
}

fn write_parquet(path: &Path, rows: &[&Record]) -> Result<()> {
    let parquet_err = |source| StoreError::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).context(|| format!("creating {}", path.display()))?;
    let schema = arrow_schema();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties()))
        .map_err(parquet_err)?;
    for chunk in rows.chunks(WRITE_BATCH_ROWS) {
        let batch = record_batch(&schema, chunk)?;
        writer.write(&batch).map_err(parquet_err)?;
    }
    let file = writer.into_inner().map_err(parquet_err)?;
    file.sync_all()
        .context(|| format!("syncing {}", path.display()))
}

fn record_batch(schema: &SchemaRef, rows: &[&Record]) -> Result<RecordBatch> {
    let text = |get: fn(&Record) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(|r| get(r)).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter()
                    .map(|r| r.fields.event_time_ms)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        text(|r| Some(&r.fields.event_id)),
        text(|r| r.fields.event_source.as_deref()),
        text(|r| r.fields.event_name.as_deref()),
        text(|r| r.fields.aws_region.as_deref()),
        text(|r| r.fields.account_id.as_deref()),
        Arc::new(
            rows.iter()
                .map(|r| r.fields.read_only)
                .collect::<BooleanArray>(),
        ),
        text(|r| r.fields.event_type.as_deref()),
        text(|r| r.fields.event_category.as_deref()),
        text(|r| r.fields.user_identity_type.as_deref()),
        text(|r| r.fields.user_identity_arn.as_deref()),
        text(|r| r.fields.username.as_deref()),
        text(|r| r.fields.access_key_id.as_deref()),
        text(|r| r.fields.source_ip_address.as_deref()),
        text(|r| r.fields.user_agent.as_deref()),
        text(|r| r.fields.error_code.as_deref()),
        text(|r| Some(&r.json)),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// An event a segment offers for a lookup page: its order key and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub time_ms: i64,
    pub fingerprint: u64,
    pub row: u32,
}

/// An open segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) meta: SegmentMeta,
    parquet_path: PathBuf,
    /// The Parquet file, memory-mapped: reads are positional and safe from any thread.
    parquet: bytes::Bytes,
    reader_metadata: ArrowReaderMetadata,
    /// Leaf index of the `record` column in the Parquet schema.
    record_column: usize,
    index: SegmentIndex<Mmap>,
}

impl Segment {
    pub(crate) fn open(dir: &Path, meta: SegmentMeta) -> Result<Segment> {
        let parquet_path = parquet_path(dir, meta.id);
        let parquet = bytes::Bytes::from_owner(map_segment_file(&parquet_path)?);
        let reader_metadata = ArrowReaderMetadata::load(
            &parquet,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required),
        )
        .map_err(|source| StoreError::Parquet {
            path: parquet_path.clone(),
            source,
        })?;
        let version = reader_metadata
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == FORMAT_KEY))
            .and_then(|e| e.value.clone());
        if version.as_deref() != Some(FORMAT_VERSION) {
            return Err(StoreError::corrupt(
                &parquet_path,
                format!("segment format version {version:?}, expected {FORMAT_VERSION}"),
            ));
        }
        let record_column = reader_metadata
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == RECORD_COLUMN)
            .ok_or_else(|| StoreError::corrupt(&parquet_path, "no record column"))?;
        let index_path = index_path(dir, meta.id);
        let index = SegmentIndex::open(map_segment_file(&index_path)?, &index_path)?;
        if index.rows() as u64 != meta.rows
            || reader_metadata.metadata().file_metadata().num_rows() as u64 != meta.rows
        {
            return Err(StoreError::corrupt(
                &index_path,
                "row count differs from the manifest",
            ));
        }
        Ok(Segment {
            meta,
            parquet_path,
            parquet,
            reader_metadata,
            record_column,
            index,
        })
    }

    /// What this segment holds under `record`'s eventID. Same eventID and fingerprint is a
    /// duplicate (the common case of a re-import, answered from the index alone); same eventID
    /// and another fingerprint reads those records to tell "written differently" from "other".
    pub(crate) fn seen(&self, record: &Record) -> Result<Seen> {
        let postings = self.index.postings(attribute_index_key(
            LookupAttributeKey::EventId,
            &record.fields.event_id,
        ));
        let mut others = Vec::new();
        for i in 0..postings.len() {
            let row = postings.get(i);
            if self.index.fingerprint(row) == record.fingerprint {
                return Ok(Seen::Duplicate);
            }
            others.push(row);
        }
        if others.is_empty() {
            return Ok(Seen::New);
        }
        let mut seen = Seen::New;
        for text in self.fetch(&others)? {
            if Record::parse(&text)
                .is_ok_and(|other| other.fields.event_id == record.fields.event_id)
            {
                if json_equal(&text, &record.json) {
                    return Ok(Seen::Duplicate);
                }
                seen = Seen::OtherWithSameId;
            }
        }
        Ok(seen)
    }

    /// Up to `limit` candidates for `query` after `cursor`, newest first. Candidates come from
    /// the index alone; the caller re-checks the fetched records against the query.
    pub(crate) fn top(
        &self,
        query: &LookupQuery,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Vec<Candidate> {
        let start = query.start_ms.unwrap_or(i64::MIN);
        let end = query.end_ms.unwrap_or(i64::MAX);
        if self.meta.max_time_ms < start || self.meta.min_time_ms > end || limit == 0 {
            return Vec::new();
        }
        let postings = match &query.attribute {
            Some((key, value)) => self.index.postings(attribute_index_key(*key, value)),
            None => Postings::Range(0, self.index.rows() as u32),
        };
        let history = query.history();
        let key = |row: u32| (self.index.time(row), self.index.fingerprint(row));
        let mut out = Vec::new();
        // Each scope the query covers is one stretch of rows, sorted by time: take the newest
        // candidates of each, then the newest of all.
        for (scope, (account, region)) in self.index.scopes.iter().enumerate() {
            if !query.covers_scope(account.as_deref(), region.as_deref()) {
                continue;
            }
            let rows = self.index.scope_rows(scope as u32);
            let within = postings.within(rows);
            let mut upper = within.partition_point(|row| self.index.time(row) <= end);
            if let Some(c) = cursor {
                upper =
                    upper.min(within.partition_point(|row| key(row) < (c.time_ms, c.fingerprint)));
            }
            let mut taken = 0;
            for i in (0..upper).rev() {
                let row = within.get(i);
                let time_ms = self.index.time(row);
                if time_ms < start {
                    break;
                }
                if self.index.history(row) == Some(history) {
                    out.push(Candidate {
                        time_ms,
                        fingerprint: self.index.fingerprint(row),
                        row,
                    });
                    taken += 1;
                    if taken == limit {
                        break;
                    }
                }
            }
        }
        out.sort_unstable_by_key(|c| std::cmp::Reverse((c.time_ms, c.fingerprint)));
        out.truncate(limit);
        out
    }

    /// The JSON text of `rows` (ascending, distinct), in that order.
    pub(crate) fn fetch(&self, rows: &[u32]) -> Result<Vec<String>> {
        let parquet_err = |source| StoreError::Parquet {
            path: self.parquet_path.clone(),
            source,
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let total = self.meta.rows as usize;
        let selection = RowSelection::from_consecutive_ranges(
            rows.iter().map(|&r| r as usize..r as usize + 1),
            total,
        );
        let schema = self
            .reader_metadata
            .metadata()
            .file_metadata()
            .schema_descr();
        let mask = ProjectionMask::leaves(schema, [self.record_column]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.parquet.clone(),
            self.reader_metadata.clone(),
        )
        .with_projection(mask)
        .with_row_selection(selection)
        .with_batch_size(rows.len())
        .build()
        .map_err(parquet_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for batch in reader {
            let batch = batch?;
            out.extend(
                batch
                    .column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or_default().to_owned()),
            );
        }
        if out.len() != rows.len() {
            return Err(StoreError::corrupt(
                &self.parquet_path,
                "fewer rows than selected",
            ));
        }
        Ok(out)
    }

    /// Every row's JSON text, in segment order (for export and tests).
    pub(crate) fn fetch_all(&self) -> Result<Vec<String>> {
        let rows: Vec<u32> = (0..self.meta.rows as u32).collect();
        self.fetch(&rows)
    }

    /// Bytes on disk of the segment's Parquet file and of its index file.
    pub(crate) fn file_bytes(&self) -> (u64, u64) {
        let len = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let dir = self.parquet_path.parent().unwrap_or(Path::new(""));
        (len(&self.parquet_path), len(&index_path(dir, self.meta.id)))
    }
}

/// Maps a sealed segment file read-only.
fn map_segment_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).context(|| format!("opening {}", path.display()))?;
    // SAFETY: segment files are immutable once written (the store never opens them for
    // writing again, and retention removes them only after no lookup holds the segment);
    // the map is read only.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) }.context(|| format!("mapping {}", path.display()))?;
    Ok(map)
}
