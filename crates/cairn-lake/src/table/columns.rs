//! Lake's columns from the members of events: which record members each column of
//! [`crate::schema::cloudtrail_events`] is made of, and how (text as is; booleans, times,
//! maps and lists parsed from the members' text; structs from their members).
//!
//! A member's text is as the store gives it: a string's characters, anything else its JSON
//! text, null when absent or `null`. A value that does not fit its column (a `readOnly` of
//! `"yes"`) is null in the column and intact in `eventjson`.

use cairn_model::record::with_lone_surrogates_replaced;
use std::sync::Arc;

use datafusion::arrow::array::new_null_array;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, ListBuilder, MapArray, MapBuilder, MapFieldNames, RecordBatch,
    RecordBatchOptions, StringArray, StringBuilder, StringViewArray, StringViewBuilder,
    StructArray, StructBuilder, TimestampMillisecondArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{filter, interleave};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

use super::struct_use::StructUse;

/// The column of a scanned batch with each event's time (ms). Named apart from any member
/// path, as the store's field scans name it.
pub const TIME_MEMBER: &str = "cairn:eventTime";
/// The column of a scanned batch with each event's JSON text.
pub const RECORD_MEMBER: &str = "cairn:record";

/// The record member a Lake name stands for, where it is not simply the name (Lake's names are
/// the members' names in lower case).
fn member_name(lake_name: &str) -> &str {
    const NAMES: &[&str] = &[
        "eventVersion",
        "userIdentity",
        "principalId",
        "accountId",
        "accessKeyId",
        "userName",
        "sessionContext",
        "creationDate",
        "mfaAuthenticated",
        "sessionIssuer",
        "webIdFederationData",
        "federatedProvider",
        "sourceIdentity",
        "ec2RoleDelivery",
        "ec2IssuedInVPC",
        "onBehalfOf",
        "userId",
        "identityStoreArn",
        "inScopeOf",
        "sourceArn",
        "sourceAccount",
        "issuerType",
        "credentialsIssuedTo",
        "invokedBy",
        "identityProvider",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "readOnly",
        "eventType",
        "apiVersion",
        "managementEvent",
        "recipientAccountId",
        "sharedEventID",
        "vpcEndpointId",
        "vpcEndpointAccountId",
        "serviceEventDetails",
        "edgeDeviceDetails",
        "insightDetails",
        "eventCategory",
        "tlsDetails",
        "tlsVersion",
        "cipherSuite",
        "clientProvidedHostHeader",
        "sessionCredentialFromConsole",
    ];
    NAMES
        .iter()
        .find(|name| name.eq_ignore_ascii_case(lake_name))
        .copied()
        .unwrap_or(lake_name)
}

/// The member path a Lake field stands for, under `parent` (a member path or "").
fn member_path(parent: &str, lake_name: &str) -> String {
    let name = member_name(lake_name);
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// The member path of a Lake column or struct field given by its names from the top
/// (`["useridentity", "accesskeyid"]` → `userIdentity.accessKeyId`); `None` for the columns
/// not made of one member (`eventtime`, `eventjson`, `eventjsonchecksum`).
pub fn member_path_of_field(names: &[String]) -> Option<String> {
    let (first, rest) = names.split_first()?;
    if ["eventtime", "eventjson", "eventjsonchecksum"].contains(&first.as_str()) {
        return None;
    }
    let mut path = member_path("", first);
    for name in rest {
        path = member_path(&path, name);
    }
    Some(path)
}

/// What building the projected columns needs read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Member paths.
    pub paths: Vec<String>,
    /// The whole record text (for `eventjson`).
    pub record_text: bool,
    /// The events' times (for `eventtime`).
    pub times: bool,
}

/// What the columns `fields` need, of which the query reads the struct fields `used` says.
pub fn needs(fields: &[&Field], used: &StructUse) -> Needs {
    let mut out = Needs::default();
    for field in fields {
        match field.name().as_str() {
            "eventtime" => out.times = true,
            "eventjsonchecksum" => {}
            "eventjson" => out.record_text = true,
            name => leaf_paths(
                field,
                &member_path("", name),
                &mut vec![name.to_owned()],
                used,
                &mut out.paths,
            ),
        }
    }
    out
}

