//! Trino's `json_extract_scalar(json, json_path)`: the scalar (string, number or boolean) the
//! path names in the JSON text, as text; NULL when the text is not JSON, the path names
//! nothing, or names an object, an array or null. Paths: `$`, then `.name`, `["name"]` or
//! `[index]` steps (the subset Trino documents for this function).

use cairn_model::record::with_lone_surrogates_replaced;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonExtractScalar {
    signature: Signature,
}

impl JsonExtractScalar {
    pub fn new() -> JsonExtractScalar {
        JsonExtractScalar {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonExtractScalar {
    fn name(&self) -> &str {
        "json_extract_scalar"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        super::invoke(args, |arrays| {
            let (texts, paths) = (
                cast(&arrays[0], &DataType::Utf8)?,
                cast(&arrays[1], &DataType::Utf8)?,
            );
            let (texts, paths) = (texts.as_string::<i32>(), paths.as_string::<i32>());
            let result: StringArray = (0..texts.len())
                .map(|row| {
                    if texts.is_null(row) || paths.is_null(row) {
                        return None;
                    }
                    extract_scalar(texts.value(row), paths.value(row))
                })
                .collect();
            Ok(Arc::new(result) as ArrayRef)
        })
    }
}

/// The value at `path` (a JSONPath of the steps [`steps`] reads) in the JSON `text`.
pub fn value_at(text: &str, path: &str) -> Option<Value> {
    let mut document: Value = serde_json::from_str(&with_lone_surrogates_replaced(text)).ok()?;
    for step in steps(path)? {
        document = match step {
            Step::Member(name) => document.get_mut(name.as_str())?.take(),
            Step::Index(i) => document.get_mut(i)?.take(),
        };
    }
    Some(document)
}

/// The scalar at `path` in the JSON `text`, as text.
pub fn extract_scalar(text: &str, path: &str) -> Option<String> {
    match &value_at(text, path)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

enum Step {
    Member(String),
    Index(usize),
}

/// The steps of a JSONPath; `None` when it is not one this function reads.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            out.push(Step::Member(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            let quoted = inside
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| inside.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
            out.push(match quoted {
                Some(name) => Step::Member(name.to_owned()),
                None => Step::Index(inside.parse().ok()?),
            });
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_found_by_path_and_nothing_else_is() {
        let text = r#"{"a":{"b":[10,{"c":"x"}],"t":true,"n":null},"d e":"y"}"#;
        assert_eq!(extract_scalar(text, "$.a.b[0]").as_deref(), Some("10"));
        assert_eq!(extract_scalar(text, "$.a.b[1].c").as_deref(), Some("x"));
        assert_eq!(extract_scalar(text, "$['d e']").as_deref(), Some("y"));
        assert_eq!(extract_scalar(text, "$.a.t").as_deref(), Some("true"));
        for nothing in ["$.a", "$.a.b", "$.a.n", "$.z", "a.b", "$.", "$[x]"] {
            assert_eq!(extract_scalar(text, nothing), None, "{nothing}");
        }
        assert_eq!(extract_scalar("not json", "$"), None);
    }
}
