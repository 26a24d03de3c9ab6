//! Lake's SQL front end: what a query may be, and the one liberty Lake's dialect takes with
//! SQL.
//!
//! - A query is one `SELECT` (with `WITH`, subqueries, joins and set operations); anything
//!   else (more statements, `INSERT`, `DELETE`, DDL, `SELECT ... INTO`) is an
//!   `InvalidQueryStatementException` saying what was found and where.
//! - Lake's table names are event data store IDs, UUIDs written unquoted
//!   (`FROM 0123abcd-ef01-4abc-8def-0123456789ab`), which SQL would read as a subtraction: such
//!   a name, outside string literals, quoted identifiers and comments, is quoted (lower case)
//!   before the statement is parsed.
//! - Trino's functions that are another SQL form in DataFusion are written in that form
//!   ([`rewrite_trino_functions`]): `if(c, a[, b])` (a CASE), `count_if(c)`, `arbitrary(x)`,
//!   `max_by(x, y)`, `min_by(x, y)` (ordered `first_value`), `contains(array, x)`, `date(x)`,
//!   `regexp_extract(s, pattern[, group])`, `split(s, delimiter)`, a lambda's function
//!   (`transform(resources, r -> r.arn)`, see [`crate::functions::lambda`]), and a field of a
//!   computed struct
//!   (`element_at(resources, 1).arn`, a `get_field`).
//! - `CROSS JOIN UNNEST(array) AS t(x)`, which DataFusion cannot run as a join, is written as
//!   a derived table that unnests in its projection ([`rewrite_unnest`]).
//! - Result columns are labelled as Lake labels them: a column as written in the query
//!   (`eventName`, not the folded `eventname`), a nested field by its last part
//!   (`userIdentity.principalid` → `principalid`), an alias as written, any other expression
//!   `_col<N>` (Trino's name for it, N counted from 0).

use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
use datafusion::sql::sqlparser::parser::Parser;

use crate::LakeError;

mod dialect;
pub mod trino;
mod unnest;

pub use dialect::LakeDialect;
pub use trino::rewrite_trino_functions;
pub use unnest::rewrite_unnest;

/// A statement ready to plan: its text with table names quoted, the store IDs it names (lower
/// case, in order, once each), and Lake's column labels when the query's outer SELECT names
/// them one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub sql: String,
    pub store_ids: Vec<String>,
    pub labels: Option<Vec<String>>,
}

/// Checks and prepares a query statement.
pub fn prepare(sql: &str) -> Result<Prepared, LakeError> {
    let (quoted, store_ids) = quote_table_ids(sql);
    let statements = Parser::parse_sql(&LakeDialect, &quoted).map_err(|e| {
        LakeError::InvalidQueryStatement(format!("The query is not valid SQL: {e}"))
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => {
            return Err(LakeError::InvalidQueryStatement(
                "The query is empty: write one SELECT statement.".to_owned(),
            ));
        }
        [_, second, ..] => {
            return Err(LakeError::InvalidQueryStatement(format!(
                "Only one statement is allowed, a SELECT; a second one begins with {:?}.",
                first_words(&second.to_string())
            )));
        }
    };
    let mut statement = statement.clone();
    let unnested = rewrite_unnest(&mut statement)?;
    let rewritten = rewrite_trino_functions(&mut statement)? || unnested;
    let Statement::Query(query) = statements[0].clone() else {
        return Err(LakeError::InvalidQueryStatement(format!(
            "Only SELECT statements are allowed; this one begins with {:?}.",
            first_words(&statement.to_string())
        )));
    };
    let labels = match query.body.as_ref() {
        SetExpr::Select(select) => {
            if select.into.is_some() {
                return Err(LakeError::InvalidQueryStatement(
                    "SELECT ... INTO writes a table: Lake's queries only read.".to_owned(),
                ));
            }
            select
                .projection
                .iter()
                .enumerate()
                .map(|(i, item)| label(item, i))
                .collect::<Option<Vec<String>>>()
        }
        _ => None,
    };
    Ok(Prepared {
        sql: if rewritten {
            statement.to_string()
        } else {
            quoted
        },
        store_ids,
        labels,
    })
}

/// Lake's label of one select item; `None` for a wildcard (its columns keep their names).
fn label(item: &SelectItem, position: usize) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
            parts.last().map(|p| p.value.clone())
        }
        SelectItem::UnnamedExpr(_) => Some(format!("_col{position}")),
        _ => None,
    }
}

