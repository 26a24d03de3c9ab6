//! Trino's functions where Lake's queries need Trino's semantics and DataFusion's function of
//! the same name differs (or is missing). One file a function; [`register_all`] installs them
//! over DataFusion's built-ins.
//!
//! Shadowed built-ins: `element_at` (DataFusion's returns a one-element list for a map; Trino's
//! the value). Added: `json_extract_scalar`, the other JSON functions of [`json`], and the
//! date functions of [`datetime`]
//! (`date_add`, `date_diff`, `from_iso8601_timestamp`, `to_iso8601`, `day_of_week`/`dow`),
//! and the array functions with a lambda of [`lambda`] (`transform`, `filter`, `any_match`,
//! `all_match`, `none_match`).

mod datetime;
mod element_at;
mod json;
mod json_extract_scalar;
pub mod lambda;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Installs every function of this module in `context`, replacing built-ins of the same name.
pub fn register_all(context: &SessionContext) {
    for function in json::JsonFunction::all() {
        context.register_udf(ScalarUDF::from(function));
    }
    for function in lambda::ArrayLambda::all() {
        context.register_udf(ScalarUDF::from(function));
    }
    for function in [
        ScalarUDF::from(element_at::ElementAt::new()),
        ScalarUDF::from(json_extract_scalar::JsonExtractScalar::new()),
        ScalarUDF::from(datetime::DateTimeFunction::date_add()),
        ScalarUDF::from(datetime::DateTimeFunction::date_diff()),
        ScalarUDF::from(datetime::DateTimeFunction::from_iso8601_timestamp()),
        ScalarUDF::from(datetime::DateTimeFunction::to_iso8601()),
        ScalarUDF::from(datetime::DateTimeFunction::day_of_week()),
    ] {
        context.register_udf(function);
    }
}

/// Calls `f` with the arguments as arrays; a scalar answer when every argument was a scalar.
fn invoke(
    args: ScalarFunctionArgs,
    f: impl FnOnce(&[ArrayRef]) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let result = f(&arrays)?;
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
    } else {
        ColumnarValue::Array(result)
    })
}
