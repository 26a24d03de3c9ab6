//! Member columns: the frequent top-level keys of a segment's `requestParameters`,
//! `responseElements` and `additionalEventData` objects, each also written as a text column of
//! its own, so that a query of one key (`element_at(requestparameters, 'bucketName')`) reads
//! that key's column instead of every event's whole object.
//!
//! # Format (part of segment format version 3; optional)
//!
//! A segment may have, after the columns of [`super::arrow_schema`], text columns named
//! `<parent>.<key>` (`requestParameters.bucketName`), where `<parent>` is one of [`PARENTS`]
//! and `<key>` a key without `.`. Row `r` holds [`key_texts`] of that key in row `r`'s parent
//! object: a string's characters, other JSON values' text, null where the parent has no such
//! key, has it as `null`, or is not an object. The object itself stays whole in its own
//! column (member columns are copies: records are never re-made from them), so a reader that
//! does not know them, or a segment without them, loses nothing.
//!
//! Which keys a segment gets: those present in at least one row in [`MIN_SHARE`] of a
//! sample (every [`SAMPLE_EVERY`]th row), at most [`MOST_PER_PARENT`] per parent, the most
//! frequent first. A key a segment lacks a column for is read from the parent's column, as
//! in events not sealed yet.
//!
//! Where an object repeats a key, its value is the last one's, as JSON parsers (and Lake's
//! maps) take it.

use std::collections::HashMap;

use super::scan::member_text;
use super::shred::{COLUMNS, Kind, Members};

/// The shredded JSON columns whose keys may have columns of their own.
pub(crate) const PARENTS: &[&str] = &[
    "requestParameters",
    "responseElements",
    "additionalEventData",
];
/// One row in this many is looked at to choose a segment's member columns.
const SAMPLE_EVERY: usize = 8;
/// A key present in fewer sampled rows than this share gets no column.
const MIN_SHARE: f64 = 1.0 / 64.0;
/// Most member columns of one parent in a segment.
const MOST_PER_PARENT: usize = 32;

/// One member column of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberColumn {
    /// The parent's index in [`COLUMNS`].
    pub parent: usize,
    pub key: String,
    /// The Parquet column's name, `<parent>.<key>`.
    pub name: String,
}

impl MemberColumn {
    fn new(parent: usize, key: &str) -> MemberColumn {
        MemberColumn {
            parent,
            key: key.to_owned(),
            name: format!("{}.{key}", COLUMNS[parent].name),
        }
    }

    /// The member column named `name`, when it is one (a segment's other columns are not).
    pub(crate) fn named(name: &str) -> Option<MemberColumn> {
        let (parent, key) = name.split_once('.')?;
        let parent = COLUMNS
            .iter()
            .position(|c| c.name == parent && PARENTS.contains(&c.name))?;
        (!key.is_empty() && !key.contains('.')).then(|| MemberColumn::new(parent, key))
    }
}

/// A scan path that names one key of a shredded JSON column (`requestParameters.bucketName`):
/// the column's index and the key. Deeper paths, and paths of other members, are not.
pub(crate) fn key_path(path: &str) -> Option<(usize, &str)> {
    let (parent, key) = path.split_once('.')?;
    let parent = COLUMNS
        .iter()
        .position(|c| c.path == parent && c.kind == Kind::Json)?;
    (!key.is_empty() && !key.contains('.')).then_some((parent, key))
}

/// The member columns for a segment of `rows` rows, whose shredded values (column index,
/// value, as [`super::shred::shred`] gives them) row `row` has in `values(row)`; ordered by
/// parent, then key.
pub(crate) fn choose<'a>(
    rows: usize,
    values: impl Fn(usize) -> Vec<(u8, &'a str)>,
) -> Vec<MemberColumn> {
    let is_parent = |column: usize| PARENTS.contains(&COLUMNS[column].name);
    // By parent: how many sampled rows have each key.
    let mut counts: HashMap<usize, HashMap<&'a str, usize>> = HashMap::new();
    let mut sampled = 0;
    for row in (0..rows).step_by(SAMPLE_EVERY) {
        sampled += 1;
        for (column, text) in values(row) {
            let column = column as usize;
            if !is_parent(column) {
                continue;
            }
            let Ok(Members(members)) = serde_json::from_str::<Members<'a>>(text) else {
                continue;
            };
            // Keys with escapes are rare: they are left to the parent's column.
            let mut keys: Vec<&'a str> = members
                .iter()
                .filter_map(|(key, _)| key.borrowed())
                .filter(|k| !k.is_empty() && !k.contains('.'))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let counts = counts.entry(column).or_default();
            for key in keys {
                *counts.entry(key).or_default() += 1;
            }
        }
    }
    let least = ((sampled as f64 * MIN_SHARE).ceil() as usize).max(1);
    let mut parents: Vec<_> = counts.into_iter().collect();
    parents.sort_unstable_by_key(|(parent, _)| *parent);
    let mut chosen = Vec::new();
    for (parent, counts) in parents {
        let mut keys: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|&(_, count)| count >= least)
            .collect();
        keys.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        keys.truncate(MOST_PER_PARENT);
        keys.sort_unstable();
        chosen.extend(keys.iter().map(|(key, _)| MemberColumn::new(parent, key)));
    }
    chosen
}

