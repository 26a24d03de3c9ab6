//! Shredding: a record's JSON text as a *template* plus one value per known field, so that a
//! segment stores each CloudTrail field as its own Parquet column (which compresses like a
//! column: ids beside ids, one `eventSource` dictionary) and still gives back the exact text.
//!
//! # Encoding (segment format version 3)
//!
//! The template is the record's stored text (whitespace already removed) with the value of
//! every shredded member cut out and replaced by a *hole*: the byte `0x00` followed by one byte,
//! the index of the column holding the value plus one (`0x01..=0x7F`). Valid JSON text never
//! contains a raw `0x00` (control characters must be escaped inside strings), so holes are
//! unambiguous, and the template stays valid UTF-8. Records of the same shape share a template,
//! which the template column's dictionary stores once.
//!
//! A member is shredded when its path is one of [`COLUMNS`] and its value has that column's
//! kind; otherwise it stays in the template as it was, so nothing is ever lost:
//! - [`Kind::Text`]: a JSON string without escapes; the column holds the characters between
//!   the quotes (so the column is the field's real value, ready for SQL).
//! - [`Kind::Json`]: an object or an array; the column holds its JSON text.
//! - [`Kind::Uuid`]: like `Text`; the segment stores a lowercase hyphenated UUID (what AWS
//!   writes in `eventID`) as its 16 bytes in the column `<name>.uuid` instead, null in `<name>`
//!   (see [`uuid_bytes`]).
//! - [`Kind::EventTime`]: like `Text`, but when the text is exactly how cairn writes the
//!   segment's `eventTime` timestamp (`format_event_time`), the column holds null and the value
//!   is re-made from the timestamp: CloudTrail's times then cost nothing twice.
//!
//! Only the first occurrence of a path in a record is shredded (a repeated key stays in the
//! template). Members are found at the top level and inside the objects on the way to a
//! column's path (`userIdentity`, `userIdentity.sessionContext`, ...).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use cairn_model::time::format_event_time;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// How a shredded column holds its values; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Json,
    EventTime,
    Uuid,
}

/// A shredded column: the record member it holds and how.
#[derive(Debug)]
pub(crate) struct ShredColumn {
    /// The member's path in the record, keys joined by `.`.
    pub path: &'static str,
    /// The Parquet column's name.
    pub name: &'static str,
    pub kind: Kind,
}

/// A text field.
const fn text(path: &'static str) -> ShredColumn {
    ShredColumn {
        path,
        name: path,
        kind: Kind::Text,
    }
}

/// An id that is usually a UUID.
const fn uuid(path: &'static str) -> ShredColumn {
    ShredColumn {
        kind: Kind::Uuid,
        ..text(path)
    }
}

const fn json(path: &'static str) -> ShredColumn {
    ShredColumn {
        kind: Kind::Json,
        ..text(path)
    }
}

/// The shredded columns, in Parquet order; a column's index is its position here (at most
/// 127). Appending a column is compatible; reordering or removing one is a format change.
pub(crate) const COLUMNS: &[ShredColumn] = &[
    text("eventVersion"),
    text("userIdentity.type"),
    text("userIdentity.principalId"),
    text("userIdentity.arn"),
    text("userIdentity.accountId"),
    text("userIdentity.accessKeyId"),
    text("userIdentity.userName"),
    text("userIdentity.invokedBy"),
    text("userIdentity.identityProvider"),
    text("userIdentity.credentialId"),
    text("userIdentity.sessionContext.sourceIdentity"),
    text("userIdentity.sessionContext.attributes.creationDate"),
    text("userIdentity.sessionContext.attributes.mfaAuthenticated"),
    text("userIdentity.sessionContext.sessionIssuer.type"),
    text("userIdentity.sessionContext.sessionIssuer.principalId"),
    text("userIdentity.sessionContext.sessionIssuer.arn"),
    text("userIdentity.sessionContext.sessionIssuer.accountId"),
    text("userIdentity.sessionContext.sessionIssuer.userName"),
    ShredColumn {
        path: "eventTime",
        name: "eventTime.text",
        kind: Kind::EventTime,
    },
    text("eventSource"),
    text("eventName"),
    text("awsRegion"),
    text("sourceIPAddress"),
    text("userAgent"),
    text("errorCode"),
    text("errorMessage"),
    json("requestParameters"),
    json("responseElements"),
    json("additionalEventData"),
    uuid("requestID"),
    uuid("eventID"),
    json("resources"),
    text("eventType"),
    text("apiVersion"),
    text("recipientAccountId"),
    uuid("sharedEventID"),
    text("annotation"),
    text("vpcEndpointId"),
    text("vpcEndpointAccountId"),
    json("serviceEventDetails"),
    json("addendum"),
    json("edgeDeviceDetails"),
    json("insightDetails"),
    text("eventCategory"),
    text("tlsDetails.tlsVersion"),
    text("tlsDetails.cipherSuite"),
    text("tlsDetails.clientProvidedHostHeader"),
    text("sessionCredentialFromConsole"),
];

