//! cairn audits itself: every call to its API, failed and denied ones included, becomes a
//! CloudTrail management event (`eventSource` `cloudtrail.amazonaws.com`), as CloudTrail records
//! its own API.
//!
//! Rules where AWS leaves a choice (documented here, the module that owns them):
//! - `userIdentity` comes from the principal that signed the request (Root, IAMUser or
//!   AssumedRole with its session issuer), only when its signature verifies. A request whose
//!   signature does not (unknown key, wrong secret, expired) is recorded with
//!   `{"type": "Unknown", "accessKeyId": ...}`: in the account of the key's principal when the
//!   key is known (its owner sees the attempts made with it), else in the fallback account
//!   ([`crate::config::Config::fallback_account`]); one without any signature with
//!   `{"type": "Unknown"}`.
//! - `requestParameters` is the request body with member names in lower camel case and
//!   timestamps written as CloudTrail writes them there (`Dec 16, 2023, 2:46:48 PM`);
//!   `responseElements` is `null` for reading operations and failed calls, as in AWS's records.
//! - `awsRegion` is the region of the credential scope, else the default region.
//!
//! Calls are turned into events and appended by one background task in batches, so a call's own
//! latency includes neither building its record nor an fsync; each batch is durable and visible
//! to LookupEvents as soon as it is appended (well within a second). A captured call that must
//! not be answered before its event is durable waits on [`AuditSender::record_durably`]; the
//! calls waiting together share the batch's single append and fsync (group commit).
//!
//! Captured calls (other services, through `crate::capture`) carry their decoded members in
//! [`Captured`]; their event has the service's `eventSource`, `resources`, and `Data` as
//! `eventCategory` for data events.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cairn_capture::request::lower_first;
use cairn_model::Record;
use cairn_model::time::{format_event_time, format_request_parameter_time};
use cairn_store::Store;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::config::{Identity, Principal};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// What is known about the caller of one API call.
#[derive(Debug, Clone)]
pub enum Caller {
    Principal(Principal),
    UnknownKey(String),
    Anonymous,
}

/// One API call, as the audit event records it.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub event_name: String,
    pub event_source: &'static str,
    pub read_only: bool,
    pub caller: Caller,
    /// The account the event belongs to.
    pub account_id: String,
    pub region: String,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// The request body as parsed JSON, if it was JSON.
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub error: Option<ApiError>,
    pub request_id: String,
    pub at: SystemTime,
    /// For a call to another service through the capture proxy: what its event says, decoded
    /// from the wire (`crate::capture`); it replaces the members derived above.
    pub captured: Option<Captured>,
    /// For a call made in the console (`crate::console`): a sign-in, or an API call.
    pub console: Option<ConsoleCall>,
}

/// What the console did, as AWS records console activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleCall {
    /// A sign-in (`ConsoleLogin` of `signin.amazonaws.com`, event type `AwsConsoleSignIn`):
    /// whether it succeeded, and the page it led to.
    SignIn { succeeded: bool, login_to: String },
    /// An API call of a signed-in session (`sessionCredentialFromConsole`).
    Api,
}

/// The members of a captured call's event that differ from cairn's own API events.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    pub event_source: String,
    /// Final: named, typed and redacted.
    pub request_parameters: Value,
    pub response_elements: Value,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub data_event: bool,
    pub resources: Vec<Value>,
}

/// `userIdentity`, members in the order AWS writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    session_issuer: SessionIssuer,
    attributes: SessionAttributes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: String,
    arn: String,
    account_id: String,
    user_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    mfa_authenticated: &'static str,
}

/// The `userIdentity` of a caller, in AWS's shapes.
pub fn user_identity(caller: &Caller) -> UserIdentity {
    let unknown = |key: Option<&String>| UserIdentity {
        kind: "Unknown",
        principal_id: None,
        arn: None,
        account_id: None,
        access_key_id: key.cloned(),
        user_name: None,
        session_context: None,
    };
    match caller {
        Caller::Principal(principal) => principal_identity(principal),
        Caller::UnknownKey(key) => unknown(Some(key)),
        Caller::Anonymous => unknown(None),
    }
}