fn leaf_paths(
    field: &Field,
    path: &str,
    names: &mut Vec<String>,
    used: &StructUse,
    out: &mut Vec<String>,
) {
    match field.data_type() {
        DataType::Struct(children) => {
            for child in children {
                names.push(child.name().clone());
                leaf_paths(child, &member_path(path, child.name()), names, used, out);
                names.pop();
            }
        }
        DataType::Map(_, _) if used.reads(names) => match keys_read_alone(names, used) {
            Some(keys) => out.extend(keys.iter().map(|key| format!("{path}.{key}"))),
            None => out.push(path.to_owned()),
        },
        _ if used.reads(names) => out.push(path.to_owned()),
        _ => {}
    }
}

/// The keys of the map column at `names` to read one by one (the store gives one key of a
/// top-level JSON member, `requestParameters.bucketName`, from a column of its own where a
/// segment has one): those the query reads, when it reads the map only through them (its
/// rows' results then depend on those keys' values alone, not on which other keys there
/// are or whether the map is null) and they are keys the store can tell apart from paths.
fn keys_read_alone(names: &[String], used: &StructUse) -> Option<Vec<String>> {
    if names.len() != 1 {
        return None;
    }
    let mut keys = used.keys_read(names)?;
    keys.sort_unstable();
    keys.dedup();
    keys.iter()
        .all(|key| !key.is_empty() && !key.contains('.'))
        .then_some(keys)
}

/// Null columns of a scan's batches, made once per type: a struct field no expression reads
/// is null in every batch, and a slice of one null array costs nothing, where a new one is
/// a zeroed buffer per field per batch.
#[derive(Debug, Default)]
pub struct NullColumns {
    made: Vec<ArrayRef>,
}

impl NullColumns {
    /// A null column of `data_type`, `rows` long.
    fn get(&mut self, data_type: &DataType, rows: usize) -> ArrayRef {
        let at = self.made.iter().position(|a| a.data_type() == data_type);
        match at {
            Some(i) if self.made[i].len() >= rows => self.made[i].slice(0, rows),
            _ => {
                let array = new_null_array(data_type, rows);
                match at {
                    Some(i) => self.made[i] = array.clone(),
                    None => self.made.push(array.clone()),
                }
                array
            }
        }
    }
}

/// Lake's batch of `schema` (projected columns of the events table) from a scanned batch;
/// struct fields the query does not read (`used`) are null (from `nulls`).
pub fn lake_batch(
    schema: &SchemaRef,
    scanned: &RecordBatch,
    used: &StructUse,
    nulls: &mut NullColumns,
) -> Result<RecordBatch, String> {
    let rows = scanned.num_rows();
    let text = |path: &str| -> Result<&StringViewArray, String> {
        scanned
            .column_by_name(path)
            .and_then(|c| c.as_any().downcast_ref::<StringViewArray>())
            .ok_or_else(|| format!("the scan did not give {path}"))
    };
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column: ArrayRef = match field.name().as_str() {
            "eventtime" => {
                let times = scanned
                    .column_by_name(TIME_MEMBER)
                    .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
                    .ok_or("the scan did not give event times")?;
                Arc::new(TimestampMillisecondArray::new(
                    times.values().clone(),
                    times.nulls().cloned(),
                ))
            }
            "eventjson" => Arc::new(text(RECORD_MEMBER)?.clone()),
            "eventjsonchecksum" => Arc::new(StringViewArray::new_null(rows)),
            name => column(
                field,
                &member_path("", name),
                &mut vec![name.to_owned()],
                used,
                nulls,
                rows,
                &text,
            )?,
        };
        columns.push(column);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| e.to_string())
}

type Texts<'a> = dyn Fn(&str) -> Result<&'a StringViewArray, String> + 'a;

