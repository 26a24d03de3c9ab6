//! Trails: their definitions and logging state, and the rules AWS applies to them (names,
//! ARNs, home regions, shadow trails, the per-region limit).
//!
//! # Format: catalog document `trails.json`, version 1
//!
//! `{"version": 1, "trails": [<Trail>, ...]}`, each trail as [`Trail`] serializes (snake_case
//! members; times as epoch seconds; `selectors` absent or `{"basic": [...]}` /
//! `{"advanced": [...]}` with the selectors in their wire shape, see `selectors.rs`). Every change rewrites the document atomically before the
//! API answers, so an acknowledged change survives a crash.
//!
//! A multi-region trail lives in its home region and is seen in every other region as a
//! *shadow trail*: readable there, changeable only from the home region
//! (`InvalidHomeRegionException`), as AWS does.

use std::sync::Arc;

use cairn_store::{LogPosition, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog_list::{CatalogList, ListDocument, ListEdit};
use crate::error::{ApiError, ErrorCode};
use crate::selectors::Selectors;

/// The catalog document: `{"version": 1, "trails": [Trail...]}`.
const DOCUMENT: ListDocument = ListDocument {
    name: "trails.json",
    version: 1,
    member: "trails",
    visibility: cairn_store::Visibility::Plain,
};
/// AWS's quota: trails per region per account (a multi-region trail counts in every region).
pub const MAX_TRAILS_PER_REGION: usize = 5;

/// Who asks, and where: the caller's account and the request's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
}

/// A trail as cairn keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    /// Never reused: names the trail's delivery cursor, so that a trail deleted and created
    /// again starts afresh.
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub home_region: String,
    pub s3_bucket_name: String,
    pub s3_key_prefix: Option<String>,
    pub sns_topic_name: Option<String>,
    pub include_global_service_events: bool,
    pub is_multi_region_trail: bool,
    pub log_file_validation_enabled: bool,
    pub cloud_watch_logs_log_group_arn: Option<String>,
    pub cloud_watch_logs_role_arn: Option<String>,
    pub kms_key_id: Option<String>,
    pub is_organization_trail: bool,
    pub tags: Vec<Tag>,
    /// `None` until PutEventSelectors: then [`Selectors::default_for_trail`] applies.
    #[serde(default)]
    pub selectors: Option<Selectors>,
    pub logging: LoggingState,
}

/// A resource tag (`Value` may be absent, as AWS allows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Whether a trail logs, and since when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggingState {
    pub is_logging: bool,
    pub start_logging_time: Option<f64>,
    pub stop_logging_time: Option<f64>,
    /// The end of the log at StopLogging: delivery finishes up to here.
    #[serde(default)]
    pub stop_position: Option<LogPosition>,
}

impl Trail {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            self.home_region, self.account_id, self.name
        )
    }

    /// Whether `scope` sees this trail: its own account, and its home region or, for a
    /// multi-region trail, any region.
    pub fn visible_in(&self, scope: &Scope) -> bool {
        self.account_id == scope.account_id
            && (self.home_region == scope.region || self.is_multi_region_trail)
    }

    /// The members CreateTrail and UpdateTrail answer with.
    pub fn settings(&self) -> Value {
        let mut out = json!({
            "Name": self.name,
            "S3BucketName": self.s3_bucket_name,
            "IncludeGlobalServiceEvents": self.include_global_service_events,
            "IsMultiRegionTrail": self.is_multi_region_trail,
            "TrailARN": self.arn(),
            "LogFileValidationEnabled": self.log_file_validation_enabled,
            "IsOrganizationTrail": self.is_organization_trail,
        });
        let optional = [
            ("S3KeyPrefix", &self.s3_key_prefix),
            ("SnsTopicName", &self.sns_topic_name),
            (
                "CloudWatchLogsLogGroupArn",
                &self.cloud_watch_logs_log_group_arn,
            ),
            ("CloudWatchLogsRoleArn", &self.cloud_watch_logs_role_arn),
            ("KmsKeyId", &self.kms_key_id),
        ];
        for (member, value) in optional {
            if let Some(value) = value {
                out[member] = json!(value);
            }
        }
        if let Some(topic) = &self.sns_topic_name {
            out["SnsTopicARN"] = json!(self.sns_topic_arn(topic));
        }
        out
    }

    /// The selectors in force: the trail's own, or the default.
    pub fn effective_selectors(&self) -> Selectors {
        self.selectors
            .clone()
            .unwrap_or_else(Selectors::default_for_trail)
    }

    /// The `Trail` structure of GetTrail and DescribeTrails.
    pub fn description(&self) -> Value {
        let mut out = self.settings();
        out["HomeRegion"] = json!(self.home_region);
        out["HasCustomEventSelectors"] = json!(self.selectors.is_some());
        out["HasInsightSelectors"] = json!(false);
        out
    }

    /// The ARN of the topic `topic` (a name or an ARN) names, from the trail's account and home region.
    pub fn sns_topic_arn(&self, topic: &str) -> String {
        if topic.starts_with("arn:") {
            topic.to_owned()
        } else {
            format!(
                "arn:aws:sns:{}:{}:{topic}",
                self.home_region, self.account_id
            )
        }
    }
}