const HOLE: u8 = 0;

/// What a member path is to the shredder.
enum Slot {
    Column(u8),
    /// An object on the way to a column: its members are looked at.
    Container,
}

static SLOTS: LazyLock<HashMap<&'static str, Slot>> = LazyLock::new(|| {
    let mut slots = HashMap::new();
    for (i, column) in COLUMNS.iter().enumerate() {
        slots.insert(column.path, Slot::Column(i as u8));
        let mut prefix = column.path;
        while let Some((parent, _)) = prefix.rsplit_once('.') {
            slots.entry(parent).or_insert(Slot::Container);
            prefix = parent;
        }
    }
    slots
});

/// One record, shredded: its template and its values, by column index.
#[derive(Debug, Default)]
pub(crate) struct Shredded<'a> {
    pub template: String,
    pub values: Vec<(u8, &'a str)>,
    /// The columns (bit `i` for column `i`) whose member the template writes itself: it is
    /// there but was not shredded (another kind of value, a string with escapes, a repeated
    /// key).
    pub literals: u128,
}

/// The names of the columns of `columns` (bit `i` for column `i`), in column order.
pub(crate) fn column_names(columns: u128) -> Vec<&'static str> {
    COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, _)| columns >> i & 1 == 1)
        .map(|(_, c)| c.name)
        .collect()
}

/// Shreds a record's stored JSON text; `event_time_ms` is the time the segment stores for it.
/// Text that is not a JSON object comes back whole as the template.
pub(crate) fn shred(json: &str, event_time_ms: i64) -> Shredded<'_> {
    let mut holes: Vec<(usize, usize, u8)> = Vec::new();
    let mut used = [false; COLUMNS.len()];
    let mut literals = 0u128;
    collect_holes(json, json, "", &mut used, &mut holes, &mut literals);
    let mut out = Shredded {
        template: String::with_capacity(json.len() / 2),
        values: Vec::with_capacity(holes.len()),
        literals,
    };
    let mut at = 0;
    for (start, end, column) in holes {
        out.template.push_str(&json[at..start]);
        out.template.push(HOLE as char);
        out.template.push((column + 1) as char);
        let value = &json[start..end];
        let stored = match COLUMNS[column as usize].kind {
            Kind::Json => Some(value),
            Kind::Text | Kind::Uuid => Some(&value[1..value.len() - 1]),
            Kind::EventTime => {
                let inner = &value[1..value.len() - 1];
                (inner != format_event_time(event_time_ms)).then_some(inner)
            }
        };
        if let Some(stored) = stored {
            out.values.push((column, stored));
        }
        at = end;
    }
    out.template.push_str(&json[at..]);
    out
}

/// Finds the members of `object` (a slice of `base`) to cut out, in text order; marks in
/// `literals` the columns of those left in.
fn collect_holes(
    base: &str,
    object: &str,
    prefix: &str,
    used: &mut [bool],
    holes: &mut Vec<(usize, usize, u8)>,
    literals: &mut u128,
) {
    if !object.starts_with('{') {
        return;
    }
    let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(object) else {
        return;
    };
    for (key, value) in members {
        let path: Cow<'_, str> = if prefix.is_empty() {
            Cow::Borrowed(key.as_ref())
        } else {
            Cow::Owned(format!("{prefix}.{key}"))
        };
        let text = value.get();
        match SLOTS.get(path.as_ref()) {
            Some(Slot::Container) => {
                collect_holes(base, text, &path, used, holes, literals);
            }
            Some(&Slot::Column(column)) => {
                let fits = !used[column as usize]
                    && match COLUMNS[column as usize].kind {
                        Kind::Json => text.starts_with('{') || text.starts_with('['),
                        Kind::Text | Kind::EventTime | Kind::Uuid => {
                            text.len() >= 2 && text.starts_with('"') && !text.contains('\\')
                        }
                    };
                if !fits {
                    *literals |= 1 << column;
                } else {
                    used[column as usize] = true;
                    // `text` is a slice of `base`: its offset is the distance between them.
                    let start = text.as_ptr() as usize - base.as_ptr() as usize;
                    holes.push((start, start + text.len(), column));
                }
            }
            _ => {}
        }
    }
}

