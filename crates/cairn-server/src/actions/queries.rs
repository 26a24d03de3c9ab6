//! The Lake query operations (spec §7.3): StartQuery, DescribeQuery, GetQueryResults,
//! ListQueries and CancelQuery. The life of a query is in [`crate::queries`].

use std::sync::Arc;
use std::time::Instant;

use cairn_lake::LakeError;
use cairn_lake::statement::Prepared;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actions::create_trail::bucket_does_not_exist;
use crate::delivery::Target;
use crate::delivery::query_results::{Delivered, ResultsFolder, deliver};
use crate::error::{ApiError, ErrorCode};
use crate::event_data_stores::EventDataStores;
use crate::lake_events::Interrupt;
use crate::queries::{
    DeliveryStatus, MAX_CONCURRENT, Queries, Query, QueryStatus, Results, execute, find,
    query_not_found,
};
use crate::signing_keys::SigningKeys;
use crate::trails::Scope;

/// AWS's limits.
const MAX_STATEMENT_CHARS: usize = 10_000;
const MAX_RESULTS_PAGE: i64 = 1000;
/// A GetQueryResults or ListQueries token: this prefix and the position of the next item.
const TOKEN_PREFIX: &str = "next:";

/// What the query operations work on.
pub struct Lakes {
    pub queries: Arc<Queries>,
    pub stores: Arc<EventDataStores>,
    /// Where `DeliveryS3Uri` buckets are, and the keys that sign what is saved there.
    pub target: Target,
    pub keys: Arc<SigningKeys>,
    /// The request's time, seconds since the epoch.
    pub now: f64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartRequest {
    pub query_statement: Option<String>,
    pub delivery_s3_uri: Option<String>,
    pub query_alias: Option<String>,
    pub event_data_store_owner_account_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryIdRequest {
    pub query_id: Option<String>,
    pub query_alias: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultsRequest {
    pub query_id: String,
    pub next_token: Option<String>,
    pub max_query_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub event_data_store: String,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub query_status: Option<String>,
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn not_supported(member: &str) -> ApiError {
    invalid(
        ErrorCode::InvalidParameter,
        format!("{member} is not supported by cairn yet."),
    )
}

pub fn start(lakes: &Lakes, scope: &Scope, request: StartRequest) -> Result<Value, ApiError> {
    if request.query_alias.is_some() {
        return Err(not_supported("QueryAlias (dashboards)"));
    }
    if let Some(owner) = &request.event_data_store_owner_account_id
        && owner != &scope.account_id
    {
        return Err(invalid(
            ErrorCode::InvalidParameter,
            "EventDataStoreOwnerAccountId names another account: a query sees only its \
             caller's account's event data stores.",
        ));
    }
    let statement = request.query_statement.unwrap_or_default();
    if !(1..=MAX_STATEMENT_CHARS).contains(&statement.chars().count()) {
        return Err(invalid(
            ErrorCode::InvalidQueryStatement,
            format!("QueryStatement must be 1 to {MAX_STATEMENT_CHARS} characters."),
        ));
    }
    let prepared = cairn_lake::statement::prepare(&statement).map_err(lake_error)?;
    if prepared.store_ids.is_empty() {
        return Err(invalid(
            ErrorCode::InvalidQueryStatement,
            "The query names no event data store: write FROM and the store's ID.",
        ));
    }
    let store_arns = {
        let edit = lakes.stores.edit(lakes.now)?;
        prepared
            .store_ids
            .iter()
            .map(|id| {
                let at = edit.find_active(scope, id)?;
                Ok(edit.items[at].arn())
            })
            .collect::<Result<Vec<String>, ApiError>>()?
    };
    let id = uuid::Uuid::new_v4().to_string();
    let delivery = match &request.delivery_s3_uri {
        None => None,
        Some(uri) => {
            let created_ms = cairn_model::time::epoch_seconds_to_ms(lakes.now).unwrap_or(0);
            let folder = ResultsFolder::of(uri, &scope.account_id, &id, created_ms)?;
            let runtime = tokio::runtime::Handle::try_current().map_err(ApiError::internal)?;
            if !runtime
                .block_on(lakes.target.bucket_exists(&folder.bucket))
                .map_err(ApiError::internal)?
            {
                return Err(bucket_does_not_exist(&folder.bucket));
            }
            Some(ResultsDelivery {
                folder,
                target: lakes.target.clone(),
                keys: lakes.keys.clone(),
                runtime,
            })
        }
    };
    let query = Query {
        id: id.clone(),
        account_id: scope.account_id.clone(),
        region: scope.region.clone(),
        statement,
        stores: store_arns,
        status: QueryStatus::Queued,
        created: lakes.now,
        ended: None,
        error_message: None,
        events_scanned: 0,
        events_matched: 0,
        bytes_scanned: 0,
        execution_ms: 0,
        results: 0,
        delivery_s3_uri: delivery.as_ref().map(|d| d.folder.uri()),
        delivery_status: delivery.as_ref().map(|_| DeliveryStatus::Pending),
    };
    lakes.queries.change(lakes.now, |queries| {
        let active = queries
            .iter()
            .filter(|q| q.account_id == scope.account_id && q.status.is_active())
            .count();
        if active >= MAX_CONCURRENT {
            return Err(invalid(
                ErrorCode::MaxConcurrentQueries,
                format!(
                    "You are already running the maximum number of concurrent queries \
                     ({MAX_CONCURRENT}). Wait for some queries to finish, and then run the \
                     query again."
                ),
            ));
        }
        queries.push(query);
        Ok(())
    })?;
    let (queries, stores, scope) = (lakes.queries.clone(), lakes.stores.clone(), scope.clone());
    let run_id = id.clone();
    std::thread::Builder::new()
        .name("lake-query".to_owned())
        .spawn(move || {
            let (ended, results) = run(&queries, &stores, &scope, &run_id, prepared);
            if let Some(delivery) = delivery {
                save_results(&queries, &scope, &run_id, ended, results, &delivery);
            }
        })
        .map_err(ApiError::internal)?;
    let mut out = json!({ "QueryId": id });
    if let Some(owner) = request.event_data_store_owner_account_id {
        out["EventDataStoreOwnerAccountId"] = json!(owner);
    }
    Ok(out)
}

fn lake_error(error: LakeError) -> ApiError {
    match error {
        LakeError::InvalidQueryStatement(message) => {
            invalid(ErrorCode::InvalidQueryStatement, message)
        }
        LakeError::Failed(message) => ApiError::internal(message),
    }
}

/// Where a query's results are saved, and with what.
struct ResultsDelivery {
    folder: ResultsFolder,
    target: Target,
    keys: Arc<SigningKeys>,
    /// The server's runtime, for the target's calls.
    runtime: tokio::runtime::Handle,
}

/// Saves `results`, those of query `id`, which ended `ended`, to the bucket of `delivery`, and
/// records how that went. Only a FINISHED query's results are saved; AWS saves no partial
/// results of a query that timed out.
fn save_results(
    queries: &Queries,
    scope: &Scope,
    id: &str,
    ended: Option<QueryStatus>,
    results: Option<Results>,
    delivery: &ResultsDelivery,
) {
    let now = || cairn_model::time::now_secs();
    let outcome = match (ended, results) {
        (Some(QueryStatus::Finished), Some(results)) => delivery.runtime.block_on(deliver(
            &delivery.target,
            &delivery.keys,
            &scope.region,
            &delivery.folder,
            &results,
            cairn_model::time::now_ms(),
        )),
        (Some(QueryStatus::Cancelled), _) => return,
        _ => Delivered::Failed("the query did not finish".to_owned()),
    };
    let _ = queries.change(now(), |all| {
        if let Some(query) = all.iter_mut().find(|q| q.id == id) {
            let (status, problem) = match outcome {
                Delivered::Success => (DeliveryStatus::Success, None),
                Delivered::Failed(e) => (DeliveryStatus::Failed, Some(e)),
                Delivered::FailedSigningFile(e) => (DeliveryStatus::FailedSigningFile, Some(e)),
            };
            query.delivery_status = Some(status);
            if let (Some(problem), None) = (problem, &query.error_message) {
                query.error_message = Some(format!(
                    "The results were not saved to {}: {problem}",
                    query.delivery_s3_uri.as_deref().unwrap_or("the bucket")
                ));
            }
        }
        Ok(())
    });
}

/// Runs query `id` to its end and records how it ended; its status then (`None` when it
/// was no longer QUEUED, or is gone) and its results, if it had any.
fn run(
    queries: &Arc<Queries>,
    stores: &EventDataStores,
    scope: &Scope,
    id: &str,
    prepared: Prepared,
) -> (Option<QueryStatus>, Option<Results>) {
    let now = || cairn_model::time::now_secs();
    let started = Instant::now();
    let set_running = queries.change(now(), |all| {
        let query = all.iter_mut().find(|q| q.id == id);
        Ok(match query {
            Some(q) if q.status == QueryStatus::Queued => {
                q.status = QueryStatus::Running;
                true
            }
            _ => false,
        })
    });
    if !matches!(set_running, Ok(true)) {
        return (None, None);
    }
    // Cancelled, or out of time: the scans stop at their next batch.
    let interrupt: Interrupt = {
        let (queries, id, timeout) = (queries.clone(), id.to_owned(), queries.timeout_secs);
        Arc::new(move || {
            if started.elapsed().as_secs_f64() > timeout {
                return Some(format!("The query ran longer than {timeout} seconds."));
            }
            (queries.status(&id) != Some(QueryStatus::Running))
                .then(|| "The query was cancelled.".to_owned())
        })
    };
    let outcome = execute(
        stores,
        |edit, store_id| edit.find_active(scope, store_id),
        prepared,
        now(),
        Some(interrupt),
    );
    let elapsed = started.elapsed();
    let timed_out = elapsed.as_secs_f64() > queries.timeout_secs;
    let saved = match &outcome {
        Ok((results, _)) if !timed_out => queries.save_results(id, results).map_err(|e| e.message),
        _ => Ok(()),
    };
    let status = queries
        .change(now(), |all| {
            let Some(query) = all.iter_mut().find(|q| q.id == id) else {
                return Ok(None);
            };
            if query.status != QueryStatus::Running {
                // Cancelled meanwhile: its results are not shown.
                return Ok(Some(query.status));
            }
            query.ended = Some(now());
            query.execution_ms = elapsed.as_millis() as u64;
            if let Ok((_, scanned)) = &outcome {
                // Lake's EventsMatched counts what the query's filters matched; cairn counts the
                // events the stores hold, which the query read.
                query.events_scanned = scanned.events;
                query.events_matched = scanned.events;
                query.bytes_scanned = scanned.bytes;
            }
            match (&outcome, &saved, timed_out) {
                (_, _, true) => {
                    query.status = QueryStatus::TimedOut;
                    query.error_message = Some(format!(
                        "The query ran longer than {} seconds.",
                        queries.timeout_secs
                    ));
                }
                (Ok((results, _)), Ok(()), false) => {
                    query.status = QueryStatus::Finished;
                    query.results = results.rows.len() as u64;
                }
                (Err(message), _, false) | (Ok(_), Err(message), false) => {
                    query.status = QueryStatus::Failed;
                    query.error_message = Some(message.clone());
                }
            }
            Ok(Some(query.status))
        })
        .ok()
        .flatten();
    (status, outcome.ok().map(|(results, _)| results))
}

fn query_id(request: &QueryIdRequest) -> Result<&str, ApiError> {
    if request.query_alias.is_some() {
        return Err(not_supported("QueryAlias (dashboards)"));
    }
    request
        .query_id
        .as_deref()
        .ok_or_else(|| invalid(ErrorCode::InvalidParameter, "QueryId is required."))
}

pub fn describe(lakes: &Lakes, scope: &Scope, request: QueryIdRequest) -> Result<Value, ApiError> {
    let id = query_id(&request)?;
    let all = lakes.queries.all()?;
    let query = find(&all, &scope.account_id, id)?;
    let mut out = json!({
        "QueryId": query.id,
        "QueryString": query.statement,
        "QueryStatus": query.status.as_str(),
        "QueryStatistics": {
            "EventsMatched": query.events_matched,
            "EventsScanned": query.events_scanned,
            "BytesScanned": query.bytes_scanned,
            "ExecutionTimeInMillis": query.execution_ms,
            "CreationTime": query.created,
        },
    });
    if let Some(message) = &query.error_message {
        out["ErrorMessage"] = json!(message);
    }
    if let Some(uri) = &query.delivery_s3_uri {
        out["DeliveryS3Uri"] = json!(uri);
    }
    if let Some(status) = query.delivery_status {
        out["DeliveryStatus"] = json!(status.as_str());
    }
    Ok(out)
}

fn parse_token(token: Option<&str>, len: usize) -> Result<usize, ApiError> {
    match token {
        None => Ok(0),
        Some(token) => token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n <= len)
            .ok_or_else(|| {
                invalid(
                    ErrorCode::InvalidNextToken,
                    "The NextToken is not one this operation gave for this request.",
                )
            }),
    }
}

fn page_size(max: Option<i64>) -> Result<usize, ApiError> {
    let max = max.unwrap_or(MAX_RESULTS_PAGE);
    if !(1..=MAX_RESULTS_PAGE).contains(&max) {
        return Err(invalid(
            ErrorCode::InvalidMaxResults,
            format!("The maximum is {max}: it is 1 to {MAX_RESULTS_PAGE}."),
        ));
    }
    Ok(max as usize)
}

pub fn results(lakes: &Lakes, scope: &Scope, request: ResultsRequest) -> Result<Value, ApiError> {
    let page = page_size(request.max_query_results)?;
    let all = lakes.queries.all()?;
    let query = find(&all, &scope.account_id, &request.query_id)?;
    let mut out = json!({
        "QueryStatus": query.status.as_str(),
        "QueryStatistics": {
            "ResultsCount": 0,
            "TotalResultsCount": query.results,
            "BytesScanned": query.bytes_scanned,
        },
        "QueryResultRows": [],
    });
    if let Some(message) = &query.error_message {
        out["ErrorMessage"] = json!(message);
    }
    if query.status != QueryStatus::Finished {
        return Ok(out);
    }
    let results = lakes.queries.results(&query.id)?;
    let start = parse_token(request.next_token.as_deref(), results.rows.len())?;
    let end = (start + page).min(results.rows.len());
    let rows = results.wire_rows(start..end);
    out["QueryStatistics"]["ResultsCount"] = json!(rows.len());
    out["QueryResultRows"] = Value::Array(rows);
    if end < results.rows.len() {
        out["NextToken"] = json!(format!("{TOKEN_PREFIX}{end}"));
    }
    Ok(out)
}

pub fn list(lakes: &Lakes, scope: &Scope, request: ListRequest) -> Result<Value, ApiError> {
    let page = page_size(request.max_results)?;
    if let (Some(start), Some(end)) = (request.start_time, request.end_time)
        && end < start
    {
        return Err(invalid(
            ErrorCode::InvalidDateRange,
            "EndTime is before StartTime: the start time must be chronologically before the \
             end time.",
        ));
    }
    let status = match &request.query_status {
        None => None,
        Some(text) => Some(QueryStatus::parse(text).ok_or_else(|| {
            invalid(
                ErrorCode::InvalidQueryStatus,
                format!(
                    "QueryStatus {text:?} is not valid: QUEUED, RUNNING, FINISHED, FAILED, \
                     CANCELLED or TIMED_OUT."
                ),
            )
        })?),
    };
    let arn = {
        let edit = lakes.stores.edit(lakes.now)?;
        let at = edit.find_active(scope, &request.event_data_store)?;
        edit.items[at].arn()
    };
    let mut matching: Vec<Query> = lakes
        .queries
        .all()?
        .into_iter()
        .filter(|q| {
            q.account_id == scope.account_id
                && q.stores.contains(&arn)
                && status.is_none_or(|s| q.status == s)
                && request.start_time.is_none_or(|t| q.created >= t)
                && request.end_time.is_none_or(|t| q.created <= t)
        })
        .collect();
    matching.sort_by(|a, b| b.created.total_cmp(&a.created));
    let start = parse_token(request.next_token.as_deref(), matching.len())?;
    let end = (start + page).min(matching.len());
    let listed: Vec<Value> = matching[start..end]
        .iter()
        .map(|q| {
            json!({"QueryId": q.id, "QueryStatus": q.status.as_str(), "CreationTime": q.created})
        })
        .collect();
    let mut out = json!({ "Queries": listed });
    if end < matching.len() {
        out["NextToken"] = json!(format!("{TOKEN_PREFIX}{end}"));
    }
    Ok(out)
}

pub fn cancel(lakes: &Lakes, scope: &Scope, request: QueryIdRequest) -> Result<Value, ApiError> {
    let id = query_id(&request)?.to_owned();
    lakes.queries.change(lakes.now, |all| {
        let query = all
            .iter_mut()
            .find(|q| q.id == id && q.account_id == scope.account_id)
            .ok_or_else(|| query_not_found(&id))?;
        if !query.status.is_active() {
            return Err(invalid(
                ErrorCode::InactiveQuery,
                format!(
                    "Query {id} is {}: only a QUEUED or RUNNING query can be cancelled.",
                    query.status.as_str()
                ),
            ));
        }
        query.status = QueryStatus::Cancelled;
        query.ended = Some(lakes.now);
        if query.delivery_status.is_some() {
            query.delivery_status = Some(DeliveryStatus::Cancelled);
        }
        Ok(json!({"QueryId": id, "QueryStatus": "CANCELLED"}))
    })
}
