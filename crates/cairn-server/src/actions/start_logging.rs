//! `StartLogging` and `StopLogging`: whether a trail delivers events, from its home region.

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::error::ApiError;
use crate::trails::{Scope, Trails};

/// Starts (`logging`) or stops a trail's logging at `now` (epoch seconds). Starting a trail
/// that logs already, or stopping one that does not, changes nothing, as with AWS.
pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
    logging: bool,
    now: f64,
) -> Result<Value, ApiError> {
    let mut edit = trails.edit()?;
    let at = edit.find_to_change(scope, &request.name)?;
    let state = &mut edit.trails[at].logging;
    if state.is_logging != logging {
        state.is_logging = logging;
        if logging {
            state.start_logging_time = Some(now);
        } else {
            state.stop_logging_time = Some(now);
        }
        edit.save()?;
    }
    Ok(json!({}))
}
