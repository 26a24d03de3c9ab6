//! Field scans: chosen members of every event, as Arrow text columns (string views), read
//! from a segment's own columns (only those asked for) without re-making the records. SQL over
//! the store (CloudTrail Lake) reads events this way. Views point into the pages' dictionaries,
//! so a member's text is not copied row by row; the templates are read only where a member
//! may be written in them (the column's statistics count nulls).
//!
//! A member's value in a scan ([`member_text`]): a JSON string gives its characters
//! (unescaped); `null` or an absent member gives null; anything else (numbers, booleans,
//! objects, arrays) gives its JSON text as stored.
//!
//! Where the value is: a shredded member is in its column (the fast case: the column is
//! passed on as it is); a member that was not shredded (not one of `shred::COLUMNS`, or a
//! value of another kind than its column's, such as a string with escapes) is written in the
//! record's template, which records of the same shape share. So each distinct template is read
//! once per scan ([`TemplateCache`]), and the template column is read as a dictionary: rows
//! cost an index, not a copy of their template.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use std::borrow::Cow;

use arrow_array::builder::StringViewBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch, StringViewArray};
use arrow_data::ByteView;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use cairn_model::LookupAttributeKey;
use serde_json::value::RawValue;

use super::members;
use super::shred::{self, COLUMNS, Kind, Members};
use super::{EVENT_TIME_COLUMN, ShreddedValues, TEMPLATE_COLUMN, Texts, uuid_column};
use crate::error::{Result, StoreError};

/// What a field scan reads.
#[derive(Debug, Clone, Default)]
pub struct FieldScan {
    /// Member paths, keys joined by `.` (`eventName`, `userIdentity.arn`,
    /// `requestParameters`, `managementEvent`). A path may not name an object that holds
    /// shredded members (`userIdentity`, `tlsDetails`): ask for its members, or for the
    /// record text.
    pub paths: Vec<String>,
    /// Adds the column [`RECORD_COLUMN`]: each event's whole JSON text (re-made, the costly
    /// part of a scan).
    pub record_text: bool,
    /// Only events of `eventTime` at or after this (ms) are wanted: sources wholly before it
    /// are skipped, and the rows before it taken out of the others.
    pub min_time_ms: Option<i64>,
    /// Only events of `eventTime` at or before this (ms), likewise.
    pub max_time_ms: Option<i64>,
    /// Only rows where each of these members (among `paths`) is as [`Wanted`] are wanted;
    /// they are taken out before anything else is built.
    pub conditions: Vec<(String, Wanted)>,
    /// `(i, n)`: only the `i`th of `n` parts of the events (every `n`th segment from the
    /// `i`th; the memtables in part 0), so that `n` threads can read them at once (`n` of 0
    /// or 1: all).
    pub part: (usize, usize),
    /// Leaves [`TIME_COLUMN`] out of the batches, for a caller that reads no times: a segment
    /// wholly within the scan's times then reads none.
    pub without_time: bool,
    /// Leaves [`ACCOUNT_COLUMN`] out of the batches, for a caller that reads no accounts.
    pub without_account: bool,
}

/// What a scan condition wants of a member's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Any value: the member is there and not null.
    Present,
    /// This value.
    Value(String),
    /// One of these values.
    OneOf(Arc<ValueSet>),
}

impl Wanted {
    fn matches(&self, text: &str) -> bool {
        match self {
            Wanted::Present => true,
            Wanted::Value(value) => value == text,
            Wanted::OneOf(values) => values.texts.contains(text),
        }
    }
}

/// The values of a [`Wanted::OneOf`], with the 16 bytes of those that are UUIDs (members kept
/// as UUIDs are compared as their bytes); made once, however many scans use it.
#[derive(Debug, PartialEq, Eq)]
pub struct ValueSet {
    texts: HashSet<String>,
    uuids: HashSet<[u8; 16]>,
}

impl ValueSet {
    pub fn new(texts: HashSet<String>) -> ValueSet {
        let uuids = texts.iter().filter_map(|t| shred::uuid_bytes(t)).collect();
        ValueSet { texts, uuids }
    }
}

