//! `capture`: a call the capture proxy forwards, as HTTP/1.1 text: the request (head and body),
//! a line `--response--`, then the upstream's response (head and body). The request is decoded
//! with the model of the service its signature names (S3's when unsigned, as the proxy does),
//! the response with the request's protocol, in JSON, query, EC2, REST-JSON and REST-XML.
//! Every call decoded must make an event cairn can store, with the call's operation as its name.

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use cairn_capture::redact::Redaction;
use cairn_capture::{RequestParts, ServiceModel, classify, decode_request};
use cairn_server::audit::{ApiCall, Caller};
use cairn_server::auth::signing_scope;
use cairn_server::capture::{CallScope, captured_members};

use crate::http_text;

/// What separates the request from the response in an input.
pub const SEPARATOR: &[u8] = b"\n--response--\n";

static REDACTION: LazyLock<Redaction> = LazyLock::new(Redaction::default);

pub fn run(data: &[u8]) {
    let (request_bytes, response_bytes) = match find(data, SEPARATOR) {
        Some(at) => (&data[..at], &data[at + SEPARATOR.len()..]),
        None => (data, &[][..]),
    };
    let Some(request) = http_text::request(request_bytes) else {
        return;
    };
    let service = signing_scope(&request.headers, request.query())
        .map_or_else(|| "s3".to_owned(), |scope| scope.service);
    let Some(model) = ServiceModel::for_service(&service) else {
        return; // recorded by its status alone
    };
    let parts = RequestParts {
        method: request.method,
        path: request.path(),
        query: request.query().unwrap_or_default(),
        headers: &request.headers,
        body: request.body,
    };
    let Ok(decoded) = decode_request(model, &parts) else {
        return;
    };
    // The upstream's answer; one that is not HTTP stands for an empty 200 (never reached: the
    // proxy's client would have failed).
    let response = http_text::response(response_bytes);
    let empty = http::HeaderMap::new();
    let (status, headers, body) = response
        .as_ref()
        .map_or((200, &empty, &[][..]), |r| (r.status, &r.headers, r.body));
    let read_only = classify::read_only(&decoded.operation);
    let (captured, request_id) = captured_members(
        &REDACTION,
        &service,
        model,
        &decoded,
        CallScope {
            read_only,
            account_id: "111111111111",
            region: "us-east-1",
        },
        &cairn_capture::ResponseParts {
            status,
            headers,
            body,
        },
    );
    let call = ApiCall {
        event_name: decoded.operation.clone(),
        event_source: "",
        read_only,
        caller: Caller::Anonymous,
        account_id: "111111111111".to_owned(),
        region: "us-east-1".to_owned(),
        source_ip: "192.0.2.1".to_owned(),
        user_agent: None,
        request: None,
        response: None,
        error: None,
        request_id: request_id.unwrap_or_else(|| "fuzz".to_owned()),
        at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        captured: Some(captured.clone()),
        console: None,
    };
    let record = call
        .to_record()
        .unwrap_or_else(|e| panic!("a decoded call makes no event: {e}"));
    assert_eq!(
        record.fields.event_name.as_deref(),
        Some(decoded.operation.as_str())
    );
    assert_eq!(
        record.fields.error_code.as_deref(),
        captured.error_code.as_deref()
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