/// The values of `keys` in the JSON object `object`, as a field scan gives members
/// (`scan::member_text`: a string's characters, `None` for `null`, else the JSON text); all
/// `None` when it is not an object.
pub(crate) fn key_texts(object: &str, keys: &[&str]) -> Vec<Option<String>> {
    let mut out = vec![None; keys.len()];
    if !object.starts_with('{') {
        return out;
    }
    let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(object) else {
        return out;
    };
    for (key, value) in &members {
        if let Some(i) = keys.iter().position(|k| *k == key.as_ref()) {
            out[i] = member_text(value);
        }
    }
    out
}

/// Calls `append(i, value)` with the value of each of `keys` (`i` its index there) in each of
/// `objects` (rows of a JSON object column, null where a row has none), row by row: how a
/// member column is made, when written and where a segment has none.
pub(crate) fn each_rows_keys<'o>(
    objects: impl Iterator<Item = Option<&'o str>>,
    keys: &[&str],
    mut append: impl FnMut(usize, Option<String>),
) {
    for object in objects {
        match object {
            Some(object) => {
                for (i, text) in key_texts(object, keys).into_iter().enumerate() {
                    append(i, text);
                }
            }
            None => (0..keys.len()).for_each(|i| append(i, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str) -> usize {
        COLUMNS.iter().position(|c| c.name == name).unwrap()
    }

    #[test]
    fn keys_below_a_json_column_are_member_paths_and_others_are_not() {
        let request = column("requestParameters");
        assert_eq!(
            key_path("requestParameters.bucketName"),
            Some((request, "bucketName"))
        );
        assert_eq!(
            key_path("serviceEventDetails.x"),
            Some((column("serviceEventDetails"), "x"))
        );
        assert_eq!(key_path("requestParameters.a.b"), None);
        assert_eq!(key_path("requestParameters."), None);
        assert_eq!(key_path("requestParameters"), None);
        assert_eq!(key_path("userIdentity.arn"), None);
        assert_eq!(key_path("eventID.uuid"), None);
        assert_eq!(
            MemberColumn::named("responseElements.credentials"),
            Some(MemberColumn::new(column("responseElements"), "credentials"))
        );
        // Of the JSON columns, only the parents have member columns.
        assert_eq!(MemberColumn::named("serviceEventDetails.x"), None);
        assert_eq!(MemberColumn::named("eventID.uuid"), None);
    }

    #[test]
    fn a_key_gives_the_text_of_its_last_value() {
        let object = r#"{"a":"x\"y","n":null,"o":{"p":[1]},"a":"last","t":true,"k\u0065y":5}"#;
        let texts = key_texts(object, &["a", "n", "o", "t", "key", "missing"]);
        assert_eq!(
            texts,
            vec![
                Some("last".to_owned()),
                None,
                Some(r#"{"p":[1]}"#.to_owned()),
                Some("true".to_owned()),
                Some("5".to_owned()),
                None
            ]
        );
        assert_eq!(key_texts("[1,2]", &["a"]), vec![None]);
        assert_eq!(key_texts("{broken", &["a"]), vec![None]);
    }

    #[test]
    fn frequent_keys_get_columns_and_rare_ones_do_not() {
        let request = column("requestParameters");
        // 640 rows, 80 of them sampled: every row has "bucketName", one row in 64 (10 sampled
        // rows) "key", one row only "rare"; keys with dots get no column.
        let texts: Vec<String> = (0..640)
            .map(|row| match row {
                0 => r#"{"bucketName":"b","key":"k","a.b":1}"#.to_owned(),
                8 => r#"{"bucketName":"b","rare":1}"#.to_owned(),
                r if r % 64 == 0 => r#"{"bucketName":"b","key":"k"}"#.to_owned(),
                _ => r#"{"bucketName":"b"}"#.to_owned(),
            })
            .collect();
        let chosen = choose(texts.len(), |row| {
            vec![(request as u8, texts[row].as_str())]
        });
        let names: Vec<&str> = chosen.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["requestParameters.bucketName", "requestParameters.key"]
        );
    }
}