/// A [`Wanted`] resolved against the plan: the member's place, and a single wanted value's
/// UUID form.
#[derive(Debug)]
struct Condition {
    /// Index in the plan's paths.
    index: usize,
    wanted: Wanted,
    uuid: Option<[u8; 16]>,
    /// A single wanted value as a string view (see [`Condition::matches_view`]).
    view: Option<u128>,
}

impl Condition {
    /// Whether row `row` of `texts` (not null) is wanted. A single value is compared as views
    /// are: a short text (12 bytes or fewer) is wholly in its view; a longer one's view starts
    /// with its length and first 4 bytes, so most other texts differ there already.
    fn matches_view(&self, texts: &StringViewArray, row: usize) -> bool {
        match (&self.wanted, self.view) {
            (Wanted::Value(value), Some(wanted)) => {
                let view = texts.views()[row];
                if value.len() <= MAX_INLINE_VIEW_LEN as usize {
                    view == wanted
                } else {
                    view as u64 == wanted as u64 && texts.value(row) == value
                }
            }
            _ => self.wanted.matches(texts.value(row)),
        }
    }

    fn matches_uuid(&self, bytes: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 16]>::try_from(bytes) else {
            return false;
        };
        match &self.wanted {
            Wanted::Present => true,
            Wanted::Value(_) => self.uuid == Some(bytes),
            Wanted::OneOf(values) => values.uuids.contains(&bytes),
        }
    }
}

/// The columns a scan adds are named `cairn:…`, apart from the members' paths.
///
/// The column of a scan's batches with each event's time (timestamp, ms, UTC; never null).
pub const TIME_COLUMN: &str = "cairn:eventTime";
/// The column with the account each event belongs to (recipientAccountId, else
/// userIdentity.accountId), as event history files it.
pub const ACCOUNT_COLUMN: &str = "cairn:accountId";
/// The column with each event's JSON text, when [`FieldScan::record_text`].
pub const RECORD_COLUMN: &str = "cairn:record";

/// Rows in one batch of a scan.
pub(crate) const SCAN_BATCH_ROWS: usize = 8192;

/// Where one asked-for member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In this shredded column (or, when not shredded in a record, in its template).
    Column(usize),
    /// Only ever in the template.
    Template,
    /// A key of the object in this shredded JSON column: in the segment's member column of
    /// that key where it has one, else taken from the object ([`members`]).
    Member(usize),
}

/// A [`FieldScan`] checked and resolved against the segment format.
#[derive(Debug)]
pub(crate) struct ScanPlan {
    paths: Vec<(String, Place)>,
    record_text: bool,
    schema: SchemaRef,
    conditions: Vec<Condition>,
    /// The scan's times (inclusive; unbounded where the scan sets none).
    times: std::ops::RangeInclusive<i64>,
    /// Whether the batches have [`TIME_COLUMN`], and [`ACCOUNT_COLUMN`].
    with_time: bool,
    with_account: bool,
}

