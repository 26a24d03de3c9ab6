//! Sealed segments: immutable Parquet files with a lookup index beside them.
//!
//! # On-disk format, version 3
//!
//! Segment `<id>` (zero-padded 20-digit decimal) is two files in `segments/`:
//! - `<id>.parquet`: one row per event, sorted by (account, region, eventTime, fingerprint)
//!   ascending, so that every (account, region) scope is one stretch of time-sorted rows (the
//!   API always looks up within one scope, as AWS keeps event history per account and region);
//!   one row group; page statistics and offset index; data pages of at most [`PAGE_BYTES`]
//!   ([`JSON_PAGE_BYTES`] for JSON columns) before compression, so that fetching one event
//!   decompresses little, and dictionaries of at most [`DICTIONARY_PAGE_BYTES`], none for a
//!   column whose values are mostly distinct; `eventTime` delta-encoded; zstd
//!   ([`ZSTD_LEVEL`]) for every column but the UUID bytes (none). (Segments written before
//!   had LZ4 for the columns of few values and a dictionary for `eventTime`: the same
//!   format to a reader.) Columns ([`arrow_schema`]):
//!   - `eventTime` (timestamp, ms, UTC), `accountId` (the account the event belongs to) and
//!     `readOnly` (boolean, when the record says): derived by cairn, for SQL and statistics;
//!   - `template` and the shredded columns, named by their record path
//!     (`eventName`, `userIdentity.arn`, `requestParameters`, ...), text, and for the ids
//!     that are usually UUIDs (`eventID`, `requestID`, `sharedEventID`) a second column
//!     `<name>.uuid` of 16-byte values: the record's JSON text exactly as stored (whitespace
//!     removed), taken apart as [`shred`] documents, so that each field compresses as a
//!     column and is there for SQL as one;
//!   - optionally, member columns `<parent>.<key>`: copies of the frequent keys of
//!     `requestParameters`, `responseElements` and `additionalEventData` ([`members`]).
//!
//!   The key-value metadata `cairn.segment.version` = `3` marks the format. Version 2 kept the
//!   whole text in one `record` column beside copies of the lookup fields; version 1 sorted by
//!   time alone. Neither is read any more: such a store must be imported again.
//! - `<id>.idx`: the lookup index, format in [`index`].
//!
//! A segment is written under `.tmp` names, synced and renamed; it becomes part of the store
//! only when the manifest lists it. Nothing modifies a segment after that; retention deletes
//! whole segments.

pub(crate) mod index;
mod members;
mod pages;
pub mod scan;
mod shred;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeBinaryBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, RecordBatch, StringArray, StringViewArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use cairn_model::lookup::attribute_index_key;
use cairn_model::{LookupAttributeKey, LookupQuery, PageCursor, Record};
use memmap2::Mmap;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, RowSelection,
};
use parquet::arrow::parquet_to_arrow_field_levels;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, PageIndexPolicy};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{IoContext, Result, StoreError};
use crate::memtable::{Seen, json_equal};
use crate::wal::sync_dir;
use index::{Postings, SegmentIndex};
use members::MemberColumn;
use pages::SegmentColumns;
pub(crate) use pages::{DictionaryCache, dictionary_cache};

const FORMAT_KEY: &str = "cairn.segment.version";
const FORMAT_VERSION: &str = "3";
/// The key of the segment's metadata that lists, by name and comma-separated, the shredded
/// columns whose member some record's template writes itself (see `shred`): where a column
/// is null, only those can have a value in the template. A segment written before this key
/// existed may have any: its templates are read wherever a column is null.
const LITERALS_KEY: &str = "cairn.segment.literal-columns";

/// The columns a [`LITERALS_KEY`] value names (every column without one).
fn literal_columns(text: Option<&str>) -> u128 {
    let Some(text) = text else {
        return u128::MAX;
    };
    text.split(',')
        .filter_map(|name| shred::COLUMNS.iter().position(|c| c.name == name))
        .fold(0, |mask, i| mask | 1 << i)
}
/// The derived event time column.
const EVENT_TIME_COLUMN: &str = "eventTime";
/// The derived account column.
const ACCOUNT_COLUMN: &str = "accountId";
/// The column of record templates.
const TEMPLATE_COLUMN: &str = "template";
/// Most bytes (before compression) in one data page of any column, so that fetching one event
/// decompresses little; columns of few distinct values take many rows a page.
const PAGE_BYTES: usize = 16 << 10;
/// The same for the JSON columns (`requestParameters`, `resources`, ...): their values are
/// long and alike, and compress better in larger pages (on the benchmark's records, about
/// 20% smaller at 64 KiB than at 16 KiB).
const JSON_PAGE_BYTES: usize = 64 << 10;
/// Rows encoded at a time within a page; a page ends on a multiple of it.
const MINI_BATCH_ROWS: usize = 64;
/// Most bytes in a column's dictionary (beyond it, the column's later pages hold plain
/// values). Identity columns (principalId, arn, accessKeyId, session dates) repeat each value
/// a few times to thousands of times across a segment but far apart, so they compress well only
/// with a dictionary that holds all their values: measured with `cairn bench run`, 64 KiB
/// dictionaries made 76.2 bytes/event of Parquet, 256 KiB 72.7, 1 MiB 65.8. At 1 MiB the
/// principal ARNs of `cairn bench sql`'s 1M events still outgrew it and fell back to plain
/// pages (84.91 MB of segments); at 4 MiB every column stays in its dictionary (84.77 MB), which
/// a scan reads as views into one decompressed page. A read decompresses a dictionary once per
/// segment and column and keeps it (`dictionaries.rs`).
const DICTIONARY_PAGE_BYTES: usize = 4 << 20;
const WRITE_BATCH_ROWS: usize = 8192;
/// A scan whose conditions keep at most one row in this many reads the other columns of
/// those rows alone; otherwise it reads every row.
const SELECT_AT_MOST_ONE_ROW_IN: usize = 16;

