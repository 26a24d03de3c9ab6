//! CloudTrail Lake queries (spec §7.3): their life, their results, and the catalog documents
//! that keep both for 7 days, across restarts.
//!
//! ```text
//! StartQuery ──► QUEUED ──► RUNNING ──► FINISHED | FAILED | TIMED_OUT
//!                   └──────────┴── CancelQuery ──► CANCELLED
//! ```
//!
//! StartQuery checks the statement (one SELECT naming the caller's active event data stores)
//! and answers at once; the query runs on a blocking thread: the stores' events
//! ([`crate::lake_events`]) become the tables of a [`cairn_lake::Lake`] and the
//! statement runs over them. A query that is still QUEUED or RUNNING when cairn stops is FAILED
//! at the next start. At most 10 queries an account are QUEUED or RUNNING at once. A query
//! whose run took longer than the configured timeout is TIMED_OUT and keeps no results (the
//! stores' scans stop at their next batch, as they do for a query cancelled while it runs).
//!
//! Catalog documents: `queries.json` (`{"version": 1, "queries": [Query...]}`, the members of
//! [`Query`] in snake case) and one `query-<id>.json` per finished query: `{"labels": [...],
//! "rows": [[value or null, ...], ...]}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_lake::Lake;
use cairn_lake::statement::Prepared;
use cairn_store::{Store, Visibility};
use serde::{Deserialize, Serialize};

use crate::catalog_list::{CatalogList, ListDocument};
use crate::error::{ApiError, ErrorCode};
use crate::event_data_stores::{self, EventDataStore, EventDataStores};
use crate::lake_events::{EventDataStoreEvents, Interrupt, ScanCounters};

const DOCUMENT: ListDocument = ListDocument {
    name: "queries.json",
    version: 1,
    member: "queries",
    visibility: cairn_store::Visibility::Plain,
};

/// How long queries and their results are kept: 7 days, in seconds.
pub const KEPT_SECS: f64 = 7.0 * 86_400.0;
/// AWS's quota: queries an account has QUEUED or RUNNING at once.
pub const MAX_CONCURRENT: usize = 10;

/// A query's status, as AWS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueryStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
    TimedOut,
}

impl QueryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Queued => "QUEUED",
            QueryStatus::Running => "RUNNING",
            QueryStatus::Finished => "FINISHED",
            QueryStatus::Failed => "FAILED",
            QueryStatus::Cancelled => "CANCELLED",
            QueryStatus::TimedOut => "TIMED_OUT",
        }
    }

    pub fn parse(text: &str) -> Option<QueryStatus> {
        [
            QueryStatus::Queued,
            QueryStatus::Running,
            QueryStatus::Finished,
            QueryStatus::Failed,
            QueryStatus::Cancelled,
            QueryStatus::TimedOut,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_active(self) -> bool {
        matches!(self, QueryStatus::Queued | QueryStatus::Running)
    }
}

/// A query as cairn keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// A UUID.
    pub id: String,
    pub account_id: String,
    pub region: String,
    pub statement: String,
    /// The ARNs of the event data stores it reads.
    pub stores: Vec<String>,
    pub status: QueryStatus,
    pub created: f64,
    pub ended: Option<f64>,
    pub error_message: Option<String>,
    pub events_scanned: u64,
    pub events_matched: u64,
    pub bytes_scanned: u64,
    pub execution_ms: u64,
    pub results: u64,
    /// `s3://bucket/folder` the results are saved to (StartQuery's `DeliveryS3Uri`, with the
    /// query's own folder), and how that went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_s3_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<DeliveryStatus>,
}

/// DescribeQuery's `DeliveryStatus`: where saving a query's results to a bucket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    Pending,
    Success,
    Failed,
    FailedSigningFile,
    Cancelled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Success => "SUCCESS",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::FailedSigningFile => "FAILED_SIGNING_FILE",
            DeliveryStatus::Cancelled => "CANCELLED",
        }
    }
}

/// Every query of the last 7 days, of every account.
#[derive(Debug)]
pub struct Queries {
    list: CatalogList<Query>,
    /// The longest a query may run before it is TIMED_OUT, in seconds.
    pub timeout_secs: f64,
}

/// A finished query's answer, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub labels: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Results {
    /// The results as CSV ([`crate::csv`]): a header of the labels, then a line per row (NULL
    /// is an empty field); with `guard_formulas`, guarded for people who open it in a
    /// spreadsheet.
    pub fn csv(&self, guard_formulas: bool) -> String {
        let mut out = crate::csv::line(self.labels.iter().map(String::as_str), guard_formulas);
        for row in &self.rows {
            out.push_str(&crate::csv::line(
                row.iter().map(|v| v.as_deref().unwrap_or("")),
                guard_formulas,
            ));
        }
        out
    }

    /// Rows `range` as GetQueryResults gives them: each row a list of one-member objects,
    /// column label to value (null for NULL), in column order.
    pub fn wire_rows(&self, range: std::ops::Range<usize>) -> Vec<serde_json::Value> {
        self.rows[range]
            .iter()
            .map(|row| {
                serde_json::Value::Array(
                    self.labels
                        .iter()
                        .zip(row)
                        .map(|(label, value)| serde_json::json!({ label.as_str(): value }))
                        .collect(),
                )
            })
            .collect()
    }
}

