//! Filters applied to scanned members before Lake's columns are built, so that rows a query
//! cannot want cost no JSON parsing (`requestparameters` maps) or struct building: equality of
//! a text column (or a text field of a struct, `useridentity.accesskeyid`) with a string
//! literal, and `IS NOT NULL` on one. Sources take out exactly the rows failing them (the store
//! as it reads its columns; records in memory with [`apply`]); a filter that is one of them
//! alone is `Exact`, and DataFusion does not apply it again.

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, StringViewArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::columns::member_path_of_field;
use crate::schema::cloudtrail_events;

/// One condition on a member's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Equals(String, String),
    NotNull(String),
}

impl Condition {
    /// The member path the condition reads.
    pub fn path(&self) -> &str {
        match self {
            Condition::Equals(path, _) | Condition::NotNull(path) => path,
        }
    }
}

/// The conditions among `filters` (a conjunction) that can be checked on members' text.
pub fn conditions(filters: &[Expr]) -> Vec<Condition> {
    let mut out = Vec::new();
    filters
        .iter()
        .flat_map(split_conjunction)
        .for_each(|f| collect(f, &mut out));
    out
}

/// Whether `filter` is one condition (not a conjunction, not another expression): the scan
/// applies it exactly, row by row ([`apply`]).
pub fn is_exact(filter: &Expr) -> bool {
    let mut found = Vec::new();
    collect(filter, &mut found);
    found.len() == 1
}

fn collect(filter: &Expr, out: &mut Vec<Condition>) {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (member, literal) = match (text_member(left), text_member(right)) {
                (Some(m), None) => (m, right),
                (None, Some(m)) => (m, left),
                _ => return,
            };
            if let Some(v) = string_literal(literal) {
                out.push(Condition::Equals(member, v.to_owned()));
            }
        }
        Expr::IsNotNull(inner) => {
            if let Some(member) = text_member(inner) {
                out.push(Condition::NotNull(member));
            }
        }
        _ => {}
    }
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(v))
            | ScalarValue::Utf8View(Some(v))
            | ScalarValue::LargeUtf8(Some(v)),
            _,
        ) => Some(v),
        _ => None,
    }
}

/// The member path of a text column, or of a text field reached through structs.
fn text_member(expr: &Expr) -> Option<String> {
    let mut names = Vec::new();
    let mut at = expr;
    loop {
        match at {
            Expr::Column(column) => {
                names.push(column.name.clone());
                break;
            }
            Expr::ScalarFunction(call) if call.func.name() == "get_field" => {
                let [inner, name] = call.args.as_slice() else {
                    return None;
                };
                names.push(string_literal(name)?.to_owned());
                at = inner;
            }
            _ => return None,
        }
    }
    names.reverse();
    let schema = cloudtrail_events();
    let mut field = schema.field_with_name(&names[0]).ok()?.clone();
    for name in &names[1..] {
        let DataType::Struct(children) = field.data_type() else {
            return None;
        };
        field = children.iter().find(|c| c.name() == name)?.as_ref().clone();
    }
    if field.data_type() != &DataType::Utf8View {
        return None;
    }
    member_path_of_field(&names)
}

/// `batch` without the rows that fail a condition: exactly those (a row is kept when its
/// member's text is the value, or present); the batch has every condition's member (the
/// scan reads them).
pub fn apply(conditions: &[Condition], batch: RecordBatch) -> Result<RecordBatch, String> {
    if conditions.is_empty() {
        return Ok(batch);
    }
    let mut keep = vec![true; batch.num_rows()];
    for condition in conditions {
        let column = batch
            .column_by_name(condition.path())
            .and_then(|c| c.as_any().downcast_ref::<StringViewArray>())
            .ok_or_else(|| format!("the scan did not give {}", condition.path()))?;
        for (row, keep) in keep.iter_mut().enumerate() {
            *keep = *keep
                && column.is_valid(row)
                && match condition {
                    Condition::Equals(_, value) => column.value(row) == value,
                    Condition::NotNull(_) => true,
                };
        }
    }
    if keep.iter().all(|k| *k) {
        return Ok(batch);
    }
    filter_record_batch(&batch, &BooleanArray::from(keep)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::functions::core::expr_fn::get_field;
    use datafusion::prelude::{col, lit};

    #[test]
    fn text_equalities_and_not_nulls_become_conditions_on_members() {
        let found = conditions(&[
            col("eventsource").eq(lit("s3.amazonaws.com")),
            lit("AKIA1").eq(get_field(col("useridentity"), "accesskeyid")),
            col("errorcode").is_not_null(),
            col("readonly").eq(lit(true)),
            col("eventname").not_eq(lit("x")),
        ]);
        assert_eq!(
            found,
            [
                Condition::Equals("eventSource".into(), "s3.amazonaws.com".into()),
                Condition::Equals("userIdentity.accessKeyId".into(), "AKIA1".into()),
                Condition::NotNull("errorCode".into()),
            ]
        );
    }
}
