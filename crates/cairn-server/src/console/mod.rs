//! The console: cairn in a browser, at `/console/` (`GET /` of an unsigned request redirects
//! there). Pages are server-rendered HTML shells ([`pages`]) and one hand-written script
//! (`assets/console.js`, embedded in the binary; no build step, nothing fetched from
//! elsewhere) that calls cairn's own API through `POST /console/api/<Operation>`. That call
//! runs exactly what a signed API request runs ([`crate::server::run_authorized`]: the same
//! permission check, handlers and audit event, marked `sessionCredentialFromConsole`), with
//! the principal of the browser's session instead of a signature: the console has no rules
//! of its own.
//!
//! - Sign-in: `POST /console/signin` with an access key ID and secret access key of a
//!   configured principal; a server-side session ([`sessions`]) in an HttpOnly, SameSite=Strict
//!   cookie; each attempt recorded as AWS records console sign-ins (`ConsoleLogin`).
//! - Changes (API calls, sign-out) carry the session's CSRF token (header `X-Cairn-Csrf`, or
//!   form field `csrf`); sign-in checks that the form was posted from the console's own origin.
//! - Every value of an event is attacker-controlled text: the script writes text only
//!   (`textContent`), and a Content-Security-Policy allows no inline script or style.

pub mod download;
pub mod pages;
pub mod search;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::actions::{Operation, TARGET_PREFIX};
use crate::audit::{ApiCall, Caller, ConsoleCall};
use crate::auth::constant_time_eq;
use crate::config::{Permissions, Principal};
use crate::error::{ApiError, ErrorCode};
use crate::server::{AppState, finish_call, run_authorized};
use sessions::Session;

/// The cookie holding a browser's session token.
const SESSION_COOKIE: &str = "cairn-session";
/// The header (or form field `csrf`) a change carries its session's CSRF token in.
const CSRF_HEADER: &str = "x-cairn-csrf";
/// The header an API call names its region in (the console's region selector); the
/// configured default region without it.
const REGION_HEADER: &str = "x-cairn-region";
/// The largest console request body (API calls are small; see the server's own limit).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Whether a request path is the console's.
pub fn serves(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The console's routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/events") }),
        )
        .route("/console/signin", get(sign_in_page).post(sign_in))
        .route("/console/signout", post(sign_out))
        .route("/console/events", get(events_page))
        .route("/console/events/download", get(download::download))
        .route("/console/events/{event_id}", get(event_page))
        .route("/console/lake", get(lake_page))
        .route("/console/trails", get(trails_page))
        .route("/console/api/{operation}", post(api_call))
        .route("/console/search", post(search::search))
        .route("/console/assets/{name}", get(asset))
        .fallback(|| async { page_response(StatusCode::NOT_FOUND, pages::not_found()) })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A console page, with the headers every page has: no caching, no framing, no inline
/// script or style, nothing loaded from elsewhere.
fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it, browsers send `Origin: null` on form posts.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The session token the browser's cookie holds.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, token)| token)
}

/// The signed-in principal and session of a request, if it has a live one.
fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<(Principal, Session)> {
    let session = state.sessions.find(session_token(headers)?, now_secs())?;
    let principal = state.config.principals.get(&session.access_key_id)?.clone();
    Some((principal, session))
}

/// The sign-in page for a browser that is not signed in.
fn to_sign_in() -> Response {
    Redirect::to("/console/signin").into_response()
}

async fn sign_in_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if signed_in(&state, &headers).is_some() {
        return Redirect::to("/console/events").into_response();
    }
    page_response(StatusCode::OK, pages::sign_in(None))
}

/// Whether a form post comes from the console's own pages: browsers send `Origin` with a
/// POST; one naming another site is refused (a forged sign-in).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

/// The fields of a URL-encoded form.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(1024).collect())
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers) {
        return page_response(
            StatusCode::FORBIDDEN,
            pages::sign_in(Some("Sign in from cairn's own sign-in page.")),
        );
    }
    let key = form_field(&body, "access_key_id").unwrap_or_default();
    let secret = form_field(&body, "secret_access_key").unwrap_or_default();
    let principal = state.config.principals.get(key.trim()).cloned();
    let verified = principal.as_ref().is_some_and(|p| {
        constant_time_eq(p.secret_access_key.as_bytes(), secret.as_bytes())
            // Keys that only send events have nothing to see here.
            && p.permissions != Permissions::Ingest
    });
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let call = ApiCall {
        event_name: "ConsoleLogin".to_owned(),
        event_source: "signin.amazonaws.com",
        read_only: false,
        // A failed sign-in of a known key is recorded with its identity, as AWS records a
        // wrong password; an unknown key is not written down (it may be a mistyped secret).
        caller: match &principal {
            Some(principal) => Caller::Principal(principal.clone()),
            None => Caller::Anonymous,
        },
        account_id: principal
            .as_ref()
            .map_or_else(|| state.config.fallback_account(), |p| p.account_id.clone()),
        region: state.config.default_region.clone(),
        source_ip: peer.ip().to_string(),
        user_agent: user_agent(&headers),
        request: None,
        response: None,
        error: None,
        request_id: String::new(),
        at: SystemTime::now(),
        captured: None,
        console: Some(ConsoleCall::SignIn {
            succeeded: verified,
            login_to: format!("http://{host}/console/events"),
        }),
    };
    state.audit.record(call);
    if !verified {
        // The form again, with what went wrong (a page, not an error status: browsers log
        // those as errors of the page).
        return page_response(
            StatusCode::OK,
            pages::sign_in(Some("The access key ID or secret access key is not valid.")),
        );
    }
    let opened = state.sessions.open(key.trim(), now_secs());
    let Ok((token, _)) = opened else {
        return page_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::sign_in(Some("cairn could not start a session; try again.")),
        );
    };
    let mut response = Redirect::to("/console/events").into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        sessions::SESSION_SECONDS
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    secure(response.headers_mut());
    response
}

