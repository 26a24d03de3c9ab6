//! `GetTrailStatus`: whether a trail logs, when it started and stopped, and how its
//! deliveries of log files and digests went; shadow trails included.

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::delivery::StatusBoard;
use crate::error::ApiError;
use crate::trails::{Scope, Trails};

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
    board: &StatusBoard,
) -> Result<Value, ApiError> {
    let trail = trails.get(scope, &request.name)?;
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
    let times = [
        ("LatestDeliveryTime", delivery.latest_delivery_time),
        (
            "LatestDigestDeliveryTime",
            delivery.latest_digest_delivery_time,
        ),
    ];
    for (member, time) in times {
        if let Some(time) = time {
            out[member] = json!(time);
        }
    }
    let errors = [
        ("LatestDeliveryError", delivery.latest_delivery_error),
        (
            "LatestDigestDeliveryError",
            delivery.latest_digest_delivery_error,
        ),
    ];
    for (member, error) in errors {
        if let Some(error) = error {
            out[member] = json!(error);
        }
    }
    Ok(out)
}
