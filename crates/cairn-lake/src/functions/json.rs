//! Trino's JSON functions beyond `json_extract_scalar`, over JSON held as text (Lake's map
//! values and `eventjson` are text; a JSON result is its text, as Lake renders it):
//! - `json_extract(json, path)`: the JSON value at the path (NULL when the path names
//!   nothing);
//! - `json_parse(text)`, `json_format(json)`: the text as JSON (NULL when it is not JSON);
//! - `json_array_length(json)`, `json_array_get(json, index)` (0-based, negative from the
//!   end), `json_array_contains(json, value)`: on JSON arrays, NULL for anything else;
//! - `json_size(json, path)`: the members or elements of the object or array at the path, 0
//!   for a scalar;
//! - `is_json_scalar(json)`: whether the JSON is a number, string, boolean or null.
//!
//! JSON written back (`json_extract` of an object, `json_format`) is compact, its objects'
//! members in name order.

use cairn_model::record::with_lone_surrogates_replaced;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use super::json_extract_scalar::value_at;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    Extract,
    Parse,
    Format,
    ArrayLength,
    ArrayGet,
    ArrayContains,
    Size,
    IsScalar,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonFunction {
    which: Which,
    name: &'static str,
    signature: Signature,
}

impl JsonFunction {
    fn new(which: Which, name: &'static str, arguments: usize) -> JsonFunction {
        JsonFunction {
            which,
            name,
            signature: Signature::any(arguments, Volatility::Immutable),
        }
    }

    /// Every function of this module.
    pub fn all() -> Vec<JsonFunction> {
        vec![
            JsonFunction::new(Which::Extract, "json_extract", 2),
            JsonFunction::new(Which::Parse, "json_parse", 1),
            JsonFunction::new(Which::Format, "json_format", 1),
            JsonFunction::new(Which::ArrayLength, "json_array_length", 1),
            JsonFunction::new(Which::ArrayGet, "json_array_get", 2),
            JsonFunction::new(Which::ArrayContains, "json_array_contains", 2),
            JsonFunction::new(Which::Size, "json_size", 2),
            JsonFunction::new(Which::IsScalar, "is_json_scalar", 1),
        ]
    }
}

impl ScalarUDFImpl for JsonFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.which {
            Which::Extract | Which::Parse | Which::Format | Which::ArrayGet => DataType::Utf8,
            Which::ArrayLength | Which::Size => DataType::Int64,
            Which::ArrayContains | Which::IsScalar => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let which = self.which;
        super::invoke(args, |arrays| {
            let texts = arrays
                .iter()
                .map(|a| cast(a, &DataType::Utf8))
                .collect::<Result<Vec<_>, _>>()?;
            let texts: Vec<&StringArray> = texts.iter().map(|t| t.as_string::<i32>()).collect();
            let rows = texts[0].len();
            let arg = |i: usize, row: usize| -> Option<&str> {
                let column = texts[i];
                column.is_valid(row).then(|| column.value(row))
            };
            let parsed = |row: usize| -> Option<Value> {
                serde_json::from_str(&with_lone_surrogates_replaced(arg(0, row)?)).ok()
            };
            let array: ArrayRef = match which {
                Which::Extract => Arc::new(
                    (0..rows)
                        .map(|r| Some(value_at(arg(0, r)?, arg(1, r)?)?.to_string()))
                        .collect::<StringArray>(),
                ),
                Which::Parse | Which::Format => Arc::new(
                    (0..rows)
                        .map(|r| Some(parsed(r)?.to_string()))
                        .collect::<StringArray>(),
                ),
                Which::ArrayLength => Arc::new(
                    (0..rows)
                        .map(|r| Some(parsed(r)?.as_array()?.len() as i64))
                        .collect::<Int64Array>(),
                ),
                Which::ArrayGet => Arc::new(
                    (0..rows)
                        .map(|r| {
                            let value = parsed(r)?;
                            let items = value.as_array()?;
                            let index: i64 = arg(1, r)?.parse().ok()?;
                            let at = if index < 0 {
                                items.len().checked_sub(index.unsigned_abs() as usize)?
                            } else {
                                index as usize
                            };
                            Some(items.get(at)?.to_string())
                        })
                        .collect::<StringArray>(),
                ),
                Which::ArrayContains => Arc::new(
                    (0..rows)
                        .map(|r| {
                            let value = parsed(r)?;
                            let wanted = arg(1, r)?;
                            Some(value.as_array()?.iter().any(|item| {
                                match item {
                                    Value::String(s) => s == wanted,
                                    Value::Number(n) => wanted
                                        .parse::<f64>()
                                        .ok()
                                        .is_some_and(|w| n.as_f64() == Some(w)),
                                    Value::Bool(b) => wanted == if *b { "true" } else { "false" },
                                    _ => false,
                                }
                            }))
                        })
                        .collect::<BooleanArray>(),
                ),
                Which::Size => Arc::new(
                    (0..rows)
                        .map(|r| {
                            Some(match value_at(arg(0, r)?, arg(1, r)?)? {
                                Value::Object(members) => members.len() as i64,
                                Value::Array(items) => items.len() as i64,
                                _ => 0,
                            })
                        })
                        .collect::<Int64Array>(),
                ),
                Which::IsScalar => Arc::new(
                    (0..rows)
                        .map(|r| Some(!matches!(parsed(r)?, Value::Object(_) | Value::Array(_))))
                        .collect::<BooleanArray>(),
                ),
            };
            Ok(array)
        })
    }
}