impl ScanPlan {
    pub(crate) fn new(scan: &FieldScan) -> Result<ScanPlan> {
        let mut paths = Vec::with_capacity(scan.paths.len());
        for path in &scan.paths {
            let holds_columns = COLUMNS.iter().any(|c| {
                c.path
                    .strip_prefix(path.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
            });
            if holds_columns || path.is_empty() {
                return Err(StoreError::Failed(format!(
                    "a field scan cannot read `{path}` whole: ask for its members or the record"
                )));
            }
            let below_json = COLUMNS.iter().find(|c| {
                c.kind == Kind::Json
                    && path
                        .strip_prefix(c.path)
                        .is_some_and(|rest| rest.starts_with('.'))
            });
            let place = match (members::key_path(path), below_json) {
                (Some((parent, _)), _) => Place::Member(parent),
                (None, Some(parent)) => {
                    return Err(StoreError::Failed(format!(
                        "a field scan reads one key of `{}`, not `{path}`",
                        parent.path
                    )));
                }
                (None, None) => COLUMNS
                    .iter()
                    .position(|c| c.path == path)
                    .map_or(Place::Template, Place::Column),
            };
            paths.push((path.clone(), place));
        }
        let mut fields = Vec::with_capacity(paths.len() + 3);
        if !scan.without_time {
            fields.push(Field::new(
                TIME_COLUMN,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ));
        }
        if !scan.without_account {
            fields.push(Field::new(ACCOUNT_COLUMN, DataType::Utf8View, true));
        }
        fields.extend(
            paths
                .iter()
                .map(|(path, _)| Field::new(path, DataType::Utf8View, true)),
        );
        if scan.record_text {
            fields.push(Field::new(RECORD_COLUMN, DataType::Utf8View, false));
        }
        let conditions = scan
            .conditions
            .iter()
            .map(|(path, wanted)| {
                let index = paths.iter().position(|(p, _)| p == path).ok_or_else(|| {
                    StoreError::Failed(format!(
                        "a scan condition on {path}, which it does not read"
                    ))
                })?;
                let (uuid, view) = match wanted {
                    Wanted::Value(value) => (
                        shred::uuid_bytes(value),
                        Some(arrow_array::builder::make_view(value.as_bytes(), 0, 0)),
                    ),
                    Wanted::Present | Wanted::OneOf(_) => (None, None),
                };
                Ok(Condition {
                    index,
                    wanted: wanted.clone(),
                    uuid,
                    view,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ScanPlan {
            paths,
            record_text: scan.record_text,
            schema: Arc::new(Schema::new(fields)),
            conditions,
            times: scan.min_time_ms.unwrap_or(i64::MIN)..=scan.max_time_ms.unwrap_or(i64::MAX),
            with_time: !scan.without_time,
            with_account: !scan.without_account,
        })
    }

    /// The scan's times (inclusive).
    pub(crate) fn times(&self) -> &std::ops::RangeInclusive<i64> {
        &self.times
    }

    /// Whether a batch must have the segment's event times to be built: for the batches'
    /// times, the record text, or the text of `eventTime` (which a template may leave to
    /// the time column).
    pub(crate) fn needs_time(&self) -> bool {
        self.with_time
            || self.record_text
            || self.paths.iter().any(|(_, place)| {
                matches!(place, Place::Column(i) if COLUMNS[*i].kind == Kind::EventTime)
            })
    }

    /// Whether a batch must have the segment's accounts to be built.
    pub(crate) fn needs_account(&self) -> bool {
        self.with_account
    }

    /// The shredded columns (by index in `COLUMNS`) a batch must have, besides what
    /// [`Self::members`] needs.
    pub(crate) fn columns(&self) -> Vec<usize> {
        if self.record_text {
            return (0..COLUMNS.len()).collect();
        }
        let mut columns: Vec<usize> = self
            .paths
            .iter()
            .filter_map(|(_, place)| match place {
                Place::Column(i) => Some(*i),
                Place::Template | Place::Member(_) => None,
            })
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// The keys of JSON objects asked for: their path (the name of their member column, where
    /// a segment has one) and the shredded column of their object, which a batch must have
    /// where it has no member column.
    pub(crate) fn members(&self) -> Vec<(&str, usize)> {
        self.paths
            .iter()
            .filter_map(|(path, place)| match place {
                Place::Member(parent) => Some((path.as_str(), *parent)),
                _ => None,
            })
            .collect()
    }

    /// The same for the conditions' members.
    pub(crate) fn condition_members(&self) -> Vec<(&str, usize)> {
        self.conditions
            .iter()
            .filter_map(|condition| match &self.paths[condition.index] {
                (path, Place::Member(parent)) => Some((path.as_str(), *parent)),
                _ => None,
            })
            .collect()
    }

    /// The values of the asked-for members (by index) that are [`Place::Member`]s and
    /// `wanted`, in `batch`: each its member column's, or else taken from its object's column
    /// (each object parsed once for all its keys).
    fn member_values(
        &self,
        batch: &RecordBatch,
        wanted: impl Fn(usize) -> bool,
    ) -> std::result::Result<Vec<Option<StringViewArray>>, String> {
        let mut out: Vec<Option<StringViewArray>> = vec![None; self.paths.len()];
        // By object column: the asked-for members (index, key) to take from it.
        let mut from_objects: Vec<(usize, Vec<(usize, &str)>)> = Vec::new();
        for (index, (path, place)) in self.paths.iter().enumerate() {
            let Place::Member(parent) = *place else {
                continue;
            };
            if !wanted(index) {
                continue;
            }
            if let Some(column) = batch.column_by_name(path) {
                let texts = column
                    .as_string_view_opt()
                    .ok_or_else(|| format!("member column {path} is not text"))?;
                out[index] = Some(texts.clone());
                continue;
            }
            let key = &path[COLUMNS[parent].path.len() + 1..];
            match from_objects.iter_mut().find(|(p, _)| *p == parent) {
                Some((_, keys)) => keys.push((index, key)),
                None => from_objects.push((parent, vec![(index, key)])),
            }
        }
        for (parent, keys) in from_objects {
            let name = COLUMNS[parent].name;
            let objects = batch
                .column_by_name(name)
                .and_then(|c| c.as_string_view_opt())
                .ok_or_else(|| format!("no column {name}"))?;
            let mut builders: Vec<StringViewBuilder> = keys
                .iter()
                .map(|_| StringViewBuilder::with_capacity(objects.len()))
                .collect();
            let names: Vec<&str> = keys.iter().map(|(_, key)| *key).collect();
            members::each_rows_keys(objects.iter(), &names, |i, text| {
                builders[i].append_option(text)
            });
            for ((index, _), mut builder) in keys.into_iter().zip(builders) {
                out[index] = Some(builder.finish());
            }
        }
        Ok(out)
    }

    /// The scan's batch from `batch`, a batch in the segment schema holding at least the
    /// time, account and template columns and [`Self::columns`] (the template as text or as
    /// a dictionary of text).
    pub(crate) fn convert(
        &self,
        batch: &RecordBatch,
        templates: &mut TemplateCache,
    ) -> std::result::Result<RecordBatch, String> {
        if self.conditions.is_empty() {
            return self.build(batch, templates);
        }
        let keep = self.rows_meeting_conditions(batch, templates)?;
        let kept =
            arrow_select::filter::filter_record_batch(batch, &keep).map_err(|e| e.to_string())?;
        self.build(&kept, templates)
    }

    pub(crate) fn has_conditions(&self) -> bool {
        !self.conditions.is_empty()
    }

    /// The conditions a segment's lookup index can answer: a member's value that is a lookup
    /// attribute's (`eventID`, `eventName`, `eventSource`, `userIdentity.accessKeyId`). The
    /// index knows string members only, so a value that could be another JSON value's text
    /// (`5`, `true`, `{}`) or empty is left to the columns. The rows the index gives are the
    /// rows that may match: the conditions are still checked on them.
    pub(crate) fn indexed_conditions(&self) -> Vec<(LookupAttributeKey, &str)> {
        self.conditions
            .iter()
            .filter_map(|condition| {
                let Wanted::Value(value) = &condition.wanted else {
                    return None;
                };
                let key = match self.paths[condition.index].0.as_str() {
                    "eventID" => LookupAttributeKey::EventId,
                    "eventName" => LookupAttributeKey::EventName,
                    "eventSource" => LookupAttributeKey::EventSource,
                    "userIdentity.accessKeyId" => LookupAttributeKey::AccessKeyId,
                    _ => return None,
                };
                let json = serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok();
                (!value.is_empty() && !json).then_some((key, value.as_str()))
            })
            .collect()
    }

    /// Whether reading the shredded `columns` (of [`Self::columns`] or
    /// [`Self::condition_columns`]) needs the rows' templates: for the record text, for a
    /// member only templates write, or for one that may be `in_templates` rather than in its
    /// column in some rows. A batch read without the templates is one where neither is so.
    pub(crate) fn needs_templates(
        &self,
        columns: Vec<usize>,
        in_templates: impl Fn(usize) -> bool,
    ) -> bool {
        self.record_text
            || self
                .paths
                .iter()
                .any(|(_, place)| *place == Place::Template)
            || columns.into_iter().any(in_templates)
    }

    /// The shredded columns the conditions read.
    pub(crate) fn condition_columns(&self) -> Vec<usize> {
        let mut columns: Vec<usize> = self
            .conditions
            .iter()
            .filter_map(|condition| match self.paths[condition.index].1 {
                Place::Column(i) => Some(i),
                Place::Template | Place::Member(_) => None,
            })
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// Which rows of `batch` meet every condition, read from the condition members alone.
    pub(crate) fn rows_meeting_conditions(
        &self,
        batch: &RecordBatch,
        templates: &mut TemplateCache,
    ) -> std::result::Result<arrow_array::BooleanArray, String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column {name}"))
        };
        // Without templates (no condition member may be null: see `needs_templates`), no row
        // looks at one.
        let row_templates = match batch.column_by_name(TEMPLATE_COLUMN) {
            Some(template_column) => templates.for_rows(template_column, &self.paths)?,
            None => RowTemplates::default(),
        };
        let mut keep = vec![true; batch.num_rows()];
        let member_values =
            self.member_values(batch, |i| self.conditions.iter().any(|c| c.index == i))?;
        for condition in &self.conditions {
            let index = condition.index;
            let (text, uuid, kind) = match self.paths[index].1 {
                Place::Column(i) => (
                    column(COLUMNS[i].name)?.as_string_view_opt(),
                    match COLUMNS[i].kind {
                        Kind::Uuid => column(&uuid_column(&COLUMNS[i]))?.as_fixed_size_binary_opt(),
                        _ => None,
                    },
                    Some(COLUMNS[i].kind),
                ),
                Place::Template => (None, None, None),
                Place::Member(_) => (member_values[index].as_ref(), None, None),
            };
            // The view of a long text that matched: rows of one value read from a page's
            // dictionary have the very same view (same buffer and offset), and need no
            // comparison of their bytes.
            let mut matched_view: Option<u128> = None;
            for (row, keep) in keep.iter_mut().enumerate() {
                if !*keep {
                    continue;
                }
                *keep = if let Some(text) = text.filter(|t| t.is_valid(row)) {
                    let view = text.views()[row];
                    if matched_view == Some(view) {
                        true
                    } else {
                        let matches = condition.matches_view(text, row);
                        if matches {
                            matched_view = Some(view);
                        }
                        matches
                    }
                } else if let Some(uuid) = uuid.filter(|u| u.is_valid(row)) {
                    condition.matches_uuid(uuid.value(row))
                } else if kind == Some(Kind::EventTime) {
                    // Rare enough to be left to the filters that follow.
                    true
                } else if matches!(self.paths[index].1, Place::Member(_)) {
                    false
                } else {
                    row_templates
                        .literal(row, index)
                        .is_some_and(|value| condition.wanted.matches(value))
                };
            }
        }
        Ok(arrow_array::BooleanArray::from(keep))
    }

    /// The scan's batch from `batch`, every row.
    pub(crate) fn build(
        &self,
        batch: &RecordBatch,
        templates: &mut TemplateCache,
    ) -> std::result::Result<RecordBatch, String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column {name}"))
        };
        let times = match self.needs_time() {
            true => Some(column(EVENT_TIME_COLUMN)?.clone()),
            false => None,
        };
        let time_values = times
            .as_ref()
            .map(|t| {
                t.as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or("eventTime is not a timestamp")
            })
            .transpose()?;
        // Read only where `needs_time` says (so it is there).
        let time_at = |row: usize| time_values.map_or(0, |t| t.value(row));
        let rows = batch.num_rows();
        // Templates matter only where a member may be written in them: when every member
        // asked for is wholly in its column, they are not looked at.
        let wholly_in_columns = !self.record_text
            && self.paths.iter().all(|(_, place)| match *place {
                Place::Column(i) => column(COLUMNS[i].name).is_ok_and(|c| c.null_count() == 0),
                Place::Template => false,
                Place::Member(_) => true,
            });
        // A batch read without the templates is one whose segment's templates write none of
        // the members asked for (see `needs_templates`).
        let row_templates = match batch.column_by_name(TEMPLATE_COLUMN) {
            Some(template_column) if !wholly_in_columns => {
                templates.for_rows(template_column, &self.paths)?
            }
            _ => RowTemplates::default(),
        };
        let distinct = &row_templates.distinct;
        // A member no template of the batch writes itself is wholly in its column.
        let literal_somewhere: Vec<bool> = (0..self.paths.len())
            .map(|index| distinct.iter().any(|f| f.literals[index].is_some()))
            .collect();
        let mut member_values = self.member_values(batch, |_| true)?;
        let mut out: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        if let Some(times) = times.as_ref().filter(|_| self.with_time) {
            out.push(times.clone());
        }
        if self.with_account {
            out.push(column("accountId")?.clone());
        }
        let shredded =
            |i: usize| -> std::result::Result<(&StringViewArray, ShreddedValues<'_>), String> {
                let text = column(COLUMNS[i].name)?
                    .as_string_view_opt()
                    .ok_or_else(|| format!("column {} is not text", COLUMNS[i].name))?;
                let uuid = match COLUMNS[i].kind {
                    Kind::Uuid => Some(
                        column(&uuid_column(&COLUMNS[i]))?
                            .as_fixed_size_binary_opt()
                            .ok_or("a UUID column is not bytes")?,
                    ),
                    _ => None,
                };
                Ok((
                    text,
                    ShreddedValues {
                        text: Texts::Views(text),
                        uuid,
                    },
                ))
            };
        for (index, (_, place)) in self.paths.iter().enumerate() {
            let literal = |row: usize| row_templates.literal(row, index);
            let array: ArrayRef = match *place {
                Place::Column(i) => {
                    let (text, values) = shredded(i)?;
                    let whole_in_column = !literal_somewhere[index]
                        && values.uuid.is_none()
                        && COLUMNS[i].kind != Kind::EventTime;
                    if text.null_count() == 0 || whole_in_column {
                        Arc::new(text.clone())
                    } else {
                        Arc::new(filled(text, |row| {
                            let hole = || row_templates.get(row).is_some_and(|f| f.holes[i]);
                            if let Some(uuid) = values.uuid.filter(|u| u.is_valid(row)) {
                                Some(Cow::Owned(shred::uuid_text(uuid.value(row))))
                            } else if COLUMNS[i].kind == Kind::EventTime && hole() {
                                Some(Cow::Owned(cairn_model::time::format_event_time(time_at(
                                    row,
                                ))))
                            } else {
                                literal(row).map(Cow::Borrowed)
                            }
                        })?)
                    }
                }
                Place::Member(_) => Arc::new(
                    member_values[index]
                        .take()
                        .ok_or("a member's values were not made")?,
                ),
                Place::Template if !literal_somewhere[index] => {
                    Arc::new(StringViewArray::new_null(rows))
                }
                Place::Template => Arc::new((0..rows).map(literal).collect::<StringViewArray>()),
            };
            out.push(array);
        }
        if self.record_text {
            let columns = (0..COLUMNS.len())
                .map(|i| shredded(i).map(|(_, values)| values))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let mut builder = StringViewBuilder::with_capacity(rows);
            for (row, facts) in row_templates.rows().enumerate() {
                let value = |i: usize| columns[i].value(row);
                let text = shred::fill(&facts.template, time_at(row), value)
                    .map_err(|e| format!("record template: {e}"))?;
                builder.append_value(text);
            }
            out.push(Arc::new(builder.finish()));
        }
        // A scan may ask for no column at all (rows counted alone).
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), out, &options)
            .map_err(|e| e.to_string())
    }
}