/// The Parquet schema of a segment with the member columns `members` (see [`members`]):
/// [`arrow_schema`], then one text column per member column.
fn segment_schema(members: &[MemberColumn]) -> SchemaRef {
    let mut fields: Vec<Field> = arrow_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(
        members
            .iter()
            .map(|m| Field::new(&m.name, DataType::Utf8, true)),
    );
    Arc::new(Schema::new(fields))
}

/// The Parquet schema of a segment: the columns cairn derives, the template, then one column
/// per [`shred::COLUMNS`] entry (and optional member columns: [`members`]).
pub fn arrow_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new(
            EVENT_TIME_COLUMN,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        // The account the event belongs to: recipientAccountId, else userIdentity.accountId.
        Field::new(ACCOUNT_COLUMN, DataType::Utf8, true),
        Field::new("readOnly", DataType::Boolean, true),
        Field::new(TEMPLATE_COLUMN, DataType::Utf8, false),
    ];
    for column in shred::COLUMNS {
        fields.push(Field::new(column.name, DataType::Utf8, true));
        if column.kind == shred::Kind::Uuid {
            fields.push(Field::new(uuid_column(column), UUID_TYPE, true));
        }
    }
    Arc::new(Schema::new(fields))
}

const UUID_TYPE: DataType = DataType::FixedSizeBinary(16);

/// The name of the column holding a [`shred::Kind::Uuid`] column's UUIDs as bytes.
fn uuid_column(column: &shred::ShredColumn) -> String {
    format!("{}.uuid", column.name)
}

/// What the manifest records about a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentMeta {
    pub id: u64,
    pub rows: u64,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// The log files its events were appended to, `[first, end)`; absent in segments sealed
    /// before cairn recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_files: Option<[u64; 2]>,
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
        log_files: None,
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

/// The zstd level: the knob between import speed and size, as decompression costs the same
/// at any level. Measured with `cairn bench run` (1M records, 2 cores; the sealer compresses
/// while other threads parse and log, so import slows only once it is the slowest): level 6
/// imports 61k events/s at 64.2 bytes/event of Parquet, level 8 58k at 63.6, level 10 59k at
/// 63.3, level 12 51k at 63.1.
const ZSTD_LEVEL: i32 = 10;
/// A text column whose sampled values are at least this fraction distinct is written
/// without a dictionary: its values would rarely repeat, and the dictionary built before
/// the writer gives up on it would only add bytes.
const DISTINCT_FRACTION_WITHOUT_DICTIONARY: f64 = 0.3;
/// How many rows of a segment decide that.
const DICTIONARY_SAMPLE_ROWS: usize = 4096;

/// The properties of a segment whose first batch is `sample`.
fn writer_properties(sample: &RecordBatch) -> WriterProperties {
    let zstd = ZstdLevel::try_new(ZSTD_LEVEL)
        .map(Compression::ZSTD)
        .unwrap_or(Compression::SNAPPY);
    let mut builder = WriterProperties::builder()
        .set_compression(zstd)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_write_batch_size(MINI_BATCH_ROWS)
        .set_data_page_size_limit(PAGE_BYTES)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_column_statistics_enabled(ColumnPath::from(TEMPLATE_COLUMN), EnabledStatistics::None)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FORMAT_KEY.to_owned(),
            FORMAT_VERSION.to_owned(),
        )]));
    for column in shred::COLUMNS {
        let path = || ColumnPath::from(column.name);
        match column.kind {
            shred::Kind::Json => {
                builder = builder
                    .set_column_statistics_enabled(path(), EnabledStatistics::None)
                    .set_column_data_page_size_limit(path(), JSON_PAGE_BYTES);
            }
            shred::Kind::Uuid => {
                // Ids are unique: a dictionary would only be built to be abandoned. The bytes
                // are random: nothing to compress either.
                let bytes = ColumnPath::from(uuid_column(column));
                builder = builder
                    .set_column_dictionary_enabled(path(), false)
                    .set_column_dictionary_enabled(bytes.clone(), false)
                    .set_column_compression(bytes.clone(), Compression::UNCOMPRESSED)
                    .set_column_statistics_enabled(bytes, EnabledStatistics::None);
            }
            shred::Kind::Text | shred::Kind::EventTime => {}
        }
    }
    // Times ascend within each scope: their differences, bit-packed, take a few bits a row
    // (a dictionary of a segment's distinct seconds took more than a byte).
    builder = builder
        .set_column_dictionary_enabled(ColumnPath::from(EVENT_TIME_COLUMN), false)
        .set_column_encoding(
            ColumnPath::from(EVENT_TIME_COLUMN),
            Encoding::DELTA_BINARY_PACKED,
        );
    for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
        if mostly_distinct(column.as_ref()) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Whether the first [`DICTIONARY_SAMPLE_ROWS`] values of a text column are mostly distinct.
fn mostly_distinct(column: &dyn Array) -> bool {
    let Some(texts) = column.as_string_opt::<i32>() else {
        return false;
    };
    let values: Vec<&str> = texts
        .iter()
        .take(DICTIONARY_SAMPLE_ROWS)
        .flatten()
        .collect();
    let distinct: std::collections::HashSet<&str> = values.iter().copied().collect();
    !values.is_empty()
        && distinct.len() as f64 >= DISTINCT_FRACTION_WITHOUT_DICTIONARY * values.len() as f64
}

