//! `CreateTrail`: a new trail in the caller's region, not logging until `StartLogging`.
//!
//! The members CreateTrail and UpdateTrail share ([`TrailSettings`]) are checked and applied
//! here for both, as AWS checks them: the SNS topic, the CloudWatch Logs log group and the
//! KMS key must exist on the services cairn delivers to ([`Destinations`]: the upstreams of
//! the capture configuration). cairn is not in an AWS Organization, so an organization trail
//! is refused as AWS refuses it for an account outside one.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};
use crate::trails::{LoggingState, Scope, Tag, Trail, Trails};
use crate::trails::{
    validate_s3_bucket_name, validate_s3_key_prefix, validate_tags, validate_trail_name,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTrailRequest {
    pub name: String,
    pub s3_bucket_name: String,
    #[serde(flatten)]
    pub settings: TrailSettings,
    pub tags_list: Option<Vec<Tag>>,
}

/// The optional members CreateTrail and UpdateTrail share.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrailSettings {
    pub s3_key_prefix: Option<String>,
    pub sns_topic_name: Option<String>,
    pub include_global_service_events: Option<bool>,
    pub is_multi_region_trail: Option<bool>,
    pub enable_log_file_validation: Option<bool>,
    pub cloud_watch_logs_log_group_arn: Option<String>,
    pub cloud_watch_logs_role_arn: Option<String>,
    pub kms_key_id: Option<String>,
    pub is_organization_trail: Option<bool>,
}

/// What CreateTrail and UpdateTrail ask of the services a trail delivers to. Each answer is
/// an error only when the service could not say.
pub trait Destinations {
    /// Whether `bucket` exists where trails deliver.
    fn bucket_exists(&self, bucket: &str) -> Result<bool, ApiError>;
    /// Whether the SNS topic `topic_arn` exists.
    fn topic_exists(&self, topic_arn: &str) -> Result<bool, ApiError>;
    /// Whether the log group of `arn` (a [`LogGroupArn`]) exists.
    fn log_group_exists(&self, arn: &LogGroupArn) -> Result<bool, ApiError>;
    /// The ARN of the KMS key `key` (a key ID, key ARN, alias name or alias ARN) names in
    /// `region`: `None` when there is no such key, `key` itself when no KMS service is
    /// there to ask.
    fn kms_key_arn(&self, region: &str, key: &str) -> Result<Option<String>, ApiError>;
}

impl TrailSettings {
    /// Checks these settings and applies them to `trail` (its name, bucket, account and home
    /// region set): members not given keep their values; an empty string removes an optional
    /// member, as UpdateTrail does.
    pub fn apply_to(
        self,
        trail: &mut Trail,
        destinations: &dyn Destinations,
    ) -> Result<(), ApiError> {
        if self.is_organization_trail == Some(true) {
            return Err(ApiError::new(
                ErrorCode::OrganizationsNotInUse,
                format!(
                    "Account {} is not a member of an organization: cairn has no AWS \
                     Organizations, so it keeps no organization trails.",
                    trail.account_id
                ),
            ));
        }
        if let Some(prefix) = self.s3_key_prefix {
            validate_s3_key_prefix(&prefix)?;
            trail.s3_key_prefix = Some(prefix).filter(|p| !p.is_empty());
        }
        if let Some(include) = self.include_global_service_events {
            trail.include_global_service_events = include;
        }
        if let Some(validation) = self.enable_log_file_validation {
            trail.log_file_validation_enabled = validation;
        }
        if let Some(multi_region) = self.is_multi_region_trail {
            trail.is_multi_region_trail = multi_region;
        }
        check_global_events(
            trail.is_multi_region_trail,
            trail.include_global_service_events,
        )?;
        if let Some(topic) = self.sns_topic_name {
            trail.sns_topic_name = match topic.as_str() {
                "" => None,
                _ => {
                    validate_sns_topic(&topic)?;
                    let arn = trail.sns_topic_arn(&topic);
                    if !destinations.topic_exists(&arn)? {
                        return Err(sns_topic_does_not_exist());
                    }
                    Some(topic)
                }
            };
        }
        if let Some(group) = self.cloud_watch_logs_log_group_arn {
            trail.cloud_watch_logs_log_group_arn = Some(group).filter(|g| !g.is_empty());
        }
        if let Some(role) = self.cloud_watch_logs_role_arn {
            trail.cloud_watch_logs_role_arn = Some(role).filter(|r| !r.is_empty());
        }
        check_cloud_watch_logs(trail, destinations)?;
        if let Some(key) = self.kms_key_id {
            trail.kms_key_id = match key.as_str() {
                "" => None,
                _ => Some(kms_key_arn(trail, &key, destinations)?),
            };
        }
        Ok(())
    }
}

