//! LookupEvents: the request, its validation, the page token and the `Event` shape it returns
//! (`../shared/spec/cloudtrail.md` §3).
//!
//! Semantics, as AWS documents them:
//! - at most one lookup attribute; its value matches exactly (case-sensitive);
//! - `StartTime` and `EndTime` are inclusive; a start after the end is an error;
//! - newest first; `MaxResults` 1..=50, default 50;
//! - a `NextToken` is valid only with the same parameters it was issued for;
//! - without `EventCategory` only management events are returned; with `insight`, only
//!   Insights events; data events are never in event history.
//!
//! Where cairn differs, deliberately: AWS keeps event history for 90 days; cairn keeps what the
//! store's retention keeps (everything by default), because imported years of logs are meant to
//! be searched. Order among events of the same millisecond is by record fingerprint, so it is
//! total and stable across pages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::record::{HistoryCategory, Record, RecordFields};
use crate::time::{epoch_seconds_to_ms, ms_to_epoch_seconds};

/// Most events one LookupEvents page returns, and the default page size.
pub const MAX_RESULTS: usize = 50;

/// The eight attributes LookupEvents can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupAttributeKey {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl LookupAttributeKey {
    pub const ALL: [LookupAttributeKey; 8] = [
        LookupAttributeKey::EventId,
        LookupAttributeKey::EventName,
        LookupAttributeKey::ReadOnly,
        LookupAttributeKey::Username,
        LookupAttributeKey::ResourceType,
        LookupAttributeKey::ResourceName,
        LookupAttributeKey::EventSource,
        LookupAttributeKey::AccessKeyId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LookupAttributeKey::EventId => "EventId",
            LookupAttributeKey::EventName => "EventName",
            LookupAttributeKey::ReadOnly => "ReadOnly",
            LookupAttributeKey::Username => "Username",
            LookupAttributeKey::ResourceType => "ResourceType",
            LookupAttributeKey::ResourceName => "ResourceName",
            LookupAttributeKey::EventSource => "EventSource",
            LookupAttributeKey::AccessKeyId => "AccessKeyId",
        }
    }

    /// A small stable number, used to keep the index keys of different attributes apart.
    pub fn code(self) -> u64 {
        self as u64 + 1
    }
}

impl fmt::Display for LookupAttributeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LookupAttributeKey {
    type Err = LookupError;

    fn from_str(s: &str) -> Result<Self, LookupError> {
        LookupAttributeKey::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            LookupError::InvalidLookupAttributes(format!(
                "Value '{s}' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: \
                 Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, \
                 ResourceType, ResourceName, EventSource, AccessKeyId]"
            ))
        })
    }
}

impl RecordFields {
    /// The values under which this record answers a lookup on `key` (none, one or several).
    pub fn lookup_values(&self, key: LookupAttributeKey) -> Vec<&str> {
        fn one(v: &Option<String>) -> Vec<&str> {
            v.as_deref().into_iter().collect()
        }
        match key {
            LookupAttributeKey::EventId => vec![self.event_id.as_str()],
            LookupAttributeKey::EventName => one(&self.event_name),
            LookupAttributeKey::EventSource => one(&self.event_source),
            LookupAttributeKey::Username => one(&self.username),
            LookupAttributeKey::AccessKeyId => one(&self.access_key_id),
            LookupAttributeKey::ReadOnly => match self.read_only {
                Some(true) => vec!["true"],
                Some(false) => vec!["false"],
                None => vec![],
            },
            LookupAttributeKey::ResourceType => {
                let mut v: Vec<&str> = self
                    .resources
                    .iter()
                    .filter_map(|r| r.resource_type.as_deref())
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            LookupAttributeKey::ResourceName => {
                let mut v: Vec<&str> = self
                    .resources
                    .iter()
                    .filter_map(|r| r.resource_name.as_deref())
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        }
    }
}

/// The key under which the store indexes "attribute `key` has value `value`".
pub fn attribute_index_key(key: LookupAttributeKey, value: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(value.as_bytes(), key.code())
}

/// Which events a lookup returns, once validated. Scoping (`account_id`, `region`) comes from
/// the caller, not from the request: the API sets it from the signature, the CLI from flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupQuery {
    pub attribute: Option<(LookupAttributeKey, String)>,
    /// Inclusive, ms since epoch.
    pub start_ms: Option<i64>,
    /// Inclusive, ms since epoch.
    pub end_ms: Option<i64>,
    /// `true` for `EventCategory=insight`.
    pub insights: bool,
    pub account_id: Option<String>,
    pub region: Option<String>,
}

impl LookupQuery {
    /// The history category this lookup reads.
    pub fn history(&self) -> HistoryCategory {
        if self.insights {
            HistoryCategory::Insight
        } else {
            HistoryCategory::Management
        }
    }

