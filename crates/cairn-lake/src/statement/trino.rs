//! Trino's functions that DataFusion has in another form, written in that form before the
//! statement is planned.

use datafusion::sql::sqlparser::ast::{Expr, Statement};
use datafusion::sql::sqlparser::parser::Parser;

use super::LakeDialect;
use crate::LakeError;
use crate::functions::lambda;

/// `root`'s fields `fields` (names folded to lower case, as Lake's are) as DataFusion's
/// `get_field` calls: `get_field(get_field(root, 'a'), 'b')`.
fn field_access<'a>(root: String, fields: impl IntoIterator<Item = &'a str>) -> String {
    fields.into_iter().fold(root, |inner, field| {
        format!(
            "get_field({inner}, '{}')",
            field.to_lowercase().replace('\'', "''")
        )
    })
}

fn parse_expression(text: &str) -> Result<Expr, String> {
    Parser::new(&LakeDialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| e.to_string())
}

/// Writes Trino's functions that DataFusion has in another form in that form; whether any
/// was found.
pub fn rewrite_trino_functions(statement: &mut Statement) -> Result<bool, LakeError> {
    use datafusion::sql::sqlparser::ast::{
        AccessExpr, FunctionArg, FunctionArgExpr, FunctionArguments, visit_expressions_mut,
    };
    use std::ops::ControlFlow;

    let mut rewritten = false;
    let flow = visit_expressions_mut(statement, |expr| {
        // A field of a computed struct (`element_at(resources, 1).arn`), which DataFusion's
        // planner reads only after a column name: its `get_field`.
        if let Expr::CompoundFieldAccess { root, access_chain } = &*expr
            && !matches!(**root, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        {
            let fields: Option<Vec<&str>> = access_chain
                .iter()
                .map(|access| match access {
                    AccessExpr::Dot(Expr::Identifier(ident)) => Some(ident.value.as_str()),
                    _ => None,
                })
                .collect();
            if let Some(fields) = fields {
                let text = field_access(root.to_string(), fields);
                return match parse_expression(&text) {
                    Ok(replacement) => {
                        *expr = replacement;
                        rewritten = true;
                        ControlFlow::Continue(())
                    }
                    Err(e) => ControlFlow::Break(e),
                };
            }
        }
        let Expr::Function(function) = &*expr else {
            return ControlFlow::Continue(());
        };
        let name = function.name.to_string().to_ascii_lowercase();
        let FunctionArguments::List(list) = &function.args else {
            return ControlFlow::Continue(());
        };
        if lambda::NAMES.contains(&name.as_str()) {
            let text = match list.args.as_slice() {
                [
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(array)),
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(lambda))),
                ] => lambda_call(&name, array, lambda),
                _ => Err(format!(
                    "{name} takes an array and a lambda, such as {name}(resources, r -> \
                     r.type = 'AWS::S3::Bucket'); it was given {}.",
                    function.args
                )),
            };
            return match text.and_then(|text| parse_expression(&text)) {
                Ok(replacement) => {
                    *expr = replacement;
                    rewritten = true;
                    ControlFlow::Continue(())
                }
                Err(e) => ControlFlow::Break(e),
            };
        }
        let args: Option<Vec<String>> = list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.to_string()),
                _ => None,
            })
            .collect();
        let Some(args) = args else {
            return ControlFlow::Continue(());
        };
        let text = match (name.as_str(), args.as_slice()) {
            ("if", [c, a]) => format!("CASE WHEN {c} THEN {a} END"),
            ("if", [c, a, b]) => format!("CASE WHEN {c} THEN {a} ELSE {b} END"),
            ("count_if", [c]) => format!("count(CASE WHEN {c} THEN 1 END)"),
            ("arbitrary", [x]) => format!("first_value({x})"),
            ("max_by", [x, y]) => format!("first_value({x} ORDER BY {y} DESC NULLS LAST)"),
            ("min_by", [x, y]) => format!("first_value({x} ORDER BY {y} ASC NULLS LAST)"),
            // Trino's contains is an array's; DataFusion's, a string's.
            ("contains", [array, x]) => format!("array_has({array}, {x})"),
            ("date", [x]) => format!("CAST({x} AS DATE)"),
            ("split", [s, delimiter]) => format!("string_to_array({s}, {delimiter})"),
            // The whole match (Trino's group 0) is made group 1 of DataFusion's regexp_match.
            ("regexp_extract", [s, p]) => format!("regexp_match({s}, concat('(', {p}, ')'))[1]"),
            ("regexp_extract", [s, p, group]) => {
                format!("regexp_match({s}, concat('(', {p}, ')'))[{group} + 1]")
            }
            (
                "if" | "count_if" | "arbitrary" | "max_by" | "min_by" | "contains" | "date"
                | "split" | "regexp_extract",
                _,
            ) => {
                return ControlFlow::Break(format!(
                    "{name} was given {} arguments: see Trino's documentation of {name}.",
                    args.len()
                ));
            }
            _ => return ControlFlow::Continue(()),
        };
        match parse_expression(&text) {
            Ok(replacement) => {
                *expr = replacement;
                rewritten = true;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(format!("{name}: {e}")),
        }
    });
    match flow {
        ControlFlow::Break(message) => Err(LakeError::InvalidQueryStatement(message)),
        ControlFlow::Continue(()) => Ok(rewritten),
    }
}

