//! `DeleteTrail`: removes a trail, from its home region. Objects it delivered stay where they
//! are, as with AWS.

use serde_json::{Value, json};

use super::TrailNameRequest;
use crate::error::ApiError;
use crate::trails::{Scope, Trails};

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: TrailNameRequest,
) -> Result<Value, ApiError> {
    let mut edit = trails.edit()?;
    let at = edit.find_to_change(scope, &request.name)?;
    edit.trails.remove(at);
    edit.save()?;
    Ok(json!({}))
}
