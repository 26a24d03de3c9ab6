//! "Download events": every event of the current filter, as CSV or as JSON, streamed while it
//! is read. The filter is the page's search (LookupEvents' request, with the search's extra
//! attributes and toggles: [`super::search`]), read as the search reads it, to the end; the
//! call is recorded as one LookupEvents event of the console.
//!
//! - CSV: a header, then a line per event (the columns of AWS's event history download, the
//!   record last), guarded against formula injection ([`crate::csv`]);
//! - JSON: `{"Records":[...]}`, each event's record as stored, as a trail's log file holds
//!   them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use cairn_model::{LookupEvent, Record};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use crate::actions::Operation;
use crate::error::{ApiError, ErrorCode};
use crate::server::{AppState, finish_call, permitted};

/// Bytes sent at a time (about a thousand events).
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks waiting to be sent at most (the reader waits for a slow browser).
const CHUNKS_IN_FLIGHT: usize = 4;

/// The CSV's columns.
const CSV_HEADER: [&str; 13] = [
    "Event ID",
    "Event time",
    "User name",
    "Event name",
    "Resource type",
    "Resource name",
    "AWS access key",
    "Event source",
    "AWS region",
    "Error code",
    "Source IP address",
    "Read-only",
    "CloudTrail event",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

fn csv_line(record: &Record) -> String {
    let event = LookupEvent::from_record(record);
    let resource = event.resources.first();
    let time = cairn_model::time::format_event_time(record.fields.event_time_ms);
    let fields = [
        event.event_id.as_str(),
        &time,
        event.username.as_deref().unwrap_or(""),
        event.event_name.as_deref().unwrap_or(""),
        resource
            .and_then(|r| r.resource_type.as_deref())
            .unwrap_or(""),
        resource
            .and_then(|r| r.resource_name.as_deref())
            .unwrap_or(""),
        event.access_key_id.as_deref().unwrap_or(""),
        event.event_source.as_deref().unwrap_or(""),
        record.fields.aws_region.as_deref().unwrap_or(""),
        record.fields.error_code.as_deref().unwrap_or(""),
        record.fields.source_ip_address.as_deref().unwrap_or(""),
        event.read_only.as_deref().unwrap_or(""),
        &record.json,
    ];
    crate::csv::line(fields, true)
}

/// `GET /console/events/download?format=csv|json&request=<LookupEvents request as JSON>`,
/// with the region of `region` (else the default).
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let Some((principal, _)) = super::signed_in(&state, &headers) else {
        return super::to_sign_in();
    };
    let query = uri.query().unwrap_or_default().as_bytes();
    let format = match super::form_field(query, "format").as_deref() {
        Some("json") => Format::Json,
        _ => Format::Csv,
    };
    let region = super::form_field(query, "region")
        .filter(|r| super::is_region_name(r))
        .unwrap_or_else(|| state.config.default_region.clone());
    let request_text = super::form_field(query, "request").unwrap_or_else(|| "{}".to_owned());
    let mut call = super::console_api_call(
        "LookupEvents".to_owned(),
        &principal,
        &region,
        peer,
        &headers,
        request_id.clone(),
    );
    call.request = serde_json::from_str(&request_text).ok();
    // The request as the page's search takes it (its paging is the download's own).
    let valid = serde_json::from_str::<super::search::SearchRequest>(&request_text)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.to_string()))
        .and_then(|request| {
            request
                .for_download()
                .validate(&principal.account_id, &region)
        })
        .and_then(
            |valid| match permitted(principal.permissions, Operation::LookupEvents) {
                true => Ok(valid),
                false => Err(ApiError::new(
                    ErrorCode::AccessDenied,
                    "This principal may not look up events.",
                )),
            },
        );
    let valid = match valid {
        Ok(valid) => valid,
        Err(error) => {
            let page = super::pages::error_page("Download events", &error.message);
            finish_call(&state, call, true, Err(error), started);
            return super::page_response(StatusCode::BAD_REQUEST, page);
        }
    };
    finish_call(&state, call, true, Ok(serde_json::json!({})), started);

    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut first = true;
        let opening = match format {
            Format::Csv => crate::csv::line(CSV_HEADER, false),
            Format::Json => "{\"Records\":[".to_owned(),
        };
        if sender.blocking_send(Bytes::from(opening)).is_err() {
            return;
        }
        let mut chunk = String::new();
        let read = super::search::each_match(&store, &valid, |record| {
            match format {
                Format::Csv => chunk.push_str(&csv_line(record)),
                Format::Json => {
                    if !first {
                        chunk.push(',');
                    }
                    chunk.push_str(&record.json);
                }
            }
            first = false;
            if chunk.len() < CHUNK_BYTES {
                return true;
            }
            sender
                .blocking_send(Bytes::from(std::mem::take(&mut chunk)))
                .is_ok()
        });
        // On a failed read the body ends short: the browser reports a failed download.
        if read.is_err() || sender.blocking_send(Bytes::from(chunk)).is_err() {
            return;
        }
        if format == Format::Json {
            let _ = sender.blocking_send(Bytes::from_static(b"]}\n"));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, Infallible>(chunk), receiver))
    });
    let (content_type, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "event_history.csv"),
        Format::Json => ("application/json", "event_history.json"),
    };
    let mut response = Body::from_stream(stream).into_response();
    let out = response.headers_mut();
    super::secure(out);
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        out.insert("x-amzn-requestid", value);
    }
    response
}