/// `texts` with each null row given `fill(row)` (null when that is `None`); the values already
/// there are not copied (their views point into the same buffers).
fn filled<'a>(
    texts: &StringViewArray,
    mut fill: impl FnMut(usize) -> Option<Cow<'a, str>>,
) -> std::result::Result<StringViewArray, String> {
    let mut builder = StringViewBuilder::with_capacity(texts.len());
    let blocks: Vec<u32> = texts
        .data_buffers()
        .iter()
        .map(|buffer| builder.append_block(buffer.clone()))
        .collect();
    for (row, &view) in texts.views().iter().enumerate() {
        if texts.is_null(row) {
            builder.append_option(fill(row));
            continue;
        }
        let view = ByteView::from(view);
        if view.length <= MAX_INLINE_VIEW_LEN {
            builder.append_value(texts.value(row));
        } else {
            builder
                .try_append_view(blocks[view.buffer_index as usize], view.offset, view.length)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(builder.finish())
}

/// The longest text a view holds itself (longer texts are in the array's buffers).
const MAX_INLINE_VIEW_LEN: u32 = 12;

/// What a scan needs to know about one template: which columns it has holes for, and the
/// value it writes itself for each asked-for member.
#[derive(Debug)]
pub(crate) struct TemplateFacts {
    template: String,
    holes: Vec<bool>,
    /// By asked-for path: the member's value when the template writes it (not a hole).
    literals: Vec<Option<String>>,
}

impl TemplateFacts {
    fn of(template: &str, paths: &[(String, Place)]) -> TemplateFacts {
        let mut holes = vec![false; COLUMNS.len()];
        shred::mark_holes(template, &mut holes);
        // With every hole filled by a placeholder the template is the record's shape, and a
        // member the template writes itself can be read from it.
        let shape = shred::fill(template, 0, |i| {
            Some(std::borrow::Cow::Borrowed(match COLUMNS[i].kind {
                Kind::Json => "null",
                _ => "",
            }))
        })
        .unwrap_or_default();
        let literals = paths
            .iter()
            .map(|(path, place)| match place {
                Place::Column(i) if holes[*i] => None,
                Place::Member(_) => None,
                _ => member(&shape, path).and_then(member_text),
            })
            .collect();
        TemplateFacts {
            template: template.to_owned(),
            holes,
            literals,
        }
    }
}

/// The facts of each row's template: the distinct facts of a batch, and each row's index
/// among them (an index a row, not a counted reference).
#[derive(Default)]
pub(crate) struct RowTemplates {
    keys: Vec<u32>,
    distinct: Vec<Arc<TemplateFacts>>,
}

impl RowTemplates {
    /// Row `row`'s template; none when the templates were not read (see
    /// [`ScanPlan::needs_templates`]).
    fn get(&self, row: usize) -> Option<&TemplateFacts> {
        let key = self.keys.get(row)?;
        self.distinct.get(*key as usize).map(Arc::as_ref)
    }

    /// The value row `row`'s template writes for asked-for member `index`: none when it
    /// writes none, or when the templates were not read.
    fn literal(&self, row: usize, index: usize) -> Option<&str> {
        self.get(row)?.literals[index].as_deref()
    }

    fn rows(&self) -> impl Iterator<Item = &TemplateFacts> {
        self.keys
            .iter()
            .map(|&k| self.distinct[k as usize].as_ref())
    }
}

/// Templates already looked at in one scan, by their text's hash.
#[derive(Debug, Default)]
pub(crate) struct TemplateCache {
    by_hash: HashMap<u64, Arc<TemplateFacts>>,
}

impl TemplateCache {
    fn facts(&mut self, template: &str, paths: &[(String, Place)]) -> Arc<TemplateFacts> {
        let hash = xxhash_rust::xxh3::xxh3_64(template.as_bytes());
        match self.by_hash.get(&hash) {
            Some(facts) if facts.template == template => facts.clone(),
            _ => {
                let facts = Arc::new(TemplateFacts::of(template, paths));
                self.by_hash.insert(hash, facts.clone());
                facts
            }
        }
    }

    /// The facts of each row's template; the column is text, or a dictionary of text (each
    /// dictionary entry looked at once).
    fn for_rows(
        &mut self,
        column: &ArrayRef,
        paths: &[(String, Place)],
    ) -> std::result::Result<RowTemplates, String> {
        let mut distinct: Vec<Arc<TemplateFacts>> = Vec::new();
        if let Some(dictionary) = column.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = dictionary
                .values()
                .as_string_opt::<i32>()
                .ok_or("templates are not text")?;
            if dictionary.null_count() > 0 {
                return Err("a null template".to_owned());
            }
            let mut by_key: Vec<Option<u32>> = vec![None; values.len()];
            let mut keys = Vec::with_capacity(dictionary.len());
            for &key in dictionary.keys().values().iter() {
                let key = usize::try_from(key).map_err(|_| "a negative template key")?;
                let index = match by_key
                    .get(key)
                    .copied()
                    .ok_or("a template key out of range")?
                {
                    Some(index) => index,
                    None => {
                        distinct.push(self.facts(values.value(key), paths));
                        let index = (distinct.len() - 1) as u32;
                        by_key[key] = Some(index);
                        index
                    }
                };
                keys.push(index);
            }
            return Ok(RowTemplates { keys, distinct });
        }
        let texts = column
            .as_string_opt::<i32>()
            .ok_or("templates are not text")?;
        let mut by_facts: HashMap<*const TemplateFacts, u32> = HashMap::new();
        let keys = texts
            .iter()
            .map(|t| {
                let facts = self.facts(t.unwrap_or_default(), paths);
                *by_facts.entry(Arc::as_ptr(&facts)).or_insert_with(|| {
                    distinct.push(facts.clone());
                    (distinct.len() - 1) as u32
                })
            })
            .collect();
        Ok(RowTemplates { keys, distinct })
    }
}

/// The member at `path` (keys joined by `.`) of the JSON object `json`: the first of its name
/// at each level, as the shredder takes it.
fn member<'a>(json: &'a str, path: &str) -> Option<&'a RawValue> {
    let mut text = json;
    let mut found = None;
    for key in path.split('.') {
        let Members(members) = serde_json::from_str::<Members<'a>>(text).ok()?;
        let value = members.into_iter().find(|(k, _)| k.as_ref() == key)?.1;
        text = value.get();
        found = Some(value);
    }
    found
}

