//! The CloudTrail record as cairn keeps it.
//!
//! A [`Record`] is the record's JSON text exactly as it arrived, less the insignificant
//! whitespace between tokens (so it reads back JSON-equal to the input: unknown fields, key
//! order, nulls, number spellings and string escapes all survive), together with the fields
//! cairn derives from it to index, scope and display it ([`RecordFields`]).
//!
//! Parsing is lenient about the shape of fields cairn only reads (a `readOnly` given as the
//! string `"true"`, a `userIdentity` that is not an object, ...): such a field is ignored for
//! derivation and kept untouched in the text. It is strict about what makes a record a
//! CloudTrail event: a JSON object with a parseable time. See [`RecordError`].

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::resources;
use crate::time::parse_event_time;

/// Why a JSON value cannot be stored as a CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a JSON object (a CloudTrail record is an object)")]
    NotAnObject,
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("no eventTime")]
    MissingEventTime,
    #[error("eventTime {0} is not an ISO 8601 UTC time")]
    InvalidEventTime(String),
    #[error("neither eventName nor insightDetails: not a CloudTrail event")]
    NotAnEvent,
}

/// Where a record belongs in CloudTrail's event history (LookupEvents).
///
/// AWS's rule: event history holds management events; Insights events are returned only when
/// asked for with `EventCategory=insight`; data events, network activity events and Lake-only
/// kinds are never in event history. cairn decides from `eventCategory` first, then, for
/// records older than eventVersion 1.07 that have no `eventCategory`, from `managementEvent`
/// and `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryCategory {
    Management,
    Insight,
    /// Data, network activity and Lake-only events: stored, but never in event history.
    NotInHistory,
}

impl HistoryCategory {
    pub fn as_u8(self) -> u8 {
        match self {
            HistoryCategory::Management => 0,
            HistoryCategory::Insight => 1,
            HistoryCategory::NotInHistory => 2,
        }
    }

    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(HistoryCategory::Management),
            1 => Some(HistoryCategory::Insight),
            2 => Some(HistoryCategory::NotInHistory),
            _ => None,
        }
    }
}

/// A resource an event refers to, as LookupEvents reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `AWS::<service>::<type>`, `None` when the record does not say.
    pub resource_type: Option<String>,
    /// The resource's ARN (or ARN prefix).
    pub resource_name: Option<String>,
}

/// What cairn derives from a record. Every field is a pure function of the record's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFields {
    /// `eventTime` (or, for records exported through Logstash, `@timestamp`), ms since epoch.
    pub event_time_ms: i64,
    /// `eventID`; for a record without one, a UUID-shaped id derived from its content
    /// ([`derived_event_id`]), so that importing it again finds it again.
    pub event_id: String,
    /// True when [`Self::event_id`] was derived because the record has no string `eventID`.
    pub event_id_derived: bool,
    /// `eventName`; for Insights events, `insightDetails.eventName`.
    pub event_name: Option<String>,
    /// `eventSource`; for Insights events, `insightDetails.eventSource`.
    pub event_source: Option<String>,
    pub aws_region: Option<String>,
    /// The account the event belongs to: `recipientAccountId`, else `userIdentity.accountId`.
    pub account_id: Option<String>,
    /// `readOnly`, as a boolean or the strings `"true"`/`"false"`.
    pub read_only: Option<bool>,
    /// See [`derive_username`].
    pub username: Option<String>,
    /// `userIdentity.accessKeyId` when not empty.
    pub access_key_id: Option<String>,
    /// The record's `resources` and those derived from its call: see [`crate::resources`].
    pub resources: Vec<Resource>,
    pub history: HistoryCategory,
    pub event_type: Option<String>,
    pub event_category: Option<String>,
    pub user_identity_type: Option<String>,
    pub user_identity_arn: Option<String>,
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
}

/// A CloudTrail record accepted by cairn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's JSON text with insignificant whitespace removed.
    pub json: String,
    /// 64-bit XXH3 of [`Self::json`]: two records with the same text are the same delivery.
    pub fingerprint: u64,
    pub fields: RecordFields,
}

impl Record {
    /// Parses one record from its JSON text.
    pub fn parse(text: &str) -> Result<Record, RecordError> {
        let json = minify_json(text);
        let fingerprint = xxhash_rust::xxh3::xxh3_64(json.as_bytes());
        let fields = derive_fields(&json)?;
        Ok(Record {
            json,
            fingerprint,
            fields,
        })
    }

    /// Parses a record already held as a [`RawValue`] (one element of a log file's `Records`).
    pub fn from_raw(raw: &RawValue) -> Result<Record, RecordError> {
        Record::parse(raw.get())
    }
}

