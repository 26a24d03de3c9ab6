//! Trino's date and time functions that DataFusion lacks or spells differently, over Lake's
//! timestamps (milliseconds, UTC, no time zone):
//! - `date_add(unit, value, timestamp)`: Trino's argument order (Spark's is another);
//! - `date_diff(unit, timestamp1, timestamp2)`: whole units from the first to the second,
//!   truncated toward zero; months, quarters and years by the calendar;
//! - `from_iso8601_timestamp(text)`: ISO 8601 text (a date, or a date and time with `Z` or an
//!   offset) as a timestamp; NULL for text that is not one (Trino fails the query);
//! - `to_iso8601(timestamp)`: `YYYY-MM-DDTHH:MM:SS.mmm`, as Trino writes a `timestamp(3)`;
//! - `day_of_week(timestamp)` and its alias `dow`: ISO day of the week, Monday 1 to Sunday 7.
//!
//! Units are Trino's: millisecond, second, minute, hour, day, week, month, quarter, year
//! (case-insensitive); another unit fails the query with its name.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

/// Which of the functions of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    DateAdd,
    DateDiff,
    FromIso8601Timestamp,
    ToIso8601,
    DayOfWeek,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTimeFunction {
    which: Which,
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

impl DateTimeFunction {
    fn new(which: Which, name: &'static str, arguments: usize) -> DateTimeFunction {
        DateTimeFunction {
            which,
            name,
            aliases: Vec::new(),
            signature: Signature::any(arguments, Volatility::Immutable),
        }
    }

    pub fn date_add() -> DateTimeFunction {
        DateTimeFunction::new(Which::DateAdd, "date_add", 3)
    }

    pub fn date_diff() -> DateTimeFunction {
        DateTimeFunction::new(Which::DateDiff, "date_diff", 3)
    }

    pub fn from_iso8601_timestamp() -> DateTimeFunction {
        DateTimeFunction::new(Which::FromIso8601Timestamp, "from_iso8601_timestamp", 1)
    }

    pub fn to_iso8601() -> DateTimeFunction {
        DateTimeFunction::new(Which::ToIso8601, "to_iso8601", 1)
    }

    pub fn day_of_week() -> DateTimeFunction {
        DateTimeFunction {
            aliases: vec!["dow".to_owned()],
            ..DateTimeFunction::new(Which::DayOfWeek, "day_of_week", 1)
        }
    }
}

impl ScalarUDFImpl for DateTimeFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.which {
            Which::DateAdd | Which::FromIso8601Timestamp => TIMESTAMP,
            Which::DateDiff | Which::DayOfWeek => DataType::Int64,
            Which::ToIso8601 => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let which = self.which;
        super::invoke(args, |arrays| match which {
            Which::DateAdd => date_add(&arrays[0], &arrays[1], &arrays[2]),
            Which::DateDiff => date_diff(&arrays[0], &arrays[1], &arrays[2]),
            Which::FromIso8601Timestamp => from_iso8601_timestamp(&arrays[0]),
            Which::ToIso8601 => to_iso8601(&arrays[0]),
            Which::DayOfWeek => day_of_week(&arrays[0]),
        })
    }
}

/// Trino's units.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Fixed(i64),
    Months(u32),
}

fn unit(name: &str) -> Result<Unit> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "millisecond" => Unit::Fixed(1),
        "second" => Unit::Fixed(1_000),
        "minute" => Unit::Fixed(60_000),
        "hour" => Unit::Fixed(3_600_000),
        "day" => Unit::Fixed(86_400_000),
        "week" => Unit::Fixed(7 * 86_400_000),
        "month" => Unit::Months(1),
        "quarter" => Unit::Months(3),
        "year" => Unit::Months(12),
        other => return exec_err!("'{other}' is not a valid unit"),
    })
}

