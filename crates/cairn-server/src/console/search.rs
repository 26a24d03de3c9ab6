//! Event search, the console's extension of LookupEvents: several lookup attributes at once,
//! errors only, writes only, and facets of everything that matches (a histogram over time and
//! the top values of event name, source, user, error code and source IP). `POST
//! /console/search` (a session and its CSRF token, as every console call) with LookupEvents'
//! members plus `ErrorsOnly`, `WritesOnly` and `Facets`.
//!
//! The events are LookupEvents' own: the first attribute, the times and the scope are a
//! LookupEvents request, validated as one and read from the store as one, page after page;
//! each further attribute is validated the same way and matched as LookupEvents matches it
//! ([`EventFilter`]). Pages answer as LookupEvents does (`Events`, `NextToken`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch, StringViewArray};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use cairn_model::lookup::{EventFilter, LookupAttribute, decode_next_token, encode_next_token};
use cairn_model::record::boolean_text;
use cairn_model::{
    IdentityNames, LookupAttributeKey, LookupEvent, LookupEventsRequest, LookupQuery, PageCursor,
    Record,
};
use cairn_store::segment::scan::TIME_COLUMN;
use cairn_store::{FieldScan, Store};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actions::Operation;
use crate::error::{ApiError, ErrorCode};
use crate::server::{AppState, finish_call, permitted};

/// Records read from the store at a time.
const READ_EVENTS: usize = 1000;
/// Bars of the histogram.
const BUCKETS: i64 = 60;
/// Values listed per facet.
const TOP_VALUES: usize = 10;

/// The request: LookupEvents' members (any number of attributes), and the search's own.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SearchRequest {
    #[serde(default)]
    lookup_attributes: Vec<LookupAttribute>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    max_results: Option<i64>,
    next_token: Option<String>,
    #[serde(default)]
    errors_only: bool,
    #[serde(default)]
    writes_only: bool,
    /// Answer the facets of every matching event instead of a page.
    #[serde(default)]
    facets: bool,
}

/// A search checked: the lookup that reads its events, what else they must meet.
pub(super) struct Search {
    query: LookupQuery,
    filter: EventFilter,
    max_results: usize,
    cursor: Option<PageCursor>,
    facets: bool,
}

impl SearchRequest {
    /// The request for every matching event: from the first, no page size of its own.
    pub(super) fn for_download(self) -> SearchRequest {
        SearchRequest {
            max_results: None,
            next_token: None,
            facets: false,
            ..self
        }
    }

    pub(super) fn validate(self, account_id: &str, region: &str) -> Result<Search, ApiError> {
        // Each attribute, the times and the paging as LookupEvents checks them.
        let lookup = |attribute: Option<LookupAttribute>| LookupEventsRequest {
            lookup_attributes: attribute.map(|a| vec![a]),
            start_time: self.start_time,
            end_time: self.end_time,
            event_category: None,
            max_results: self.max_results,
            next_token: None,
        };
        let mut attributes = self.lookup_attributes.clone().into_iter();
        let first = lookup(attributes.next())
            .validate(Some(account_id.to_owned()), Some(region.to_owned()))?;
        let mut filter = EventFilter {
            attributes: Vec::new(),
            errors_only: self.errors_only,
            writes_only: self.writes_only,
        };
        for attribute in attributes {
            let valid = lookup(Some(attribute)).validate(None, None)?;
            filter.attributes.extend(valid.query.attribute);
        }
        let cursor = match &self.next_token {
            Some(token) => Some(decode_next_token(&first.query, token)?),
            None => None,
        };
        Ok(Search {
            query: first.query,
            filter,
            max_results: first.max_results,
            cursor,
            facets: self.facets,
        })
    }
}

