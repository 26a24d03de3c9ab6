//! The capture proxy: a call signed for another service than CloudTrail is forwarded to that
//! service's upstream unchanged and recorded as its CloudTrail event.
//!
//! 1. The SigV4 credential scope names the service (`ec2`, `s3`, `ssm`, `monitoring`, ...);
//!    its upstream is `[capture.upstreams]`'s entry or `[capture] upstream`.
//! 2. The signature is verified against cairn's principals before anything is attributed:
//!    - a valid signature: the event's `userIdentity` is that principal;
//!    - an unknown key or a signature that does not verify: the call is **not forwarded**; it
//!      is answered with the service's own authentication error and recorded with
//!      `{"type": "Unknown", "accessKeyId": <the key claimed>}` (a forged signature never
//!      lends its claimed identity to an event), in the account of the key's principal if the
//!      key is known;
//!    - no signature at all (S3's anonymous requests, presigned URLs): forwarded, the upstream
//!      decides, and recorded as `{"type": "Unknown"}` (with the presigned URL's key, if any).
//! 3. Method, path, query, headers (Host included; hop-by-hop headers excepted) and body go to
//!    the upstream as they came, so its own signature check passes; its answer comes back
//!    unchanged. Bodies are read whole up to `max_body_bytes`, except those that are an
//!    object's bytes, which stream through unread: uploads (S3 PutObject, UploadPart; their
//!    signature is checked over the declared `x-amz-content-sha256`, which the upstream checks
//!    against the bytes) and downloads (S3 GetObject).
//! 4. The call is decoded with the service's model (`cairn-capture`), secrets are hidden, and
//!    the event goes to the audit writer. With `durability = "sync"` (the default) the answer
//!    waits until the event is durable; calls waiting together share one fsync. If it cannot
//!    be stored the caller gets `InternalFailure` (the upstream did act). With `async` the
//!    answer goes at once and the event follows in the writer's next batch.
//!
//! `sourceIPAddress` is the peer's address, or, when the peer is a trusted proxy, the last
//! address in `X-Forwarded-For` that is not one.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use cairn_capture::redact::Redaction;
use cairn_capture::{
    DecodedRequest, Protocol, RequestParts, ResponseParts, ServiceModel, classify, decode_request,
    decode_response,
};
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use crate::audit::{ApiCall, AuditSender, Caller, Captured};
use crate::auth::{IncomingRequest, authenticate, signing_scope};
use crate::config::{CaptureConfig, Config, Durability};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;

/// Bodies read whole up to this size by default.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;
/// AWS truncates `userAgent` to 1 KB.
const MAX_USER_AGENT: usize = 1024;

/// Hop-by-hop headers (RFC 9110 §7.6.1): not forwarded in either direction.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The proxy's settings and its HTTP client.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Where each service's calls go (`upstream`, `upstreams`).
    routes: CaptureConfig,
    trusted_proxies: Vec<IpAddr>,
    durability: Durability,
    redaction: Redaction,
    max_body_bytes: usize,
    client: reqwest::Client,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// cairn's own API (CloudTrail).
    ControlPlane,
    /// cairn's rules API (EventBridge's, signing name `events`).
    Rules,
    /// Another service's upstream, by signing name (`None`: unsigned).
    Capture(Option<String>),
}

impl Proxy {
    pub fn new(config: &CaptureConfig) -> Result<Proxy, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| format!("building the upstream HTTP client: {e}"))?;
        Ok(Proxy {
            routes: config.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            durability: config.durability,
            redaction: Redaction::with_extra(&config.redact),
            max_body_bytes: config.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            client,
        })
    }

    fn upstream_for(&self, service: &str) -> Option<&str> {
        self.routes.upstream_for(service)
    }

    /// Where a request goes: by the service its signature is scoped to; an unsigned request
    /// goes upstream when there is one, unless it names a CloudTrail operation.
    pub fn route(&self, headers: &HeaderMap, query: Option<&str>) -> Route {
        match signing_scope(headers, query).map(|scope| scope.service) {
            Some(service) if service == "cloudtrail" || service == "cloudtrail-data" => {
                Route::ControlPlane
            }
            // cairn serves EventBridge's rules itself.
            Some(service) if service == "events" => Route::Rules,
            Some(service) => Route::Capture(Some(service)),
            None => {
                let cloudtrail_target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.contains("CloudTrail"));
                let any_upstream =
                    self.routes.upstream.is_some() || !self.routes.upstreams.is_empty();
                if any_upstream && !cloudtrail_target {
                    Route::Capture(None)
                } else {
                    Route::ControlPlane
                }
            }
        }
    }

    /// The caller's address: the peer, or what trusted proxies say it is.
    fn source_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> String {
        if !self.trusted_proxies.contains(&peer.ip()) {
            return peer.ip().to_string();
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .or(forwarded.first())
            .map_or_else(|| peer.ip().to_string(), IpAddr::to_string)
    }
}

