//! The router and the life of one API request:
//!
//! 1. `POST /`: read the body, authenticate the SigV4 signature ([`crate::auth`]);
//! 2. resolve `X-Amz-Target` to an [`Operation`]; check the principal's permissions;
//! 3. run the operation's handler (blocking store work off the async threads);
//! 4. record the call as an audit event ([`crate::audit`]), count it ([`crate::metrics`]),
//!    answer with AWS JSON 1.1 and an `x-amzn-RequestId` header.
//!
//! Failed authentication, unknown operations and denied calls are answered with AWS's error
//! and recorded too.
//!
//! Every request but `GET /health` and `GET /metrics` is routed by the service its SigV4
//! credential scope names ([`crate::capture::Proxy::route`]): `cloudtrail` (and unsigned
//! requests when no upstream is configured) to the control plane above, any other service to
//! the capture proxy ([`crate::capture`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_store::Store;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::actions::{
    Operation, create_trail, delete_trail, describe_trails, event_data_stores, event_selectors,
    get_trail, get_trail_status, list_public_keys, list_trails, lookup_events, parse_request,
    queries, start_logging, tags, update_trail,
};
use crate::audit::{self, ApiCall, AuditSender, Caller, principal_arn};
use crate::auth::{IncomingRequest, authenticate};
use crate::capture::{self, Proxy, Route};
use crate::config::{Config, Permissions, Principal};
use crate::console;
use crate::delivery::services::Services;
use crate::delivery::{Deliverer, DeliverySettings, StatusBoard};
use crate::error::{ApiError, ErrorCode};
use crate::event_data_stores::EventDataStores;
use crate::metrics::Metrics;
use crate::queries::Queries;
use crate::signing_keys::SigningKeys;
use crate::trails::{Scope, Trails};
use crate::upstream::Upstreams;

/// The largest request body accepted (CloudTrail's largest inputs, such as resource policies
/// and event selectors, are far smaller).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The signing name of the control plane.
const CONTROL_PLANE_SERVICE: &str = "cloudtrail";
const EVENT_SOURCE: &str = "cloudtrail.amazonaws.com";

pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Config,
    pub(crate) audit: AuditSender,
    /// The console's signed-in browsers.
    pub(crate) sessions: console::sessions::Sessions,
    metrics: Arc<Metrics>,
    trails: Arc<Trails>,
    event_data_stores: Arc<EventDataStores>,
    queries: Arc<Queries>,
    keys: Arc<SigningKeys>,
    /// Rules, connections and API destinations (the rules API).
    rules: Arc<crate::rules::model::RuleCatalog>,
    /// Principals' request rates, when `[limits]` sets them.
    rates: crate::rates::Rates,
    /// Where trails deliver, and the services they notify.
    services: Services,
    delivery_status: StatusBoard,
    proxy: Proxy,
}

