//! `ListTrails`: every trail of the caller's account, in every region (one page: an account has
//! at most five trails a region).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::trails::{Scope, Trails};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTrailsRequest {
    /// Never issued, so never needed; accepted for clients that send one.
    pub next_token: Option<String>,
}

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    _request: ListTrailsRequest,
) -> Result<Value, ApiError> {
    let edit = trails.edit()?;
    let list: Vec<Value> = edit
        .items
        .iter()
        .filter(|t| t.account_id == scope.account_id)
        .map(|t| json!({"TrailARN": t.arn(), "Name": t.name, "HomeRegion": t.home_region}))
        .collect();
    Ok(json!({ "Trails": list }))
}