/// Every trail of every account, kept in the catalog.
#[derive(Debug)]
pub struct Trails {
    list: CatalogList<Trail>,
}

impl Trails {
    /// The trails the store's catalog holds (none on a new store).
    pub fn load(store: Arc<Store>) -> Result<Trails, String> {
        let trails = Trails {
            list: CatalogList::load(store, DOCUMENT)?,
        };
        // Trails written before trails had ids get one, kept from now on.
        {
            let mut edit = trails.edit().map_err(|e| e.message)?;
            if edit.items.iter().any(|t| t.id.is_empty()) {
                for trail in edit.items.iter_mut().filter(|t| t.id.is_empty()) {
                    trail.id = new_trail_id();
                }
                edit.save().map_err(|e| e.message)?;
            }
        }
        Ok(trails)
    }

    /// The store the trails are kept in (and their delivery cursors).
    pub fn store(&self) -> &Store {
        self.list.store()
    }

    /// A copy of the trail `name_or_arn` names, among those `scope` sees.
    pub fn get(&self, scope: &Scope, name_or_arn: &str) -> Result<Trail, ApiError> {
        let edit = self.edit()?;
        let at = edit.find(scope, name_or_arn)?;
        Ok(edit.items[at].clone())
    }

    /// The trails, locked: changes go through [`ListEdit::save`].
    pub fn edit(&self) -> Result<Edit<'_>, ApiError> {
        self.list.edit()
    }
}

/// The locked list of trails.
pub type Edit<'a> = ListEdit<'a, Trail>;