async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some((_, session)) = signed_in(&state, &headers) {
        let sent = form_field(&body, "csrf").unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
            return page_response(StatusCode::FORBIDDEN, pages::not_found());
        }
        if let Some(token) = session_token(&headers) {
            state.sessions.close(token);
        }
    }
    let mut response = Redirect::to("/console/signin").into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A page for a signed-in browser (the sign-in page for another).
fn signed_in_page(
    state: &AppState,
    headers: &HeaderMap,
    page: impl FnOnce(&pages::Frame) -> String,
) -> Response {
    let Some((principal, session)) = signed_in(state, headers) else {
        return to_sign_in();
    };
    let frame = pages::Frame::of(&principal, &session, &state.config.default_region);
    page_response(StatusCode::OK, page(&frame))
}

async fn events_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    signed_in_page(&state, &headers, pages::events)
}

async fn event_page(
    State(state): State<Arc<AppState>>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    signed_in_page(&state, &headers, |frame| pages::event(frame, &event_id))
}

async fn lake_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    signed_in_page(&state, &headers, pages::lake)
}

async fn trails_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    signed_in_page(&state, &headers, pages::trails)
}

/// An AWS region's name (`us-east-1`, `ap-southeast-2`, `us-gov-west-1`).
fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// The audit record of an API call the console makes for `principal` (as the API records
/// it, marked as the console's): its request, response and error are filled in by the caller
/// or by `finish_call`.
fn console_api_call(
    event_name: String,
    principal: &Principal,
    region: &str,
    peer: SocketAddr,
    headers: &HeaderMap,
    request_id: String,
) -> ApiCall {
    ApiCall {
        event_name,
        event_source: "cloudtrail.amazonaws.com",
        read_only: true,
        caller: Caller::Principal(principal.clone()),
        account_id: principal.account_id.clone(),
        region: region.to_owned(),
        source_ip: peer.ip().to_string(),
        user_agent: user_agent(headers),
        request: None,
        response: None,
        error: None,
        request_id,
        at: SystemTime::now(),
        captured: None,
        console: Some(ConsoleCall::Api),
    }
}

/// The principal and region of a console page's call: its session (live, and the CSRF token
/// it was given sent back) and the region it names.
fn api_session(state: &AppState, headers: &HeaderMap) -> Result<(Principal, String), ApiError> {
    let Some((principal, session)) = signed_in(state, headers) else {
        return Err(ApiError::new(
            ErrorCode::AccessDenied,
            "The console session has ended: sign in again.",
        ));
    };
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
        return Err(ApiError::new(
            ErrorCode::AccessDenied,
            "The request did not come from a console page (its CSRF token is missing or wrong).",
        ));
    }
    let region = headers
        .get(REGION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&state.config.default_region)
        .to_owned();
    if !is_region_name(&region) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("{region:?} is not a region name."),
        ));
    }
    Ok((principal, region))
}

/// One API call of a signed-in page: the operation named in the path, the JSON body as
/// the API takes it, the region of the `X-Cairn-Region` header.
async fn api_call(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(operation_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (principal, region) = match api_session(&state, &headers) {
        Ok(found) => found,
        Err(error) => return error.into_response(&request_id),
    };
    if body.len() > MAX_BODY_BYTES {
        return ApiError::new(
            ErrorCode::SerializationException,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
        .into_response(&request_id);
    }
    let operation = Operation::from_target(&format!("{TARGET_PREFIX}.{operation_name}"));
    let event_name = match &operation {
        Ok(op) => op.name().to_owned(),
        Err(_) => operation_name.chars().take(128).collect(),
    };
    let mut call = console_api_call(event_name, &principal, &region, peer, &headers, request_id);
    call.read_only = operation.as_ref().is_ok_and(|op| op.read_only());
    call.request = serde_json::from_slice(&body).ok();
    let result = run_authorized(&state, &operation, &principal, &region, &body, call.at).await;
    into_page_answer(finish_call(
        &state,
        call,
        operation == Ok(Operation::LookupEvents),
        result,
        started,
    ))
}

/// The header an API call's own status is in, when the console's answer is 200.
const API_STATUS_HEADER: &str = "x-cairn-api-status";

/// An API answer as the console's pages take it: an error the API gave is still the page's
/// answer (shown in the page), so it comes with status 200 and the API's status in
/// [`API_STATUS_HEADER`]; browsers log every error status as an error of the page.
fn into_page_answer(mut response: Response) -> Response {
    let status = response.status();
    if !status.is_success() {
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert(API_STATUS_HEADER, HeaderValue::from(status.as_u16()));
    }
    response
}

/// The console's script and style, embedded in the binary.
async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "console.js" => (
            include_str!("assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.css" => (
            include_str!("assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "cairn.svg" => (include_str!("assets/cairn.svg"), "image/svg+xml"),
        _ => return page_response(StatusCode::NOT_FOUND, pages::not_found()),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_told_from_other_text() {
        for name in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-1",
        ] {
            assert!(is_region_name(name), "{name}");
        }
        for name in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-x",
            "us--1",
            "../etc-1",
        ] {
            assert!(!is_region_name(name), "{name}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; cairn-session=tok; b=2"),
        );
        assert_eq!(session_token(&headers), Some("tok"));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn a_form_posted_from_another_site_is_not_the_consoles() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers));
    }
}