/// The first words of a statement, to say which statement was refused.
fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The statement with every bare UUID (8-4-4-4-12 hex digits) quoted as an identifier, in
/// lower case, and those UUIDs; string literals, quoted identifiers and comments are left as
/// they are.
pub fn quote_table_ids(sql: &str) -> (String, Vec<String>) {
    let bytes = sql.as_bytes();
    let mut ids: Vec<String> = Vec::new();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        let skip = match bytes[i] {
            b'\'' => closing(rest, '\''),
            b'"' => closing(rest, '"'),
            b'`' => closing(rest, '`'),
            b'-' if rest.starts_with("--") => rest.find('\n').unwrap_or(rest.len()),
            b'/' if rest.starts_with("/*") => rest.find("*/").map_or(rest.len(), |end| end + 2),
            _ => 0,
        };
        if skip > 0 {
            out.push_str(&rest[..skip]);
            i += skip;
            continue;
        }
        let starts_word = i == 0 || !is_word_byte(bytes[i - 1]);
        if starts_word && let Some(len) = uuid_len(rest) {
            let id = rest[..len].to_ascii_lowercase();
            out.push('"');
            out.push_str(&id);
            out.push('"');
            if !ids.contains(&id) {
                ids.push(id);
            }
            i += len;
            continue;
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    (out, ids)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// The length of a quoted token starting at `text` (closed by `quote`; doubled quotes
/// escape), or the whole text when it is not closed.
fn closing(text: &str, quote: char) -> usize {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if c == quote {
            if chars.peek().map(|&(_, next)| next) == Some(quote) {
                chars.next();
                continue;
            }
            return at + c.len_utf8();
        }
    }
    text.len()
}

/// 36 when `text` starts with a UUID not followed by more of a word.
fn uuid_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.len() < 36 {
        return None;
    }
    let shape_ok = bytes[..36].iter().enumerate().all(|(i, &b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    // `<id>.eventname` names a column of the table: a dot may follow.
    let ends = bytes
        .get(36)
        .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    (shape_ok && ends).then_some(36)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123ABCD-ef01-4abc-8def-0123456789ab";

    #[test]
    fn bare_store_ids_are_quoted_and_nothing_else() {
        let sql =
            format!("SELECT eventName FROM {ID} WHERE eventID = '{ID}' -- {ID}\nAND x = \"{ID}\"");
        let (quoted, ids) = quote_table_ids(&sql);
        assert_eq!(
            quoted,
            format!(
                "SELECT eventName FROM \"0123abcd-ef01-4abc-8def-0123456789ab\" WHERE eventID = \
                 '{ID}' -- {ID}\nAND x = \"{ID}\""
            )
        );
        assert_eq!(ids, ["0123abcd-ef01-4abc-8def-0123456789ab"]);
        // Part of a longer word: not a table name.
        let longer = format!("SELECT x{ID} FROM t");
        assert_eq!(quote_table_ids(&longer), (longer, Vec::new()));
        let literal = "SELECT 'it''s', 1-2";
        assert_eq!(quote_table_ids(literal).0, literal);
    }

    #[test]
    fn only_one_select_is_accepted() {
        let ok = prepare(&format!(
            "SELECT eventName, userIdentity.arn, count(*) AS n, \
             lower(eventSource) FROM {ID} GROUP BY 1, 2, 4"
        ))
        .unwrap();
        assert_eq!(
            ok.labels,
            Some(vec![
                "eventName".to_owned(),
                "arn".to_owned(),
                "n".to_owned(),
                "_col3".to_owned()
            ])
        );
        assert_eq!(prepare("SELECT * FROM t").unwrap().labels, None);
        for (bad, says) in [
            ("DELETE FROM t", "Only SELECT statements are allowed"),
            ("SELECT 1; SELECT 2", "Only one statement is allowed"),
            (
                "CREATE TABLE t (a int)",
                "Only SELECT statements are allowed",
            ),
            ("SELECT * INTO copy FROM t", "SELECT ... INTO"),
            ("SELEC 1", "not valid SQL"),
            ("", "empty"),
        ] {
            let err = prepare(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