/// Serves the API on `listener` (a TCP listener, or [`crate::tls::TlsListener`] for HTTPS) and
/// delivers trails until `shutdown` completes; then
/// finishes the requests in flight and stores every audit event before returning. The caller
/// closes the store.
pub async fn run<L>(
    store: Arc<Store>,
    config: Config,
    delivery: DeliverySettings,
    listener: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let trails = Arc::new(Trails::load(store.clone()).map_err(std::io::Error::other)?);
    let event_data_stores =
        Arc::new(EventDataStores::load(store.clone()).map_err(std::io::Error::other)?);
    let started = cairn_model::time::now_secs();
    let queries = Arc::new(
        Queries::load(store.clone(), config.lake.query_timeout_secs(), started)
            .map_err(std::io::Error::other)?,
    );
    let keys = Arc::new(SigningKeys::load(store.clone()).map_err(std::io::Error::other)?);
    let metrics = Arc::new(Metrics::default());
    let (audit, audit_task) = audit::start(store.clone(), metrics.clone());
    let delivery_status = StatusBoard::default();
    let services = Services {
        target: delivery.target.clone(),
        upstreams: Upstreams::new(&config.capture, &config.delivery, |name| {
            std::env::var(name).ok()
        })
        .map_err(std::io::Error::other)?,
    };
    let (stop_delivery, delivery_stopped) = tokio::sync::watch::channel(false);
    let deliverer = tokio::spawn(
        Deliverer {
            store: store.clone(),
            trails: trails.clone(),
            keys: keys.clone(),
            settings: delivery.clone(),
            upstreams: services.upstreams.clone(),
            status: delivery_status.clone(),
            log_streams: Default::default(),
        }
        .run(delivery_stopped),
    );
    let rules = Arc::new(
        crate::rules::model::RuleCatalog::load(store.clone()).map_err(std::io::Error::other)?,
    );
    let (stop_rules, rules_stopped) = tokio::sync::watch::channel(false);
    let rules_engine = tokio::spawn(
        crate::rules::engine::Engine::new(store.clone(), rules.clone(), services.upstreams.clone())
            .map_err(std::io::Error::other)?
            .run(rules_stopped),
    );
    let proxy = Proxy::new(&config.capture).map_err(std::io::Error::other)?;
    let state = Arc::new(AppState {
        store,
        proxy,
        config,
        audit,
        metrics,
        trails,
        event_data_stores,
        queries,
        keys,
        rules,
        rates: crate::rates::Rates::default(),
        services,
        delivery_status,
        sessions: console::sessions::Sessions::default(),
    });
    let state_limits = state.config.limits.clone();
    let console = console::routes().with_state(state.clone());
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(serve_metrics))
        .fallback(move |state, peer, request| route_request(state, peer, request, console))
        .with_state(state);
    let limits = state_limits;
    crate::connections::serve(listener, app, &limits, shutdown).await?;
    let _ = stop_delivery.send(true);
    let _ = stop_rules.send(true);
    deliverer.await.map_err(std::io::Error::other)?;
    rules_engine.await.map_err(std::io::Error::other)?;
    // The router and with it every audit sender is gone: the writer drains and ends.
    audit_task.await.map_err(std::io::Error::other)
}

async fn health() -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn serve_metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config.metrics.require_principal && !metrics_reader(&state.config, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                http::header::WWW_AUTHENTICATE,
                "Basic realm=\"cairn metrics\"",
            )],
            "/metrics answers a principal: basic authorization with its access key ID and \
             secret access key.\n",
        )
            .into_response();
    }
    let store = state.store.clone();
    if let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || store.stats()).await {
        state.metrics.follow_store(&stats);
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Whether `headers` authorize as a principal that may read (HTTP basic: access key ID and
/// secret access key); ingest keys may not.
fn metrics_reader(config: &Config, headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let Some(encoded) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let text = String::from_utf8_lossy(&decoded);
    let Some((key, secret)) = text.split_once(':') else {
        return false;
    };
    config.principals.get(key).is_some_and(|p| {
        p.permissions != Permissions::Ingest
            && crate::auth::constant_time_eq(p.secret_access_key.as_bytes(), secret.as_bytes())
    })
}

/// Sends a request to the control plane or the capture proxy.
async fn route_request(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    console: Router,
) -> Response {
    let (parts, body) = request.into_parts();
    match state.proxy.route(&parts.headers, parts.uri.query()) {
        // The console (a browser's requests are never signed), also when unsigned requests
        // otherwise go upstream: an anonymous S3 request to a bucket named `console` is the
        // console's.
        Route::ControlPlane | Route::Capture(None) if console::serves(parts.uri.path()) => {
            let request = Request::from_parts(parts, body);
            match console.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        Route::ControlPlane if parts.method == http::Method::GET && parts.uri.path() == "/" => {
            axum::response::Redirect::to("/console/").into_response()
        }
        Route::Capture(service) => {
            let context = capture::Context {
                config: &state.config,
                proxy: &state.proxy,
                audit: &state.audit,
                metrics: &state.metrics,
                store: &state.store,
            };
            capture::handle(context, peer, service, parts, body).await
        }
        route @ (Route::ControlPlane | Route::Rules) => {
            let api = match route {
                Route::Rules => Api::Events,
                _ => Api::CloudTrail,
            };
            if parts.method != http::Method::POST || parts.uri.path() != "/" {
                let error = ApiError::new(
                    ErrorCode::UnknownOperation,
                    format!(
                        "cairn's API answers POST /, not {} {}.",
                        parts.method,
                        parts.uri.path()
                    ),
                );
                return error.into_response(&uuid::Uuid::new_v4().to_string());
            }
            match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
                Ok(body) => control_plane(state, peer, parts.uri, parts.headers, body, api).await,
                Err(_) => ApiError::new(
                    ErrorCode::SerializationException,
                    format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
                )
                .into_response(&uuid::Uuid::new_v4().to_string()),
            }
        }
    }
}

/// An API cairn serves itself, by SigV4 signing name: CloudTrail's, or EventBridge's for
/// rules (`crate::rules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    CloudTrail,
    Events,
}

/// An operation of one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiOperation {
    CloudTrail(Operation),
    Events(crate::rules::Operation),
}