fn column<'a>(
    field: &Field,
    path: &str,
    names: &mut Vec<String>,
    used: &StructUse,
    nulls: &mut NullColumns,
    rows: usize,
    text: &Texts<'a>,
) -> Result<ArrayRef, String> {
    if !matches!(field.data_type(), DataType::Struct(_)) && !used.reads(names) {
        return Ok(nulls.get(field.data_type(), rows));
    }
    Ok(match field.data_type() {
        DataType::Utf8View => Arc::new(text(path)?.clone()),
        DataType::Boolean => Arc::new(
            text(path)?
                .iter()
                .map(|v| match v? {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                })
                .collect::<BooleanArray>(),
        ),
        DataType::Timestamp(_, _) => Arc::new(
            text(path)?
                .iter()
                .map(|v| cairn_model::time::parse_event_time(v?))
                .collect::<TimestampMillisecondArray>(),
        ),
        DataType::Map(_, _) => match keys_read_alone(names, used) {
            Some(keys) => {
                let values = keys
                    .iter()
                    .map(|key| text(&format!("{path}.{key}")))
                    .collect::<Result<Vec<_>, _>>()?;
                map_of_keys(&keys, &values, rows)?
            }
            None => map_column(text(path)?, used.keys_read(names).as_deref()),
        },
        DataType::List(item) => list_column(item, text(path)?)?,
        DataType::Struct(children) => {
            let mut arrays = Vec::with_capacity(children.len());
            for child in children {
                names.push(child.name().clone());
                let array = column(
                    child,
                    &member_path(path, child.name()),
                    names,
                    used,
                    nulls,
                    rows,
                    text,
                );
                names.pop();
                arrays.push(array?);
            }
            Arc::new(
                StructArray::try_new(children.clone(), arrays.clone(), any_valid(&arrays, rows))
                    .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("no rule for a column of type {other}")),
    })
}

/// The nulls of a struct of `arrays` (its fields, `rows` long): null where every field is
/// null (the event has none of its members).
fn any_valid(arrays: &[ArrayRef], rows: usize) -> Option<NullBuffer> {
    let mut valid: Option<BooleanBuffer> = None;
    for array in arrays {
        match array.logical_nulls() {
            // A field in every row: so is the struct.
            None => return None,
            Some(nulls) if nulls.null_count() == rows => {}
            Some(nulls) => {
                valid = Some(match valid {
                    None => nulls.inner().clone(),
                    Some(before) => &before | nulls.inner(),
                });
            }
        }
    }
    Some(NullBuffer::new(
        valid.unwrap_or_else(|| BooleanBuffer::new_unset(rows)),
    ))
}

/// `map<string,string>` from JSON objects: each member's string, or its JSON text as the
/// record has it; keys in order. Only the keys `wanted` when the query reads no others.
fn map_column(texts: &StringViewArray, wanted: Option<&[String]>) -> ArrayRef {
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    };
    let mut builder = MapBuilder::new(Some(names), StringBuilder::new(), StringViewBuilder::new());
    let takes = |key: &str| wanted.is_none_or(|keys| keys.iter().any(|k| k == key));
    for text in texts.iter() {
        if let Some(members) = wanted
            .zip(text)
            .and_then(|(keys, t)| wanted_members(t, keys))
        {
            for (key, value) in members {
                add_entry(&mut builder, key, value);
            }
            builder.append(true).ok();
            continue;
        }
        // Keys borrowed from the text; a key with an escape is rare enough to parse again.
        let parsed = text.is_some_and(|t| {
            match serde_json::from_str::<BTreeMap<&str, &RawValue>>(t) {
                Ok(members) => members
                    .into_iter()
                    .filter(|(k, _)| takes(k))
                    .for_each(|(k, v)| add_entry(&mut builder, k, v)),
                Err(_) => match serde_json::from_str::<BTreeMap<String, &RawValue>>(t) {
                    Ok(members) => members
                        .iter()
                        .filter(|(k, _)| takes(k))
                        .for_each(|(k, v)| add_entry(&mut builder, k, v)),
                    Err(_) => return false,
                },
            }
            true
        });
        builder.append(parsed).ok();
    }
    Arc::new(builder.finish())
}

/// The members named `keys` of the JSON object `text`, in key order (the last of a repeated
/// key, as a map of all its members would keep); the other members are skipped, not kept.
/// `None` when `text` is not an object, or has a key with an escape (rare: such a text is
/// read whole instead).
fn wanted_members<'t>(text: &'t str, keys: &[String]) -> Option<Vec<(&'t str, &'t RawValue)>> {
    struct Wanted<'k>(&'k [String]);
    impl<'de> serde::de::Visitor<'de> for Wanted<'_> {
        type Value = Vec<(&'de str, &'de RawValue)>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut found: Self::Value = Vec::new();
            while let Some(key) = map.next_key::<&'de str>()? {
                if !self.0.iter().any(|k| *k == key) {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    continue;
                }
                let value = map.next_value::<&'de RawValue>()?;
                found.retain(|(k, _)| *k != key);
                found.push((key, value));
            }
            found.sort_by(|a, b| a.0.cmp(b.0));
            Ok(found)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let members = serde::Deserializer::deserialize_map(&mut deserializer, Wanted(keys)).ok()?;
    deserializer.end().ok()?;
    Some(members)
}

