//! The services a trail delivers to, as CreateTrail and UpdateTrail check them
//! ([`Destinations`]): the bucket in the delivery [`Target`], and the SNS topic, CloudWatch
//! Logs log group and KMS key on the [`Upstreams`] cairn calls.
//!
//! The checks run on a blocking thread (as API handlers do) and wait there for the service.

use serde_json::json;

use super::Target;
use crate::actions::create_trail::{Destinations, LogGroupArn};
use crate::error::{ApiError, ErrorCode};
use crate::upstream::Upstreams;

/// The delivery target and the upstream services, together.
#[derive(Debug, Clone)]
pub struct Services {
    pub target: Target,
    pub upstreams: Upstreams,
}

/// SNS's query API version.
pub const SNS_VERSION: &str = "2010-03-31";
/// The `X-Amz-Target` prefix of CloudWatch Logs' operations.
pub const LOGS_TARGET: &str = "Logs_20140328";

fn wait<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(future)
}

impl Destinations for Services {
    fn bucket_exists(&self, bucket: &str) -> Result<bool, ApiError> {
        wait(self.target.bucket_exists(bucket)).map_err(ApiError::internal)
    }

    fn topic_exists(&self, topic_arn: &str) -> Result<bool, ApiError> {
        let region = topic_arn.split(':').nth(3).unwrap_or_default();
        let asked = wait(self.upstreams.query(
            "sns",
            region,
            &[
                ("Action", "GetTopicAttributes"),
                ("Version", SNS_VERSION),
                ("TopicArn", topic_arn),
            ],
        ));
        match asked {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NotFound") => Ok(false),
            Err(e) => Err(ApiError::new(
                ErrorCode::InsufficientSnsTopicPolicy,
                format!("SNS Topic does not exist or the topic policy is incorrect! ({e})"),
            )),
        }
    }

    fn log_group_exists(&self, arn: &LogGroupArn) -> Result<bool, ApiError> {
        let asked = wait(self.upstreams.json(
            "logs",
            &arn.region,
            &format!("{LOGS_TARGET}.DescribeLogGroups"),
            &json!({ "logGroupNamePrefix": arn.name }),
        ));
        match asked {
            Ok(answer) => Ok(answer["logGroups"]
                .as_array()
                .is_some_and(|groups| groups.iter().any(|g| g["logGroupName"] == *arn.name))),
            Err(e) => Err(ApiError::new(
                ErrorCode::InvalidCloudWatchLogsLogGroupArn,
                format!("CloudTrail cannot validate the specified log group ARN. ({e})"),
            )),
        }
    }

    fn kms_key_arn(&self, region: &str, key: &str) -> Result<Option<String>, ApiError> {
        if self.upstreams.endpoint("kms").is_none() {
            // No KMS to ask: the key is kept as named, and the S3 server is told to use it.
            return Ok(Some(key.to_owned()));
        }
        let asked = wait(self.upstreams.json(
            "kms",
            region,
            "TrentService.DescribeKey",
            &json!({ "KeyId": key }),
        ));
        match asked {
            Ok(answer) => match answer["KeyMetadata"]["Arn"].as_str() {
                Some(arn) => Ok(Some(arn.to_owned())),
                None => Err(kms_error(&format!("DescribeKey of {key} gave no key ARN"))),
            },
            Err(e) if e.code() == Some("NotFoundException") => Ok(None),
            Err(e) => Err(kms_error(&e.to_string())),
        }
    }
}

fn kms_error(message: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Kms,
        format!("cairn could not check the KMS key: {message}"),
    )
}