// The members cairn reads. Each is kept raw and interpreted leniently, so that a member of an
// unexpected type never makes the whole record unreadable.
#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<&'a RawValue>,
    #[serde(rename = "@timestamp", borrow, default)]
    logstash_timestamp: Option<&'a RawValue>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<&'a RawValue>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a RawValue>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<&'a RawValue>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account_id: Option<&'a RawValue>,
    #[serde(rename = "readOnly", borrow, default)]
    read_only: Option<&'a RawValue>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<&'a RawValue>,
    #[serde(rename = "resources", borrow, default)]
    resources: Option<&'a RawValue>,
    #[serde(rename = "requestParameters", borrow, default)]
    request_parameters: Option<&'a RawValue>,
    #[serde(rename = "responseElements", borrow, default)]
    response_elements: Option<&'a RawValue>,
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(rename = "eventCategory", borrow, default)]
    event_category: Option<&'a RawValue>,
    #[serde(rename = "managementEvent", borrow, default)]
    management_event: Option<&'a RawValue>,
    #[serde(rename = "insightDetails", borrow, default)]
    insight_details: Option<&'a RawValue>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<&'a RawValue>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<&'a RawValue>,
    #[serde(rename = "errorCode", borrow, default)]
    error_code: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    identity_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arn: Option<&'a RawValue>,
    #[serde(rename = "accountId", borrow, default)]
    account_id: Option<&'a RawValue>,
    #[serde(rename = "accessKeyId", borrow, default)]
    access_key_id: Option<&'a RawValue>,
    #[serde(rename = "userName", borrow, default)]
    user_name: Option<&'a RawValue>,
    #[serde(rename = "invokedBy", borrow, default)]
    invoked_by: Option<&'a RawValue>,
    #[serde(rename = "sessionContext", borrow, default)]
    session_context: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct SessionContext<'a> {
    #[serde(rename = "sessionIssuer", borrow, default)]
    session_issuer: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct SessionIssuer<'a> {
    #[serde(rename = "userName", borrow, default)]
    user_name: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct InsightDetails<'a> {
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<&'a RawValue>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a RawValue>,
}

/// Parses a JSON object member that should itself be an object; anything else reads as empty.
fn object<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    match raw {
        Some(raw) if raw.get().starts_with('{') => {
            serde_json::from_str(raw.get()).unwrap_or_default()
        }
        _ => T::default(),
    }
}

/// A member that should be a string; `None` for null, absent, or another type.
fn string(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?.get();
    if !raw.starts_with('"') {
        return None;
    }
    // Fast path: no escapes, the text between the quotes is the string.
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains('\\') {
        return Some(inner.to_owned());
    }
    serde_json::from_str(raw).ok()
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn boolean(raw: Option<&RawValue>) -> Option<bool> {
    match raw?.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => boolean_text(&string(raw)?),
    }
}

