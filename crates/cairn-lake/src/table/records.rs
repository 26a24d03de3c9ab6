//! Records held in memory as an [`EventSource`]: for tests, and for callers with a handful of
//! records rather than a store. Members are found as the store's field scans find them, and
//! rows failing a condition taken out as they take them out.

use cairn_model::record::with_lone_surrogates_replaced;
use std::sync::Arc;

use cairn_model::Record;
use datafusion::arrow::array::{ArrayRef, StringViewArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::columns::{RECORD_MEMBER, TIME_MEMBER};
use super::{EventSource, ScanRequest, prefilter};

/// Rows a batch holds at most.
const BATCH_ROWS: usize = 8192;

#[derive(Debug)]
pub struct Records(pub Vec<Record>);

impl EventSource for Records {
    fn scan(
        &self,
        request: &ScanRequest,
        f: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut fields = vec![Field::new(
            TIME_MEMBER,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        )];
        fields.extend(
            request
                .paths
                .iter()
                .map(|p| Field::new(p, DataType::Utf8View, true)),
        );
        if request.record_text {
            fields.push(Field::new(RECORD_MEMBER, DataType::Utf8View, false));
        }
        let schema = Arc::new(Schema::new(fields));
        for chunk in self
            .0
            .chunks(BATCH_ROWS)
            .enumerate()
            .filter(|(k, _)| request.takes_piece(*k))
            .map(|(_, chunk)| chunk)
        {
            let values: Vec<Value> = chunk
                .iter()
                .map(|r| {
                    serde_json::from_str(&with_lone_surrogates_replaced(&r.json))
                        .unwrap_or(Value::Null)
                })
                .collect();
            let times: Vec<i64> = chunk.iter().map(|r| r.fields.event_time_ms).collect();
            let mut columns: Vec<ArrayRef> = vec![Arc::new(
                TimestampMillisecondArray::from(times).with_timezone("UTC"),
            )];
            for path in &request.paths {
                let texts: StringViewArray = values.iter().map(|v| member_text(v, path)).collect();
                columns.push(Arc::new(texts));
            }
            if request.record_text {
                let texts: StringViewArray = chunk.iter().map(|r| Some(r.json.as_str())).collect();
                columns.push(Arc::new(texts));
            }
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
            f(prefilter::apply(&request.conditions, batch)?)?;
        }
        Ok(())
    }
}

/// The member at `path`: a string's characters, null for none, else its JSON text.
fn member_text(record: &Value, path: &str) -> Option<String> {
    let mut value = record;
    for key in path.split('.') {
        value = value.as_object()?.get(key)?;
    }
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
