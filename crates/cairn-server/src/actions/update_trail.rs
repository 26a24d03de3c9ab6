//! `UpdateTrail`: changes a trail's settings from its home region. Members not given keep their
//! values; an empty `S3KeyPrefix` removes the prefix, as with AWS. Turning a trail into a
//! multi-region trail must respect the name and per-region limits in every region.

use serde::Deserialize;
use serde_json::Value;

use super::create_trail::{BucketCheck, TrailSettings, bucket_does_not_exist, check_global_events};
use crate::error::ApiError;
use crate::trails::{Scope, Trails};
use crate::trails::{validate_s3_bucket_name, validate_s3_key_prefix};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTrailRequest {
    pub name: String,
    pub s3_bucket_name: Option<String>,
    #[serde(flatten)]
    pub settings: TrailSettings,
}

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: UpdateTrailRequest,
    bucket_exists: BucketCheck,
) -> Result<Value, ApiError> {
    let settings = request.settings;
    settings.refuse_unsupported()?;
    if let Some(bucket) = &request.s3_bucket_name {
        validate_s3_bucket_name(bucket)?;
        if !bucket_exists(bucket)? {
            return Err(bucket_does_not_exist(bucket));
        }
    }
    if let Some(prefix) = &settings.s3_key_prefix {
        validate_s3_key_prefix(prefix)?;
    }
    let mut edit = trails.edit()?;
    let at = edit.find_to_change(scope, &request.name)?;
    let mut trail = edit.items[at].clone();
    if let Some(bucket) = request.s3_bucket_name {
        trail.s3_bucket_name = bucket;
    }
    if let Some(prefix) = settings.s3_key_prefix {
        trail.s3_key_prefix = Some(prefix).filter(|p| !p.is_empty());
    }
    if let Some(include) = settings.include_global_service_events {
        trail.include_global_service_events = include;
    }
    if let Some(validation) = settings.enable_log_file_validation {
        trail.log_file_validation_enabled = validation;
    }
    let becomes_multi_region =
        settings.is_multi_region_trail == Some(true) && !trail.is_multi_region_trail;
    if let Some(multi_region) = settings.is_multi_region_trail {
        trail.is_multi_region_trail = multi_region;
    }
    check_global_events(
        trail.is_multi_region_trail,
        trail.include_global_service_events,
    )?;
    if becomes_multi_region {
        edit.check_room_for(&trail, Some(at))?;
    }
    let answer = trail.settings();
    edit.items[at] = trail;
    edit.save()?;
    Ok(answer)
}