/// A boolean member given as its text (`true`, or the string `"True"` some sources write): the
/// rule cairn reads `readOnly` and `managementEvent` by.
pub fn boolean_text(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn derive_fields(json: &str) -> Result<RecordFields, RecordError> {
    if !json.starts_with('{') {
        // A struct deserializes from a JSON array too; a record must be an object.
        return match serde_json::from_str::<&RawValue>(json) {
            Ok(_) => Err(RecordError::NotAnObject),
            Err(e) => Err(RecordError::InvalidJson(e.to_string())),
        };
    }
    let top: TopLevel<'_> =
        serde_json::from_str(json).map_err(|e| RecordError::InvalidJson(e.to_string()))?;

    let time_member = top.event_time.or(top.logstash_timestamp);
    let event_time_ms = match time_member {
        None => return Err(RecordError::MissingEventTime),
        Some(raw) if raw.get() == "null" => return Err(RecordError::MissingEventTime),
        Some(raw) => string(Some(raw))
            .and_then(|text| parse_event_time(&text))
            .ok_or_else(|| RecordError::InvalidEventTime(raw.get().chars().take(80).collect()))?,
    };

    let insight: InsightDetails<'_> = object(top.insight_details);
    let event_name = string(top.event_name).or_else(|| string(insight.event_name));
    let event_source = string(top.event_source).or_else(|| string(insight.event_source));
    if event_name.is_none() && top.insight_details.is_none() {
        return Err(RecordError::NotAnEvent);
    }

    let identity: UserIdentity<'_> = object(top.user_identity);
    let (event_id, event_id_derived) = match string(top.event_id) {
        Some(id) => (id, false),
        None => (derived_event_id(json), true),
    };
    let event_type = string(top.event_type);
    let event_category = string(top.event_category);
    let history = history_category(
        event_category.as_deref(),
        event_type.as_deref(),
        boolean(top.management_event),
        top.insight_details.is_some(),
    );
    let account_id = non_empty(string(top.recipient_account_id))
        .or_else(|| non_empty(string(identity.account_id)));

    let recorded_resources = resources::recorded(top.resources);
    // Derived resources serve event history, which shows management events only; data
    // events keep their own, which trails' event selectors read, as AWS's do.
    let event_resources = if history == HistoryCategory::Management {
        resources::event_resources(
            recorded_resources,
            event_source.as_deref(),
            event_name.as_deref(),
            top.request_parameters,
            top.response_elements,
        )
    } else {
        recorded_resources
    };

    Ok(RecordFields {
        event_time_ms,
        event_id,
        event_id_derived,
        event_name,
        event_source,
        aws_region: string(top.aws_region),
        account_id,
        read_only: boolean(top.read_only),
        username: derive_username(&identity),
        access_key_id: non_empty(string(identity.access_key_id)),
        resources: event_resources,
        history,
        event_type,
        event_category,
        user_identity_type: string(identity.identity_type),
        user_identity_arn: string(identity.arn),
        source_ip_address: string(top.source_ip_address),
        user_agent: string(top.user_agent),
        error_code: string(top.error_code),
    })
}

/// Where an event belongs in event history, from its `eventCategory`, `eventType`,
/// `managementEvent` and whether it has `insightDetails` (see [`HistoryCategory`]).
pub fn history_category(
    event_category: Option<&str>,
    event_type: Option<&str>,
    management_event: Option<bool>,
    has_insight_details: bool,
) -> HistoryCategory {
    match event_category {
        Some("Management") => HistoryCategory::Management,
        Some("Insight") => HistoryCategory::Insight,
        Some(_) => HistoryCategory::NotInHistory,
        None if event_type == Some("AwsCloudTrailInsight") || has_insight_details => {
            HistoryCategory::Insight
        }
        None if management_event == Some(false) => HistoryCategory::NotInHistory,
        None if matches!(event_type, Some("AwsVpceEvent" | "AwsVpceEvents")) => {
            HistoryCategory::NotInHistory
        }
        None => HistoryCategory::Management,
    }
}

/// LookupEvents' `Username`: "a user name or role name of the requester". AWS does not publish
/// its rule; cairn's, in order:
/// 1. `userIdentity.userName` when present and not empty (IAM users, aliased roots, ...);
/// 2. `root` for a `Root` identity (as AWS's own example shows);
/// 3. for temporary credentials (`AssumedRole`, `FederatedUser`, or an `assumed-role` /
///    `federated-user` ARN), the session name: the ARN's last `/`-separated part;
/// 4. `userIdentity.sessionContext.sessionIssuer.userName`;
/// 5. for an `AWSService` identity, `userIdentity.invokedBy`;
/// 6. otherwise none.
fn derive_username(identity: &UserIdentity<'_>) -> Option<String> {
    let (user_name, identity_type, arn, invoked_by) = (
        string(identity.user_name),
        string(identity.identity_type),
        string(identity.arn),
        string(identity.invoked_by),
    );
    let names = IdentityNames {
        user_name: user_name.as_deref(),
        identity_type: identity_type.as_deref(),
        arn: arn.as_deref(),
        issuer_user_name: None,
        invoked_by: invoked_by.as_deref(),
    };
    if let Some(name) = names.own_name() {
        return Some(name.to_owned());
    }
    // The session context is parsed only when the identity's own members do not tell.
    let context: SessionContext<'_> = object(identity.session_context);
    let issuer: SessionIssuer<'_> = object(context.session_issuer);
    let issuer_user_name = string(issuer.user_name);
    IdentityNames {
        issuer_user_name: issuer_user_name.as_deref(),
        ..names
    }
    .username()
    .map(str::to_owned)
}

/// The members of `userIdentity` that LookupEvents' `Username` is made of (string members;
/// `None` for null, absent or another type), for readers that have them without the record
/// (a field scan of the store).
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityNames<'a> {
    /// `userIdentity.userName`.
    pub user_name: Option<&'a str>,
    /// `userIdentity.type`.
    pub identity_type: Option<&'a str>,
    /// `userIdentity.arn`.
    pub arn: Option<&'a str>,
    /// `userIdentity.sessionContext.sessionIssuer.userName`.
    pub issuer_user_name: Option<&'a str>,
    /// `userIdentity.invokedBy`.
    pub invoked_by: Option<&'a str>,
}