/// Everything one captured call needs from the server.
pub struct Context<'a> {
    pub config: &'a Config,
    pub proxy: &'a Proxy,
    pub audit: &'a AuditSender,
    pub metrics: &'a Metrics,
    /// The store the calls' events go to (asked whether it can take them).
    pub store: &'a cairn_store::Store,
}

/// Forwards and records one call.
pub async fn handle(
    context: Context<'_>,
    peer: SocketAddr,
    service: Option<String>,
    parts: http::request::Parts,
    body: Body,
) -> Response {
    let Context {
        config,
        proxy,
        audit,
        metrics,
        store,
    } = context;
    let now = SystemTime::now();
    let scope = signing_scope(&parts.headers, parts.uri.query());
    let service = service.unwrap_or_else(|| {
        // Unsigned: S3 is the service AWS lets anonymous callers use.
        "s3".to_owned()
    });
    let model = ServiceModel::for_service(&service);
    let mut protocol = model.map_or(Protocol::Json, ServiceModel::protocol);
    let local_request_id = uuid::Uuid::new_v4().to_string();
    let mut call = ApiCall {
        event_name: "Unknown".to_owned(),
        event_source: "",
        read_only: false,
        caller: Caller::Anonymous,
        account_id: config.fallback_account(),
        region: scope
            .as_ref()
            .map_or_else(|| config.default_region.clone(), |s| s.region.clone()),
        source_ip: proxy.source_ip(peer, &parts.headers),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| truncate(ua, MAX_USER_AGENT)),
        request: None,
        response: None,
        error: None,
        request_id: local_request_id.clone(),
        at: now,
        console: None,
        captured: Some(Captured {
            event_source: model.map_or_else(
                || format!("{service}.amazonaws.com"),
                |m| m.event_source.clone(),
            ),
            request_parameters: Value::Null,
            response_elements: Value::Null,
            error_code: None,
            error_message: None,
            data_event: false,
            resources: Vec::new(),
        }),
    };

    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let without_body = RequestParts {
        method: parts.method.as_str(),
        path: &path,
        query: &query,
        headers: &parts.headers,
        body: &[],
    };
    // An upload whose bytes are the object (S3 PutObject, UploadPart) streams to the upstream
    // unread: its signature covers the declared payload hash, which the upstream checks.
    let read_before = model
        .filter(|_| parts.headers.contains_key("x-amz-content-sha256"))
        .map(|m| decode_request(m, &without_body));
    let streams_up = model
        .zip(read_before.as_ref().and_then(|d| d.as_ref().ok()))
        .is_some_and(|(m, d)| payload_is_a_blob(m, &d.operation, Side::Input));
    let (body, upload) = if streams_up {
        (Bytes::new(), Some(body))
    } else {
        match axum::body::to_bytes(body, proxy.max_body_bytes).await {
            Ok(body) => (body, None),
            Err(_) => {
                let error = ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "The request body is larger than cairn's capture limit of {} bytes \
                         (max_body_bytes).",
                        proxy.max_body_bytes
                    ),
                );
                return answer_error(audit, metrics, call, protocol, &error, "EntityTooLarge")
                    .await;
            }
        }
    };
    let decoded = if streams_up {
        read_before
    } else {
        let with_body = RequestParts {
            body: &body,
            ..without_body
        };
        model.map(|m| decode_request(m, &with_body))
    };
    if let Some(Ok(decoded)) = &decoded {
        protocol = decoded.protocol;
        call.event_name.clone_from(&decoded.operation);
        call.read_only = classify::read_only(&decoded.operation);
    }

    // Who is calling: a valid signature, or nobody in particular.
    let incoming = IncomingRequest {
        method: parts.method.as_str(),
        path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &parts.headers,
        body: (!streams_up).then_some(&body[..]),
    };
    let signed = parts.headers.contains_key(http::header::AUTHORIZATION);
    match authenticate(config, incoming, &service, now) {
        Ok(authenticated) => {
            call.account_id = authenticated.principal.account_id.clone();
            call.region = authenticated.region;
            call.caller = Caller::Principal(authenticated.principal);
        }
        Err(rejected) if signed => {
            call.caller = match &rejected.access_key_id {
                Some(key) => Caller::UnknownKey(key.clone()),
                None => Caller::Anonymous,
            };
            // The key's owner sees the attempts made with it.
            if let Some(principal) = &rejected.principal {
                call.account_id = principal.account_id.clone();
            }
            let code = auth_error_code(protocol, &rejected.error);
            return answer_error(audit, metrics, call, protocol, &rejected.error, code).await;
        }
        Err(_) => {
            if let Some(scope) = &scope {
                call.caller = Caller::UnknownKey(scope.access_key_id.clone());
            }
        }
    }

    if proxy.durability == Durability::Sync && !store.writable() {
        // Its event could not be stored: the call is not made at all.
        let error = ApiError::internal(
            "cairn cannot record calls now (its data directory's disk is full), so the call \
             was not forwarded",
        );
        // Its record goes into the store's reserve of space.
        return answer_error(audit, metrics, call, protocol, &error, "InternalFailure").await;
    }
    let Some(upstream) = proxy.upstream_for(&service) else {
        let error = ApiError::new(
            ErrorCode::InvalidParameter,
            format!("cairn has no upstream for service {service} ([capture] upstream)."),
        );
        return answer_error(audit, metrics, call, protocol, &error, "ServiceUnavailable").await;
    };
    let url = format!(
        "{}{}",
        upstream.trim_end_matches('/'),
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = proxy.client.request(parts.method.clone(), &url);
    for (name, value) in &parts.headers {
        // A read body's length is the body's; a streamed one keeps the length it declared.
        let own_length = name == http::header::CONTENT_LENGTH && upload.is_none();
        if !HOP_BY_HOP.contains(&name.as_str()) && !own_length {
            forward = forward.header(name, value);
        }
    }
    let forward = match upload {
        Some(upload) => forward.body(reqwest::Body::wrap_stream(upload.into_data_stream())),
        None => forward.body(body.clone()),
    };
    let answer = match forward.send().await {
        Ok(answer) => answer,
        Err(e) => {
            let error = ApiError::new(
                ErrorCode::InvalidParameter,
                format!("cairn could not reach the {service} upstream: {e}"),
            );
            return answer_error(audit, metrics, call, protocol, &error, "ServiceUnavailable")
                .await;
        }
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    let operation = decoded
        .as_ref()
        .and_then(|d| d.as_ref().ok())
        .map(|d| d.operation.clone());
    // An object's bytes stream through; everything else is read whole to be decoded.
    let streams = status.is_success()
        && model
            .zip(operation.as_deref())
            .is_some_and(|(m, op)| payload_is_a_blob(m, op, Side::Output));
    let (response_body, read_body) = if streams {
        let stream = answer.bytes_stream().map_err(std::io::Error::other);
        (Body::from_stream(stream), Bytes::new())
    } else {
        match read_answer(answer, proxy.max_body_bytes).await {
            Answer::Whole(bytes) => (Body::from(bytes.clone()), bytes),
            // Too big to decode: it still goes back whole; the event has no responseElements
            // (AWS omits them above 100 KB anyway), and its head still gives the request id.
            Answer::TooBig { head, body } => (body, head),
        }
    };

    if let (Some(model), Some(Ok(decoded))) = (model, &decoded) {
        let (captured, request_id) = captured_members(
            &proxy.redaction,
            &service,
            model,
            decoded,
            CallScope {
                read_only: call.read_only,
                account_id: &call.account_id,
                region: &call.region,
            },
            &ResponseParts {
                status: status.as_u16(),
                headers: &headers,
                body: &read_body,
            },
        );
        if let Some(id) = request_id {
            call.request_id = id;
        }
        call.captured = Some(captured);
    } else if let Some(captured) = &mut call.captured {
        // A call the models do not know: recorded by its status alone.
        if !status.is_success() {
            captured.error_code = Some(status.as_u16().to_string());
        }
    }
    metrics.count_request(&call.event_name, status.as_u16());
    if !record(audit, proxy.durability, call).await {
        let error =
            ApiError::internal("the call was made, but its audit event could not be stored");
        return error_response(protocol, &error, "InternalFailure", &local_request_id);
    }
    let mut response = Response::new(response_body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Who made a decoded call, and where: what its resources and answer are read with.
#[derive(Debug, Clone, Copy)]
pub struct CallScope<'a> {
    pub read_only: bool,
    pub account_id: &'a str,
    pub region: &'a str,
}

/// The members of a call's event that the capture decodes from the wire: its named, typed and
/// redacted parameters, the answer's elements or error, its resources; and the request id the
/// answer carries, if any. No I/O: the fuzz target `capture` runs it on arbitrary calls.
pub fn captured_members(
    redaction: &Redaction,
    service: &str,
    model: &ServiceModel,
    decoded: &DecodedRequest,
    scope: CallScope<'_>,
    response: &ResponseParts<'_>,
) -> (Captured, Option<String>) {
    let outcome = decode_response(
        model,
        decoded.protocol,
        &decoded.operation,
        scope.read_only,
        response,
    );
    let mut parameters = decoded.parameters.clone();
    let mut elements = outcome.elements;
    redaction.apply(service, &decoded.operation, &mut parameters, false);
    redaction.apply(service, &decoded.operation, &mut elements, true);
    let resources = classify::resources(
        service,
        &decoded.operation,
        scope.account_id,
        scope.region,
        decoded.bucket.as_deref(),
        decoded.key.as_deref(),
        &parameters,
    );
    let captured = Captured {
        event_source: model.event_source.clone(),
        request_parameters: omitted_if_too_big(parameters),
        response_elements: omitted_if_too_big(elements),
        error_code: outcome.error_code,
        error_message: outcome.error_message,
        data_event: classify::is_data_event(service, &decoded.operation),
        resources,
    };
    (captured, outcome.request_id)
}

/// AWS's rule for `requestParameters` and `responseElements`: above 100 KB the content is
/// omitted.
fn omitted_if_too_big(value: Value) -> Value {
    const MAX_BYTES: usize = 100 << 10;
    match serde_json::to_vec(&value) {
        Ok(bytes) if bytes.len() <= MAX_BYTES => value,
        _ => Value::Null,
    }
}

/// A request or its answer.
#[derive(Debug, Clone, Copy)]
enum Side {
    Input,
    Output,
}

/// Whether `operation`'s request or answer body is an object's bytes (a blob payload).
fn payload_is_a_blob(model: &ServiceModel, operation: &str, side: Side) -> bool {
    let Some(shape) = model
        .operations
        .get(operation)
        .and_then(|op| match side {
            Side::Input => op.input.as_deref(),
            Side::Output => op.output.as_deref(),
        })
        .and_then(|name| model.shape(name))
    else {
        return false;
    };
    shape
        .payload
        .as_ref()
        .and_then(|payload| shape.members.get(payload))
        .and_then(|member| model.shape(&member.shape))
        .is_some_and(|payload| payload.kind == "blob")
}

/// An answer read whole, or one too big to read whole: its first bytes, and all of it as a
/// stream.
enum Answer {
    Whole(Bytes),
    TooBig { head: Bytes, body: Body },
}

/// Reads `answer` whole up to `limit` bytes; past that, what was read and the rest stream on.
async fn read_answer(mut answer: reqwest::Response, limit: usize) -> Answer {
    let failed = |e: reqwest::Error| std::io::Error::other(e);
    let mut read = Vec::new();
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                read.extend_from_slice(&chunk);
                if read.len() > limit {
                    let head = Bytes::from(read);
                    let first = head.clone();
                    let first =
                        futures_util::stream::once(
                            async move { Ok::<Bytes, std::io::Error>(first) },
                        );
                    let rest = answer.bytes_stream().map_err(failed);
                    let body = Body::from_stream(first.chain(rest));
                    return Answer::TooBig { head, body };
                }
            }
            Ok(None) => return Answer::Whole(Bytes::from(read)),
            // The upstream broke off: the client gets what came, short of its length.
            Err(_) => return Answer::Whole(Bytes::from(read)),
        }
    }
}

