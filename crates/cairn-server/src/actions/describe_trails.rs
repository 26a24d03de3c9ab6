//! `DescribeTrails`: the trails of the caller's region, or those named (by name or ARN; names
//! that match nothing are left out, as AWS does). Shadow trails of multi-region trails are
//! included unless `includeShadowTrails` is false.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::trails::{Scope, Trails};

/// AWS spells this operation's members in lower camel case.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTrailsRequest {
    pub trail_name_list: Option<Vec<String>>,
    pub include_shadow_trails: Option<bool>,
}

pub fn handle(
    trails: &Trails,
    scope: &Scope,
    request: DescribeTrailsRequest,
) -> Result<Value, ApiError> {
    let edit = trails.edit()?;
    let shadows = request.include_shadow_trails.unwrap_or(true);
    let shown = |at: &usize| shadows || edit.items[*at].home_region == scope.region;
    let found: Vec<usize> = match request.trail_name_list.filter(|names| !names.is_empty()) {
        None => (0..edit.items.len())
            .filter(|&at| edit.items[at].visible_in(scope))
            .collect(),
        Some(names) => {
            let mut found = Vec::new();
            for name in &names {
                match edit.find(scope, name) {
                    Ok(at) if !found.contains(&at) => found.push(at),
                    Ok(_) => {}
                    Err(e) if e.code == crate::error::ErrorCode::TrailNotFound => {}
                    Err(e) => return Err(e),
                }
            }
            found
        }
    };
    let list: Vec<Value> = found
        .into_iter()
        .filter(shown)
        .map(|at| edit.items[at].description())
        .collect();
    Ok(json!({ "trailList": list }))
}