/// `name(array, lambda)` as the call of [`lambda`]'s function: the body as SQL text over the
/// parameter's column, then the outer values the body mentions.
fn lambda_call(
    name: &str,
    array: &Expr,
    function: &datafusion::sql::sqlparser::ast::LambdaFunction,
) -> Result<String, String> {
    use datafusion::sql::sqlparser::ast::{OneOrManyWithParens, visit_expressions_mut};
    use std::ops::ControlFlow;

    let parameter = match &function.params {
        OneOrManyWithParens::One(p) => p,
        OneOrManyWithParens::Many(p) if p.len() == 1 => &p[0],
        OneOrManyWithParens::Many(_) => {
            return Err(format!(
                "{name}'s lambda takes one parameter, not several: {function}"
            ));
        }
    };
    let parameter = parameter.name.value.to_lowercase();
    let mut body = (*function.body).clone();
    let mut captures: Vec<String> = Vec::new();
    let flow = visit_expressions_mut(&mut body, |e| {
        let parts: Vec<&datafusion::sql::sqlparser::ast::Ident> = match &*e {
            Expr::Identifier(ident) => vec![ident],
            Expr::CompoundIdentifier(parts) => parts.iter().collect(),
            _ => return ControlFlow::Continue(()),
        };
        let text = if parts[0].value.to_lowercase() == parameter {
            // The parameter and the fields of a struct element (`r.arn`).
            field_access(
                format!("\"{}\"", lambda::PARAMETER),
                parts[1..].iter().map(|field| field.value.as_str()),
            )
        } else {
            let outer = e.to_string();
            let at = match captures.iter().position(|c| *c == outer) {
                Some(at) => at,
                None => {
                    captures.push(outer);
                    captures.len() - 1
                }
            };
            format!("\"{}\"", lambda::capture_column(at))
        };
        match parse_expression(&text) {
            Ok(replacement) => {
                *e = replacement;
                ControlFlow::Continue(())
            }
            Err(error) => ControlFlow::Break(error),
        }
    });
    if let ControlFlow::Break(error) = flow {
        return Err(error);
    }
    // The body is a dollar-quoted string, whose text needs no escaping (sqlparser prints a
    // single-quoted one containing `''` unescaped); its tag differs from any inner lambda's.
    let body = body.to_string();
    let tag = (0..)
        .map(|n| format!("$lambda{n}$"))
        .find(|tag| !body.contains(tag.as_str()))
        .unwrap_or_default();
    let captures: String = captures.iter().map(|c| format!(", {c}")).collect();
    Ok(format!("{name}({array}, {tag}{body}{tag}{captures})"))
}