/// The `userIdentity` of a principal.
fn principal_identity(principal: &Principal) -> UserIdentity {
    let account = &principal.account_id;
    let id_suffix = principal_id_suffix(&principal.access_key_id);
    let base = UserIdentity {
        kind: "Unknown",
        principal_id: None,
        arn: None,
        account_id: Some(account.clone()),
        access_key_id: Some(principal.access_key_id.clone()),
        user_name: None,
        session_context: None,
    };
    match &principal.identity {
        Identity::Root => UserIdentity {
            kind: "Root",
            principal_id: Some(account.clone()),
            arn: Some(format!("arn:aws:iam::{account}:root")),
            ..base
        },
        Identity::IamUser { user_name } => UserIdentity {
            kind: "IAMUser",
            principal_id: Some(format!("AIDA{id_suffix}")),
            arn: Some(format!("arn:aws:iam::{account}:user/{user_name}")),
            user_name: Some(user_name.clone()),
            ..base
        },
        Identity::AssumedRole {
            role_name,
            session_name,
        } => UserIdentity {
            kind: "AssumedRole",
            principal_id: Some(format!("AROA{id_suffix}:{session_name}")),
            arn: Some(format!(
                "arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
            )),
            session_context: Some(SessionContext {
                session_issuer: SessionIssuer {
                    kind: "Role",
                    principal_id: format!("AROA{id_suffix}"),
                    arn: format!("arn:aws:iam::{account}:role/{role_name}"),
                    account_id: account.clone(),
                    user_name: role_name.clone(),
                },
                attributes: SessionAttributes {
                    mfa_authenticated: "false",
                },
            }),
            ..base
        },
    }
}

/// The ARN a principal acts as (for AccessDenied messages).
pub fn principal_arn(principal: &Principal) -> String {
    principal_identity(principal).arn.unwrap_or_default()
}