/// `map<string,string>` of `keys` (ascending), whose values in each row `values` (by key)
/// give: an entry for each key whose value is not null. Every row is a map (see
/// [`keys_read_alone`]: a query reading these keys alone cannot tell). The values are taken
/// as they are, views into the same buffers.
fn map_of_keys(
    keys: &[String],
    values: &[&StringViewArray],
    rows: usize,
) -> Result<ArrayRef, String> {
    // One key (`element_at(requestparameters, 'bucketName')`, the usual read): its entries
    // are its values' non-null rows, in order, found from the null bitmap.
    let (offsets, keys_column, values_column): (Vec<i32>, ArrayRef, ArrayRef) = match values {
        [only] => {
            let mut offsets = Vec::with_capacity(rows + 1);
            offsets.push(0i32);
            let mut entries = 0i32;
            match only.logical_nulls() {
                None => offsets.extend(1..=i32::try_from(rows).map_err(|e| e.to_string())?),
                Some(nulls) => {
                    for valid in nulls.iter() {
                        entries += i32::from(valid);
                        offsets.push(entries);
                    }
                }
            }
            let values_column: ArrayRef = match only.logical_nulls() {
                None => Arc::new((*only).clone()),
                Some(nulls) => filter(*only, &BooleanArray::new(nulls.inner().clone(), None))
                    .map_err(|e| e.to_string())?,
            };
            let count = values_column.len();
            let key = keys[0].as_bytes();
            let key_offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(key.len(), count));
            let key_bytes = Buffer::from(key.repeat(count));
            let keys_column =
                StringArray::try_new(key_offsets, key_bytes, None).map_err(|e| e.to_string())?;
            (offsets, Arc::new(keys_column), values_column)
        }
        _ => {
            // Each entry as (key, row): the key's index, and the row's in that key's values.
            let mut entries: Vec<(usize, usize)> = Vec::new();
            let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
            offsets.push(0);
            for row in 0..rows {
                for (key, values) in values.iter().enumerate() {
                    if values.is_valid(row) {
                        entries.push((key, row));
                    }
                }
                offsets.push(i32::try_from(entries.len()).map_err(|e| e.to_string())?);
            }
            let key_names = StringArray::from_iter_values(keys);
            let key_picks: Vec<(usize, usize)> = entries.iter().map(|&(key, _)| (0, key)).collect();
            let keys_column =
                interleave(&[&key_names as &dyn Array], &key_picks).map_err(|e| e.to_string())?;
            let sources: Vec<&dyn Array> = values.iter().map(|v| *v as &dyn Array).collect();
            let values_column = interleave(&sources, &entries).map_err(|e| e.to_string())?;
            (offsets, keys_column, values_column)
        }
    };
    let DataType::Map(entries_field, sorted) = crate::schema::string_map() else {
        return Err("a string map is not a map".to_owned());
    };
    let DataType::Struct(fields) = entries_field.data_type() else {
        return Err("a string map's entries are not structs".to_owned());
    };
    let entries_array =
        StructArray::try_new(fields.clone(), vec![keys_column, values_column], None)
            .map_err(|e| e.to_string())?;
    let map = MapArray::try_new(
        entries_field,
        OffsetBuffer::new(offsets.into()),
        entries_array,
        None,
        sorted,
    )
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(map))
}

/// One entry of a map of [`map_column`]: the value's string, or its JSON text.
fn add_entry(
    builder: &mut MapBuilder<StringBuilder, StringViewBuilder>,
    key: &str,
    value: &RawValue,
) {
    builder.keys().append_value(key);
    let raw = value.get();
    if raw == "null" {
        builder.values().append_null();
    } else if !raw.starts_with('"') {
        builder.values().append_value(raw);
    } else if !raw.contains('\\') {
        builder.values().append_value(&raw[1..raw.len() - 1]);
    } else {
        let text: String =
            serde_json::from_str(&with_lone_surrogates_replaced(raw)).unwrap_or_default();
        builder.values().append_value(text);
    }
}

