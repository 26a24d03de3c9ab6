//! Which fields of the struct columns (`useridentity`, `tlsdetails`) and which keys of the map
//! columns (`requestparameters`, ...) a query reads, found in its plan before it runs: a
//! table's projection names whole columns, and `useridentity` is some twenty-five members,
//! while most queries read one (`useridentity.arn`); a map is every key of a JSON object,
//! while most queries read one (`element_at(requestparameters, 'bucketName')`). A field no
//! expression reads is left null in the scan (never read from the store), a key no expression
//! reads is left out of the map; a column named anywhere other than through its fields or
//! keys is read whole.

use std::collections::HashMap;
#[cfg(test)]
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Per struct column a query names: the field paths it reads (Lake names below the column),
/// or `None` when it reads the column whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructUse {
    /// `None` before a plan was looked at: everything is read.
    columns: Option<HashMap<String, Option<Vec<Vec<String>>>>>,
}

impl StructUse {
    /// What `plan` reads of the struct columns `names`.
    pub fn of_plan(plan: &LogicalPlan, names: &[&str]) -> StructUse {
        let mut columns: HashMap<String, Option<Vec<Vec<String>>>> = HashMap::new();
        let _ = plan.apply(|node| {
            node.apply_expressions(|expr| {
                visit(expr, names, &mut columns);
                Ok(TreeNodeRecursion::Continue)
            })?;
            // Subqueries in expressions are plans of their own.
            node.apply_subqueries(|subquery| {
                let inner = StructUse::of_plan(subquery, names);
                for (column, used) in inner.columns.unwrap_or_default() {
                    merge(&mut columns, column, used);
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
            Ok(TreeNodeRecursion::Continue)
        });
        StructUse {
            columns: Some(columns),
        }
    }

    /// The keys read of the map at `names` (a column's name, then field names): `None` when
    /// it is read whole.
    pub fn keys_read(&self, names: &[String]) -> Option<Vec<String>> {
        let (column, below) = names.split_first()?;
        let paths = self.columns.as_ref()?.get(column)?.as_ref()?;
        let mut keys = Vec::new();
        for path in paths {
            if path.len() <= below.len() {
                if path[..] == below[..path.len()] {
                    return None;
                }
                continue;
            }
            if path[..below.len()] == below[..] {
                keys.push(path[below.len()].clone());
            }
        }
        Some(keys)
    }

    /// Whether the field at `names` (a column's name, then field names) is read.
    pub fn reads(&self, names: &[String]) -> bool {
        let Some(columns) = &self.columns else {
            return true;
        };
        let Some((column, below)) = names.split_first() else {
            return true;
        };
        match columns.get(column) {
            // Not a struct column, or one the plan names some other way: read it all.
            None | Some(None) => true,
            Some(Some(paths)) => paths.iter().any(|p| {
                let shorter = p.len().min(below.len());
                p[..shorter] == below[..shorter]
            }),
        }
    }
}

fn merge(
    columns: &mut HashMap<String, Option<Vec<Vec<String>>>>,
    column: String,
    used: Option<Vec<Vec<String>>>,
) {
    let entry = columns.entry(column).or_insert_with(|| Some(Vec::new()));
    match (entry.as_mut(), used) {
        (Some(paths), Some(more)) => paths.extend(more),
        _ => *entry = None,
    }
}

fn visit(expr: &Expr, names: &[&str], columns: &mut HashMap<String, Option<Vec<Vec<String>>>>) {
    let _ = expr.apply(|e| {
        if let Some((column, path)) = field_chain(e) {
            if names.contains(&column.as_str()) {
                merge(columns, column, Some(vec![path]));
            }
            return Ok(TreeNodeRecursion::Jump);
        }
        if let Expr::Column(c) = e
            && names.contains(&c.name.as_str())
        {
            merge(columns, c.name.clone(), None);
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// `get_field(... get_field(column, a) ..., b)` as (column, [a, ..., b]); a map's
/// `element_at(column, key)` (Trino's) as (column, [key]).
fn field_chain(expr: &Expr) -> Option<(String, Vec<String>)> {
    let mut names = Vec::new();
    let mut at = expr;
    loop {
        match at {
            Expr::ScalarFunction(call)
                if call.func.name() == "get_field"
                    || (call.func.name() == "element_at" && names.is_empty()) =>
            {
                let [inner, name] = call.args.as_slice() else {
                    return None;
                };
                let Expr::Literal(
                    ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name)),
                    _,
                ) = name
                else {
                    return None;
                };
                names.push(name.clone());
                at = inner;
            }
            Expr::Column(column) if !names.is_empty() => {
                names.reverse();
                return Some((column.name.clone(), names));
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{MAP_COLUMNS, STRUCT_COLUMNS, cloudtrail_events};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    fn used(sql: &str) -> StructUse {
        let context = SessionContext::new();
        crate::functions::register_all(&context);
        let table = MemTable::try_new(cloudtrail_events(), vec![vec![]]).unwrap();
        context.register_table("t", Arc::new(table)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let frame = runtime.block_on(context.sql(sql)).unwrap();
        StructUse::of_plan(
            frame.logical_plan(),
            &[&STRUCT_COLUMNS[..], &MAP_COLUMNS[..]].concat(),
        )
    }

    fn names(path: &str) -> Vec<String> {
        path.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn fields_read_through_their_struct_are_read_and_others_not() {
        let u = used(
            "SELECT useridentity.arn, count(*) FROM t \
             WHERE useridentity.sessioncontext.sessionissuer.username = 'x' \
             AND eventname IN (SELECT eventname FROM t WHERE tlsdetails.tlsversion = '1.2') \
             GROUP BY useridentity.arn",
        );
        assert!(u.reads(&names("useridentity.arn")));
        assert!(u.reads(&names("useridentity.sessioncontext.sessionissuer.username")));
        assert!(!u.reads(&names("useridentity.sessioncontext.sessionissuer.arn")));
        assert!(!u.reads(&names("useridentity.accesskeyid")));
        assert!(u.reads(&names("tlsdetails.tlsversion")));
        assert!(!u.reads(&names("tlsdetails.ciphersuite")));
    }

    #[test]
    fn a_struct_named_whole_is_read_whole() {
        let u = used("SELECT useridentity FROM t");
        assert!(u.reads(&names("useridentity.accesskeyid")));
        let all = used("SELECT * FROM t");
        assert!(all.reads(&names("tlsdetails.ciphersuite")));
        assert!(StructUse::default().reads(&names("useridentity.arn")));
    }

    #[test]
    fn map_keys_read_by_element_at_or_subscript_are_the_keys_read() {
        let u = used(
            "SELECT element_at(requestparameters, 'bucketName'), \
                    responseelements['ConsoleLogin'] FROM t \
             WHERE element_at(requestparameters, 'key') IS NOT NULL",
        );
        let mut keys = u.keys_read(&names("requestparameters")).unwrap();
        keys.sort();
        assert_eq!(keys, ["bucketName", "key"]);
        assert_eq!(
            u.keys_read(&names("responseelements")),
            Some(vec!["ConsoleLogin".to_owned()])
        );
        // Not named at all: nothing is read of it.
        assert_eq!(u.keys_read(&names("additionaleventdata")), None);
        let whole = used("SELECT cardinality(map_keys(requestparameters)) FROM t");
        assert_eq!(whole.keys_read(&names("requestparameters")), None);
    }
}