/// A stable, AWS-looking unique id part for a principal: 17 base-32 characters (85 bits) of
/// two FNV-1a hashes of its access key. An identifier, not a security boundary.
fn principal_id_suffix(access_key_id: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let fnv1a = |bytes: &[u8]| {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let high = fnv1a(access_key_id.as_bytes());
    let low = fnv1a(format!("{access_key_id}#").as_bytes());
    let mut bits = (u128::from(high) << 64) | u128::from(low);
    (0..17)
        .map(|_| {
            let c = ALPHABET[(bits % 32) as usize] as char;
            bits >>= 5;
            c
        })
        .collect()
}

/// `PascalCase` member names to `camelCase`, recursively, with epoch-second timestamps of the
/// members CloudTrail models as timestamps written as CloudTrail writes them.
pub fn request_parameters(request: &Value) -> Value {
    match request {
        Value::Object(members) => {
            let mut out = Map::with_capacity(members.len());
            for (name, value) in members {
                let camel = lower_first(name);
                let value = match (camel.as_str(), value) {
                    ("startTime" | "endTime", Value::Number(n)) => match n.as_f64() {
                        Some(seconds) => {
                            Value::String(format_request_parameter_time((seconds * 1000.0) as i64))
                        }
                        None => value.clone(),
                    },
                    _ => request_parameters(value),
                };
                out.insert(camel, value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(request_parameters).collect()),
        other => other.clone(),
    }
}

/// An audit event, members in the order CloudTrail writes them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditRecord<'a> {
    event_version: &'static str,
    user_identity: UserIdentity,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Value,
    response_elements: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<Value>,
    #[serde(rename = "requestID", skip_serializing_if = "str::is_empty")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<&'a [Value]>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_credential_from_console: Option<&'static str>,
}

impl ApiCall {
    /// The CloudTrail record of this call.
    pub fn to_record(&self) -> Result<Record, String> {
        let ms = self
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let parameters = self
            .request
            .as_ref()
            .filter(|r| r.as_object().is_some_and(|m| !m.is_empty()))
            .map_or(Value::Null, request_parameters);
        let response_elements = match (&self.error, self.read_only, &self.response) {
            // A mutating call's output, named as its parameters are.
            (None, false, Some(response)) => request_parameters(response),
            _ => Value::Null,
        };
        let mut record = AuditRecord {
            event_version: "1.11",
            user_identity: user_identity(&self.caller),
            // CloudTrail writes eventTime to the second.
            event_time: format_event_time(ms - ms % 1000),
            event_source: self.event_source,
            event_name: &self.event_name,
            aws_region: &self.region,
            source_ip_address: &self.source_ip,
            user_agent: self.user_agent.as_deref(),
            error_code: self.error.as_ref().map(|e| e.code.as_str()),
            error_message: self.error.as_ref().map(|e| e.message.as_str()),
            request_parameters: parameters,
            response_elements,
            additional_event_data: None,
            request_id: &self.request_id,
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only: self.read_only,
            resources: None,
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: &self.account_id,
            event_category: "Management",
            session_credential_from_console: None,
        };
        match &self.console {
            // As AWS records a console sign-in: no request parameters or request ID, the
            // outcome in responseElements, where it led in additionalEventData.
            Some(ConsoleCall::SignIn {
                succeeded,
                login_to,
            }) => {
                record.event_source = "signin.amazonaws.com";
                record.event_type = "AwsConsoleSignIn";
                record.request_parameters = Value::Null;
                record.request_id = "";
                record.error_code = None;
                record.error_message = (!succeeded).then_some("Failed authentication");
                record.response_elements = serde_json::json!({
                    "ConsoleLogin": if *succeeded { "Success" } else { "Failure" }
                });
                record.additional_event_data = Some(serde_json::json!({
                    "LoginTo": login_to,
                    "MobileVersion": "No",
                    "MFAUsed": "No"
                }));
            }
            Some(ConsoleCall::Api) => record.session_credential_from_console = Some("true"),
            None => {}
        }
        if let Some(captured) = &self.captured {
            record.event_source = &captured.event_source;
            record.error_code = captured.error_code.as_deref();
            record.error_message = captured.error_message.as_deref();
            record.request_parameters = captured.request_parameters.clone();
            record.response_elements = captured.response_elements.clone();
            record.resources = (!captured.resources.is_empty()).then_some(&captured.resources);
            record.management_event = !captured.data_event;
            record.event_category = if captured.data_event {
                "Data"
            } else {
                "Management"
            };
        }
        let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
        Record::parse(&text).map_err(|e| format!("the audit record {text} is not an event: {e}"))
    }
}

/// Says whether a call's event was stored.
type Ack = tokio::sync::oneshot::Sender<bool>;

/// Sends API calls to the background writer, which turns them into audit events (off the
/// request path).
#[derive(Debug, Clone)]
pub struct AuditSender(mpsc::UnboundedSender<(ApiCall, Option<Ack>)>);

impl AuditSender {
    pub fn record(&self, call: ApiCall) {
        // Fails only after shutdown began, when no call is in flight any more.
        let _ = self.0.send((call, None));
    }

    /// Records `call`; the answer is true once its event is durable, false if it could not be
    /// stored. Calls waiting together share one append and one fsync (group commit).
    pub fn record_durably(&self, call: ApiCall) -> tokio::sync::oneshot::Receiver<bool> {
        let (ack, stored) = tokio::sync::oneshot::channel();
        let _ = self.0.send((call, Some(ack)));
        stored
    }
}

/// The most audit events the writer holds while the disk is full (events of calls nobody waits
/// on: reads, and captured calls with `async` durability), stored once there is room again.
const MAX_WAITING_EVENTS: usize = 100_000;

/// How often events held through a full disk are tried again when no new ones come.
const RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the background writer; it ends once every sender is dropped and what they sent is
/// stored.
///
/// A call whose caller waits for its event (`record_durably`) is told whether it was stored.
/// The events of the others (read-only calls, which go on while the disk is full) are kept in
/// memory when the disk is full, up to [`MAX_WAITING_EVENTS`], and stored once there is room:
/// appending the same event again cannot store it twice.
pub fn start(
    store: Arc<Store>,
    metrics: Arc<Metrics>,
) -> (AuditSender, tokio::task::JoinHandle<()>) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(ApiCall, Option<Ack>)>();
    let task = tokio::spawn(async move {
        let mut batch = Vec::new();
        let mut waiting: Vec<Record> = Vec::new();
        loop {
            let received = if waiting.is_empty() {
                receiver.recv_many(&mut batch, 1000).await
            } else {
                // No new call within the interval: 0, and the held events are tried again.
                tokio::time::timeout(RETRY_INTERVAL, receiver.recv_many(&mut batch, 1000))
                    .await
                    .unwrap_or_default()
            };
            let closed = received == 0 && receiver.is_closed() && receiver.is_empty();
            if received == 0 && !closed && waiting.is_empty() {
                continue;
            }
            let (calls, acks): (Vec<ApiCall>, Vec<Option<Ack>>) =
                std::mem::take(&mut batch).into_iter().unzip();
            let started = Instant::now();
            let mut records = Vec::with_capacity(calls.len());
            let mut pending_acks = Vec::with_capacity(calls.len());
            for (call, ack) in calls.iter().zip(acks) {
                match call.to_record() {
                    Ok(record) => {
                        records.push(record);
                        pending_acks.push(ack);
                    }
                    Err(e) => {
                        eprintln!("error: could not record an API call: {e}");
                        if let Some(ack) = ack {
                            let _ = ack.send(false);
                        }
                    }
                }
            }
            // The held events go first; a store that has them already skips them.
            let mut all = waiting.clone();
            all.extend(records.iter().cloned());
            let attempted = all.len();
            let writer = store.clone();
            let appended = tokio::task::spawn_blocking(move || writer.append(all)).await;
            let stored = match appended {
                Ok(Ok(_)) => {
                    metrics
                        .ingest_seconds
                        .observe(started.elapsed().as_secs_f64());
                    waiting.clear();
                    true
                }
                Ok(Err(_)) if !store.writable() => {
                    // Kept for the next try: the events nobody waits on.
                    waiting.extend(
                        records
                            .into_iter()
                            .zip(&pending_acks)
                            .filter(|(_, ack)| ack.is_none())
                            .map(|(record, _)| record),
                    );
                    if waiting.len() > MAX_WAITING_EVENTS {
                        let dropped = waiting.len() - MAX_WAITING_EVENTS;
                        waiting.drain(..dropped);
                        eprintln!(
                            "error: the disk is full: {dropped} audit events of read-only calls \
                             were dropped ({MAX_WAITING_EVENTS} are held)"
                        );
                    }
                    if closed {
                        eprintln!(
                            "error: cairn stopped with {} audit events it could not store (the \
                             disk is full)",
                            waiting.len()
                        );
                    }
                    false
                }
                Ok(Err(e)) => {
                    eprintln!("error: could not store {attempted} audit events: {e}");
                    waiting.clear();
                    false
                }
                Err(e) => {
                    eprintln!("error: the audit writer failed: {e}");
                    waiting.clear();
                    false
                }
            };
            for ack in pending_acks.into_iter().flatten() {
                let _ = ack.send(stored);
            }
            if closed {
                break;
            }
        }
    });
    (AuditSender(sender), task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Permissions;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn role() -> Principal {
        Principal {
            account_id: "222222222222".into(),
            access_key_id: "ASIAROLE00000000002".into(),
            secret_access_key: "x".into(),
            identity: Identity::AssumedRole {
                role_name: "Auditor".into(),
                session_name: "bob".into(),
            },
            permissions: Permissions::ReadOnly,
        }
    }

    #[test]
    fn a_denied_call_is_recorded_with_its_error_and_identity() {
        let call = ApiCall {
            event_name: "CreateTrail".into(),
            event_source: "cloudtrail.amazonaws.com",
            read_only: false,
            caller: Caller::Principal(role()),
            account_id: "222222222222".into(),
            region: "eu-west-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: Some("aws-cli/1.0".into()),
            request: Some(json!({"Name": "t", "S3BucketName": "b"})),
            response: None,
            error: Some(ApiError::new(ErrorCode::AccessDenied, "no")),
            request_id: "r-1".into(),
            at: UNIX_EPOCH + std::time::Duration::from_millis(1_704_067_200_123),
            captured: None,
            console: None,
        };
        let record = call.to_record().unwrap();
        let v: Value = serde_json::from_str(&record.json).unwrap();
        assert_eq!(v["eventTime"], "2024-01-01T00:00:00Z");
        assert_eq!(v["errorCode"], "AccessDeniedException");
        assert_eq!(
            v["requestParameters"],
            json!({"name": "t", "s3BucketName": "b"})
        );
        assert_eq!(v["responseElements"], Value::Null);
        assert_eq!(v["readOnly"], false);
        assert_eq!(
            v["userIdentity"]["arn"],
            "arn:aws:sts::222222222222:assumed-role/Auditor/bob"
        );
        assert_eq!(record.fields.username.as_deref(), Some("bob"));
        assert_eq!(record.fields.account_id.as_deref(), Some("222222222222"));
        assert!(
            record
                .json
                .starts_with(r#"{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","#),
            "{}",
            record.json
        );
    }

    #[test]
    fn lookup_times_are_written_as_cloudtrail_writes_them() {
        let params = request_parameters(&json!({
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "X"}],
            "StartTime": 1702737408,
            "MaxResults": 5
        }));
        assert_eq!(
            params,
            json!({
                "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "X"}],
                "startTime": "Dec 16, 2023, 2:36:48 PM",
                "maxResults": 5
            })
        );
    }
}
