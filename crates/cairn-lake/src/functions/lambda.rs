//! Trino's array functions that take a lambda: `transform(array, x -> f(x))`,
//! `filter(array, x -> p(x))`, `any_match`, `all_match` and `none_match(array, x -> p(x))`.
//!
//! DataFusion has no lambdas, so the statement is rewritten first
//! ([`crate::statement::trino`]): the lambda's body becomes SQL text in which its parameter is
//! the column [`PARAMETER`] and each outer column it mentions is the column
//! `__capture_<i>`, given as argument `2 + i`:
//!
//! `transform(resources, r -> r.arn || suffix)` is `transform(resources,
//! $lambda0$get_field("__lambda", 'arn') || "__capture_0"$lambda0$, suffix)`.
//!
//! Here the body is planned once per call against the array's element type and evaluated
//! over all the elements of a batch at once, each element beside its row's captured values.
//! Trino's semantics: a NULL array gives NULL; `filter` keeps the elements whose predicate is
//! true (not NULL); `any_match` is true when some element's predicate is true, NULL when none
//! is but some is NULL, else false (so false for an empty array); `all_match` and
//! `none_match` likewise.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, ListArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{filter as keep, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{
    ColumnarValue, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::prelude::{Expr, SessionContext};

/// The column a lambda's parameter is in its body.
pub const PARAMETER: &str = "__lambda";

/// The column of a lambda body's `i`th captured outer value.
pub fn capture_column(i: usize) -> String {
    format!("__capture_{i}")
}