impl<'a> IdentityNames<'a> {
    /// The user name, by the rule of [`derive_username`].
    pub fn username(&self) -> Option<&'a str> {
        if let Some(name) = self.own_name() {
            return Some(name);
        }
        if let Some(name) = self.issuer_user_name.filter(|v| !v.is_empty()) {
            return Some(name);
        }
        if self.identity_type == Some("AWSService") {
            return self.invoked_by.filter(|v| !v.is_empty());
        }
        None
    }

    /// Steps 1 to 3 of the rule: the name the identity's own members give.
    fn own_name(&self) -> Option<&'a str> {
        if let Some(name) = self.user_name.filter(|v| !v.is_empty()) {
            return Some(name);
        }
        if self.identity_type == Some("Root") {
            return Some("root");
        }
        let arn = self.arn.unwrap_or_default();
        let temporary = matches!(self.identity_type, Some("AssumedRole" | "FederatedUser"))
            || arn.contains(":assumed-role/")
            || arn.contains(":federated-user/");
        match arn.rsplit_once('/') {
            Some((_, session)) if temporary && !session.is_empty() => Some(session),
            _ => None,
        }
    }
}

/// The `eventID` cairn gives a record that has none: the record's 128-bit XXH3 written as a
/// UUID (version nibble 8, "custom"), so the same record always gets the same id.
pub fn derived_event_id(json: &str) -> String {
    let hash = xxhash_rust::xxh3::xxh3_128(json.as_bytes());
    let hex = format!("{hash:032x}");
    format!(
        "{}-{}-8{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `text` (JSON) with every `\u` escape of a lone UTF-16 surrogate replaced by `\ufffd`.
///
/// A lone surrogate escape (`"\ud83d"` without its low half) is valid JSON grammar, and cairn
/// stores such a record as it came; but it names no character, so serde_json and most JSON
/// decoders refuse the whole document. Readers that decode a stored record (the rules, which
/// must not miss an event for a broken string in it) decode this instead.
pub fn with_lone_surrogates_replaced(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let surrogate = |at: usize| -> Option<u16> {
        let digits = bytes.get(at..at + 6)?;
        if &digits[..2] != b"\\u" {
            return None;
        }
        let code = u16::from_str_radix(std::str::from_utf8(&digits[2..]).ok()?, 16).ok()?;
        (0xD800..=0xDFFF).contains(&code).then_some(code)
    };
    let mut lone = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                match surrogate(i) {
                    Some(high @ 0xD800..=0xDBFF)
                        if surrogate(i + 6).is_some_and(|low| low >= 0xDC00) =>
                    {
                        let _ = high;
                        i += 12;
                        continue;
                    }
                    Some(_) => {
                        lone.push(i);
                        i += 6;
                        continue;
                    }
                    None => i += 1, // the escaped character is skipped below
                }
            }
            _ => {}
        }
        i += 1;
    }
    if lone.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for at in lone {
        out.push_str(&text[from..at]);
        out.push_str("\\ufffd");
        from = at + 6;
    }
    out.push_str(&text[from..]);
    std::borrow::Cow::Owned(out)
}