/// Calls `f` with each matching event after `cursor`, newest first, until it says stop.
pub(super) fn each_match(
    store: &Store,
    search: &Search,
    mut f: impl FnMut(&Record) -> bool,
) -> Result<(), ApiError> {
    let mut cursor = search.cursor;
    loop {
        let page = store
            .lookup(&search.query, cursor, READ_EVENTS)
            .map_err(ApiError::internal)?;
        for record in &page.records {
            if search.filter.matches(&record.fields) && !f(record) {
                return Ok(());
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(());
        }
    }
}

/// One page, as LookupEvents answers.
fn page(store: &Store, search: &Search) -> Result<Value, ApiError> {
    let mut events = Vec::new();
    let mut last = None;
    let mut more = false;
    each_match(store, search, |record| {
        if events.len() == search.max_results {
            more = true;
            return false;
        }
        events.push(LookupEvent::from_record(record));
        last = Some(PageCursor {
            time_ms: record.fields.event_time_ms,
            fingerprint: record.fingerprint,
        });
        true
    })?;
    let mut answer = json!({ "Events": events });
    if let (true, Some(last)) = (more, last) {
        answer["NextToken"] = encode_next_token(&search.query, last).into();
    }
    Ok(answer)
}

/// The facets of every matching event: how many; a histogram over the search's times (or,
/// without them, the matching events' own); the most frequent values of five members.
fn facets(store: &Store, search: &Search) -> Result<Value, ApiError> {
    let tally = match readable_from_columns(search) {
        true => tally_from_columns(store, search)?,
        false => {
            let mut tally = Tally::default();
            each_match(store, search, |record| {
                let f = &record.fields;
                let values = [
                    &f.event_name,
                    &f.event_source,
                    &f.username,
                    &f.error_code,
                    &f.source_ip_address,
                ];
                tally.add(f.event_time_ms, values.map(Option::as_deref));
                true
            })?;
            tally
        }
    };
    Ok(tally.answer(search))
}

/// What the facets count: each matching event's time, and how often each value of the five
/// members came.
#[derive(Default)]
struct Tally {
    times: Vec<i64>,
    counts: [HashMap<String, u64>; 5],
}

impl Tally {
    /// One event: its time and its event name, source, user name, error code and source IP.
    fn add(&mut self, time_ms: i64, values: [Option<&str>; 5]) {
        self.times.push(time_ms);
        for (count, value) in self.counts.iter_mut().zip(values) {
            let Some(value) = value else { continue };
            match count.get_mut(value) {
                Some(n) => *n += 1,
                None => {
                    count.insert(value.to_owned(), 1);
                }
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.times.extend(other.times);
        for (count, other) in self.counts.iter_mut().zip(other.counts) {
            for (value, n) in other {
                *count.entry(value).or_default() += n;
            }
        }
    }

    fn answer(&self, search: &Search) -> Value {
        let times = &self.times;
        let start = search
            .query
            .start_ms
            .or_else(|| times.iter().min().copied())
            .unwrap_or(0);
        let end = search
            .query
            .end_ms
            .or_else(|| times.iter().max().copied())
            .unwrap_or(start)
            .max(start);
        let bucket_ms = ((end - start) / BUCKETS + 1).max(1);
        let mut histogram = vec![0u64; BUCKETS as usize];
        for time in times {
            let bucket = ((time - start) / bucket_ms).clamp(0, BUCKETS - 1);
            histogram[bucket as usize] += 1;
        }
        let top = |count: &HashMap<String, u64>| -> Vec<Value> {
            let mut values: Vec<(&String, &u64)> = count.iter().collect();
            values.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            values
                .into_iter()
                .take(TOP_VALUES)
                .map(|(value, n)| json!({"Value": value, "Count": n}))
                .collect()
        };
        let counts = &self.counts;
        json!({
            "Matched": times.len(),
            "Histogram": {"StartTime": start as f64 / 1000.0, "BucketSeconds": bucket_ms as f64 / 1000.0, "Counts": histogram},
            "Top": {
                "EventName": top(&counts[0]),
                "EventSource": top(&counts[1]),
                "Username": top(&counts[2]),
                "ErrorCode": top(&counts[3]),
                "SourceIPAddress": top(&counts[4]),
            }
        })
    }
}

/// Whether every attribute of the search is a record member or made from `userIdentity`'s
/// (so its events' facets can be read from the store's columns): resource types and names
/// are derived from the whole call (`cairn_model::resources`), and need the records.
fn readable_from_columns(search: &Search) -> bool {
    let attributes = search
        .query
        .attribute
        .iter()
        .chain(&search.filter.attributes);
    attributes.into_iter().all(|(key, _)| {
        !matches!(
            key,
            LookupAttributeKey::ResourceType | LookupAttributeKey::ResourceName
        )
    })
}

/// The members a column tally reads: the facets' own, and those the user name is made of.
const FACET_PATHS: [&str; 9] = [
    "eventName",
    "eventSource",
    "errorCode",
    "sourceIPAddress",
    "userIdentity.userName",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.sessionContext.sessionIssuer.userName",
    "userIdentity.invokedBy",
];
/// And those that only some searches need.
const EVENT_ID: &str = "eventID";
const ACCESS_KEY_ID: &str = "userIdentity.accessKeyId";
const READ_ONLY: &str = "readOnly";

/// The facets of the events the search matches, from the members the store's columns hold
/// (a field scan of the lookup's events in a snapshot of the store, in as many parts as there
/// are cores), checked
/// against the search as [`RecordFields`](cairn_model::RecordFields) would be: LookupEvents'
/// user name by its rule ([`IdentityNames`]), `readOnly` by [`boolean_text`]. A member that
/// is not a JSON string is counted by its JSON text here (the records' fields leave it out).
fn tally_from_columns(store: &Store, search: &Search) -> Result<Tally, ApiError> {
    let attributes: Vec<&(LookupAttributeKey, String)> = search
        .query
        .attribute
        .iter()
        .chain(&search.filter.attributes)
        .collect();
    let wants = |key: LookupAttributeKey| attributes.iter().any(|(k, _)| *k == key);
    let mut paths: Vec<String> = FACET_PATHS.iter().map(|p| p.to_string()).collect();
    let extra = [
        (wants(LookupAttributeKey::EventId), EVENT_ID),
        (wants(LookupAttributeKey::AccessKeyId), ACCESS_KEY_ID),
        (
            wants(LookupAttributeKey::ReadOnly) || search.filter.writes_only,
            READ_ONLY,
        ),
    ];
    paths.extend(extra.iter().filter(|(w, _)| *w).map(|(_, p)| p.to_string()));
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One state of the store for every part.
    let snapshot = store.snapshot().map_err(ApiError::internal)?;
    let tallies: Vec<Result<Tally, ApiError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parts)
            .map(|part| {
                let scan = FieldScan {
                    paths: paths.clone(),
                    part: (part, parts),
                    ..FieldScan::default()
                };
                let (attributes, snapshot) = (&attributes, &snapshot);
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    snapshot
                        .scan_lookup(&search.query, &scan, |batch| {
                            tally_batch(&mut tally, &batch, attributes, &search.filter)
                        })
                        .map_err(ApiError::internal)?;
                    Ok(tally)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(ApiError::internal("a facets scan failed")))
            })
            .collect()
    });
    let mut all = Tally::default();
    for tally in tallies {
        all.merge(tally?);
    }
    Ok(all)
}