/// The functions of this file, by Trino's names.
pub const NAMES: [&str; 5] = [
    "transform",
    "filter",
    "any_match",
    "all_match",
    "none_match",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Transform,
    Filter,
    AnyMatch,
    AllMatch,
    NoneMatch,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayLambda {
    kind: Kind,
    name: &'static str,
    signature: Signature,
}

/// Where bodies are planned: a session with Lake's functions (nested lambdas included), made
/// once, when a lambda is first met.
static PLANNER: LazyLock<SessionContext> = LazyLock::new(|| {
    let context = SessionContext::new();
    super::register_all(&context);
    context
});

impl ArrayLambda {
    pub fn all() -> Vec<ArrayLambda> {
        [
            Kind::Transform,
            Kind::Filter,
            Kind::AnyMatch,
            Kind::AllMatch,
            Kind::NoneMatch,
        ]
        .into_iter()
        .zip(NAMES)
        .map(|(kind, name)| ArrayLambda {
            kind,
            name,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
        .collect()
    }

    /// The body's schema (the parameter, then the captures) and the body planned in it.
    fn plan_body(&self, fields: &[FieldRef], body: &str) -> Result<(DFSchema, Expr)> {
        let Some(DataType::List(element)) = fields.first().map(|f| f.data_type()) else {
            return plan_err!(
                "{} takes an array and a lambda; its first argument is {}",
                self.name,
                fields
                    .first()
                    .map_or("missing".to_owned(), |f| f.data_type().to_string())
            );
        };
        let mut columns = vec![Field::new(PARAMETER, element.data_type().clone(), true)];
        for (i, field) in fields.iter().skip(2).enumerate() {
            columns.push(Field::new(
                capture_column(i),
                field.data_type().clone(),
                true,
            ));
        }
        let schema = DFSchema::try_from(Schema::new(columns))?;
        let expr = PLANNER.parse_sql_expr(body, &schema)?;
        Ok((schema, expr))
    }
}

fn body_text<'a>(name: &str, value: Option<&'a ScalarValue>) -> Result<&'a str> {
    match value {
        Some(ScalarValue::Utf8(Some(body))) => Ok(body),
        _ => plan_err!("{name}'s second argument must be a lambda, such as x -> x.arn"),
    }
}

impl ScalarUDFImpl for ArrayLambda {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        plan_err!("{}'s type depends on its lambda", self.name)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let body = body_text(self.name, args.scalar_arguments.get(1).copied().flatten())?;
        let (schema, expr) = self.plan_body(args.arg_fields, body)?;
        let data_type = match self.kind {
            Kind::Transform => {
                let item = expr.get_type(&schema)?;
                DataType::List(Arc::new(Field::new_list_field(item, true)))
            }
            Kind::Filter => args.arg_fields[0].data_type().clone(),
            Kind::AnyMatch | Kind::AllMatch | Kind::NoneMatch => DataType::Boolean,
        };
        Ok(Arc::new(Field::new(self.name, data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let body = match args.args.get(1) {
            Some(ColumnarValue::Scalar(value)) => body_text(self.name, Some(value))?,
            _ => return exec_err!("{}'s lambda must be written in the query", self.name),
        };
        let (schema, expr) = self.plan_body(&args.arg_fields, body)?;
        // Simplified first, as a plan's expressions are (`coalesce` runs as a CASE).
        let context = SimplifyContext::builder()
            .with_schema(Arc::new(schema.clone()))
            .build();
        let expr = ExprSimplifier::new(context).simplify(expr)?;
        let predicate = PLANNER.create_physical_expr(expr, &schema)?;
        let rows = args.number_rows;
        let list = args.args[0].to_array(rows)?;
        let list = list.as_list::<i32>();
        let offsets = list.value_offsets();
        let (first, last) = (offsets[0] as usize, offsets[rows] as usize);
        let elements = list.values().slice(first, last - first);
        // Each element's row, to put the row's captured values beside it.
        let element_rows: UInt32Array = (0..rows)
            .flat_map(|row| {
                let n = (offsets[row + 1] - offsets[row]) as usize;
                std::iter::repeat_n(row as u32, n)
            })
            .collect();
        let mut columns: Vec<ArrayRef> = vec![elements.clone()];
        for capture in &args.args[2..] {
            columns.push(take(capture.to_array(rows)?.as_ref(), &element_rows, None)?);
        }
        let batch = RecordBatch::try_new(Arc::new(schema.as_arrow().clone()), columns)?;
        let values = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        // Offsets of the elements, from 0.
        let relative: Vec<usize> = offsets.iter().map(|&o| o as usize - first).collect();
        let result: ArrayRef = match self.kind {
            Kind::Transform => Arc::new(ListArray::try_new(
                Arc::new(Field::new_list_field(values.data_type().clone(), true)),
                OffsetBuffer::from_lengths(relative.windows(2).map(|w| w[1] - w[0])),
                values,
                list.nulls().cloned(),
            )?),
            Kind::Filter => {
                let kept = boolean(&values, self.name)?;
                let lengths = relative.windows(2).map(|w| {
                    (w[0]..w[1])
                        .filter(|&i| kept.is_valid(i) && kept.value(i))
                        .count()
                });
                let lengths: Vec<usize> = lengths.collect();
                let kept_values = keep(elements.as_ref(), kept)?;
                let DataType::List(item) = list.data_type() else {
                    return exec_err!("{}: not an array", self.name);
                };
                Arc::new(ListArray::try_new(
                    item.clone(),
                    OffsetBuffer::from_lengths(lengths),
                    kept_values,
                    list.nulls().cloned(),
                )?)
            }
            Kind::AnyMatch | Kind::AllMatch | Kind::NoneMatch => {
                let matched = boolean(&values, self.name)?;
                let mut out = BooleanBuilder::with_capacity(rows);
                for (row, w) in relative.windows(2).enumerate() {
                    if list.is_null(row) {
                        out.append_null();
                        continue;
                    }
                    let of = |wanted: bool| {
                        (w[0]..w[1]).any(|i| matched.is_valid(i) && matched.value(i) == wanted)
                    };
                    let some_null = (w[0]..w[1]).any(|i| matched.is_null(i));
                    let (decided, value) = match self.kind {
                        Kind::AnyMatch => (of(true), true),
                        Kind::AllMatch => (of(false), false),
                        _ => (of(true), false),
                    };
                    if decided {
                        out.append_value(value);
                    } else if some_null {
                        out.append_null();
                    } else {
                        out.append_value(!value);
                    }
                }
                Arc::new(out.finish())
            }
        };
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(_)
                if args.args[2..]
                    .iter()
                    .all(|a| matches!(a, ColumnarValue::Scalar(_))) =>
            {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
            }
            _ => ColumnarValue::Array(result),
        })
    }
}

fn boolean<'a>(values: &'a ArrayRef, name: &str) -> Result<&'a BooleanArray> {
    match values.data_type() {
        DataType::Boolean => Ok(values.as_boolean()),
        other => exec_err!("{name}'s lambda must give a boolean, not {other}"),
    }
}
