//! `GetTrailStatus`: whether a trail logs, when it started and stopped, and how its
//! deliveries of log files and digests went; shadow trails included.

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::delivery::StatusBoard;
use crate::error::{ApiError, ErrorCode};
use crate::trails::{Scope, Trails, trail_not_found};

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
    board: &StatusBoard,
) -> Result<Value, ApiError> {
    let trail = trails.get(scope, &request.name).map_err(|e| {
        // AWS names an unknown trail by the ARN it would have in the caller's region here
        // (unlike GetTrail): "Unknown trail: arn:aws:cloudtrail:...:trail/x for the user: ...".
        if e.code == ErrorCode::TrailNotFound && !request.name.starts_with("arn:") {
            let arn = format!(
                "arn:aws:cloudtrail:{}:{}:trail/{}",
                scope.region, scope.account_id, request.name
            );
            trail_not_found(scope, &arn)
        } else {
            e
        }
    })?;
    let state = trail.logging;
    let mut out = json!({ "IsLogging": state.is_logging });
    if let Some(time) = state.start_logging_time {
        out["StartLoggingTime"] = json!(time);
    }
    if let Some(time) = state.stop_logging_time {
        out["StopLoggingTime"] = json!(time);
    }
    let delivery = board
        .lock()
        .map_err(|_| ApiError::internal("the delivery status lock is poisoned"))?
        .get(&trail.id)
        .cloned()
        .unwrap_or_default();
    let members = [
        (
            "LatestDeliveryTime",
            delivery.latest_delivery_time.map(|t| json!(t)),
        ),
        (
            "LatestDigestDeliveryTime",
            delivery.latest_digest_delivery_time.map(|t| json!(t)),
        ),
        (
            "LatestDeliveryError",
            delivery.latest_delivery_error.map(|e| json!(e)),
        ),
        (
            "LatestDigestDeliveryError",
            delivery.latest_digest_delivery_error.map(|e| json!(e)),
        ),
        (
            "LatestNotificationTime",
            delivery.latest_notification_time.map(|t| json!(t)),
        ),
        (
            "LatestNotificationError",
            delivery.latest_notification_error.map(|e| json!(e)),
        ),
        (
            "LatestCloudWatchLogsDeliveryTime",
            delivery
                .latest_cloud_watch_logs_delivery_time
                .map(|t| json!(t)),
        ),
        (
            "LatestCloudWatchLogsDeliveryError",
            delivery
                .latest_cloud_watch_logs_delivery_error
                .map(|e| json!(e)),
        ),
    ];
    for (member, value) in members {
        if let Some(value) = value {
            out[member] = value;
        }
    }
    Ok(out)
}