impl Queries {
    /// The queries the catalog holds; those that were QUEUED or RUNNING when cairn stopped are
    /// FAILED now.
    pub fn load(store: Arc<Store>, timeout_secs: f64, now: f64) -> Result<Queries, String> {
        let queries = Queries {
            list: CatalogList::load(store, DOCUMENT)?,
            timeout_secs,
        };
        let mut edit = queries.list.edit().map_err(|e| e.message)?;
        let mut changed = false;
        for query in edit.items.iter_mut().filter(|q| q.status.is_active()) {
            query.status = QueryStatus::Failed;
            query.ended = Some(now);
            query.error_message = Some("cairn stopped while the query ran.".to_owned());
            changed = true;
        }
        if changed {
            edit.save().map_err(|e| e.message)?;
        }
        drop(edit);
        Ok(queries)
    }

    fn store(&self) -> &Arc<Store> {
        self.list.store()
    }

    /// Applies `change` to the queries (those older than 7 days gone, with their results) and
    /// saves them; answers what `change` answers.
    pub fn change<T>(
        &self,
        now: f64,
        change: impl FnOnce(&mut Vec<Query>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut edit = self.list.edit()?;
        let expired: Vec<String> = edit
            .items
            .iter()
            .filter(|q| now - q.created >= KEPT_SECS)
            .map(|q| q.id.clone())
            .collect();
        edit.items.retain(|q| now - q.created < KEPT_SECS);
        let answer = change(&mut edit.items)?;
        edit.save()?;
        for id in expired {
            self.store()
                .remove_document(&results_document(&id))
                .map_err(ApiError::internal)?;
        }
        Ok(answer)
    }

    /// Query `id`'s status now (`None`: no such query).
    pub fn status(&self, id: &str) -> Option<QueryStatus> {
        let edit = self.list.edit().ok()?;
        edit.items.iter().find(|q| q.id == id).map(|q| q.status)
    }

    /// A copy of the queries, for reading.
    pub fn all(&self) -> Result<Vec<Query>, ApiError> {
        Ok(self.list.edit()?.items.clone())
    }

    /// Keeps a finished query's results.
    pub fn save_results(&self, id: &str, results: &Results) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(results).map_err(ApiError::internal)?;
        self.store()
            .write_document(&results_document(id), &bytes, Visibility::Plain)
            .map_err(ApiError::internal)
    }

    /// A finished query's results.
    pub fn results(&self, id: &str) -> Result<Results, ApiError> {
        let bytes = self
            .store()
            .read_document(&results_document(id))
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("the results of query {id} are missing")))?;
        serde_json::from_slice(&bytes).map_err(ApiError::internal)
    }
}

/// What running a statement read, besides its results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    pub events: u64,
    pub bytes: u64,
}

/// Runs `prepared` over the event data stores it names, each found by `resolve` (from its ID)
/// among `stores`: their events become the query's tables, read member by member
/// ([`EventDataStoreEvents`]), until `interrupt` (if any) says to stop.
pub fn execute(
    stores: &EventDataStores,
    resolve: impl Fn(&event_data_stores::Edit, &str) -> Result<usize, ApiError>,
    prepared: Prepared,
    now: f64,
    interrupt: Option<Interrupt>,
) -> Result<(Results, Scanned), String> {
    let mut lake = Lake::new();
    let counters = Arc::new(ScanCounters::default());
    // One state of the store for every table and part of the query.
    let snapshot = stores.store().snapshot().map_err(|e| e.to_string())?;
    for store_id in &prepared.store_ids {
        let eds: EventDataStore = {
            let edit = stores.edit(now).map_err(|e| e.message)?;
            let at = resolve(&edit, store_id).map_err(|e| e.message)?;
            edit.items[at].clone()
        };
        let events = EventDataStoreEvents {
            store: stores.store().clone(),
            snapshot: snapshot.clone(),
            eds,
            now,
            counters: counters.clone(),
            interrupt: interrupt.clone(),
            added_ids: Default::default(),
        };
        lake.add_source(store_id, Arc::new(events))
            .map_err(|e| e.to_string())?;
    }
    let result = lake.run_blocking(prepared).map_err(|e| e.to_string())?;
    let scanned = Scanned {
        events: counters.events.load(Ordering::Relaxed),
        bytes: counters.bytes.load(Ordering::Relaxed),
    };
    Ok((
        Results {
            labels: result.labels,
            rows: result.rows,
        },
        scanned,
    ))
}

fn results_document(id: &str) -> String {
    format!("query-{id}.json")
}

/// The query `id` of `account_id`, or AWS's error.
pub fn find<'q>(queries: &'q [Query], account_id: &str, id: &str) -> Result<&'q Query, ApiError> {
    queries
        .iter()
        .find(|q| q.id == id && q.account_id == account_id)
        .ok_or_else(|| query_not_found(id))
}

pub fn query_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::QueryIdNotFound,
        format!("Query {id} was not found (queries are kept 7 days)."),
    )
}