impl ListEdit<'_, Trail> {
    /// The index of the trail `name_or_arn` names, among those `scope` sees.
    pub fn find(&self, scope: &Scope, name_or_arn: &str) -> Result<usize, ApiError> {
        let reference = TrailReference::parse(name_or_arn)?;
        self.items
            .iter()
            .position(|t| t.visible_in(scope) && reference.names(t))
            .ok_or_else(|| trail_not_found(scope, name_or_arn))
    }

    /// The index of the trail the ARN `resource_id` names (AddTags, RemoveTags, ListTags).
    pub fn find_by_arn(&self, scope: &Scope, resource_id: &str) -> Result<usize, ApiError> {
        if !resource_id.starts_with("arn:") {
            return Err(ApiError::new(
                ErrorCode::CloudTrailArnInvalid,
                format!("{resource_id} is not an ARN: tags are addressed by the trail's ARN."),
            ));
        }
        let kind = resource_id
            .splitn(6, ':')
            .nth(5)
            .and_then(|resource| resource.split('/').next());
        if kind != Some("trail") {
            return Err(ApiError::new(
                ErrorCode::ResourceNotFound,
                format!(
                    "No resource found for {resource_id}: cairn tags trails and event data \
                     stores."
                ),
            ));
        }
        self.find(scope, resource_id)
    }

    /// Whether `trail` fits beside the other trails (all but the one at `replacing`, when it
    /// replaces one): no trail of its account that it would be seen beside has its name, and
    /// no region it is seen in would hold more than [`MAX_TRAILS_PER_REGION`].
    pub fn check_room_for(&self, trail: &Trail, replacing: Option<usize>) -> Result<(), ApiError> {
        let home = Scope {
            account_id: trail.account_id.clone(),
            region: trail.home_region.clone(),
        };
        let others = || {
            self.items
                .iter()
                .enumerate()
                .filter(move |(i, t)| Some(*i) != replacing && t.account_id == trail.account_id)
                .map(|(_, t)| t)
        };
        let clashes = |other: &Trail| {
            other.name == trail.name && (other.visible_in(&home) || trail.is_multi_region_trail)
        };
        if others().any(clashes) {
            return Err(ApiError::new(
                ErrorCode::TrailAlreadyExists,
                format!(
                    "Trail {} already exists for customer: {}",
                    trail.name, trail.account_id
                ),
            ));
        }
        let mut regions: Vec<&str> = vec![trail.home_region.as_str()];
        if trail.is_multi_region_trail {
            regions.extend(others().map(|t| t.home_region.as_str()));
            regions.sort_unstable();
            regions.dedup();
        }
        for region in regions {
            let there = Scope {
                account_id: trail.account_id.clone(),
                region: region.to_owned(),
            };
            if others().filter(|t| t.visible_in(&there)).count() >= MAX_TRAILS_PER_REGION {
                return Err(ApiError::new(
                    ErrorCode::MaximumNumberOfTrailsExceeded,
                    format!(
                        "User: {} already has {MAX_TRAILS_PER_REGION} trails in {region}.",
                        trail.account_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Like [`Self::find`], for a change: the caller must be in the trail's home region.
    pub fn find_to_change(&self, scope: &Scope, name_or_arn: &str) -> Result<usize, ApiError> {
        let at = self.find(scope, name_or_arn)?;
        let trail = &self.items[at];
        if trail.home_region != scope.region {
            return Err(ApiError::new(
                ErrorCode::InvalidHomeRegion,
                format!(
                    "This operation must be called from the trail's home region ({}): {} is a \
                     shadow trail in {}.",
                    trail.home_region,
                    trail.arn(),
                    scope.region
                ),
            ));
        }
        Ok(at)
    }
}

/// A new trail id: 32 lowercase hex digits.
pub fn new_trail_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// AWS's TrailNotFoundException, word for word.
pub fn trail_not_found(scope: &Scope, name_or_arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::TrailNotFound,
        format!(
            "Unknown trail: {name_or_arn} for the user: {}",
            scope.account_id
        ),
    )
}

/// How a request names a trail: by name, or by ARN.
#[derive(Debug, PartialEq, Eq)]
enum TrailReference<'a> {
    Name(&'a str),
    Arn {
        region: &'a str,
        account_id: &'a str,
        name: &'a str,
    },
}

impl<'a> TrailReference<'a> {
    fn parse(text: &'a str) -> Result<TrailReference<'a>, ApiError> {
        if !text.starts_with("arn:") {
            validate_trail_name(text)?;
            return Ok(TrailReference::Name(text));
        }
        let invalid = || {
            ApiError::new(
                ErrorCode::CloudTrailArnInvalid,
                format!(
                    "{text} is not a valid trail ARN: the format is \
                     arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail"
                ),
            )
        };
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [_, partition, "cloudtrail", region, account_id, resource] = parts[..] else {
            return Err(invalid());
        };
        let name = resource.strip_prefix("trail/").ok_or_else(invalid)?;
        let account_ok = account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit());
        if partition.is_empty() || region.is_empty() || !account_ok {
            return Err(invalid());
        }
        validate_trail_name(name)?;
        Ok(TrailReference::Arn {
            region,
            account_id,
            name,
        })
    }

    fn names(&self, trail: &Trail) -> bool {
        match *self {
            TrailReference::Name(name) => trail.name == name,
            TrailReference::Arn {
                region,
                account_id,
                name,
            } => {
                trail.home_region == region && trail.account_id == account_id && trail.name == name
            }
        }
    }
}

/// AWS's trail name rules: 3–128 of ASCII letters, digits, `.`, `_`, `-`; starting and ending
/// with a letter or digit; no two of `.`, `_`, `-` side by side; not shaped like an IP address.
///
/// The messages of the first five checks, and their order, are AWS's own, word for word (as
/// recorded by other emulators' sources, moto's among them: "must starts" is AWS's grammar).
/// AWS's wording for the last two is not known; they follow its style.
pub fn validate_trail_name(name: &str) -> Result<(), ApiError> {
    let bytes = name.as_bytes();
    let punctuation = |b: &u8| b".-_".contains(b);
    let length = name.chars().count();
    let problem = if length < 3 {
        format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: \
             {length} characters."
        )
    } else if length > 128 {
        format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: \
             {length} characters."
        )
    } else if !bytes[0].is_ascii_alphanumeric() {
        "Trail name must starts with a letter or number.".to_owned()
    } else if !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        "Trail name must ends with a letter or number.".to_owned()
    } else if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || punctuation(b))
    {
        "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, \
         periods (.), hyphens (-), and underscores (_)."
            .to_owned()
    } else if bytes
        .windows(2)
        .any(|pair| punctuation(&pair[0]) && punctuation(&pair[1]))
    {
        "Trail name cannot have adjacent periods (.), hyphens (-), or underscores (_).".to_owned()
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        "Trail name cannot be formatted as an IP address.".to_owned()
    } else {
        return Ok(());
    };
    Err(ApiError::new(ErrorCode::InvalidTrailName, problem))
}