/// Row `row` of `column`, when the column is there and the row not null.
fn text(column: Option<&StringViewArray>, row: usize) -> Option<&str> {
    column.filter(|c| c.is_valid(row)).map(|c| c.value(row))
}

/// Adds the events of one scan batch that meet the search.
fn tally_batch(
    tally: &mut Tally,
    batch: &RecordBatch,
    attributes: &[&(LookupAttributeKey, String)],
    filter: &EventFilter,
) -> cairn_store::Result<()> {
    let texts = |name: &str| -> Option<&StringViewArray> {
        batch.column_by_name(name)?.as_string_view_opt()
    };
    let times = batch
        .column_by_name(TIME_COLUMN)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| cairn_store::StoreError::Failed("a scan without times".to_owned()))?;
    let columns: Vec<Option<&StringViewArray>> = FACET_PATHS.iter().map(|p| texts(p)).collect();
    let (event_id, access_key_id, read_only) =
        (texts(EVENT_ID), texts(ACCESS_KEY_ID), texts(READ_ONLY));
    for row in 0..batch.num_rows() {
        let member = |i: usize| text(columns[i], row);
        let username = IdentityNames {
            user_name: member(4),
            identity_type: member(5),
            arn: member(6),
            issuer_user_name: member(7),
            invoked_by: member(8),
        }
        .username();
        let read_only = text(read_only, row).and_then(boolean_text);
        let meets = |(key, value): &&(LookupAttributeKey, String)| {
            let found = match key {
                LookupAttributeKey::EventId => text(event_id, row),
                LookupAttributeKey::EventName => member(0),
                LookupAttributeKey::EventSource => member(1),
                LookupAttributeKey::Username => username,
                LookupAttributeKey::AccessKeyId => {
                    text(access_key_id, row).filter(|k| !k.is_empty())
                }
                LookupAttributeKey::ReadOnly => read_only.map(|r| if r { "true" } else { "false" }),
                LookupAttributeKey::ResourceType | LookupAttributeKey::ResourceName => None,
            };
            found == Some(value.as_str())
        };
        if attributes.iter().all(meets)
            && (!filter.errors_only || member(2).is_some())
            && (!filter.writes_only || read_only == Some(false))
        {
            tally.add(
                times.value(row),
                [member(0), member(1), username, member(2), member(3)],
            );
        }
    }
    Ok(())
}

/// `POST /console/search`: recorded as a LookupEvents call of the console.
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (principal, region) = match super::api_session(&state, &headers) {
        Ok(found) => found,
        Err(error) => return error.into_response(&request_id),
    };
    let mut call = super::console_api_call(
        "LookupEvents".to_owned(),
        &principal,
        &region,
        peer,
        &headers,
        request_id,
    );
    call.request = serde_json::from_slice(&body).ok();
    let store = state.store.clone();
    let result = async {
        if !permitted(principal.permissions, Operation::LookupEvents) {
            return Err(ApiError::new(
                ErrorCode::AccessDenied,
                "This principal may not look up events.",
            ));
        }
        let request: SearchRequest = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::SerializationException, e.to_string()))?;
        let search = request.validate(&principal.account_id, &region)?;
        tokio::task::spawn_blocking(move || match search.facets {
            true => facets(&store, &search),
            false => page(&store, &search),
        })
        .await
        .map_err(ApiError::internal)?
    }
    .await;
    super::into_page_answer(finish_call(&state, call, true, result, started))
}