fn timestamps(array: &ArrayRef) -> Result<TimestampMillisecondArray> {
    let as_time = match array.data_type() {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let text = cast(array, &DataType::Utf8)?;
            return Ok(text
                .as_string::<i32>()
                .iter()
                .map(|t| t.and_then(cairn_model::time::parse_event_time))
                .collect());
        }
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => cast(array, &TIMESTAMP)?,
        DataType::Null => cast(array, &TIMESTAMP)?,
        other => return plan_err!("a timestamp was expected, not {other}"),
    };
    Ok(as_time.as_primitive::<TimestampMillisecondType>().clone())
}

fn text_values(array: &ArrayRef) -> Result<StringArray> {
    Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn date_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

fn add_months(ms: i64, months: i64) -> Option<i64> {
    let time = date_time(ms)?;
    let moved = if months >= 0 {
        time.checked_add_months(Months::new(u32::try_from(months).ok()?))?
    } else {
        time.checked_sub_months(Months::new(u32::try_from(-months).ok()?))?
    };
    Some(moved.timestamp_millis())
}

fn date_add(units: &ArrayRef, values: &ArrayRef, times: &ArrayRef) -> Result<ArrayRef> {
    let units = text_values(units)?;
    let values = cast(values, &DataType::Int64)?;
    let values = values.as_primitive::<Int64Type>();
    let times = timestamps(times)?;
    let mut out = Vec::with_capacity(times.len());
    for row in 0..times.len() {
        if units.is_null(row) || values.is_null(row) || times.is_null(row) {
            out.push(None);
            continue;
        }
        let (value, time) = (values.value(row), times.value(row));
        out.push(match unit(units.value(row))? {
            Unit::Fixed(ms) => value.checked_mul(ms).and_then(|d| time.checked_add(d)),
            Unit::Months(n) => add_months(time, value * i64::from(n)),
        });
    }
    Ok(Arc::new(TimestampMillisecondArray::from(out)))
}

/// Whole calendar months from `a` to `b`, truncated toward zero.
fn months_between(a: i64, b: i64) -> Option<i64> {
    let (start, end) = (date_time(a)?, date_time(b)?);
    let mut months = (i64::from(end.year()) - i64::from(start.year())) * 12
        + i64::from(end.month())
        - i64::from(start.month());
    // A month is whole once the same point of the month is reached.
    if months > 0 && add_months(a, months)? > b {
        months -= 1;
    } else if months < 0 && add_months(a, months)? < b {
        months += 1;
    }
    Some(months)
}

fn date_diff(units: &ArrayRef, first: &ArrayRef, second: &ArrayRef) -> Result<ArrayRef> {
    let units = text_values(units)?;
    let first = timestamps(first)?;
    let second = timestamps(second)?;
    let mut out = Vec::with_capacity(first.len());
    for row in 0..first.len() {
        if units.is_null(row) || first.is_null(row) || second.is_null(row) {
            out.push(None);
            continue;
        }
        let (a, b) = (first.value(row), second.value(row));
        out.push(match unit(units.value(row))? {
            Unit::Fixed(ms) => Some((b - a) / ms),
            Unit::Months(n) => months_between(a, b).map(|m| m / i64::from(n)),
        });
    }
    Ok(Arc::new(Int64Array::from(out)))
}

fn from_iso8601_timestamp(texts: &ArrayRef) -> Result<ArrayRef> {
    let texts = text_values(texts)?;
    let out: TimestampMillisecondArray = texts
        .iter()
        .map(|text| {
            let text = text?;
            match text.len() {
                10 => cairn_model::time::parse_event_time(&format!("{text}T00:00:00Z")),
                _ => cairn_model::time::parse_event_time(text),
            }
        })
        .collect();
    Ok(Arc::new(out))
}

fn to_iso8601(times: &ArrayRef) -> Result<ArrayRef> {
    let times = timestamps(times)?;
    let out: StringArray = times
        .iter()
        .map(|ms| Some(date_time(ms?)?.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()))
        .collect();
    Ok(Arc::new(out))
}

fn day_of_week(times: &ArrayRef) -> Result<ArrayRef> {
    let times = timestamps(times)?;
    let out: Int64Array = times
        .iter()
        .map(|ms| Some(i64::from(date_time(ms?)?.weekday().number_from_monday())))
        .collect();
    Ok(Arc::new(out))
}