/// AWS: a multi-region trail must include global service events.
pub fn check_global_events(multi_region: bool, include_global: bool) -> Result<(), ApiError> {
    if multi_region && !include_global {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterCombination,
            "Multi-Region trail must include global service events.",
        ));
    }
    Ok(())
}

/// AWS's message, word for word (its exclamation mark included).
pub fn bucket_does_not_exist(bucket: &str) -> ApiError {
    ApiError::new(
        ErrorCode::S3BucketDoesNotExist,
        format!("S3 bucket {bucket} does not exist!"),
    )
}

/// AWS's message, word for word.
fn sns_topic_does_not_exist() -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientSnsTopicPolicy,
        "SNS Topic does not exist or the topic policy is incorrect!",
    )
}

/// A topic name (1 to 256 letters, digits, `-` and `_`; FIFO topics end in `.fifo`, which
/// trails cannot notify) or a topic ARN of at most 256 characters.
fn validate_sns_topic(topic: &str) -> Result<(), ApiError> {
    let name_ok =
        |name: &str| (1..=256).contains(&name.len()) && name.bytes().all(is_topic_name_byte);
    let valid = match topic.strip_prefix("arn:") {
        Some(_) => {
            let parts: Vec<&str> = topic.splitn(6, ':').collect();
            topic.len() <= 256
                && parts.len() == 6
                && parts[1].starts_with("aws")
                && parts[2] == "sns"
                && !parts[3].is_empty()
                && is_account_id(parts[4])
                && name_ok(parts[5])
        }
        None => name_ok(topic),
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidSnsTopicName,
            format!(
                "{topic} is not a valid SNS topic name or ARN: a name is 1 to 256 letters, \
                 digits, hyphens and underscores."
            ),
        ))
    }
}

fn is_topic_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A CloudWatch Logs log group ARN as trails name it:
/// `arn:aws:logs:<region>:<account>:log-group:<name>:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupArn {
    pub region: String,
    pub account_id: String,
    pub name: String,
}

impl LogGroupArn {
    /// The parts of `arn`, if it is a log group ARN (the trailing `:*` optional).
    pub fn parse(arn: &str) -> Option<LogGroupArn> {
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        let [head, partition, service, region, account, kind, rest] = parts[..] else {
            return None;
        };
        let name = rest.strip_suffix(":*").unwrap_or(rest);
        let name_ok = (1..=512).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b));
        (head == "arn"
            && partition.starts_with("aws")
            && service == "logs"
            && !region.is_empty()
            && is_account_id(account)
            && kind == "log-group"
            && name_ok)
            .then(|| LogGroupArn {
                region: region.to_owned(),
                account_id: account.to_owned(),
                name: name.to_owned(),
            })
    }
}

/// AWS's rules for a trail's CloudWatch Logs members: both or neither; the log group in the
/// trail's account and home region, existing; the role an IAM role ARN of the account.
fn check_cloud_watch_logs(trail: &Trail, destinations: &dyn Destinations) -> Result<(), ApiError> {
    let group_error = |message: &str| {
        ApiError::new(
            ErrorCode::InvalidCloudWatchLogsLogGroupArn,
            message.to_owned(),
        )
    };
    let role_error =
        |message: String| ApiError::new(ErrorCode::InvalidCloudWatchLogsRoleArn, message);
    match (
        &trail.cloud_watch_logs_log_group_arn,
        &trail.cloud_watch_logs_role_arn,
    ) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(role_error(
            "You must specify a role ARN as well as a log group.".to_owned(),
        )),
        (None, Some(_)) => Err(group_error(
            "You must specify a log group as well as a role ARN.",
        )),
        (Some(group), Some(role)) => {
            let cannot_validate =
                || group_error("CloudTrail cannot validate the specified log group ARN.");
            let arn = LogGroupArn::parse(group).ok_or_else(cannot_validate)?;
            if arn.account_id != trail.account_id || arn.region != trail.home_region {
                return Err(cannot_validate());
            }
            let role_ok = role
                .strip_prefix("arn:aws:iam::")
                .and_then(|rest| rest.split_once(":role/"))
                .is_some_and(|(account, name)| account == trail.account_id && !name.is_empty());
            if !role_ok {
                return Err(role_error(format!(
                    "{role} is not the ARN of an IAM role of account {}.",
                    trail.account_id
                )));
            }
            if !destinations.log_group_exists(&arn)? {
                return Err(cannot_validate());
            }
            Ok(())
        }
    }
}

