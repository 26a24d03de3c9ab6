//! `GetTrail`: one trail's settings, by name or ARN; shadow trails included.

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::error::ApiError;
use crate::trails::{Scope, Trails};

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
) -> Result<Value, ApiError> {
    let trail = trails.get(scope, &request.name)?;
    Ok(json!({ "Trail": trail.description() }))
}