impl Api {
    fn event_source(self) -> &'static str {
        match self {
            Api::CloudTrail => EVENT_SOURCE,
            Api::Events => "events.amazonaws.com",
        }
    }

    fn signing_name(self) -> &'static str {
        match self {
            Api::CloudTrail => CONTROL_PLANE_SERVICE,
            Api::Events => "events",
        }
    }

    fn operation(self, target: &str) -> Result<ApiOperation, ApiError> {
        match self {
            Api::CloudTrail => Operation::from_target(target).map(ApiOperation::CloudTrail),
            Api::Events => crate::rules::Operation::from_target(target).map(ApiOperation::Events),
        }
    }
}

impl ApiOperation {
    fn name(self) -> &'static str {
        match self {
            ApiOperation::CloudTrail(op) => op.name(),
            ApiOperation::Events(op) => op.name(),
        }
    }

    fn read_only(self) -> bool {
        match self {
            ApiOperation::CloudTrail(op) => op.read_only(),
            ApiOperation::Events(op) => op.read_only(),
        }
    }
}

async fn control_plane(
    state: Arc<AppState>,
    peer: SocketAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    api: Api,
) -> Response {
    let started = Instant::now();
    let now = SystemTime::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let operation = api.operation(&target);
    let incoming = IncomingRequest {
        method: "POST",
        path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &headers,
        body: Some(&body),
    };
    let mut call = ApiCall {
        event_name: match &operation {
            Ok(op) => op.name().to_owned(),
            Err(_) => target.rsplit('.').next().unwrap_or_default().to_owned(),
        },
        event_source: api.event_source(),
        read_only: operation.as_ref().is_ok_and(|op| op.read_only()),
        caller: Caller::Anonymous,
        account_id: state.config.fallback_account(),
        region: state.config.default_region.clone(),
        source_ip: peer.ip().to_string(),
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request: serde_json::from_slice::<Value>(&body).ok(),
        response: None,
        error: None,
        request_id: request_id.clone(),
        at: now,
        captured: None,
        console: None,
    };
    if let (Some(request), Ok(ApiOperation::Events(_))) = (call.request.as_mut(), &operation) {
        crate::rules::api::hide_secrets(request);
    }
    let result = match authenticate(&state.config, incoming, api.signing_name(), now) {
        Err(rejected) => {
            // An unverified signature never lends its claimed identity to the event.
            call.caller = match &rejected.access_key_id {
                Some(key) => Caller::UnknownKey(key.clone()),
                None => Caller::Anonymous,
            };
            if let Some(principal) = &rejected.principal {
                call.account_id = principal.account_id.clone();
            }
            if let Some(region) = &rejected.region {
                call.region = region.clone();
            }
            Err(rejected.error)
        }
        Ok(authenticated) => {
            let principal = authenticated.principal;
            call.account_id = principal.account_id.clone();
            call.region = authenticated.region;
            call.caller = Caller::Principal(principal.clone());
            match &operation {
                Err(e) => Err(e.clone()),
                Ok(ApiOperation::CloudTrail(op)) => {
                    run_authorized(&state, &Ok(*op), &principal, &call.region, &body, now).await
                }
                Ok(ApiOperation::Events(op)) => {
                    run_rules_operation(&state, *op, &principal, &call.region, &body, now).await
                }
            }
        }
    };
    let lookup = operation == Ok(ApiOperation::CloudTrail(Operation::LookupEvents));
    let changed = result.is_ok() && operation.is_ok_and(|op| !op.read_only());
    if changed {
        // A change is answered once its event is durable: no acknowledged change goes
        // unrecorded, whatever happens to cairn after the answer.
        return finish_change(&state, call, result, started).await;
    }
    finish_call(&state, call, lookup, result, started)
}

