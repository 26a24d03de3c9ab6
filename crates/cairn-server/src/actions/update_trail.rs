//! `UpdateTrail`: changes a trail's settings from its home region. Members not given keep their
//! values; an empty `S3KeyPrefix`, `SnsTopicName`, `KmsKeyId` or CloudWatch Logs member
//! removes it, as with AWS. Turning a trail into a multi-region trail must respect the name and
//! per-region limits in every region.
//!
//! The services a setting names are asked without the trails locked; a trail changed
//! meanwhile by another call is not overwritten (`ConflictException`, as AWS answers a trail
//! another operation is changing).

use serde::Deserialize;
use serde_json::Value;

use super::create_trail::{Destinations, TrailSettings, bucket_does_not_exist};
use crate::error::{ApiError, ErrorCode};
use crate::trails::validate_s3_bucket_name;
use crate::trails::{Scope, Trails};

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
    destinations: &dyn Destinations,
) -> Result<Value, ApiError> {
    if let Some(bucket) = &request.s3_bucket_name {
        validate_s3_bucket_name(bucket)?;
    }
    let before = {
        let edit = trails.edit()?;
        let at = edit.find_to_change(scope, &request.name)?;
        edit.items[at].clone()
    };
    let mut trail = before.clone();
    request.settings.apply_to(&mut trail, destinations)?;
    if let Some(bucket) = request.s3_bucket_name {
        if !destinations.bucket_exists(&bucket)? {
            return Err(bucket_does_not_exist(&bucket));
        }
        trail.s3_bucket_name = bucket;
    }

    let mut edit = trails.edit()?;
    let at = edit
        .items
        .iter()
        .position(|t| *t == before)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "Trail {} was changed by another call while this one checked its \
                     settings: try again.",
                    before.name
                ),
            )
        })?;
    if trail.is_multi_region_trail && !before.is_multi_region_trail {
        edit.check_room_for(&trail, Some(at))?;
    }
    let answer = trail.settings();
    edit.items[at] = trail;
    edit.save()?;
    Ok(answer)
}
