//! `GetTrailStatus`: whether a trail logs, and when it started and stopped; shadow trails
//! included. Delivery times and errors join when delivery does.

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::error::ApiError;
use crate::trails::{Scope, Trails};

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
) -> Result<Value, ApiError> {
    let state = trails.get(scope, &request.name)?.logging;
    let mut out = json!({ "IsLogging": state.is_logging });
    if let Some(time) = state.start_logging_time {
        out["StartLoggingTime"] = json!(time);
    }
    if let Some(time) = state.stop_logging_time {
        out["StopLoggingTime"] = json!(time);
    }
    Ok(out)
}