/// The ARN a trail keeps for `key` (AWS keeps the key's ARN whichever way it was named).
fn kms_key_arn(
    trail: &Trail,
    key: &str,
    destinations: &dyn Destinations,
) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidKmsKeyId,
            format!(
                "{key} is not a KMS key: give a key ID, a key ARN, an alias name (alias/...) \
                 or an alias ARN."
            ),
        )
    };
    let region = trail.home_region.as_str();
    let account = trail.account_id.as_str();
    let arn = if key.starts_with("arn:") {
        let parts: Vec<&str> = key.splitn(6, ':').collect();
        let valid = parts.len() == 6
            && parts[1].starts_with("aws")
            && parts[2] == "kms"
            && is_account_id(parts[4])
            && (is_key_id(parts[5].strip_prefix("key/").unwrap_or_default()) || is_alias(parts[5]));
        if !valid {
            return Err(invalid());
        }
        key.to_owned()
    } else if is_key_id(key) {
        format!("arn:aws:kms:{region}:{account}:key/{key}")
    } else if is_alias(key) {
        format!("arn:aws:kms:{region}:{account}:{key}")
    } else {
        return Err(invalid());
    };
    destinations.kms_key_arn(region, &arn)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::KmsKeyNotFound,
            format!("KMS key {key} does not exist in {region}."),
        )
    })
}

/// A KMS key ID: a UUID (or a multi-Region key's `mrk-` and 32 hex digits).
fn is_key_id(text: &str) -> bool {
    let hex_and_dashes = |t: &str| t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    (text.len() == 36 && hex_and_dashes(text))
        || text
            .strip_prefix("mrk-")
            .is_some_and(|t| t.len() == 32 && hex_and_dashes(t))
}

/// An alias name: `alias/` and 1 to 250 letters, digits, `/`, `_` and `-`.
fn is_alias(text: &str) -> bool {
    text.strip_prefix("alias/").is_some_and(|name| {
        (1..=250).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    })
}

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: CreateTrailRequest,
    destinations: &dyn Destinations,
) -> Result<Value, ApiError> {
    validate_trail_name(&request.name)?;
    validate_s3_bucket_name(&request.s3_bucket_name)?;
    let tags = request.tags_list.unwrap_or_default();
    validate_tags(&tags)?;
    let mut trail = Trail {
        id: crate::trails::new_trail_id(),
        name: request.name,
        account_id: scope.account_id.clone(),
        home_region: scope.region.clone(),
        s3_bucket_name: request.s3_bucket_name,
        s3_key_prefix: None,
        sns_topic_name: None,
        include_global_service_events: true,
        is_multi_region_trail: false,
        log_file_validation_enabled: false,
        cloud_watch_logs_log_group_arn: None,
        cloud_watch_logs_role_arn: None,
        kms_key_id: None,
        is_organization_trail: false,
        tags,
        selectors: None,
        logging: LoggingState::default(),
    };
    request.settings.apply_to(&mut trail, destinations)?;

    let mut edit = trails.edit()?;
    edit.check_room_for(&trail, None)?;
    // Last, as it may ask the S3 server.
    if !destinations.bucket_exists(&trail.s3_bucket_name)? {
        return Err(bucket_does_not_exist(&trail.s3_bucket_name));
    }
    let answer = trail.settings();
    edit.items.push(trail);
    edit.save()?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_names_or_sns_arns() {
        for good in [
            "alerts",
            "trail_files-2",
            "arn:aws:sns:us-east-1:123456789012:alerts",
        ] {
            assert!(validate_sns_topic(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "no spaces",
            "alerts.fifo",
            "arn:aws:sqs:us-east-1:123456789012:alerts",
            "arn:aws:sns:us-east-1:1234:alerts",
            &"a".repeat(257),
        ] {
            assert_eq!(
                validate_sns_topic(bad).unwrap_err().code,
                ErrorCode::InvalidSnsTopicName,
                "{bad}"
            );
        }
    }

    #[test]
    fn log_group_arns_name_region_account_and_group() {
        assert_eq!(
            LogGroupArn::parse("arn:aws:logs:us-east-2:123456789012:log-group:CloudTrail/x:*"),
            Some(LogGroupArn {
                region: "us-east-2".into(),
                account_id: "123456789012".into(),
                name: "CloudTrail/x".into(),
            })
        );
        assert!(LogGroupArn::parse("arn:aws:logs:us-east-2:123456789012:log-group:g").is_some());
        for bad in [
            "arn:aws:logs:us-east-2:123456789012:log-stream:g:*",
            "arn:aws:s3:us-east-2:123456789012:log-group:g:*",
            "arn:aws:logs:us-east-2:12345:log-group:g:*",
            "arn:aws:logs:us-east-2:123456789012:log-group::*",
            "log-group:g",
        ] {
            assert_eq!(LogGroupArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn kms_keys_are_ids_arns_or_aliases() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        assert!(!is_key_id("1234abcd"));
        assert!(is_alias("alias/trail-logs"));
        assert!(!is_alias("alias/"));
        assert!(!is_alias("trail-logs"));
    }
}