fn write_parquet(path: &Path, rows: &[&Record]) -> Result<()> {
    let parquet_err = |source| StoreError::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).context(|| format!("creating {}", path.display()))?;
    let members = members::choose(rows.len(), |row| {
        let record = rows[row];
        shred::shred(&record.json, record.fields.event_time_ms).values
    });
    let schema = segment_schema(&members);
    let mut chunks = rows.chunks(WRITE_BATCH_ROWS);
    // The columns some record's template writes itself (every record's, as each is shredded).
    let mut literals = 0u128;
    let first = record_batch(
        &schema,
        chunks.next().unwrap_or_default(),
        &members,
        &mut literals,
    )?;
    let properties = writer_properties(&first);
    let mut writer =
        ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(parquet_err)?;
    writer.write(&first).map_err(parquet_err)?;
    for chunk in chunks {
        let batch = record_batch(&schema, chunk, &members, &mut literals)?;
        writer.write(&batch).map_err(parquet_err)?;
    }
    writer.append_key_value_metadata(KeyValue::new(
        LITERALS_KEY.to_owned(),
        shred::column_names(literals).join(","),
    ));
    let file = writer.into_inner().map_err(parquet_err)?;
    file.sync_all()
        .context(|| format!("syncing {}", path.display()))
}

/// Calls `f` with the scan's batches of `records` (events not sealed yet), shredded as a
/// segment would store them, so that a scan reads them exactly as it reads segments.
pub(crate) fn scan_records(
    plan: &scan::ScanPlan,
    templates: &mut scan::TemplateCache,
    records: &[&Record],
    f: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let schema = arrow_schema();
    // Text as a segment's is read for a scan: as views (of the same bytes); the templates stay
    // text.
    let read_schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::Utf8 if field.name() != TEMPLATE_COLUMN => {
                    Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8View))
                }
                _ => field.clone(),
            })
            .collect::<arrow_schema::Fields>(),
    ));
    for chunk in records.chunks(scan::SCAN_BATCH_ROWS) {
        let batch = record_batch(&schema, chunk, &[], &mut 0)?;
        let columns = batch
            .columns()
            .iter()
            .zip(read_schema.fields())
            .map(
                |(column, field)| match (column.as_string_opt::<i32>(), field.data_type()) {
                    (Some(texts), DataType::Utf8View) => {
                        Arc::new(StringViewArray::from(texts)) as ArrayRef
                    }
                    _ => column.clone(),
                },
            )
            .collect();
        let batch = RecordBatch::try_new(read_schema.clone(), columns)?;
        f(plan
            .convert(&batch, templates)
            .map_err(StoreError::Failed)?)?;
    }
    Ok(())
}

/// The batch of `rows` in the segment schema `schema`, with the member columns `members`;
/// adds to `literals` the columns whose member a row's template writes itself.
fn record_batch(
    schema: &SchemaRef,
    rows: &[&Record],
    members: &[MemberColumn],
    literals: &mut u128,
) -> Result<RecordBatch> {
    let mut templates = StringBuilder::with_capacity(rows.len(), rows.len() * 256);
    let mut texts: Vec<StringBuilder> = shred::COLUMNS
        .iter()
        .map(|_| StringBuilder::with_capacity(rows.len(), rows.len() * 16))
        .collect();
    let mut uuids: Vec<Option<FixedSizeBinaryBuilder>> = shred::COLUMNS
        .iter()
        .map(|c| {
            (c.kind == shred::Kind::Uuid)
                .then(|| FixedSizeBinaryBuilder::with_capacity(rows.len(), 16))
        })
        .collect();
    let mut row_values: Vec<Option<&str>> = vec![None; shred::COLUMNS.len()];
    for record in rows {
        let shredded = shred::shred(&record.json, record.fields.event_time_ms);
        *literals |= shredded.literals;
        templates.append_value(&shredded.template);
        row_values.fill(None);
        for &(column, value) in &shredded.values {
            row_values[column as usize] = Some(value);
        }
        for ((text, uuid), value) in texts.iter_mut().zip(&mut uuids).zip(&row_values) {
            // A UUID column's value goes to its bytes column when it is a UUID, else to text.
            let Some(uuid) = uuid else {
                text.append_option(*value);
                continue;
            };
            match value.and_then(shred::uuid_bytes) {
                Some(bytes) => {
                    uuid.append_value(bytes)?;
                    text.append_null();
                }
                None => {
                    uuid.append_null();
                    text.append_option(*value);
                }
            }
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter()
                    .map(|r| r.fields.event_time_ms)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.fields.account_id.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.fields.read_only)
                .collect::<BooleanArray>(),
        ),
        Arc::new(templates.finish()),
    ];
    let texts: Vec<StringArray> = texts.iter_mut().map(StringBuilder::finish).collect();
    for (text, uuid) in texts.iter().zip(&mut uuids) {
        columns.push(Arc::new(text.clone()));
        if let Some(uuid) = uuid {
            columns.push(Arc::new(uuid.finish()));
        }
    }
    // Member columns from their objects' columns, parent by parent (`members` is in that
    // order).
    for of_parent in members.chunk_by(|a, b| a.parent == b.parent) {
        let keys: Vec<&str> = of_parent.iter().map(|m| m.key.as_str()).collect();
        let mut builders: Vec<StringBuilder> = keys
            .iter()
            .map(|_| StringBuilder::with_capacity(rows.len(), rows.len() * 8))
            .collect();
        members::each_rows_keys(texts[of_parent[0].parent].iter(), &keys, |i, text| {
            builders[i].append_option(text)
        });
        columns.extend(
            builders
                .iter_mut()
                .map(|builder| Arc::new(builder.finish()) as ArrayRef),
        );
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// An event a segment offers for a lookup page: its time and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub time_ms: i64,
    pub row: u32,
}

