//! Trino's `UNNEST` in FROM: `FROM <store> CROSS JOIN UNNEST(resources) AS t(r)` (or
//! `, UNNEST(...)`), a row per element beside its event's row. DataFusion plans such a join as
//! a correlated subquery it cannot run, so it is written as a derived table before planning,
//! with DataFusion's `unnest` in a projection:
//!
//! ```sql
//! FROM (SELECT * EXCLUDE ("__unnest_0"), "__unnest_0" AS r
//!       FROM (SELECT e.*, unnest(resources) AS "__unnest_0" FROM <store> AS e) AS e) AS e
//! ```
//!
//! and `t.r` anywhere in the query is `e.r`. Trino's rules kept: several arrays are zipped (the
//! shorter padded with NULL); a NULL or empty array gives no rows; `WITH ORDINALITY` adds the
//! 1-based position; a map gives two columns (key, value); an array of rows gives a column
//! per field (for Lake's `resources`: `accountid`, `type`, `arn`, `arnprefix`, or the names
//! given in the alias). `LEFT JOIN UNNEST`, and UNNEST after another join, are refused with
//! a message saying so.

use std::ops::ControlFlow;

use datafusion::arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Join, JoinConstraint, JoinOperator, Query, Select, SetExpr, Statement,
    TableFactor, Value, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::LakeDialect;
use crate::LakeError;

/// Rewrites every UNNEST of the statement; whether there was one.
pub fn rewrite_unnest(statement: &mut Statement) -> Result<bool, LakeError> {
    let mut rewriter = Rewriter { rewritten: false };
    match statement.visit(&mut rewriter) {
        ControlFlow::Break(message) => Err(LakeError::InvalidQueryStatement(message)),
        ControlFlow::Continue(()) => Ok(rewriter.rewritten),
    }
}

struct Rewriter {
    rewritten: bool,
}

impl VisitorMut for Rewriter {
    type Break = String;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        let mut renames: Vec<(String, Ident)> = Vec::new();
        match rewrite_set_expr(&mut query.body, &mut renames) {
            Err(message) => return ControlFlow::Break(message),
            Ok(false) => return ControlFlow::Continue(()),
            Ok(true) => self.rewritten = true,
        }
        // `t.r` (the UNNEST's alias) is now a column of the derived table.
        visit_expressions_mut(query, |expr| {
            if let Expr::CompoundIdentifier(parts) = expr
                && parts.len() >= 2
                && let Some((_, table)) = renames
                    .iter()
                    .find(|(alias, _)| parts[0].value.eq_ignore_ascii_case(alias))
            {
                parts[0] = table.clone();
            }
            ControlFlow::<String>::Continue(())
        })
    }
}

/// Folds the UNNESTs of `body`'s SELECTs; whether there was one.
fn rewrite_set_expr(
    body: &mut SetExpr,
    renames: &mut Vec<(String, Ident)>,
) -> Result<bool, String> {
    match body {
        SetExpr::Select(select) => rewrite_select(select, renames),
        SetExpr::SetOperation { left, right, .. } => {
            let left = rewrite_set_expr(left, renames)?;
            Ok(rewrite_set_expr(right, renames)? || left)
        }
        _ => Ok(false),
    }
}

fn is_unnest(relation: &TableFactor) -> bool {
    matches!(relation, TableFactor::UNNEST { .. })
}