/// A member's value in a scan: a string's characters, null for `null`, else its JSON text.
pub(crate) fn member_text(value: &RawValue) -> Option<String> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).ok(),
        _ if text == "null" => None,
        _ => Some(text.to_owned()),
    }
}

/// The Arrow type a segment's template column is read as in a scan.
pub(crate) fn template_as_dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_found_at_depth_and_given_as_text() {
        let json = r#"{"a":{"b":"x\"y","c":[1,2]},"n":null,"t":true}"#;
        let text = |path| member(json, path).and_then(member_text);
        assert_eq!(text("a.b").as_deref(), Some("x\"y"));
        assert_eq!(text("a.c").as_deref(), Some("[1,2]"));
        assert_eq!(text("n"), None);
        assert_eq!(text("t").as_deref(), Some("true"));
        assert_eq!(text("missing"), None);
        assert_eq!(text("a.b.c"), None);
    }

    #[test]
    fn a_wanted_value_is_matched_by_its_view_as_by_its_text() {
        let texts = StringViewArray::from(vec![
            "s3.amazonaws.com",
            "s3.amazonaws.co",
            "s3.amazonaws.comm",
            "s3.amazonaws.con",
            "sts",
            "stsx",
            "",
        ]);
        for wanted in ["s3.amazonaws.com", "sts", "", "s3.a"] {
            let plan = ScanPlan::new(&FieldScan {
                paths: vec!["eventSource".to_owned()],
                conditions: vec![("eventSource".to_owned(), Wanted::Value(wanted.to_owned()))],
                ..FieldScan::default()
            })
            .unwrap();
            let condition = &plan.conditions[0];
            for row in 0..texts.len() {
                assert_eq!(
                    condition.matches_view(&texts, row),
                    texts.value(row) == wanted,
                    "{wanted:?} against {:?}",
                    texts.value(row)
                );
            }
        }
    }

    #[test]
    fn filling_a_columns_nulls_keeps_its_values_and_adds_the_fill() {
        let texts = StringViewArray::from(vec![
            Some("short"),
            None,
            Some("a value longer than twelve bytes"),
            None,
            None,
        ]);
        let fill = |row: usize| match row {
            1 => Some(Cow::Borrowed("also longer than twelve bytes")),
            3 => Some(Cow::Owned("tiny".to_owned())),
            _ => None,
        };
        let filled = filled(&texts, fill).unwrap();
        assert_eq!(
            filled.iter().collect::<Vec<_>>(),
            vec![
                Some("short"),
                Some("also longer than twelve bytes"),
                Some("a value longer than twelve bytes"),
                Some("tiny"),
                None
            ]
        );
        // The column's own text is not copied: its buffer is the first of the result's.
        assert_eq!(
            filled.data_buffers()[0].as_ptr(),
            texts.data_buffers()[0].as_ptr()
        );
    }

    #[test]
    fn a_container_of_shredded_members_cannot_be_scanned_whole() {
        let scan = |path: &str| {
            ScanPlan::new(&FieldScan {
                paths: vec![path.to_owned()],
                ..FieldScan::default()
            })
        };
        assert!(scan("userIdentity").is_err());
        assert!(scan("userIdentity.sessionContext").is_err());
        assert!(scan("userIdentity.arn").is_ok());
        assert!(scan("userIdentity.sessionContext.webIdFederationData").is_ok());
        assert!(scan("managementEvent").is_ok());
        // One key of a JSON member is read; deeper paths are not.
        assert!(scan("requestParameters.bucketName").is_ok());
        assert!(scan("requestParameters.bucketName.x").is_err());
    }
}
