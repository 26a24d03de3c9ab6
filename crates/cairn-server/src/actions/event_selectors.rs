//! `PutEventSelectors` and `GetEventSelectors`: which events a trail logs (see
//! `selectors.rs`). Putting one kind of selectors replaces the other kind; a trail that never
//! had selectors reports the default basic selector (every management event).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::selectors::{AdvancedEventSelector, EventSelector, Selectors};
use crate::trails::{Scope, Trail, Trails};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventSelectorsRequest {
    pub trail_name: String,
    pub event_selectors: Option<Vec<EventSelector>>,
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetEventSelectorsRequest {
    pub trail_name: String,
}

pub fn put(
    trails: &Trails,
    scope: &Scope,
    request: PutEventSelectorsRequest,
) -> Result<Value, ApiError> {
    let selectors =
        Selectors::for_trail(request.event_selectors, request.advanced_event_selectors)?;
    let mut edit = trails.edit()?;
    let at = edit.find_to_change(scope, &request.trail_name)?;
    edit.items[at].selectors = Some(selectors);
    edit.save()?;
    Ok(answer(&edit.items[at]))
}

pub fn get(
    trails: &Trails,
    scope: &Scope,
    request: GetEventSelectorsRequest,
) -> Result<Value, ApiError> {
    Ok(answer(&trails.get(scope, &request.trail_name)?))
}

fn answer(trail: &Trail) -> Value {
    let mut out = trail.effective_selectors().to_wire();
    out["TrailARN"] = json!(trail.arn());
    out
}