fn rewrite_select(select: &mut Select, renames: &mut Vec<(String, Ident)>) -> Result<bool, String> {
    let mut folded = false;
    // `FROM a, UNNEST(...)` is `FROM a CROSS JOIN UNNEST(...)`.
    let mut i = 1;
    while i < select.from.len() {
        if is_unnest(&select.from[i].relation) && select.from[i].joins.is_empty() {
            let unnest = select.from.remove(i);
            select.from[i - 1].joins.push(Join {
                relation: unnest.relation,
                global: false,
                join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
            });
        } else {
            i += 1;
        }
    }
    for item in &mut select.from {
        if is_unnest(&item.relation) {
            // A bare `FROM UNNEST(ARRAY[...])` is a table function DataFusion has.
            continue;
        }
        let mut before_unnest = true;
        for join in &item.joins {
            if !is_unnest(&join.relation) {
                before_unnest = false;
                continue;
            }
            if !before_unnest {
                return Err(format!(
                    "UNNEST after another join is not supported by cairn: join UNNEST to \
                     the table whose arrays it expands, first ({}).",
                    join.relation
                ));
            }
            let cross = match &join.join_operator {
                JoinOperator::CrossJoin(JoinConstraint::None) => true,
                JoinOperator::Join(JoinConstraint::On(on))
                | JoinOperator::Inner(JoinConstraint::On(on)) => {
                    matches!(on, Expr::Value(v) if v.value == Value::Boolean(true))
                }
                _ => false,
            };
            if !cross {
                return Err(format!(
                    "Only CROSS JOIN UNNEST (or JOIN UNNEST ... ON true) is supported by \
                     cairn, not {:?} UNNEST.",
                    join_kind(&join.join_operator)
                ));
            }
        }
        while item.joins.first().is_some_and(|j| is_unnest(&j.relation)) {
            let join = item.joins.remove(0);
            let base = item.relation.clone();
            let (relation, rename) = fold(base, join.relation)?;
            item.relation = relation;
            renames.extend(rename);
            folded = true;
        }
    }
    Ok(folded)
}

fn join_kind(operator: &JoinOperator) -> &'static str {
    match operator {
        JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => "LEFT JOIN",
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) => "RIGHT JOIN",
        JoinOperator::FullOuter(_) => "FULL JOIN",
        _ => "this JOIN",
    }
}

/// How one UNNEST argument becomes columns.
enum Expansion {
    /// One column: the element.
    Element,
    /// Two columns: a map's key and value.
    KeyValue,
    /// A column per field of a row element, by name.
    Fields(Vec<String>),
}

/// What Lake's schema says a column argument (`resources`, `e.requestparameters`) holds.
fn lake_type(expr: &Expr) -> Option<DataType> {
    let name = match expr {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => &parts.last()?.value,
        _ => return None,
    };
    let schema = crate::schema::cloudtrail_events();
    let field = schema.field_with_name(&name.to_lowercase()).ok()?;
    Some(field.data_type().clone())
}

