//! `DeleteTrail`: removes a trail, from its home region. Objects it delivered stay where they
//! are, as with AWS; events not yet delivered are not (its delivery cursor goes with it).

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::delivery;
use crate::error::ApiError;
use crate::trails::{Scope, Trails};

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
) -> Result<Value, ApiError> {
    let mut edit = trails.edit()?;
    let at = edit.find_to_change(scope, &request.name)?;
    let trail = edit.items.remove(at);
    edit.save()?;
    trails
        .store()
        .remove_log_cursor(&delivery::cursor_name(&trail))
        .map_err(ApiError::internal)?;
    Ok(json!({}))
}