/// A text column as read: plain strings (lookups, memtables) or views (scans, see
/// [`scan_read_fields`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Texts<'b> {
    Plain(&'b StringArray),
    Views(&'b StringViewArray),
}

impl<'b> Texts<'b> {
    pub(crate) fn of(array: &'b dyn Array) -> Option<Texts<'b>> {
        match array.data_type() {
            DataType::Utf8 => array.as_string_opt::<i32>().map(Texts::Plain),
            DataType::Utf8View => array.as_string_view_opt().map(Texts::Views),
            _ => None,
        }
    }

    pub(crate) fn is_valid(&self, row: usize) -> bool {
        match self {
            Texts::Plain(texts) => texts.is_valid(row),
            Texts::Views(texts) => texts.is_valid(row),
        }
    }

    pub(crate) fn value(&self, row: usize) -> &'b str {
        match self {
            Texts::Plain(texts) => texts.value(row),
            Texts::Views(texts) => texts.value(row),
        }
    }
}

/// One shredded column as read from a segment: its text, and for a UUID column its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShreddedValues<'b> {
    pub(crate) text: Texts<'b>,
    pub(crate) uuid: Option<&'b FixedSizeBinaryArray>,
}

impl<'b> ShreddedValues<'b> {
    /// Row `row`'s value, `None` when the record did not have it in this column.
    pub(crate) fn value(&self, row: usize) -> Option<Cow<'b, str>> {
        if self.text.is_valid(row) {
            return Some(Cow::Borrowed(self.text.value(row)));
        }
        let uuid = self.uuid.filter(|u| u.is_valid(row))?;
        Some(Cow::Owned(shred::uuid_text(uuid.value(row))))
    }
}

/// An open segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) meta: SegmentMeta,
    parquet_path: PathBuf,
    /// The Parquet file, memory-mapped: reads are positional and safe from any thread.
    parquet: bytes::Bytes,
    reader_metadata: ArrowReaderMetadata,
    /// Leaf indexes, in the Parquet schema, of the columns a record is re-made from: the
    /// event time, the template, and each of `shred::COLUMNS` (its text column, then for a
    /// UUID column its bytes column).
    event_time_leaf: usize,
    account_leaf: usize,
    template_leaf: usize,
    shredded_leaves: Vec<Vec<usize>>,
    /// By shredded column: whether a row's member may be in its template rather than in the
    /// column: the column may be null in some row (its statistics say so, or it has none) and
    /// some template writes the member itself ([`LITERALS_KEY`]; or the column is eventTime,
    /// whose nulls are the event's time). A scan reads templates only for such members.
    may_be_in_templates: Vec<bool>,
    /// Leaf indexes of the segment's member columns, by name (see [`members`]).
    member_leaves: HashMap<String, usize>,
    index: SegmentIndex<Mmap>,
    /// The store's decompressed dictionary pages, this segment's among them.
    dictionaries: Arc<DictionaryCache>,
}