/// Records `call` as `durability` says; false if it had to be durable and is not.
async fn record(audit: &AuditSender, durability: Durability, call: ApiCall) -> bool {
    match durability {
        Durability::Sync => audit.record_durably(call).await.unwrap_or(false),
        Durability::Async => {
            audit.record(call);
            true
        }
    }
}

/// Answers a call cairn refused or could not forward, and records it with `code`.
async fn answer_error(
    audit: &AuditSender,
    metrics: &Metrics,
    mut call: ApiCall,
    protocol: Protocol,
    error: &ApiError,
    code: &str,
) -> Response {
    if let Some(captured) = &mut call.captured {
        captured.error_code = Some(code.to_owned());
        captured.error_message = Some(error.message.clone());
    }
    let request_id = call.request_id.clone();
    metrics.count_request(&call.event_name, error.code.status().as_u16());
    // The refusal is answered whether or not its record could be stored.
    let _ = record(audit, Durability::Sync, call).await;
    error_response(protocol, error, code, &request_id)
}

/// The service's own authentication error codes.
fn auth_error_code(protocol: Protocol, error: &ApiError) -> &'static str {
    let unknown_key = error.code == ErrorCode::UnrecognizedClient;
    match protocol {
        Protocol::RestXml if unknown_key => "InvalidAccessKeyId",
        Protocol::RestXml => "SignatureDoesNotMatch",
        Protocol::Ec2 => "AuthFailure",
        Protocol::Query if unknown_key => "InvalidClientTokenId",
        Protocol::Query => "SignatureDoesNotMatch",
        _ if unknown_key => "UnrecognizedClientException",
        _ => "InvalidSignatureException",
    }
}