/// Removes the whitespace between JSON tokens; everything inside strings is kept as written.
/// Input that is not valid JSON is returned with the same treatment (the parser reports it).
pub fn minify_json(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            out.extend_from_slice(&bytes[start..i]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    // Only ASCII whitespace outside strings was removed, so the bytes stay valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn lone_surrogate_escapes_are_replaced_for_decoders_and_pairs_are_kept() {
        use super::with_lone_surrogates_replaced as replaced;
        // Found by the fuzz target `record` (regressions/record/).
        let text = r#"{"x":"\u00e9\ud83dwork\ude00","y":"\ud83d\ude00","z":"\\ud83d"}"#;
        assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        let decodable = replaced(text);
        assert_eq!(
            decodable,
            r#"{"x":"\u00e9\ufffdwork\ufffd","y":"\ud83d\ude00","z":"\\ud83d"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&decodable).unwrap();
        assert_eq!(value["y"], "\u{1f600}");
        assert_eq!(value["z"], "\\ud83d");
        // Nothing to replace: the same text, not a copy.
        assert!(matches!(
            replaced(r#"{"a":"\u0041"}"#),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    use super::*;

    fn fields(json: &str) -> RecordFields {
        Record::parse(json).unwrap().fields
    }

    #[test]
    fn minify_keeps_strings_and_drops_whitespace() {
        let text = "{ \"a\" : [ 1 , 2.50 ],\n\t\"b\": \"x  \\\" y\", \"c\" : null }";
        assert_eq!(
            minify_json(text),
            r#"{"a":[1,2.50],"b":"x  \" y","c":null}"#
        );
    }

    #[test]
    fn rejects_what_cannot_be_an_event_with_a_reason() {
        assert_eq!(
            Record::parse("[1,2]").unwrap_err(),
            RecordError::NotAnObject
        );
        assert_eq!(
            Record::parse(r#"{"eventName":"X"}"#).unwrap_err(),
            RecordError::MissingEventTime
        );
        assert_eq!(
            Record::parse(r#"{"eventName":"X","eventTime":null}"#).unwrap_err(),
            RecordError::MissingEventTime
        );
        assert_eq!(
            Record::parse(r#"{"eventName":"X","eventTime":"redacted"}"#).unwrap_err(),
            RecordError::InvalidEventTime("\"redacted\"".into())
        );
        assert_eq!(
            Record::parse(r#"{"eventTime":"2020-01-01T00:00:00Z"}"#).unwrap_err(),
            RecordError::NotAnEvent
        );
        assert!(matches!(
            Record::parse(r#"{"eventTime": "#),
            Err(RecordError::InvalidJson(_))
        ));
    }

    #[test]
    fn username_follows_the_documented_rule() {
        let user = |identity: &str| {
            fields(&format!(
                r#"{{"eventTime":"2020-01-01T00:00:00Z","eventName":"X","userIdentity":{identity}}}"#
            ))
            .username
        };
        assert_eq!(
            user(r#"{"type":"IAMUser","userName":"Alice"}"#).as_deref(),
            Some("Alice")
        );
        assert_eq!(
            user(r#"{"type":"Root","arn":"arn:aws:iam::1:root"}"#).as_deref(),
            Some("root")
        );
        assert_eq!(
            user(r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/alice-session","sessionContext":{"sessionIssuer":{"userName":"Admin"}}}"#).as_deref(),
            Some("alice-session")
        );
        assert_eq!(
            user(r#"{"type":"Role","sessionContext":{"sessionIssuer":{"userName":"R"}}}"#)
                .as_deref(),
            Some("R")
        );
        assert_eq!(
            user(r#"{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}"#).as_deref(),
            Some("ec2.amazonaws.com")
        );
        assert_eq!(user(r#"{"type":"Unknown"}"#), None);
        assert_eq!(user(r#""not an object""#), None);
    }

    #[test]
    fn odd_shapes_are_read_leniently() {
        let f = fields(
            r#"{"eventTime":"2020-01-01 00:00:00","eventName":"X","readOnly":"true","eventID":null,
               "resources":[{"type":"AWS::S3::Object","ARNPrefix":"arn:aws:s3:::b/"},{"accountId":"1"},"junk"]}"#,
        );
        assert_eq!(f.read_only, Some(true));
        assert!(f.event_id_derived);
        assert_eq!(
            f.resources,
            vec![Resource {
                resource_type: Some("AWS::S3::Object".into()),
                resource_name: Some("arn:aws:s3:::b/".into())
            }]
        );
    }

    #[test]
    fn derived_ids_are_stable_and_uuid_shaped() {
        let json = r#"{"eventTime":"2020-01-01T00:00:00Z","eventName":"X"}"#;
        let a = fields(json).event_id;
        assert_eq!(a, fields(json).event_id);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }

    #[test]
    fn history_category_follows_aws() {
        let cat = |extra: &str| {
            fields(&format!(
                r#"{{"eventTime":"2020-01-01T00:00:00Z","eventName":"X"{extra}}}"#
            ))
            .history
        };
        assert_eq!(cat(""), HistoryCategory::Management);
        assert_eq!(
            cat(r#","eventCategory":"Data""#),
            HistoryCategory::NotInHistory
        );
        assert_eq!(
            cat(r#","managementEvent":false"#),
            HistoryCategory::NotInHistory
        );
        assert_eq!(
            cat(r#","eventType":"AwsCloudTrailInsight""#),
            HistoryCategory::Insight
        );
        assert_eq!(
            cat(r#","eventCategory":"Management","managementEvent":true"#),
            HistoryCategory::Management
        );
    }

    #[test]
    fn insights_events_take_name_and_source_from_insight_details() {
        let f = fields(
            r#"{"eventTime":"2020-01-01T00:00:00Z","eventType":"AwsCloudTrailInsight","eventCategory":"Insight",
                "insightDetails":{"eventName":"PutObject","eventSource":"s3.amazonaws.com"}}"#,
        );
        assert_eq!(f.event_name.as_deref(), Some("PutObject"));
        assert_eq!(f.event_source.as_deref(), Some("s3.amazonaws.com"));
        assert_eq!(f.history, HistoryCategory::Insight);
    }
}