fn expansion(expr: &Expr, wanted: Option<usize>) -> Expansion {
    match lake_type(expr) {
        Some(DataType::Map(..)) => Expansion::KeyValue,
        Some(DataType::List(item)) => match item.data_type() {
            // Trino expands a row into its fields; one column name keeps the row whole.
            DataType::Struct(fields) if wanted != Some(1) => {
                Expansion::Fields(fields.iter().map(|f| f.name().clone()).collect())
            }
            _ => Expansion::Element,
        },
        _ => Expansion::Element,
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `base CROSS JOIN unnest` as one derived table named as `base` was, and the UNNEST's
/// alias, whose columns are now that table's.
fn fold(
    base: TableFactor,
    unnest: TableFactor,
) -> Result<(TableFactor, Option<(String, Ident)>), String> {
    let TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset,
        with_ordinality,
        ..
    } = unnest
    else {
        return Err("not an UNNEST".to_owned());
    };
    if with_offset {
        return Err("UNNEST ... WITH OFFSET is not Trino's: write WITH ORDINALITY.".to_owned());
    }
    let table: Ident = match &base {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(alias) => alias.name.clone(),
            None => name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .cloned()
                .ok_or_else(|| format!("{name} cannot be joined to UNNEST"))?,
        },
        TableFactor::Derived {
            alias: Some(alias), ..
        } => alias.name.clone(),
        other => {
            return Err(format!(
                "Give {other} a name (AS ...) to join UNNEST to it."
            ));
        }
    };
    let names: Vec<String> = alias
        .as_ref()
        .map(|a| a.columns.iter().map(|c| c.name.value.clone()).collect())
        .unwrap_or_default();
    let value_names = names.len().saturating_sub(usize::from(with_ordinality));
    let expansions: Vec<Expansion> = array_exprs
        .iter()
        .map(|e| {
            let wanted = (array_exprs.len() == 1 && !names.is_empty()).then_some(value_names);
            expansion(e, wanted)
        })
        .collect();
    // The inner projection's unnested columns, and the outer projection's named ones.
    let mut inner: Vec<String> = Vec::new();
    let mut hidden: Vec<String> = Vec::new();
    let mut outer: Vec<String> = Vec::new();
    let mut next_name = names.iter();
    let mut name_or = |default: String| next_name.next().cloned().unwrap_or(default);
    for (i, (expr, expansion)) in array_exprs.iter().zip(&expansions).enumerate() {
        let column = format!("__unnest_{i}");
        match expansion {
            Expansion::Element => {
                inner.push(format!("unnest({expr}) AS {}", quoted(&column)));
                let name = name_or(
                    alias
                        .as_ref()
                        .map_or("unnest".to_owned(), |a| a.name.value.clone()),
                );
                outer.push(format!("{} AS {}", quoted(&column), quoted(&name)));
                hidden.push(column);
            }
            Expansion::KeyValue => {
                for (part, function) in [("key", "map_keys"), ("value", "map_values")] {
                    let part_column = format!("{column}_{part}");
                    inner.push(format!(
                        "unnest({function}({expr})) AS {}",
                        quoted(&part_column)
                    ));
                    let name = name_or(part.to_owned());
                    outer.push(format!("{} AS {}", quoted(&part_column), quoted(&name)));
                    hidden.push(part_column);
                }
            }
            Expansion::Fields(fields) => {
                inner.push(format!("unnest({expr}) AS {}", quoted(&column)));
                for field in fields {
                    let name = name_or(field.clone());
                    outer.push(format!(
                        "get_field({}, '{field}') AS {}",
                        quoted(&column),
                        quoted(&name)
                    ));
                }
                hidden.push(column);
            }
        }
    }
    if with_ordinality {
        let lengths: Vec<String> = array_exprs
            .iter()
            .map(|e| format!("CAST(cardinality({e}) AS BIGINT)"))
            .collect();
        let longest = match lengths.as_slice() {
            [one] => one.clone(),
            _ => format!("greatest({})", lengths.join(", ")),
        };
        inner.push(format!(
            "unnest(range(1, {longest} + 1)) AS \"__unnest_ordinality\""
        ));
        let name = name_or("ordinality".to_owned());
        outer.push(format!("\"__unnest_ordinality\" AS {}", quoted(&name)));
        hidden.push("__unnest_ordinality".to_owned());
    }
    if !names.is_empty() && names.len() != outer.len() {
        return Err(format!(
            "UNNEST gives {} columns; its alias names {}.",
            outer.len(),
            names.len()
        ));
    }
    let hidden: Vec<String> = hidden.iter().map(|h| quoted(h)).collect();
    let text = format!(
        "SELECT * FROM (SELECT * EXCLUDE ({hidden}), {outer} FROM (SELECT {table}.*, {inner} \
         FROM {base}) AS {table}) AS {table}",
        hidden = hidden.join(", "),
        outer = outer.join(", "),
        inner = inner.join(", "),
    );
    let mut statement = Parser::parse_sql(&LakeDialect, &text)
        .map_err(|e| format!("UNNEST: {e}"))?
        .pop()
        .ok_or("UNNEST: nothing parsed")?;
    let Statement::Query(query) = &mut statement else {
        return Err("UNNEST: not a query".to_owned());
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err("UNNEST: not a SELECT".to_owned());
    };
    let relation = select.from.remove(0).relation;
    let rename = alias.map(|a| (a.name.value, table));
    Ok((relation, rename))
}