    /// Whether a record is one this lookup returns (ignoring paging). The store answers from its
    /// index; this is the definition the index must agree with.
    pub fn matches(&self, fields: &RecordFields) -> bool {
        fields.history == self.history()
            && self.start_ms.is_none_or(|s| fields.event_time_ms >= s)
            && self.end_ms.is_none_or(|e| fields.event_time_ms <= e)
            && self.covers_scope(fields.account_id.as_deref(), fields.aws_region.as_deref())
            && self
                .attribute
                .as_ref()
                .is_none_or(|(key, value)| fields.lookup_values(*key).contains(&value.as_str()))
    }

    /// Whether events of `account` and `region` are in this lookup's scope. A lookup without
    /// an account or a region reads all of them.
    pub fn covers_scope(&self, account: Option<&str>, region: Option<&str>) -> bool {
        self.account_id
            .as_deref()
            .is_none_or(|a| account == Some(a))
            && self.region.as_deref().is_none_or(|r| region == Some(r))
    }

    /// A hash of everything that selects events, bound into page tokens.
    fn hash(&self) -> u64 {
        let text = format!("{self:?}");
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }
}

/// What cairn's event search (the console's) adds to a lookup, beyond AWS's LookupEvents (one
/// attribute): more attributes, every one of which must match as LookupEvents matches it;
/// errors only (an `errorCode`); writes only (`readOnly` false).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    pub attributes: Vec<(LookupAttributeKey, String)>,
    pub errors_only: bool,
    pub writes_only: bool,
}

impl EventFilter {
    pub fn matches(&self, fields: &RecordFields) -> bool {
        self.attributes
            .iter()
            .all(|(key, value)| fields.lookup_values(*key).contains(&value.as_str()))
            && (!self.errors_only || fields.error_code.is_some())
            && (!self.writes_only || fields.read_only == Some(false))
    }
}

/// Where the next page starts: just after the event with this time and fingerprint, in the
/// order (eventTime, fingerprint) descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub time_ms: i64,
    pub fingerprint: u64,
}

/// Encodes a `NextToken`: the cursor and the hash of the query it belongs to.
pub fn encode_next_token(query: &LookupQuery, cursor: PageCursor) -> String {
    format!(
        "{:016x}{:016x}{:016x}",
        cursor.time_ms as u64,
        cursor.fingerprint,
        query.hash()
    )
}

/// Decodes a `NextToken`, checking that it was issued for the same query.
pub fn decode_next_token(query: &LookupQuery, token: &str) -> Result<PageCursor, LookupError> {
    let invalid = || {
        LookupError::InvalidNextToken(
            "A token that was previously used in a request with different parameters or an \
             invalid token was provided."
                .to_owned(),
        )
    };
    if token.len() != 48 || !token.is_ascii() {
        return Err(invalid());
    }
    let field =
        |i: usize| u64::from_str_radix(&token[i * 16..(i + 1) * 16], 16).map_err(|_| invalid());
    let (time, fingerprint, hash) = (field(0)?, field(1)?, field(2)?);
    if hash != query.hash() {
        return Err(invalid());
    }
    Ok(PageCursor {
        time_ms: time as i64,
        fingerprint,
    })
}

