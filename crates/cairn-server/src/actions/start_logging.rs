//! `StartLogging` and `StopLogging`: whether a trail delivers events, from its home region.
//!
//! StartLogging starts the trail's delivery cursor at the end of the log: the trail delivers
//! every event stored from then on. StopLogging notes where the log ended: the deliverer
//! delivers up to there, then drops the cursor (see `delivery/mod.rs`).

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::delivery;
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
    if edit.items[at].logging.is_logging != logging {
        let store = trails.store();
        if logging {
            delivery::start_cursor(store, &edit.items[at], (now * 1000.0) as i64)
                .map_err(ApiError::internal)?;
        }
        let state = &mut edit.items[at].logging;
        state.is_logging = logging;
        if logging {
            state.start_logging_time = Some(now);
            state.stop_position = None;
        } else {
            state.stop_logging_time = Some(now);
            state.stop_position = Some(store.log_end().map_err(ApiError::internal)?);
        }
        edit.save()?;
    }
    Ok(json!({}))
}
