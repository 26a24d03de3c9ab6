//! `AddTags`, `RemoveTags` and `ListTags` on trails and event data stores, addressed by ARN.
//! Adding a tag whose key exists replaces its value; a resource holds at most 50 tags. Tags
//! change only from the resource's home region; a trail's can be listed from any region that
//! sees it. A store pending deletion takes no tags and lists none.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::event_data_stores::EventDataStores;
use crate::trails::{Scope, Tag, Trails, validate_tags};

/// The resources tags are kept on.
pub struct Tagged {
    pub trails: Arc<Trails>,
    pub stores: Arc<EventDataStores>,
    /// The request's time, seconds since the epoch.
    pub now: f64,
}

/// Whether an ARN names an event data store (`...:eventdatastore/<id>`).
fn is_event_data_store_arn(resource_id: &str) -> bool {
    resource_id.starts_with("arn:")
        && resource_id
            .splitn(6, ':')
            .nth(5)
            .is_some_and(|resource| resource.starts_with("eventdatastore/"))
}

/// AWS: ListTags takes at most 20 resources.
const MAX_LISTED_RESOURCES: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagsRequest {
    pub resource_id: String,
    pub tags_list: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsRequest {
    pub resource_id_list: Vec<String>,
}

pub fn add(tagged: &Tagged, scope: &Scope, request: TagsRequest) -> Result<Value, ApiError> {
    validate_tags(&request.tags_list)?;
    change(tagged, scope, &request.resource_id, |tags| {
        for tag in request.tags_list {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => tags.push(tag),
            }
        }
    })
}

pub fn remove(tagged: &Tagged, scope: &Scope, request: TagsRequest) -> Result<Value, ApiError> {
    change(tagged, scope, &request.resource_id, |tags| {
        tags.retain(|t| !request.tags_list.iter().any(|gone| gone.key == t.key));
    })
}

/// The new tags after `apply`, if they are valid.
fn changed(current: &[Tag], apply: impl FnOnce(&mut Vec<Tag>)) -> Result<Vec<Tag>, ApiError> {
    let mut tags = current.to_vec();
    apply(&mut tags);
    validate_tags(&tags)?;
    Ok(tags)
}

fn change(
    tagged: &Tagged,
    scope: &Scope,
    resource_id: &str,
    apply: impl FnOnce(&mut Vec<Tag>),
) -> Result<Value, ApiError> {
    if is_event_data_store_arn(resource_id) {
        let mut edit = tagged.stores.edit(tagged.now)?;
        let at = edit.find_active(scope, resource_id)?;
        let tags = changed(&edit.items[at].tags, apply)?;
        edit.items[at].tags = tags;
        edit.save()?;
        return Ok(json!({}));
    }
    let mut edit = tagged.trails.edit()?;
    let at = edit.find_by_arn(scope, resource_id)?;
    edit.find_to_change(scope, resource_id)?;
    let tags = changed(&edit.items[at].tags, apply)?;
    edit.items[at].tags = tags;
    edit.save()?;
    Ok(json!({}))
}

pub fn list(tagged: &Tagged, scope: &Scope, request: ListTagsRequest) -> Result<Value, ApiError> {
    if request.resource_id_list.len() > MAX_LISTED_RESOURCES {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("ResourceIdList may name at most {MAX_LISTED_RESOURCES} resources."),
        ));
    }
    let trails = tagged.trails.edit()?;
    let stores = tagged.stores.edit(tagged.now)?;
    let mut listed = Vec::new();
    for resource_id in &request.resource_id_list {
        let tags = if is_event_data_store_arn(resource_id) {
            &stores.items[stores.find_active(scope, resource_id)?].tags
        } else {
            &trails.items[trails.find_by_arn(scope, resource_id)?].tags
        };
        listed.push(json!({
            "ResourceId": resource_id,
            "TagsList": tags,
        }));
    }
    Ok(json!({ "ResourceTagList": listed }))
}