/// A list of structs (`resources`) from JSON arrays of objects, members matched by name in
/// any case; elements that are not objects are left out.
fn list_column(item: &Arc<Field>, texts: &StringViewArray) -> Result<ArrayRef, String> {
    let DataType::Struct(children) = item.data_type() else {
        return Err(format!("no rule for a list of {}", item.data_type()));
    };
    let mut builder =
        ListBuilder::new(StructBuilder::from_fields(children.clone(), 4)).with_field(item.clone());
    for text in texts.iter() {
        let Some(Value::Array(elements)) = text.and_then(|t| serde_json::from_str(t).ok()) else {
            builder.append(false);
            continue;
        };
        for element in elements.iter().filter_map(Value::as_object) {
            let structs = builder.values();
            for (i, child) in children.iter().enumerate() {
                let value = element
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(child.name()))
                    .and_then(|(_, v)| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Null => None,
                        other => Some(other.to_string()),
                    });
                structs
                    .field_builder::<StringViewBuilder>(i)
                    .ok_or("resources' members are not text")?
                    .append_option(value);
            }
            structs.append(true);
        }
        builder.append(true);
    }
    Ok(Arc::new(builder.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    #[test]
    fn a_map_of_keys_read_one_by_one_holds_each_rows_keys_that_have_values() {
        let buckets = StringViewArray::from(vec![
            Some("b1"),
            None,
            Some("a-bucket-name-longer-than-a-view"),
            None,
        ]);
        let objects = StringViewArray::from(vec![Some("k"), Some("k2"), None, None]);
        let everywhere = StringViewArray::from(vec!["1", "2", "3", "4"]);
        let rendered = |map: Result<ArrayRef, String>| -> Vec<Option<String>> {
            let map = map.unwrap();
            (0..map.len())
                .map(|row| render::value(map.as_ref(), row).unwrap())
                .collect()
        };
        let key = |k: &str| k.to_owned();
        let expect = |rows: [&str; 4]| rows.map(|r| Some(r.to_owned())).to_vec();
        assert_eq!(
            rendered(map_of_keys(&[key("bucketName")], &[&buckets], 4)),
            expect([
                "{bucketName=b1}",
                "{}",
                "{bucketName=a-bucket-name-longer-than-a-view}",
                "{}"
            ])
        );
        assert_eq!(
            rendered(map_of_keys(&[key("n")], &[&everywhere], 4)),
            expect(["{n=1}", "{n=2}", "{n=3}", "{n=4}"])
        );
        assert_eq!(
            rendered(map_of_keys(
                &[key("bucketName"), key("key")],
                &[&buckets, &objects],
                4
            )),
            expect([
                "{bucketName=b1, key=k}",
                "{key=k2}",
                "{bucketName=a-bucket-name-longer-than-a-view}",
                "{}"
            ])
        );
    }

    #[test]
    fn a_map_read_for_some_keys_holds_those_keys_as_the_whole_map_does() {
        let texts = StringViewArray::from(vec![
            Some(r#"{"bucketName":"b1","key":"k","nested":{"bucketName":"x"}}"#),
            Some(r#"{"key":"k2"}"#),
            Some(r#"{"bucketName":"first","bucketName":"last"}"#),
            Some(r#"{"bucket\u004eame":"escaped","o":{"a":[1]},"bucketName":"plain"}"#),
            Some(r#"{"o":{"a":[1]},"bucketName":null,"n":5}"#),
            Some("[1,2]"),
            Some("not json"),
            None,
        ]);
        let keys = ["bucketName".to_owned(), "o".to_owned()];
        let rendered = |map: &ArrayRef| -> Vec<Option<String>> {
            (0..texts.len())
                .map(|row| render::value(map.as_ref(), row).unwrap())
                .collect()
        };
        let some = rendered(&map_column(&texts, Some(&keys)));
        let whole = rendered(&map_column(&texts, None));
        let expected = [
            Some("{bucketName=b1}"),
            Some("{}"),
            Some("{bucketName=last}"),
            Some(r#"{bucketName=plain, o={"a":[1]}}"#),
            Some(r#"{bucketName=NULL, o={"a":[1]}}"#),
            None,
            None,
            None,
        ];
        assert_eq!(some, expected.map(|e| e.map(str::to_owned)));
        // The same rows are maps when the whole of each is read.
        let maps = |rows: &[Option<String>]| rows.iter().map(Option::is_some).collect::<Vec<_>>();
        assert_eq!(maps(&some), maps(&whole));
    }
}