/// Why a template cannot be filled.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FillError {
    #[error("hole for unknown column {0}")]
    UnknownColumn(u8),
    #[error("no value in column {0} for a hole")]
    MissingValue(&'static str),
    #[error("template ends inside a hole")]
    TruncatedHole,
}

/// Re-makes a record's JSON text from its template; `value(i)` is column `i`'s value in the
/// record's row, `event_time_ms` the row's `eventTime` timestamp.
pub(crate) fn fill<'v>(
    template: &str,
    event_time_ms: i64,
    value: impl Fn(usize) -> Option<Cow<'v, str>>,
) -> Result<String, FillError> {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len() * 3);
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == HOLE) {
        let hole = at + offset;
        out.push_str(&template[at..hole]);
        let index = *bytes.get(hole + 1).ok_or(FillError::TruncatedHole)?;
        let column = COLUMNS
            .get((index as usize).wrapping_sub(1))
            .ok_or(FillError::UnknownColumn(index))?;
        let stored = value(index as usize - 1);
        match (column.kind, stored) {
            (Kind::Json, Some(v)) => out.push_str(&v),
            (Kind::Text | Kind::EventTime | Kind::Uuid, Some(v)) => {
                out.push('"');
                out.push_str(&v);
                out.push('"');
            }
            (Kind::EventTime, None) => {
                out.push('"');
                out.push_str(&format_event_time(event_time_ms));
                out.push('"');
            }
            (_, None) => return Err(FillError::MissingValue(column.name)),
        }
        at = hole + 2;
    }
    out.push_str(&template[at..]);
    Ok(out)
}

/// The 16 bytes of a UUID written as AWS writes ids: 36 characters, lowercase hex digits and
/// hyphens at 8, 13, 18 and 23. `None` for anything else (which then stays text), so that
/// [`uuid_text`] always gives back the very same text.
pub(crate) fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let b = text.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut digits = b.iter().filter(|&&c| c != b'-');
    let mut out = [0u8; 16];
    for byte in &mut out {
        let (high, low) = (digits.next()?, digits.next()?);
        *byte = (digit(*high)? << 4) | digit(*low)?;
    }
    Some(out)
}

/// The text of a UUID stored by [`uuid_bytes`].
pub(crate) fn uuid_text(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[(byte >> 4) as usize]);
        out.push(HEX[(byte & 0x0f) as usize]);
    }
    // Only ASCII hex digits and hyphens were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Marks in `used` (by column index) the columns `template`'s holes take values from.
pub(crate) fn mark_holes(template: &str, used: &mut [bool]) {
    let bytes = template.as_bytes();
    for (at, _) in bytes.iter().enumerate().filter(|(_, b)| **b == HOLE) {
        if let Some(slot) = bytes
            .get(at + 1)
            .and_then(|&index| used.get_mut((index as usize).wrapping_sub(1)))
        {
            *slot = true;
        }
    }
}

/// The members of a JSON object in text order, values left raw (slices of the input).
pub(crate) struct Members<'a>(pub Vec<(Key<'a>, &'a RawValue)>);

/// An object key: borrowed from the input unless it has escapes.
pub(crate) struct Key<'a>(Cow<'a, str>);

impl<'a> Key<'a> {
    /// The key as a slice of the input, when it has no escapes.
    pub(crate) fn borrowed(&self) -> Option<&'a str> {
        match self.0 {
            Cow::Borrowed(key) => Some(key),
            Cow::Owned(_) => None,
        }
    }
}