impl Segment {
    pub(crate) fn open(
        dir: &Path,
        meta: SegmentMeta,
        dictionaries: Arc<DictionaryCache>,
    ) -> Result<Segment> {
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
                format!(
                    "segment format version {}, this cairn reads version {FORMAT_VERSION}: \
                     import the original log files into a new data directory",
                    version.as_deref().unwrap_or("unknown")
                ),
            ));
        }
        let leaves = reader_metadata
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect::<Vec<_>>();
        let leaf = |name: &str| {
            leaves
                .iter()
                .position(|leaf| leaf == name)
                .ok_or_else(|| StoreError::corrupt(&parquet_path, format!("no column {name}")))
        };
        let event_time_leaf = leaf(EVENT_TIME_COLUMN)?;
        let template_leaf = leaf(TEMPLATE_COLUMN)?;
        let account_leaf = leaf(ACCOUNT_COLUMN)?;
        let shredded_leaves = shred::COLUMNS
            .iter()
            .map(|c| {
                let mut leaves = vec![leaf(c.name)?];
                if c.kind == shred::Kind::Uuid {
                    leaves.push(leaf(&uuid_column(c))?);
                }
                Ok(leaves)
            })
            .collect::<Result<Vec<_>>>()?;
        let member_leaves = leaves
            .iter()
            .enumerate()
            .filter(|(_, name)| MemberColumn::named(name).is_some())
            .map(|(leaf, name)| (name.clone(), leaf))
            .collect();
        let metadata = reader_metadata.metadata();
        let literals = literal_columns(
            metadata
                .file_metadata()
                .key_value_metadata()
                .and_then(|kv| kv.iter().find(|e| e.key == LITERALS_KEY))
                .and_then(|e| e.value.as_deref()),
        );
        // A null in a column may stand for a value its template writes: for a column some
        // template writes itself, and for eventTime (a null there is the event's time).
        let may_be_in_templates = shredded_leaves
            .iter()
            .zip(shred::COLUMNS)
            .enumerate()
            .map(|(i, (leaves, column))| {
                let written_in_templates =
                    literals >> i & 1 == 1 || column.kind == shred::Kind::EventTime;
                written_in_templates
                    && metadata.row_groups().iter().any(|group| {
                        let statistics = group.column(leaves[0]).statistics();
                        statistics.and_then(|s| s.null_count_opt()) != Some(0)
                    })
            })
            .collect();
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
        let mut segment = Segment {
            meta,
            parquet_path,
            parquet,
            reader_metadata,
            event_time_leaf,
            account_leaf,
            template_leaf,
            shredded_leaves,
            may_be_in_templates,
            member_leaves,
            index,
            dictionaries,
        };
        if !segment.index.is_current() {
            segment.rebuild_index(&index_path)?;
        }
        Ok(segment)
    }

    /// Replaces an index of an older version with one built from the segment's records, as
    /// the sealer would build it today: the keys follow what `cairn-model` now derives from a
    /// record. Written beside it and renamed over it, so a crash leaves the old or the new.
    fn rebuild_index(&mut self, index_path: &Path) -> Result<()> {
        let texts = self.fetch_all()?;
        let records = texts
            .iter()
            .map(|text| {
                Record::parse(text).map_err(|e| {
                    StoreError::corrupt(&self.parquet_path, format!("a stored record: {e}"))
                })
            })
            .collect::<Result<Vec<Record>>>()?;
        let rows: Vec<&Record> = records.iter().collect();
        let tmp = index_path.with_extension("idx.tmp");
        write_synced(&tmp, &index::build(&rows))?;
        std::fs::rename(&tmp, index_path)
            .context(|| format!("renaming {} into place", tmp.display()))?;
        sync_dir(index_path.parent().unwrap_or(Path::new(".")))?;
        self.index = SegmentIndex::open(map_segment_file(index_path)?, index_path)?;
        Ok(())
    }

    /// What this segment holds under each record's eventID: a duplicate is the very record
    /// (JSON-equal), and so has its time, which the index tells without reading; rows of the
    /// same eventID key and another time can only be other records with that eventID or, the
    /// keys being 28-bit hashes, other eventIDs. Reads a segment's rows once for all records:
    /// the eventID columns of the rows under their keys, then the records of those of the
    /// same time (a re-import of a log file reads its stretch of rows once).
    pub(crate) fn seen_all(&self, records: &[&Record]) -> Result<Vec<Seen>> {
        let mut seen = vec![Seen::New; records.len()];
        // (record, row) for every row under a record's eventID key.
        let mut pairs: Vec<(usize, u32)> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let postings = self.index.postings(attribute_index_key(
                LookupAttributeKey::EventId,
                &record.fields.event_id,
            ));
            pairs.extend((0..postings.len()).map(|p| (i, postings.get(p))));
        }
        if pairs.is_empty() {
            return Ok(seen);
        }
        let stored_ids = {
            let mut rows: Vec<u32> = pairs.iter().map(|&(_, row)| row).collect();
            rows.sort_unstable();
            rows.dedup();
            let ids = self.stored_event_ids(&rows)?;
            rows.into_iter()
                .zip(ids)
                .collect::<HashMap<u32, Option<String>>>()
        };
        // Drop rows of other eventIDs; an eventID kept in the template is told from the record.
        let mut to_read: Vec<u32> = Vec::new();
        pairs.retain(|&(i, row)| {
            let record = records[i];
            match stored_ids.get(&row).and_then(Option::as_deref) {
                Some(id) if id != record.fields.event_id => false,
                Some(_) if self.index.time(row) != record.fields.event_time_ms => {
                    seen[i] = Seen::OtherWithSameId;
                    false
                }
                _ => {
                    to_read.push(row);
                    true
                }
            }
        });
        if pairs.is_empty() {
            return Ok(seen);
        }
        to_read.sort_unstable();
        to_read.dedup();
        let texts: HashMap<u32, String> =
            to_read.iter().copied().zip(self.fetch(&to_read)?).collect();
        for (i, row) in pairs {
            let (record, Some(text)) = (records[i], texts.get(&row)) else {
                continue;
            };
            if seen[i] == Seen::Duplicate {
                continue;
            }
            if text == &record.json || json_equal(text, &record.json) {
                seen[i] = Seen::Duplicate;
            } else if Record::parse(text)
                .is_ok_and(|other| other.fields.event_id == record.fields.event_id)
            {
                seen[i] = Seen::OtherWithSameId;
            }
        }
        Ok(seen)
    }

    /// The `eventID` of `rows` (ascending, distinct) when their segment holds it in its
    /// column; `None` when it is in the template (not a plain string) or absent.
    fn stored_event_ids(&self, rows: &[u32]) -> Result<Vec<Option<String>>> {
        let Some(column) = shred::COLUMNS.iter().position(|c| c.name == "eventID") else {
            return Ok(vec![None; rows.len()]);
        };
        let batch = self.read_columns(rows, self.shredded_leaves[column].iter().copied())?;
        let ids = self.shredded_values(&batch, column)?;
        Ok((0..batch.num_rows())
            .map(|row| ids.value(row).map(Cow::into_owned))
            .collect())
    }

    /// The values of shredded column `column` (`shred::COLUMNS[column]`) in `batch`.
    fn shredded_values<'b>(
        &self,
        batch: &'b RecordBatch,
        column: usize,
    ) -> Result<ShreddedValues<'b>> {
        let column = &shred::COLUMNS[column];
        let missing = |name: &str| {
            StoreError::corrupt(
                &self.parquet_path,
                format!("column {name} is missing or of another type"),
            )
        };
        let text = batch
            .column_by_name(column.name)
            .and_then(|c| Texts::of(c.as_ref()))
            .ok_or_else(|| missing(column.name))?;
        let uuid = match column.kind {
            shred::Kind::Uuid => {
                let name = uuid_column(column);
                let uuid = batch
                    .column_by_name(&name)
                    .and_then(|c| c.as_fixed_size_binary_opt())
                    .ok_or_else(|| missing(&name))?;
                Some(uuid)
            }
            _ => None,
        };
        Ok(ShreddedValues { text, uuid })
    }

    /// Candidates for `query` after `cursor`, newest first: the newest `limit` of them that
    /// are surely after the cursor (older than its time), then every other candidate of the
    /// same time as the last of those, and before them all candidates of exactly the cursor's
    /// time. The index has no fingerprints, so rows of one time are ordered only once their
    /// records are read: the caller reads them, orders them by (time, fingerprint), drops
    /// those not after the cursor and re-checks the rest against the query.
    pub(crate) fn top(
        &self,
        query: &LookupQuery,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Vec<Candidate> {
        let start = query.start_ms.unwrap_or(i64::MIN);
        let mut end = query.end_ms.unwrap_or(i64::MAX);
        if let Some(c) = cursor {
            end = end.min(c.time_ms);
        }
        if self.meta.max_time_ms < start || self.meta.min_time_ms > end || limit == 0 {
            return Vec::new();
        }
        let history = query.history();
        let cursor_time = cursor.map(|c| c.time_ms);
        let mut out = Vec::new();
        // Each scope the query covers is one stretch of rows, sorted by time: take the newest
        // candidates of each, then the newest of all.
        self.each_covered_stretch(query, |within| {
            let upper = within.partition_point(|row| self.index.time(row) <= end);
            let mut taken = 0;
            let mut last_taken_time = None;
            for i in (0..upper).rev() {
                let row = within.get(i);
                let time_ms = self.index.time(row);
                if time_ms < start || (taken >= limit && Some(time_ms) != last_taken_time) {
                    break;
                }
                if self.index.history(row) != Some(history) {
                    continue;
                }
                out.push(Candidate { time_ms, row });
                if Some(time_ms) != cursor_time {
                    taken += 1;
                    last_taken_time = Some(time_ms);
                }
            }
        });
        out.sort_unstable_by_key(|c| std::cmp::Reverse(c.time_ms));
        out
    }

    /// Calls `f` with the rows of each scope `query` covers (in row order) that its
    /// attribute's postings list (every row of the scope without one): each one stretch of
    /// time-sorted rows.
    fn each_covered_stretch(&self, query: &LookupQuery, mut f: impl FnMut(Postings<'_>)) {
        let key = query
            .attribute
            .as_ref()
            .map(|(key, value)| attribute_index_key(*key, value));
        let covered: Vec<(u32, u32)> = (self.index.scopes.iter().enumerate())
            .filter(|(_, (account, region))| {
                query.covers_scope(account.as_deref(), region.as_deref())
            })
            .map(|(scope, _)| self.index.scope_rows(scope as u32))
            .collect();
        // A query of one scope (every API call) decodes only that scope's part of a long
        // posting list; a query of several decodes the whole list once.
        let whole_list = key
            .filter(|_| covered.len() > 1)
            .map(|key| self.index.postings(key));
        for rows in covered {
            f(match (key, &whole_list) {
                (Some(_), Some(list)) => list.within(rows),
                (Some(key), None) => self.index.postings_within(key, rows),
                (None, _) => Postings::Range(rows.0, rows.1),
            });
        }
    }

    /// Every row `query` may match, ascending: of its scopes, times and history category,
    /// and with an attribute, those the index lists under its value's hash (a rare collision
    /// adds rows of another value: the caller re-checks the attribute).
    pub(crate) fn lookup_rows(&self, query: &LookupQuery) -> Vec<u32> {
        let start = query.start_ms.unwrap_or(i64::MIN);
        let end = query.end_ms.unwrap_or(i64::MAX);
        if self.meta.max_time_ms < start || self.meta.min_time_ms > end {
            return Vec::new();
        }
        let history = query.history();
        let mut rows = Vec::new();
        self.each_covered_stretch(query, |within| {
            let from = within.partition_point(|row| self.index.time(row) < start);
            let to = within.partition_point(|row| self.index.time(row) <= end);
            rows.extend(
                (from..to)
                    .map(|i| within.get(i))
                    .filter(|&row| self.index.history(row) == Some(history)),
            );
        });
        rows
    }

    /// The JSON text of `rows` (ascending, distinct), in that order.
    ///
    /// Reading a column costs a fixed amount however few rows are wanted, so the templates
    /// and times are read first, and then only the shredded columns their holes name.
    pub(crate) fn fetch(&self, rows: &[u32]) -> Result<Vec<String>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let heads = self.read_columns(rows, [self.event_time_leaf, self.template_leaf])?;
        let times = heads
            .column_by_name(EVENT_TIME_COLUMN)
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
            .ok_or_else(|| StoreError::corrupt(&self.parquet_path, "no eventTime timestamps"))?;
        let templates = heads
            .column_by_name(TEMPLATE_COLUMN)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| StoreError::corrupt(&self.parquet_path, "no template text"))?;
        let mut used = vec![false; shred::COLUMNS.len()];
        for template in templates.iter().flatten() {
            shred::mark_holes(template, &mut used);
        }
        let wanted: Vec<usize> = (0..used.len()).filter(|&i| used[i]).collect();
        let values = if wanted.is_empty() {
            None
        } else {
            let leaves = wanted
                .iter()
                .flat_map(|&i| self.shredded_leaves[i].iter().copied());
            Some(self.read_columns(rows, leaves)?)
        };
        let mut columns: Vec<Option<ShreddedValues<'_>>> = vec![None; shred::COLUMNS.len()];
        if let Some(batch) = &values {
            for &i in &wanted {
                columns[i] = Some(self.shredded_values(batch, i)?);
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in 0..heads.num_rows() {
            let value = |i: usize| columns[i].as_ref()?.value(row);
            let json = shred::fill(templates.value(row), times.value(row), value).map_err(|e| {
                StoreError::corrupt(&self.parquet_path, format!("record template: {e}"))
            })?;
            out.push(json);
        }
        Ok(out)
    }

    /// The columns `leaves` of `rows` (ascending, distinct), as one batch.
    fn read_columns(
        &self,
        rows: &[u32],
        leaves: impl IntoIterator<Item = usize>,
    ) -> Result<RecordBatch> {
        let selection = RowSelection::from_consecutive_ranges(
            rows.iter().map(|&r| r as usize..r as usize + 1),
            self.meta.rows as usize,
        );
        // All the rows in one batch.
        let mut reader = self.reader(
            leaves.into_iter().collect(),
            Some(selection),
            rows.len(),
            self.reader_metadata.schema().fields(),
        )?;
        match reader.next().transpose()? {
            Some(batch) if batch.num_rows() == rows.len() => Ok(batch),
            _ => Err(StoreError::corrupt(
                &self.parquet_path,
                "fewer rows than selected",
            )),
        }
    }

    /// Calls `f` with the scan's batches of every row of the segment, in segment order (only
    /// the columns the scan needs are read; see [`scan`]). With conditions, the columns they
    /// read come first, and the others only for the rows that meet them.
    pub(crate) fn scan(
        &self,
        plan: &scan::ScanPlan,
        templates: &mut scan::TemplateCache,
        f: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let in_templates = |i: usize| self.may_be_in_templates[i];
        // Rows outside the scan's times are taken out where the segment has any.
        let times = plan.times();
        let straddles =
            self.meta.min_time_ms < *times.start() || self.meta.max_time_ms > *times.end();
        let heads = &self.heads(plan, straddles);
        let within_times = |batch: RecordBatch| -> Result<RecordBatch> {
            if !straddles {
                return Ok(batch);
            }
            let event_times = batch
                .column_by_name(EVENT_TIME_COLUMN)
                .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
                .ok_or_else(|| StoreError::corrupt(&self.parquet_path, "no event times"))?;
            let keep = BooleanArray::from_unary(event_times, |time| times.contains(&time));
            Ok(arrow_select::filter::filter_record_batch(&batch, &keep)?)
        };
        let condition_heads: &[usize] =
            match plan.needs_templates(plan.condition_columns(), in_templates) {
                true => &[self.template_leaf],
                false => &[],
            };
        let leaves_of =
            |heads: &[usize], columns: Vec<usize>, members| self.leaves(heads, columns, members);
        // The rows that may meet the conditions, and whether they were checked: the rows the
        // lookup index lists under the values of indexed conditions (not checked: a key is a
        // hash), else those the conditions' own members meet.
        let mut candidates: Option<(Vec<u32>, bool)> = None;
        let indexed = plan.indexed_conditions();
        if !indexed.is_empty() && self.index.is_current() {
            let mut listed: Option<Vec<u32>> = None;
            for (key, value) in indexed {
                let postings = self.index.postings(attribute_index_key(key, value));
                let rows: Vec<u32> = (0..postings.len()).map(|i| postings.get(i)).collect();
                listed = Some(match listed {
                    None => rows,
                    Some(before) => before
                        .into_iter()
                        .filter(|row| rows.binary_search(row).is_ok())
                        .collect(),
                });
            }
            candidates = listed.map(|rows| (rows, false));
        } else if plan.has_conditions() {
            let mut rows = Vec::new();
            let mut offset = 0;
            // Conditions read their members alone (and the templates that may write them).
            let leaves = leaves_of(
                condition_heads,
                plan.condition_columns(),
                plan.condition_members(),
            );
            for batch in self.scan_reader(leaves, None)? {
                let batch = batch?;
                let keep = plan
                    .rows_meeting_conditions(&batch, templates)
                    .map_err(|e| StoreError::corrupt(&self.parquet_path, e))?;
                rows.extend(keep.values().set_indices().map(|i| (offset + i) as u32));
                offset += batch.num_rows();
            }
            candidates = Some((rows, true));
        }
        let leaves = leaves_of(heads, plan.columns(), plan.members());
        let Some((rows, checked)) = candidates else {
            for batch in self.scan_reader(leaves, None)? {
                let batch = plan
                    .build(&within_times(batch?)?, templates)
                    .map_err(|e| StoreError::corrupt(&self.parquet_path, e))?;
                f(batch)?;
            }
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        // Few rows are selected one by one; many are read with the others, which are then
        // dropped (selecting many scattered rows costs more than reading them all).
        let few = rows.len() * SELECT_AT_MOST_ONE_ROW_IN < self.meta.rows as usize;
        let selection =
            few.then(|| row_selection(rows.iter().map(|&r| r as usize), self.meta.rows));
        let mut offset = 0u32;
        let mut wanted = rows.iter().copied().peekable();
        for batch in self.scan_reader(leaves, selection)? {
            let mut batch = batch?;
            if !few {
                let end = offset + batch.num_rows() as u32;
                let mut keep = arrow_array::builder::BooleanBufferBuilder::new(batch.num_rows());
                keep.append_n(batch.num_rows(), false);
                while let Some(row) = wanted.next_if(|&row| row < end) {
                    keep.set_bit((row - offset) as usize, true);
                }
                offset = end;
                let keep = BooleanArray::new(keep.finish(), None);
                batch = arrow_select::filter::filter_record_batch(&batch, &keep)?;
            }
            let batch = within_times(batch)?;
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = match checked {
                true => plan.build(&batch, templates),
                false => plan.convert(&batch, templates),
            }
            .map_err(|e| StoreError::corrupt(&self.parquet_path, e))?;
            f(batch)?;
        }
        Ok(())
    }

    /// Calls `f` with the scan's batches of `rows` (ascending, distinct) alone. Few rows are
    /// selected one by one; many are read as the stretch from the first to the last, the
    /// others dropped (selecting many scattered rows costs more than reading them).
    pub(crate) fn scan_rows(
        &self,
        plan: &scan::ScanPlan,
        templates: &mut scan::TemplateCache,
        rows: &[u32],
        f: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let (Some(&first), Some(&last)) = (rows.first(), rows.last()) else {
            return Ok(());
        };
        // The rows were chosen by their times already.
        let heads = &self.heads(plan, false);
        let leaves = self.leaves(heads, plan.columns(), plan.members());
        let stretch = (last - first + 1) as usize;
        let one_by_one = rows.len() == stretch || rows.len() * SELECT_AT_MOST_ONE_ROW_IN < stretch;
        let selection = match one_by_one {
            true => row_selection(rows.iter().map(|&r| r as usize), self.meta.rows),
            false => row_selection(first as usize..=last as usize, self.meta.rows),
        };
        let (mut row, mut wanted) = (first, rows.iter().peekable());
        for batch in self.scan_reader(leaves, Some(selection))? {
            let mut batch = batch?;
            if !one_by_one {
                let keep: arrow_array::BooleanArray = (0..batch.num_rows())
                    .map(|_| {
                        let kept = wanted.next_if_eq(&&row).is_some();
                        row += 1;
                        Some(kept)
                    })
                    .collect();
                batch = arrow_select::filter::filter_record_batch(&batch, &keep)?;
            }
            let batch = plan
                .convert(&batch, templates)
                .map_err(|e| StoreError::corrupt(&self.parquet_path, e))?;
            f(batch)?;
        }
        Ok(())
    }

    /// The leaves a scan of `plan` reads besides its members: the event times where it needs
    /// them or the segment `straddles` the scan's times, the accounts where it needs them, and
    /// the templates where a member asked for may be written in them.
    fn heads(&self, plan: &scan::ScanPlan, straddles: bool) -> Vec<usize> {
        let in_templates = |i: usize| self.may_be_in_templates[i];
        let mut heads = Vec::with_capacity(3);
        if plan.needs_time() || straddles {
            heads.push(self.event_time_leaf);
        }
        if plan.needs_account() {
            heads.push(self.account_leaf);
        }
        if plan.needs_templates(plan.columns(), in_templates) {
            heads.push(self.template_leaf);
        }
        heads
    }

    /// The leaves a scan reads: `heads`, the shredded `columns` (by index in `COLUMNS`), and
    /// for each of `members` (path and object column) its member column, or where this
    /// segment has none its object's column.
    fn leaves(
        &self,
        heads: &[usize],
        columns: Vec<usize>,
        members: Vec<(&str, usize)>,
    ) -> Vec<usize> {
        let mut leaves = heads.to_vec();
        leaves.extend(
            columns
                .into_iter()
                .flat_map(|i| self.shredded_leaves[i].iter().copied()),
        );
        for (path, parent) in members {
            match self.member_leaves.get(path) {
                Some(&leaf) => leaves.push(leaf),
                None => leaves.extend(self.shredded_leaves[parent].iter().copied()),
            }
        }
        leaves
    }

    /// A reader of the columns `leaves` (the template as a dictionary) of the `selection`'s
    /// rows (all when `None`), in batches of [`scan::SCAN_BATCH_ROWS`].
    fn scan_reader(
        &self,
        leaves: Vec<usize>,
        selection: Option<RowSelection>,
    ) -> Result<ParquetRecordBatchReader> {
        let fields = scan_read_fields(self.reader_metadata.schema().fields());
        self.reader(leaves, selection, scan::SCAN_BATCH_ROWS, &fields)
    }

    /// A reader of the columns `leaves` of the `selection`'s rows (all when `None`), in
    /// batches of `batch_rows`, as the Arrow `fields` say (the segment's schema, or one that
    /// reads a column differently).
    fn reader(
        &self,
        leaves: Vec<usize>,
        selection: Option<RowSelection>,
        batch_rows: usize,
        fields: &arrow_schema::Fields,
    ) -> Result<ParquetRecordBatchReader> {
        let parquet_err = |source| StoreError::Parquet {
            path: self.parquet_path.clone(),
            source,
        };
        let metadata = self.reader_metadata.metadata();
        let descriptor = metadata.file_metadata().schema_descr();
        let levels = parquet_to_arrow_field_levels(
            descriptor,
            ProjectionMask::leaves(descriptor, leaves),
            Some(fields),
        )
        .map_err(parquet_err)?;
        let columns = SegmentColumns {
            segment_id: self.meta.id,
            file: &self.parquet,
            metadata,
            cache: &self.dictionaries,
        };
        ParquetRecordBatchReader::try_new_with_row_groups(&levels, &columns, batch_rows, selection)
            .map_err(parquet_err)
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

/// How a scan reads a segment's columns (`fields`, the segment's schema): templates as a
/// dictionary (a row is then an index into the distinct templates) and other text as views,
/// which point into the pages' dictionaries instead of copying each row's text.
fn scan_read_fields(fields: &arrow_schema::Fields) -> arrow_schema::Fields {
    fields
        .iter()
        .map(|field| match (field.name().as_str(), field.data_type()) {
            (TEMPLATE_COLUMN, _) => Arc::new(Field::new(
                TEMPLATE_COLUMN,
                scan::template_as_dictionary(),
                field.is_nullable(),
            )),
            (_, DataType::Utf8) => {
                Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8View))
            }
            _ => field.clone(),
        })
        .collect()
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

/// A Parquet selection of `rows` (ascending) of a segment of `total` rows.
fn row_selection(rows: impl Iterator<Item = usize>, total: u64) -> RowSelection {
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    for row in rows {
        match ranges.last_mut() {
            Some(last) if last.end == row => last.end += 1,
            _ => ranges.push(row..row + 1),
        }
    }
    RowSelection::from_consecutive_ranges(ranges.into_iter(), total as usize)
}