/// S3's bucket name rules: 3–63 of lowercase letters, digits, `.` and `-`, starting and ending
/// with a letter or digit, no `..`, not shaped like an IP address.
pub fn validate_s3_bucket_name(name: &str) -> Result<(), ApiError> {
    let bytes = name.as_bytes();
    let valid = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-".contains(b))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err();
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidS3BucketName,
            format!("Bucket name {name:?} is not a valid S3 bucket name."),
        ))
    }
}

/// `S3KeyPrefix`: at most 200 characters.
pub fn validate_s3_key_prefix(prefix: &str) -> Result<(), ApiError> {
    if prefix.chars().count() > 200 {
        return Err(ApiError::new(
            ErrorCode::InvalidS3Prefix,
            "S3KeyPrefix must be at most 200 characters long.",
        ));
    }
    Ok(())
}

/// Tags: at most 50 a resource; keys 1–128 characters, values at most 256, keys distinct.
pub fn validate_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > 50 {
        return Err(ApiError::new(
            ErrorCode::TagsLimitExceeded,
            "The number of tags on the resource would exceed 50.",
        ));
    }
    for (i, tag) in tags.iter().enumerate() {
        let key_ok = (1..=128).contains(&tag.key.chars().count());
        let value_ok = tag.value.as_ref().is_none_or(|v| v.chars().count() <= 256);
        let distinct = tags[..i].iter().all(|other| other.key != tag.key);
        if !(key_ok && value_ok && distinct) {
            return Err(ApiError::new(
                ErrorCode::InvalidTagParameter,
                format!(
                    "Tag {:?} is not valid: keys are 1-128 characters and distinct, values at \
                     most 256.",
                    tag.key
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_names_follow_aws_rules() {
        for good in ["abc", "my-trail", "My.Trail_2", "a1b", &"x".repeat(128)] {
            assert_eq!(validate_trail_name(good), Ok(()), "{good}");
        }
        for bad in [
            "ab",
            &"x".repeat(129),
            "my-_namespace",
            "my--namespace",
            "-trail",
            "trail.",
            "trail name",
            "192.168.5.4",
            "trail/1",
        ] {
            assert_eq!(
                validate_trail_name(bad).unwrap_err().code,
                ErrorCode::InvalidTrailName,
                "{bad}"
            );
        }
        // AWS's messages, word for word.
        let message = |name: &str| validate_trail_name(name).unwrap_err().message;
        assert_eq!(
            message("a"),
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: \
             1 characters."
        );
        assert_eq!(
            message(&"x".repeat(129)),
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: \
             129 characters."
        );
        assert_eq!(
            message("-trail"),
            "Trail name must starts with a letter or number."
        );
        assert_eq!(
            message("trail."),
            "Trail name must ends with a letter or number."
        );
        assert_eq!(
            message("trail name"),
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, \
             periods (.), hyphens (-), and underscores (_)."
        );
    }

    #[test]
    fn trails_are_named_by_name_or_arn() {
        assert_eq!(
            TrailReference::parse("arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail"),
            Ok(TrailReference::Arn {
                region: "us-east-2",
                account_id: "123456789012",
                name: "MyTrail"
            })
        );
        for bad in [
            "arn:aws:cloudtrail:us-east-2:123456789012:eventdatastore/x",
            "arn:aws:s3:us-east-2:123456789012:trail/MyTrail",
            "arn:aws:cloudtrail:us-east-2:1234:trail/MyTrail",
        ] {
            assert_eq!(
                TrailReference::parse(bad).unwrap_err().code,
                ErrorCode::CloudTrailArnInvalid,
                "{bad}"
            );
        }
    }
}
