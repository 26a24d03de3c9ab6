//! The memtable: events that are durable in the log but not yet sealed into a segment, indexed
//! in memory so that lookups see them as soon as they are acknowledged.
//!
//! Lookups read one scope at a time, as segments do: the event-history rows of each
//! (account, region, history category) are kept in lookup order, all of them and per
//! (attribute, value), so that a page costs a few tree steps however full the memtable is.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use cairn_model::lookup::attribute_index_key;
use cairn_model::{HistoryCategory, LookupAttributeKey, LookupQuery, PageCursor, Record};

/// Recent events, in arrival order, indexed for duplicate checks and lookups.
#[derive(Debug, Default)]
pub(crate) struct Memtable {
    records: Vec<Arc<Record>>,
    /// Rows by eventID (its attribute index key): duplicate checks and EventId lookups.
    by_event_id: HashMap<u64, Vec<u32>>,
    /// Rows in event history, by the scope lookups read.
    scopes: HashMap<Scope, ScopeIndex>,
    json_bytes: usize,
}

/// What one lookup reads: an account, a region and a history category.
type Scope = (Option<String>, Option<String>, HistoryCategory);

/// A row's place in lookup order, (eventTime, fingerprint), then the row itself.
type OrderKey = (i64, u64, u32);

/// The rows of one scope in lookup order: all of them, and those with each (attribute, value)
/// (by attribute index key; EventId is in `Memtable::by_event_id` instead).
#[derive(Debug, Default)]
struct ScopeIndex {
    all: BTreeSet<OrderKey>,
    by_attribute: HashMap<u64, BTreeSet<OrderKey>>,
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

    pub(crate) fn records(&self) -> &[Arc<Record>] {
        &self.records
    }

    pub(crate) fn insert(&mut self, record: Record) {
        let row = self.records.len() as u32;
        let fields = &record.fields;
        self.by_event_id
            .entry(attribute_index_key(
                LookupAttributeKey::EventId,
                &fields.event_id,
            ))
            .or_default()
            .push(row);
        if fields.history != HistoryCategory::NotInHistory {
            let scope = (
                fields.account_id.clone(),
                fields.aws_region.clone(),
                fields.history,
            );
            let index = self.scopes.entry(scope).or_default();
            let order = (fields.event_time_ms, record.fingerprint, row);
            index.all.insert(order);
            for key in LookupAttributeKey::ALL {
                if key == LookupAttributeKey::EventId {
                    continue;
                }
                for value in fields.lookup_values(key) {
                    index
                        .by_attribute
                        .entry(attribute_index_key(key, value))
                        .or_default()
                        .insert(order);
                }
            }
        }
        self.json_bytes += record.json.len();
        self.records.push(Arc::new(record));
    }

    pub(crate) fn seen(&self, record: &Record) -> Seen {
        let key = attribute_index_key(LookupAttributeKey::EventId, &record.fields.event_id);
        let Some(rows) = self.by_event_id.get(&key) else {
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
    ) -> Vec<&Arc<Record>> {
        let order = |r: &&Arc<Record>| std::cmp::Reverse((r.fields.event_time_ms, r.fingerprint));
        let wanted = |r: &&Arc<Record>| query.matches(&r.fields) && before_cursor(r, cursor);
        let mut out: Vec<&Arc<Record>> = Vec::new();
        match &query.attribute {
            Some((LookupAttributeKey::EventId, id)) => {
                let key = attribute_index_key(LookupAttributeKey::EventId, id);
                let rows = self.by_event_id.get(&key).map_or(&[][..], Vec::as_slice);
                out.extend(
                    rows.iter()
                        .map(|&r| &self.records[r as usize])
                        .filter(wanted),
                );
            }
            attribute => {
                let end = query.end_ms.unwrap_or(i64::MAX);
                let start = query.start_ms.unwrap_or(i64::MIN);
                // Rows ordered before the cursor and at or before the end time.
                let upper = match cursor {
                    Some(c) if (c.time_ms, c.fingerprint) <= (end, u64::MAX) => {
                        Bound::Excluded((c.time_ms, c.fingerprint, 0))
                    }
                    _ => Bound::Included((end, u64::MAX, u32::MAX)),
                };
                for (scope, index) in &self.scopes {
                    if !covers(query, scope) {
                        continue;
                    }
                    let rows = match attribute {
                        Some((key, value)) => {
                            match index.by_attribute.get(&attribute_index_key(*key, value)) {
                                Some(rows) => rows,
                                None => continue,
                            }
                        }
                        None => &index.all,
                    };
                    out.extend(
                        rows.range((Bound::Unbounded, upper))
                            .rev()
                            .take_while(|(time_ms, _, _)| *time_ms >= start)
                            .map(|&(_, _, row)| &self.records[row as usize])
                            .filter(wanted)
                            .take(limit),
                    );
                }
            }
        }
        out.sort_unstable_by_key(order);
        out.truncate(limit);
        out
    }
}

/// Whether `query` reads `scope`.
fn covers(query: &LookupQuery, (account, region, history): &Scope) -> bool {
    *history == query.history() && query.covers_scope(account.as_deref(), region.as_deref())
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