/// [`finish_call`] for a change that was made: the answer waits for its audit event to be
/// durable; if it cannot be stored, the answer is InternalFailure (the change stays made, as
/// with a timeout of AWS's).
async fn finish_change(
    state: &AppState,
    mut call: ApiCall,
    result: Result<Value, ApiError>,
    started: Instant,
) -> Response {
    let request_id = call.request_id.clone();
    let output = match result {
        Ok(output) => output,
        Err(error) => return finish_call(state, call, false, Err(error), started),
    };
    let body = output.to_string();
    call.response = Some(output);
    state.metrics.count_request(&call.event_name, 200);
    if state.audit.record_durably(call).await.unwrap_or(false) {
        aws_json_response(StatusCode::OK, body, &request_id)
    } else {
        ApiError::internal("the change was made, but its audit event could not be stored")
            .into_response(&request_id)
    }
}

/// Refuses an operation that changes something while the store cannot take events (its disk
/// is full): neither the change nor its audit event could be kept. Reads go on.
fn refuse_writes_when_full(state: &AppState, read_only: bool) -> Result<(), ApiError> {
    if read_only || state.store.writable() {
        return Ok(());
    }
    Err(ApiError::internal(
        "cairn cannot record changes now: its data directory's disk is full",
    ))
}

/// Takes a call of `principal` from its rates (`[limits]`), LookupEvents' own too when
/// `lookup`: AWS's ThrottlingException when one is spent.
fn throttle(state: &AppState, principal: &Principal, lookup: bool) -> Result<(), ApiError> {
    let limits = &state.config.limits;
    let now = Instant::now();
    let key = &principal.access_key_id;
    if let Some(rate) = limits.requests_per_second {
        state.rates.take(key, "all", rate, now)?;
    }
    if let (true, Some(rate)) = (lookup, limits.lookup_events_per_second) {
        state.rates.take(key, "LookupEvents", rate, now)?;
    }
    Ok(())
}

/// Runs an operation of the rules API for an authenticated `principal`: admins may call all;
/// read-only principals the reading ones.
async fn run_rules_operation(
    state: &Arc<AppState>,
    op: crate::rules::Operation,
    principal: &Principal,
    region: &str,
    body: &Bytes,
    now: SystemTime,
) -> Result<Value, ApiError> {
    throttle(state, principal, false)?;
    refuse_writes_when_full(state, op.read_only())?;
    let allowed = match principal.permissions {
        Permissions::Admin => true,
        Permissions::ReadOnly => op.read_only(),
        Permissions::Ingest => false,
    };
    if !allowed {
        return Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: events:{op} because no identity-based \
                 policy allows the events:{op} action",
                principal_arn(principal),
                op = op.name()
            ),
        ));
    }
    let scope = Scope {
        account_id: principal.account_id.clone(),
        region: region.to_owned(),
    };
    let catalog = state.rules.clone();
    let body = body.clone();
    let now_secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    tokio::task::spawn_blocking(move || {
        crate::rules::api::handle(&catalog, op, &body, &scope, now_secs)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Runs `operation` for an authenticated `principal` in `region`: the permission check, then
/// its handler. The console's calls come here too, with its session's principal.
pub(crate) async fn run_authorized(
    state: &Arc<AppState>,
    operation: &Result<Operation, ApiError>,
    principal: &Principal,
    region: &str,
    body: &Bytes,
    now: SystemTime,
) -> Result<Value, ApiError> {
    if let Ok(op) = operation {
        throttle(state, principal, *op == Operation::LookupEvents)?;
        refuse_writes_when_full(state, op.read_only())?;
    }
    match operation {
        Err(e) => Err(e.clone()),
        Ok(op) if !permitted(principal.permissions, *op) => Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: cloudtrail:{op} because no \
                 identity-based policy allows the cloudtrail:{op} action",
                principal_arn(principal),
                op = op.name()
            ),
        )),
        Ok(op) => {
            let scope = Scope {
                account_id: principal.account_id.clone(),
                region: region.to_owned(),
            };
            dispatch(state, *op, body, scope, now).await
        }
    }
}

