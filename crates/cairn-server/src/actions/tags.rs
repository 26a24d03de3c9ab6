//! `AddTags`, `RemoveTags` and `ListTags` on trails, addressed by ARN. Adding a tag whose key
//! exists replaces its value; a trail holds at most 50 tags. Tags change only from the trail's
//! home region; they can be listed from any region that sees the trail.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::trails::{Scope, Tag, Trails, validate_tags};

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

pub fn add(trails: &Trails, scope: &Scope, request: TagsRequest) -> Result<Value, ApiError> {
    validate_tags(&request.tags_list)?;
    change(trails, scope, &request.resource_id, |tags| {
        for tag in request.tags_list {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => tags.push(tag),
            }
        }
    })
}

pub fn remove(trails: &Trails, scope: &Scope, request: TagsRequest) -> Result<Value, ApiError> {
    change(trails, scope, &request.resource_id, |tags| {
        tags.retain(|t| !request.tags_list.iter().any(|gone| gone.key == t.key));
    })
}

fn change(
    trails: &Trails,
    scope: &Scope,
    resource_id: &str,
    apply: impl FnOnce(&mut Vec<Tag>),
) -> Result<Value, ApiError> {
    let mut edit = trails.edit()?;
    let at = edit.find_by_arn(scope, resource_id)?;
    edit.find_to_change(scope, resource_id)?;
    let mut tags = edit.trails[at].tags.clone();
    apply(&mut tags);
    validate_tags(&tags)?;
    edit.trails[at].tags = tags;
    edit.save()?;
    Ok(json!({}))
}

pub fn list(trails: &Trails, scope: &Scope, request: ListTagsRequest) -> Result<Value, ApiError> {
    if request.resource_id_list.len() > MAX_LISTED_RESOURCES {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("ResourceIdList may name at most {MAX_LISTED_RESOURCES} resources."),
        ));
    }
    let edit = trails.edit()?;
    let mut listed = Vec::new();
    for resource_id in &request.resource_id_list {
        let at = edit.find_by_arn(scope, resource_id)?;
        listed.push(json!({
            "ResourceId": resource_id,
            "TagsList": edit.trails[at].tags,
        }));
    }
    Ok(json!({ "ResourceTagList": listed }))
}
