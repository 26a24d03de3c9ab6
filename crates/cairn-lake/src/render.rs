//! Query results as Lake gives them (spec §7.3): every value a string, or null; timestamps
//! `YYYY-MM-DD HH:MM:SS.mmm`; maps, structs and arrays in Trino's text form
//! (`{key=value, ...}`, `{field=value, ...}`, `[a, b]`).

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Trino's rendering of a timestamp.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// The rows of `batches` as text, column by column.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>, ArrowError> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .columns()
                    .iter()
                    .map(|column| value(column.as_ref(), row))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
    }
    Ok(out)
}

fn options() -> FormatOptions<'static> {
    FormatOptions::new()
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT))
        .with_null("")
}

/// The text of row `row` of `array`; `None` when null.
pub fn value(array: &dyn Array, row: usize) -> Result<Option<String>, ArrowError> {
    if array.is_null(row) {
        return Ok(None);
    }
    let nested = |text: Option<String>| text.unwrap_or_else(|| "NULL".to_owned());
    let text = match array.data_type() {
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            let pairs = (0..entries.len())
                .map(|i| {
                    Ok(format!(
                        "{}={}",
                        nested(value(keys.as_ref(), i)?),
                        nested(value(values.as_ref(), i)?)
                    ))
                })
                .collect::<Result<Vec<_>, ArrowError>>()?;
            format!("{{{}}}", pairs.join(", "))
        }
        DataType::Struct(fields) => {
            let record = array.as_struct();
            let members = fields
                .iter()
                .zip(record.columns())
                .map(|(field, column)| {
                    Ok(format!(
                        "{}={}",
                        field.name(),
                        nested(value(column.as_ref(), row)?)
                    ))
                })
                .collect::<Result<Vec<_>, ArrowError>>()?;
            format!("{{{}}}", members.join(", "))
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            list(items.as_ref())?
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(row);
            list(items.as_ref())?
        }
        _ => ArrayFormatter::try_new(array, &options())?
            .value(row)
            .to_string(),
    };
    Ok(Some(text))
}

fn list(items: &dyn Array) -> Result<String, ArrowError> {
    let texts = (0..items.len())
        .map(|i| Ok(value(items, i)?.unwrap_or_else(|| "NULL".to_owned())))
        .collect::<Result<Vec<_>, ArrowError>>()?;
    Ok(format!("[{}]", texts.join(", ")))
}
