//! The times a query's filters allow for `eventtime`, so that the source skips the rest. Only
//! comparisons of `eventtime` with a timestamp literal count (DataFusion has already made the
//! literal of `eventtime > '2024-01-01 00:00:00'` a timestamp); anything else allows every time.
//! Bounds are widened to whole milliseconds, never narrowed.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

/// Inclusive bounds in ms; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub min_ms: Option<i64>,
    pub max_ms: Option<i64>,
}

impl TimeRange {
    fn at_least(&mut self, ms: i64) {
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.max(ms)));
    }

    fn at_most(&mut self, ms: i64) {
        self.max_ms = Some(self.max_ms.map_or(ms, |m| m.min(ms)));
    }
}

/// The range every one of `filters` (a conjunction) allows.
pub fn of_filters(filters: &[Expr]) -> TimeRange {
    let mut range = TimeRange::default();
    filters
        .iter()
        .flat_map(split_conjunction)
        .for_each(|f| narrow(f, &mut range));
    range
}

fn narrow(filter: &Expr, range: &mut TimeRange) {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, literal) = match (is_event_time(left), is_event_time(right)) {
                (true, false) => (*op, right),
                (false, true) => match op.swap() {
                    Some(op) => (op, left),
                    None => return,
                },
                _ => return,
            };
            let Some((floor, ceil)) = millis(literal) else {
                return;
            };
            match op {
                Operator::Eq => {
                    range.at_least(floor);
                    range.at_most(ceil);
                }
                Operator::Gt | Operator::GtEq => range.at_least(floor),
                Operator::Lt | Operator::LtEq => range.at_most(ceil),
                _ => {}
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_event_time(expr) => {
            if let Some((floor, _)) = millis(low) {
                range.at_least(floor);
            }
            if let Some((_, ceil)) = millis(high) {
                range.at_most(ceil);
            }
        }
        _ => {}
    }
}

fn is_event_time(expr: &Expr) -> bool {
    match expr {
        Expr::Column(column) => column.name == "eventtime",
        _ => false,
    }
}

/// A timestamp literal as (floor, ceiling) milliseconds.
fn millis(expr: &Expr) -> Option<(i64, i64)> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let (value, per_ms) = match value {
        ScalarValue::TimestampSecond(Some(v), _) => return Some((v * 1000, v * 1000)),
        ScalarValue::TimestampMillisecond(Some(v), _) => return Some((*v, *v)),
        ScalarValue::TimestampMicrosecond(Some(v), _) => (*v, 1_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => (*v, 1_000_000),
        _ => return None,
    };
    Some((
        value.div_euclid(per_ms),
        (value + per_ms - 1).div_euclid(per_ms),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn ms(v: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(Some(v), None))
    }

    #[test]
    fn comparisons_with_eventtime_bound_it_and_others_do_not() {
        let range = of_filters(&[
            col("eventtime").gt_eq(ms(100)),
            ms(500).gt(col("eventtime")),
            col("eventname").eq(lit("x")),
        ]);
        assert_eq!(
            range,
            TimeRange {
                min_ms: Some(100),
                max_ms: Some(500)
            }
        );
        assert_eq!(
            of_filters(&[col("eventtime").between(ms(1), ms(2))]),
            TimeRange {
                min_ms: Some(1),
                max_ms: Some(2)
            }
        );
        let micros = lit(ScalarValue::TimestampMicrosecond(Some(1_500), None));
        assert_eq!(
            of_filters(&[col("eventtime").eq(micros)]),
            TimeRange {
                min_ms: Some(1),
                max_ms: Some(2)
            }
        );
        assert_eq!(
            of_filters(&[col("eventtime").not_eq(ms(3))]),
            TimeRange::default()
        );
    }
}