impl AsRef<str> for Key<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str, time_ms: i64) -> Shredded<'_> {
        let shredded = shred(json, time_ms);
        let mut by_column: Vec<Option<&str>> = vec![None; COLUMNS.len()];
        for &(column, value) in &shredded.values {
            by_column[column as usize] = Some(value);
        }
        let filled = fill(&shredded.template, time_ms, |i| {
            by_column[i].map(Cow::Borrowed)
        });
        assert_eq!(
            filled.as_deref(),
            Ok(json),
            "template {:?}",
            shredded.template
        );
        shredded
    }

    fn column(name: &str) -> u8 {
        COLUMNS.iter().position(|c| c.name == name).unwrap() as u8
    }

    #[test]
    fn known_members_become_columns_and_the_rest_stays_in_the_template() {
        let json = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"eventTime":"2024-01-02T03:04:05Z","eventName":"RunInstances","readOnly":false,"requestParameters":{"a":[1,2]},"responseElements":null,"custom":{"eventName":"x"}}"#;
        let time = cairn_model::time::parse_event_time("2024-01-02T03:04:05Z").unwrap();
        let shredded = round_trip(json, time);
        let values: HashMap<u8, &str> = shredded.values.iter().copied().collect();
        assert_eq!(values[&column("eventVersion")], "1.08");
        assert_eq!(values[&column("userIdentity.arn")], "arn:aws:iam::1:user/a");
        assert_eq!(
            values[&column("userIdentity.sessionContext.attributes.mfaAuthenticated")],
            "false"
        );
        assert_eq!(values[&column("requestParameters")], r#"{"a":[1,2]}"#);
        // A canonical eventTime is re-made from the timestamp; null, booleans and unknown
        // members stay in the template.
        assert!(!values.contains_key(&column("eventTime.text")));
        assert!(shredded.template.contains(r#""readOnly":false"#));
        assert!(shredded.template.contains(r#""responseElements":null"#));
        assert!(shredded.template.contains(r#""custom":{"eventName":"x"}"#));
    }

    #[test]
    fn odd_values_stay_in_the_template_untouched() {
        let time = cairn_model::time::parse_event_time("2024-01-02T03:04:05Z").unwrap();
        for json in [
            // An escaped string, a number where a string belongs, a string where an object
            // belongs, a repeated key, an eventTime written another way, an empty string.
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"Run\u0049nstances"}"#,
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"a","eventID":42}"#,
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"a","requestParameters":"text"}"#,
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"a","eventName":"b"}"#,
            r#"{"eventTime":"2024-01-02T03:04:05.000Z","eventName":"a","errorCode":""}"#,
            r#"{"eventTime":"2024-01-02T03:04:05Z","userIdentity":"nobody","eventName":"a"}"#,
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"Ünïcödé ☃ \ud83d\ude00"}"#,
        ] {
            round_trip(json, time);
        }
        let repeated = shred(
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"a","eventName":"b"}"#,
            time,
        );
        assert_eq!(repeated.values, vec![(column("eventName"), "a")]);
        let millis = shred(r#"{"eventTime":"2024-01-02T03:04:05.000Z"}"#, time);
        assert_eq!(
            millis.values,
            vec![(column("eventTime.text"), "2024-01-02T03:04:05.000Z")]
        );
    }

    #[test]
    fn the_columns_whose_member_stays_in_the_template_are_marked() {
        let time = cairn_model::time::parse_event_time("2024-01-02T03:04:05Z").unwrap();
        let marked = |json: &str| column_names(shred(json, time).literals);
        let plain = r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"a","errorCode":"b"}"#;
        assert_eq!(marked(plain), Vec::<&str>::new());
        for (json, columns) in [
            (
                r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"Run\u0049nstances"}"#,
                vec!["eventName"],
            ),
            (
                r#"{"eventTime":"2024-01-02T03:04:05Z","eventID":42,"errorCode":null}"#,
                vec!["errorCode", "eventID"],
            ),
            (
                r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"a","eventName":"b"}"#,
                vec!["eventName"],
            ),
            (
                r#"{"eventTime":5,"userIdentity":{"arn":7},"requestParameters":"text"}"#,
                vec!["userIdentity.arn", "eventTime.text", "requestParameters"],
            ),
        ] {
            assert_eq!(marked(json), columns, "{json}");
        }
    }

    #[test]
    fn a_broken_template_is_an_error_not_a_panic() {
        let none = |_: usize| None;
        assert_eq!(fill("{\"a\":\0", 0, none), Err(FillError::TruncatedHole));
        assert_eq!(
            fill("{\"a\":\0\u{7f}}", 0, none),
            Err(FillError::UnknownColumn(0x7f))
        );
        assert_eq!(
            fill("{\"a\":\0\u{1}}", 0, none),
            Err(FillError::MissingValue("eventVersion"))
        );
    }

    #[test]
    fn only_canonical_uuids_become_bytes() {
        let id = "3038ebd2-c98a-4c65-9b6e-e22506292313";
        let bytes = uuid_bytes(id).unwrap();
        assert_eq!(uuid_text(&bytes), id);
        for other in [
            "3038EBD2-C98A-4C65-9B6E-E22506292313",
            "3038ebd2c98a4c659b6ee22506292313",
            "3038ebd2-c98a-4c65-9b6e-e2250629231",
            "3038ebd2-c98a-4c65-9b6e-e22506292313 ",
            "3038ebd2-c98a-4c65-9b6e-e2250629231g",
            "3038ebd2-c98a-4c65-9b6e+e22506292313",
            "",
        ] {
            assert_eq!(uuid_bytes(other), None, "{other}");
        }
    }

    #[test]
    fn columns_fit_the_hole_byte() {
        assert!(COLUMNS.len() < 127);
    }
}
