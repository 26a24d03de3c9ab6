//! The memtable: events that are durable in the log but not yet sealed into a segment, indexed
//! in memory so that lookups see them as soon as they are acknowledged.

use std::collections::HashMap;

use cairn_model::lookup::attribute_index_key;
use cairn_model::{LookupAttributeKey, LookupQuery, PageCursor, Record};

/// Recent events, in arrival order, with a posting list per (attribute, value).
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    records: Vec<Record>,
    postings: HashMap<u64, Vec<u32>>,
    json_bytes: usize,
}

/// What the store already holds under a record's eventID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Nothing with this eventID.
    New,
    /// This very record (same eventID, same JSON).
    Duplicate,
    /// Another record with the same eventID, and different content (not merely written
    /// differently).
    OtherWithSameId,
}

impl Seen {
    /// Combines what two places hold.
    pub(crate) fn or(self, other: Seen) -> Seen {
        match (self, other) {
            (Seen::Duplicate, _) | (_, Seen::Duplicate) => Seen::Duplicate,
            (Seen::OtherWithSameId, _) | (_, Seen::OtherWithSameId) => Seen::OtherWithSameId,
            _ => Seen::New,
        }
    }
}

impl Memtable {
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn json_bytes(&self) -> usize {
        self.json_bytes
    }

    pub(crate) fn records(&self) -> &[Record] {
        &self.records
    }

    pub(crate) fn insert(&mut self, record: Record) {
        let row = self.records.len() as u32;
        for key in LookupAttributeKey::ALL {
            for value in record.fields.lookup_values(key) {
                self.postings
                    .entry(attribute_index_key(key, value))
                    .or_default()
                    .push(row);
            }
        }
        self.json_bytes += record.json.len();
        self.records.push(record);
    }

    pub(crate) fn seen(&self, record: &Record) -> Seen {
        let key = attribute_index_key(LookupAttributeKey::EventId, &record.fields.event_id);
        let Some(rows) = self.postings.get(&key) else {
            return Seen::New;
        };
        let mut seen = Seen::New;
        for &row in rows {
            let other = &self.records[row as usize];
            if other.fields.event_id == record.fields.event_id {
                if (other.fingerprint == record.fingerprint && other.json == record.json)
                    || json_equal(&other.json, &record.json)
                {
                    return Seen::Duplicate;
                }
                seen = Seen::OtherWithSameId;
            }
        }
        seen
    }

    /// Up to `limit` records matching `query` that come after `cursor`, newest first.
    pub(crate) fn top(
        &self,
        query: &LookupQuery,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Vec<&Record> {
        let mut matching: Vec<&Record> = match &query.attribute {
            Some((key, value)) => self
                .postings
                .get(&attribute_index_key(*key, value))
                .map(|rows| rows.iter().map(|&r| &self.records[r as usize]).collect())
                .unwrap_or_default(),
            None => self.records.iter().collect(),
        };
        matching.retain(|r| query.matches(&r.fields) && before_cursor(r, cursor));
        let order = |r: &&Record| std::cmp::Reverse((r.fields.event_time_ms, r.fingerprint));
        if matching.len() > limit {
            matching.select_nth_unstable_by_key(limit, order);
            matching.truncate(limit);
        }
        matching.sort_unstable_by_key(order);
        matching
    }
}

/// Whether two records are the same JSON written differently (key order, escapes, spacing): the
/// same event exported by two tools. Only called when eventIDs match and texts differ.
pub(crate) fn json_equal(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether a record comes after the cursor in (time, fingerprint) descending order.
pub(crate) fn before_cursor(record: &Record, cursor: Option<PageCursor>) -> bool {
    cursor.is_none_or(|c| {
        (record.fields.event_time_ms, record.fingerprint) < (c.time_ms, c.fingerprint)
    })
}