/// The errors LookupEvents reports, with AWS's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("{0}")]
    InvalidLookupAttributes(String),
    #[error("{0}")]
    InvalidTimeRange(String),
    #[error("{0}")]
    InvalidMaxResults(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    InvalidEventCategory(String),
}

impl LookupError {
    /// AWS's error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            LookupError::InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            LookupError::InvalidTimeRange(_) => "InvalidTimeRangeException",
            LookupError::InvalidMaxResults(_) => "InvalidMaxResultsException",
            LookupError::InvalidNextToken(_) => "InvalidNextTokenException",
            LookupError::InvalidEventCategory(_) => "InvalidEventCategoryException",
        }
    }
}

/// One `LookupAttributes` element, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupAttribute {
    pub attribute_key: String,
    pub attribute_value: String,
}

/// `LookupEventsRequest`, as on the wire (AWS JSON 1.1; times in epoch seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupEventsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_attributes: Option<Vec<LookupAttribute>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A validated LookupEvents request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidLookup {
    pub query: LookupQuery,
    pub max_results: usize,
    pub cursor: Option<PageCursor>,
}

impl LookupEventsRequest {
    /// Validates the request as AWS does, within the caller's scope.
    pub fn validate(
        &self,
        account_id: Option<String>,
        region: Option<String>,
    ) -> Result<ValidLookup, LookupError> {
        let attribute = match self.lookup_attributes.as_deref().unwrap_or_default() {
            [] => None,
            [one] => {
                let key: LookupAttributeKey = one.attribute_key.parse()?;
                check_attribute_value(&one.attribute_value)?;
                Some((key, one.attribute_value.clone()))
            }
            _ => {
                return Err(LookupError::InvalidLookupAttributes(
                    "You can specify only one lookup attribute.".to_owned(),
                ));
            }
        };
        let time = |value: Option<f64>, name: &str| -> Result<Option<i64>, LookupError> {
            value
                .map(|s| {
                    epoch_seconds_to_ms(s).ok_or_else(|| {
                        LookupError::InvalidTimeRange(format!("{name} is not a valid time"))
                    })
                })
                .transpose()
        };
        let start_ms = time(self.start_time, "StartTime")?;
        let end_ms = time(self.end_time, "EndTime")?;
        if let (Some(start), Some(end)) = (start_ms, end_ms)
            && start > end
        {
            return Err(LookupError::InvalidTimeRange(
                "Start time must be before end time.".to_owned(),
            ));
        }
        let insights = match self.event_category.as_deref() {
            None => false,
            Some("insight") => true,
            Some(other) => {
                return Err(LookupError::InvalidEventCategory(format!(
                    "Value '{other}' at 'eventCategory' failed to satisfy constraint: Member must \
                     satisfy enum value set: [insight]"
                )));
            }
        };
        if insights
            && let Some((key, _)) = &attribute
            && !matches!(
                key,
                LookupAttributeKey::EventId
                    | LookupAttributeKey::EventName
                    | LookupAttributeKey::EventSource
            )
        {
            return Err(LookupError::InvalidLookupAttributes(format!(
                "Insights events can be looked up by EventId, EventName or EventSource only, not {key}."
            )));
        }
        let max_results = match self.max_results {
            None => MAX_RESULTS,
            Some(n) if (1..=MAX_RESULTS as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(LookupError::InvalidMaxResults(format!(
                    "Value {n} for MaxResults is invalid: it must be between 1 and {MAX_RESULTS}."
                )));
            }
        };
        let query = LookupQuery {
            attribute,
            start_ms,
            end_ms,
            insights,
            account_id,
            region,
        };
        let cursor = self
            .next_token
            .as_deref()
            .map(|t| decode_next_token(&query, t))
            .transpose()?;
        Ok(ValidLookup {
            query,
            max_results,
            cursor,
        })
    }
}

