//! CloudTrail records as rows of Lake's table ([`crate::schema::cloudtrail_events`]).
//!
//! Each record becomes Lake's shape first (member names lower-cased at every depth; the map
//! columns' values strings, a nested value as its JSON text; `eventtime` the time cairn read
//! from the record, Logstash's `@timestamp` included; `eventjson` the record's text), then
//! Arrow's JSON decoder builds the columns from the schema. A member whose value does not fit
//! its column (a `readOnly` given as the string `"true"` in some fixtures) is null in its
//! column and intact in `eventjson`: the record itself is never changed.

use cairn_model::Record;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::schema::{MAP_COLUMNS, cloudtrail_events};

/// Rows a batch holds at most.
pub const BATCH_ROWS: usize = 8192;

/// The records as batches of Lake's table.
pub fn batches(records: &[Record]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut out = Vec::new();
    for chunk in records.chunks(BATCH_ROWS) {
        let mut decoder = ReaderBuilder::new(cloudtrail_events())
            .with_batch_size(BATCH_ROWS)
            .with_coerce_primitive(true)
            .with_ignore_type_conflicts(true)
            .build_decoder()?;
        let rows: Vec<Value> = chunk.iter().map(lake_row).collect();
        decoder.serialize(&rows)?;
        if let Some(batch) = decoder.flush()? {
            out.push(batch);
        }
    }
    Ok(out)
}

/// One record in Lake's shape.
fn lake_row(record: &Record) -> Value {
    let mut row = Map::new();
    if let Ok(Value::Object(members)) = serde_json::from_str::<Value>(&record.json) {
        for (name, value) in members {
            let column = name.to_lowercase();
            let value = if MAP_COLUMNS.contains(&column.as_str()) {
                string_map(value)
            } else {
                lower_case_names(value, "")
            };
            row.insert(column, value);
        }
    }
    row.insert("eventtime".into(), Value::from(record.fields.event_time_ms));
    row.insert("eventjson".into(), Value::String(record.json.clone()));
    Value::Object(row)
}

/// A map column's value: an object's members as strings (a string as itself, anything else as
/// its JSON text); anything but an object is null.
fn string_map(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(s) => Value::String(s),
                        Value::Null => Value::Null,
                        other => Value::String(other.to_string()),
                    };
                    (key, text)
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// A struct column's value, `parent` the (lower-cased) member it is the value of: member
/// names lower-cased at every depth; the map inside (`webidfederationdata.attributes`) as a
/// string map.
fn lower_case_names(value: Value, parent: &str) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(key, value)| {
                    let key = key.to_lowercase();
                    let value = if parent == "webidfederationdata" && key == "attributes" {
                        string_map(value)
                    } else {
                        lower_case_names(value, &key)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| lower_case_names(item, parent))
                .collect(),
        ),
        other => other,
    }
}