/// The answer to an API call (AWS JSON, or AWS's error), once it is counted (its time as a
/// LookupEvents' when `timed_as_lookup`) and its audit event is on its way to the store.
pub(crate) fn finish_call(
    state: &AppState,
    mut call: ApiCall,
    timed_as_lookup: bool,
    result: Result<Value, ApiError>,
    started: Instant,
) -> Response {
    let request_id = call.request_id.clone();
    if timed_as_lookup && result.is_ok() {
        state
            .metrics
            .lookup_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    let (response, status) = match result {
        Ok(output) => {
            let response = aws_json_response(StatusCode::OK, output.to_string(), &request_id);
            call.response = Some(output);
            (response, StatusCode::OK)
        }
        Err(error) => {
            let status = error.code.status();
            call.error = Some(error.clone());
            (error.into_response(&request_id), status)
        }
    };
    state
        .metrics
        .count_request(&call.event_name, status.as_u16());
    state.audit.record(call);
    response
}

/// An AWS JSON 1.1 response with the request id header every AWS response carries.
pub(crate) fn aws_json_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (
        status,
        [(http::header::CONTENT_TYPE, "application/x-amz-json-1.1")],
        body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// Whether a principal's permission set allows an operation.
pub(crate) fn permitted(permissions: Permissions, op: Operation) -> bool {
    match permissions {
        Permissions::Admin => true,
        // Reading principals may also run Lake queries (and cancel them): a query only reads.
        Permissions::ReadOnly => {
            op.read_only() || matches!(op, Operation::StartQuery | Operation::CancelQuery)
        }
        // Ingest principals only send events (`PutAuditEvents`, a separate endpoint).
        Permissions::Ingest => false,
    }
}

/// An operation's work, run off the async threads: every handler may read segments or sync
/// the catalog.
type Work = Box<dyn FnOnce() -> Result<Value, ApiError> + Send>;

async fn dispatch(
    state: &Arc<AppState>,
    op: Operation,
    body: &Bytes,
    scope: Scope,
    now: SystemTime,
) -> Result<Value, ApiError> {
    let now_secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let trails = state.trails.clone();
    let work: Work = match op {
        Operation::LookupEvents => {
            let request = lookup_events::parse(body)?;
            let store = state.store.clone();
            Box::new(move || {
                lookup_events::handle(&store, &request, &scope.account_id, &scope.region)
            })
        }
        Operation::CreateTrail => {
            let services = state.services.clone();
            trail_work(op, body, trails, scope, move |trails, scope, request| {
                create_trail::handle(trails, scope, request, &services)
            })?
        }
        Operation::GetTrail => trail_work(op, body, trails, scope, get_trail::handle)?,
        Operation::DescribeTrails => trail_work(op, body, trails, scope, describe_trails::handle)?,
        Operation::ListTrails => trail_work(op, body, trails, scope, list_trails::handle)?,
        Operation::DeleteTrail => trail_work(op, body, trails, scope, delete_trail::handle)?,
        Operation::StartLogging | Operation::StopLogging => {
            let logging = op == Operation::StartLogging;
            trail_work(op, body, trails, scope, move |trails, scope, request| {
                start_logging::handle(trails, scope, request, logging, now_secs)
            })?
        }
        Operation::GetTrailStatus => {
            let board = state.delivery_status.clone();
            trail_work(op, body, trails, scope, move |trails, scope, request| {
                get_trail_status::handle(trails, scope, request, &board)
            })?
        }
        Operation::UpdateTrail => {
            let services = state.services.clone();
            trail_work(op, body, trails, scope, move |trails, scope, request| {
                update_trail::handle(trails, scope, request, &services)
            })?
        }
        Operation::ListPublicKeys => {
            let request = parse_request(op, body)?;
            let keys = state.keys.clone();
            Box::new(move || list_public_keys::handle(&keys, &scope, request, now_secs))
        }
        Operation::PutEventSelectors => trail_work(op, body, trails, scope, event_selectors::put)?,
        Operation::GetEventSelectors => trail_work(op, body, trails, scope, event_selectors::get)?,
        Operation::AddTags => deferred(op, body, scope, tagged(state, now_secs), tags::add)?,
        Operation::RemoveTags => deferred(op, body, scope, tagged(state, now_secs), tags::remove)?,
        Operation::ListTags => deferred(op, body, scope, tagged(state, now_secs), tags::list)?,
        Operation::CreateEventDataStore => {
            store_work(state, op, body, scope, now_secs, event_data_stores::create)?
        }
        Operation::GetEventDataStore => {
            store_work(state, op, body, scope, now_secs, event_data_stores::get)?
        }
        Operation::ListEventDataStores => {
            store_work(state, op, body, scope, now_secs, event_data_stores::list)?
        }
        Operation::UpdateEventDataStore => {
            store_work(state, op, body, scope, now_secs, event_data_stores::update)?
        }
        Operation::DeleteEventDataStore => {
            store_work(state, op, body, scope, now_secs, event_data_stores::delete)?
        }
        Operation::RestoreEventDataStore => {
            store_work(state, op, body, scope, now_secs, event_data_stores::restore)?
        }
        Operation::StartQuery => deferred(op, body, scope, lakes(state, now_secs), queries::start)?,
        Operation::DescribeQuery => {
            deferred(op, body, scope, lakes(state, now_secs), queries::describe)?
        }
        Operation::GetQueryResults => {
            deferred(op, body, scope, lakes(state, now_secs), queries::results)?
        }
        Operation::ListQueries => deferred(op, body, scope, lakes(state, now_secs), queries::list)?,
        Operation::CancelQuery => {
            deferred(op, body, scope, lakes(state, now_secs), queries::cancel)?
        }
        Operation::StartEventDataStoreIngestion | Operation::StopEventDataStoreIngestion => {
            let start = op == Operation::StartEventDataStoreIngestion;
            store_work(
                state,
                op,
                body,
                scope,
                now_secs,
                move |stores, scope, request, now| {
                    event_data_stores::ingestion(stores, scope, request, start, now)
                },
            )?
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!("cairn does not support {} yet.", other.name()),
            ));
        }
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

/// An operation's work: the request is read now, `handle` runs later on `context`.
fn deferred<C: Send + 'static, R: DeserializeOwned + Send + 'static>(
    op: Operation,
    body: &[u8],
    scope: Scope,
    context: C,
    handle: impl FnOnce(&C, &Scope, R) -> Result<Value, ApiError> + Send + 'static,
) -> Result<Work, ApiError> {
    let request = parse_request(op, body)?;
    Ok(Box::new(move || handle(&context, &scope, request)))
}

/// A trail operation's work.
fn trail_work<R: DeserializeOwned + Send + 'static>(
    op: Operation,
    body: &[u8],
    trails: Arc<Trails>,
    scope: Scope,
    handle: impl FnOnce(&Trails, &Scope, R) -> Result<Value, ApiError> + Send + 'static,
) -> Result<Work, ApiError> {
    deferred(op, body, scope, trails, move |trails, scope, request| {
        handle(trails, scope, request)
    })
}

/// An event data store operation's work, at the request's time `now`.
fn store_work<R: DeserializeOwned + Send + 'static>(
    state: &Arc<AppState>,
    op: Operation,
    body: &[u8],
    scope: Scope,
    now: f64,
    handle: impl FnOnce(&EventDataStores, &Scope, R, f64) -> Result<Value, ApiError> + Send + 'static,
) -> Result<Work, ApiError> {
    let stores = state.event_data_stores.clone();
    deferred(op, body, scope, stores, move |stores, scope, request| {
        handle(stores, scope, request, now)
    })
}

/// What query operations work on, at the request's time `now`.
fn lakes(state: &AppState, now: f64) -> queries::Lakes {
    queries::Lakes {
        queries: state.queries.clone(),
        stores: state.event_data_stores.clone(),
        target: state.services.target.clone(),
        keys: state.keys.clone(),
        now,
    }
}

/// What tag operations work on (trails or event data stores, as the ARN says).
fn tagged(state: &AppState, now: f64) -> tags::Tagged {
    tags::Tagged {
        trails: state.trails.clone(),
        stores: state.event_data_stores.clone(),
        now,
    }
}