/// AttributeValue: 1..2000 characters, where `_`, space, `,` and newline count twice.
fn check_attribute_value(value: &str) -> Result<(), LookupError> {
    let weight: usize = value
        .chars()
        .map(|c| {
            if matches!(c, '_' | ' ' | ',' | '\n') {
                2
            } else {
                1
            }
        })
        .sum();
    if value.is_empty() || weight > 2000 {
        return Err(LookupError::InvalidLookupAttributes(
            "AttributeValue must be between 1 and 2000 characters long.".to_owned(),
        ));
    }
    Ok(())
}

/// One element of `Resources` in a LookupEvents `Event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// The `Event` shape of `LookupEventsResponse`, members in the model's order (which is also the
/// order the AWS CLI prints them in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupEvent {
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// `"true"` or `"false"`: a string on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Epoch seconds.
    pub event_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub resources: Vec<LookupResource>,
    /// The full record as JSON text.
    pub cloud_trail_event: String,
}

impl LookupEvent {
    pub fn from_record(record: &Record) -> LookupEvent {
        let f = &record.fields;
        LookupEvent {
            event_id: f.event_id.clone(),
            event_name: f.event_name.clone(),
            read_only: f.read_only.map(|r| r.to_string()),
            access_key_id: f.access_key_id.clone(),
            event_time: ms_to_epoch_seconds(f.event_time_ms),
            event_source: f.event_source.clone(),
            username: f.username.clone(),
            resources: f
                .resources
                .iter()
                .map(|r| LookupResource {
                    resource_type: r.resource_type.clone(),
                    resource_name: r.resource_name.clone(),
                })
                .collect(),
            cloud_trail_event: record.json.clone(),
        }
    }
}

/// `LookupEventsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupEventsResponse {
    pub events: Vec<LookupEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<ValidLookup, LookupError> {
        serde_json::from_str::<LookupEventsRequest>(json)
            .unwrap()
            .validate(None, None)
    }

    #[test]
    fn validation_reports_aws_errors() {
        let code = |json: &str| request(json).unwrap_err().code();
        assert_eq!(code(r#"{"MaxResults":0}"#), "InvalidMaxResultsException");
        assert_eq!(code(r#"{"MaxResults":51}"#), "InvalidMaxResultsException");
        assert_eq!(
            code(r#"{"StartTime":20,"EndTime":10}"#),
            "InvalidTimeRangeException"
        );
        assert_eq!(
            code(r#"{"LookupAttributes":[{"AttributeKey":"eventName","AttributeValue":"X"}]}"#),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(
                r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"X"},{"AttributeKey":"EventName","AttributeValue":"Y"}]}"#
            ),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(r#"{"EventCategory":"data"}"#),
            "InvalidEventCategoryException"
        );
        assert_eq!(code(r#"{"NextToken":"nope"}"#), "InvalidNextTokenException");
    }

    #[test]
    fn defaults_and_inclusive_bounds() {
        let v = request(r#"{"StartTime":10,"EndTime":10.5}"#).unwrap();
        assert_eq!(v.max_results, 50);
        assert_eq!(
            (v.query.start_ms, v.query.end_ms),
            (Some(10_000), Some(10_500))
        );
    }

    #[test]
    fn a_token_only_works_with_its_own_query() {
        let a =
            request(r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"A"}]}"#)
                .unwrap();
        let cursor = PageCursor {
            time_ms: 1_700_000_000_000,
            fingerprint: 42,
        };
        let token = encode_next_token(&a.query, cursor);
        assert_eq!(decode_next_token(&a.query, &token), Ok(cursor));
        let b =
            request(r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"B"}]}"#)
                .unwrap();
        assert!(decode_next_token(&b.query, &token).is_err());
    }
}
