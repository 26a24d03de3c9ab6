//! `CreateTrail`: a new trail in the caller's region, not logging until `StartLogging`.
//!
//! cairn has no SNS, KMS, CloudWatch Logs or Organizations: a request naming one of them is
//! refused with `InvalidParameterException` rather than accepted and ignored.

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
#[derive(Debug, Deserialize)]
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

impl TrailSettings {
    /// Refuses settings that name SNS, KMS, CloudWatch Logs or Organizations (an empty string,
    /// which UpdateTrail uses to clear a member, names nothing).
    pub fn refuse_unsupported(&self) -> Result<(), ApiError> {
        let given = |value: &Option<String>| value.as_ref().is_some_and(|v| !v.is_empty());
        let named = [
            ("SnsTopicName", given(&self.sns_topic_name)),
            (
                "CloudWatchLogsLogGroupArn",
                given(&self.cloud_watch_logs_log_group_arn),
            ),
            (
                "CloudWatchLogsRoleArn",
                given(&self.cloud_watch_logs_role_arn),
            ),
            ("KmsKeyId", given(&self.kms_key_id)),
            (
                "IsOrganizationTrail",
                self.is_organization_trail == Some(true),
            ),
        ];
        match named.iter().find(|(_, given)| *given) {
            Some((member, _)) => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "{member} is not supported by cairn: it has no such service to deliver to."
                ),
            )),
            None => Ok(()),
        }
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

/// Whether a bucket exists where trails deliver.
pub type BucketCheck<'a> = &'a dyn Fn(&str) -> Result<bool, ApiError>;

/// AWS's message, word for word (its exclamation mark included).
pub fn bucket_does_not_exist(bucket: &str) -> ApiError {
    ApiError::new(
        ErrorCode::S3BucketDoesNotExist,
        format!("S3 bucket {bucket} does not exist!"),
    )
}

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: CreateTrailRequest,
    bucket_exists: BucketCheck,
) -> Result<Value, ApiError> {
    validate_trail_name(&request.name)?;
    validate_s3_bucket_name(&request.s3_bucket_name)?;
    let settings = request.settings;
    if let Some(prefix) = &settings.s3_key_prefix {
        validate_s3_key_prefix(prefix)?;
    }
    settings.refuse_unsupported()?;
    let tags = request.tags_list.unwrap_or_default();
    validate_tags(&tags)?;
    check_global_events(
        settings.is_multi_region_trail.unwrap_or(false),
        settings.include_global_service_events.unwrap_or(true),
    )?;
    let trail = Trail {
        id: crate::trails::new_trail_id(),
        name: request.name,
        account_id: scope.account_id.clone(),
        home_region: scope.region.clone(),
        s3_bucket_name: request.s3_bucket_name,
        s3_key_prefix: settings.s3_key_prefix.filter(|p| !p.is_empty()),
        sns_topic_name: None,
        include_global_service_events: settings.include_global_service_events.unwrap_or(true),
        is_multi_region_trail: settings.is_multi_region_trail.unwrap_or(false),
        log_file_validation_enabled: settings.enable_log_file_validation.unwrap_or(false),
        cloud_watch_logs_log_group_arn: None,
        cloud_watch_logs_role_arn: None,
        kms_key_id: None,
        is_organization_trail: false,
        tags,
        selectors: None,
        logging: LoggingState::default(),
    };

    let mut edit = trails.edit()?;
    edit.check_room_for(&trail, None)?;
    // Last, as it may ask the S3 server.
    if !bucket_exists(&trail.s3_bucket_name)? {
        return Err(bucket_does_not_exist(&trail.s3_bucket_name));
    }
    let answer = trail.settings();
    edit.items.push(trail);
    edit.save()?;
    Ok(answer)
}