/// An error answer in the service's protocol.
fn error_response(protocol: Protocol, error: &ApiError, code: &str, request_id: &str) -> Response {
    let status = match code {
        "ServiceUnavailable" => StatusCode::BAD_GATEWAY,
        "EntityTooLarge" => StatusCode::PAYLOAD_TOO_LARGE,
        "InternalFailure" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => error.code.status(),
    };
    let message = xml_escape(&error.message);
    let (content_type, body) = match protocol {
        Protocol::Json | Protocol::RestJson => (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": code, "message": error.message}).to_string(),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
                 <Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>\
                 </Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
        ),
        Protocol::RestXml => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
                 <RequestId>{request_id}</RequestId></Error>"
            ),
        ),
    };
    let mut response = (status, [(http::header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), value);
    }
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_scope_routes_the_request() {
        let proxy = Proxy::new(&CaptureConfig {
            upstream: Some("http://127.0.0.1:5000".into()),
            ..CaptureConfig::default()
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIA/20260101/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            proxy.route(&headers, None),
            Route::Capture(Some("ec2".into()))
        );
        assert_eq!(signing_scope(&headers, None).unwrap().region, "eu-west-1");
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIA/20260101/eu-west-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(proxy.route(&headers, None), Route::ControlPlane);
        let presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request";
        assert_eq!(
            proxy.route(&HeaderMap::new(), Some(presigned)),
            Route::Capture(Some("s3".into()))
        );
        assert_eq!(proxy.route(&HeaderMap::new(), None), Route::Capture(None));
        let without = Proxy::new(&CaptureConfig::default()).unwrap();
        assert_eq!(without.route(&HeaderMap::new(), None), Route::ControlPlane);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxy = Proxy::new(&CaptureConfig {
            trusted_proxies: vec!["10.0.0.5".parse().unwrap()],
            ..CaptureConfig::default()
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.7, 10.0.0.5".parse().unwrap());
        let trusted: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let other: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        assert_eq!(proxy.source_ip(trusted, &headers), "198.51.100.7");
        assert_eq!(proxy.source_ip(other, &headers), "203.0.113.9");
    }
}
