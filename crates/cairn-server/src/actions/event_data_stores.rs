//! The event data store operations (spec §7.1): CreateEventDataStore, GetEventDataStore,
//! ListEventDataStores, UpdateEventDataStore, DeleteEventDataStore, RestoreEventDataStore,
//! StartEventDataStoreIngestion and StopEventDataStoreIngestion. The rules they share live in
//! [`crate::event_data_stores`].

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};
use crate::event_data_stores::{
    BillingMode, EventDataStore, EventDataStores, MAX_PER_REGION, new_id, refuse_unsupported,
    validate_name, validate_retention,
};
use crate::selectors::{AdvancedEventSelector, Selectors};
use crate::trails::{Scope, Tag, validate_tags};

/// AWS's page size limits for ListEventDataStores.
const MAX_LIST_RESULTS: i64 = 1000;
/// A ListEventDataStores token: this prefix and the id of the last store listed.
const TOKEN_PREFIX: &str = "after:";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    pub multi_region_enabled: Option<bool>,
    pub organization_enabled: Option<bool>,
    pub retention_period: Option<i64>,
    pub termination_protection_enabled: Option<bool>,
    pub tags_list: Option<Vec<Tag>>,
    pub kms_key_id: Option<String>,
    pub start_ingestion: Option<bool>,
    pub billing_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    pub event_data_store: String,
    pub name: Option<String>,
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    pub multi_region_enabled: Option<bool>,
    pub organization_enabled: Option<bool>,
    pub retention_period: Option<i64>,
    pub termination_protection_enabled: Option<bool>,
    pub kms_key_id: Option<String>,
    pub billing_mode: Option<String>,
}

/// The request of the operations that name one store.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoreRequest {
    pub event_data_store: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

pub fn create(
    stores: &EventDataStores,
    scope: &Scope,
    request: CreateRequest,
    now: f64,
) -> Result<Value, ApiError> {
    refuse_unsupported(request.kms_key_id.as_deref(), request.organization_enabled)?;
    validate_name(&request.name)?;
    let billing_mode = match &request.billing_mode {
        Some(mode) => BillingMode::parse(mode)?,
        None => BillingMode::ExtendableRetentionPricing,
    };
    let retention_period = match request.retention_period {
        Some(days) => validate_retention(days, billing_mode)?,
        None => billing_mode.retention_days().2,
    };
    let selectors = Selectors::for_event_data_store(request.advanced_event_selectors)?;
    let tags = request.tags_list.unwrap_or_default();
    validate_tags(&tags)?;

    let mut edit = stores.edit(now)?;
    edit.check_name_free(scope, &request.name, None)?;
    if edit.in_scope(scope).count() >= MAX_PER_REGION {
        return Err(ApiError::new(
            ErrorCode::EventDataStoreMaxLimitExceeded,
            format!(
                "Account {} already has {MAX_PER_REGION} event data stores in {}, the most \
                 allowed (those pending deletion count).",
                scope.account_id, scope.region
            ),
        ));
    }
    let mut store = EventDataStore {
        id: new_id(),
        name: request.name,
        account_id: scope.account_id.clone(),
        home_region: scope.region.clone(),
        advanced_event_selectors: selectors,
        multi_region_enabled: request.multi_region_enabled.unwrap_or(true),
        retention_period,
        termination_protection_enabled: request.termination_protection_enabled.unwrap_or(true),
        billing_mode,
        tags,
        ingesting: request.start_ingestion.unwrap_or(true),
        created: now,
        updated: now,
        deleted: None,
        windows: Vec::new(),
        added: Vec::new(),
    };
    if store.takes_events() {
        store.open_window(edit.cut_log()?);
    }
    // AWS answers with CREATED, the short-lived status before ENABLED.
    let mut out = store.description("CREATED");
    out["TagsList"] = json!(store.tags);
    edit.items.push(store);
    edit.save()?;
    Ok(out)
}

pub fn get(
    stores: &EventDataStores,
    scope: &Scope,
    request: StoreRequest,
    now: f64,
) -> Result<Value, ApiError> {
    let edit = stores.edit(now)?;
    let store = &edit.items[edit.find(scope, &request.event_data_store)?];
    Ok(with_federation(store.description(store.status())))
}

/// Lake query federation is not offered: every store says DISABLED, as AWS's do until enabled.
fn with_federation(mut description: Value) -> Value {
    description["FederationStatus"] = json!("DISABLED");
    description
}

pub fn list(
    stores: &EventDataStores,
    scope: &Scope,
    request: ListRequest,
    now: f64,
) -> Result<Value, ApiError> {
    let max = request.max_results.unwrap_or(MAX_LIST_RESULTS);
    if !(1..=MAX_LIST_RESULTS).contains(&max) {
        return Err(ApiError::new(
            ErrorCode::InvalidMaxResults,
            format!("MaxResults {max} is not valid: it is 1 to {MAX_LIST_RESULTS}."),
        ));
    }
    let edit = stores.edit(now)?;
    let all: Vec<&EventDataStore> = edit.in_scope(scope).collect();
    let start = match &request.next_token {
        None => 0,
        Some(token) => token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|id| all.iter().position(|s| s.id == id))
            .map(|at| at + 1)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidNextToken,
                    "The NextToken is not one this operation gave, or its store is gone.",
                )
            })?,
    };
    let page: Vec<&EventDataStore> = all.iter().skip(start).take(max as usize).copied().collect();
    // Only the ARN and name: AWS no longer returns the other members here.
    let listed: Vec<Value> = page
        .iter()
        .map(|s| json!({"EventDataStoreArn": s.arn(), "Name": s.name}))
        .collect();
    let mut out = json!({ "EventDataStores": listed });
    if start + page.len() < all.len()
        && let Some(last) = page.last()
    {
        out["NextToken"] = json!(format!("{TOKEN_PREFIX}{}", last.id));
    }
    Ok(out)
}

pub fn update(
    stores: &EventDataStores,
    scope: &Scope,
    request: UpdateRequest,
    now: f64,
) -> Result<Value, ApiError> {
    let UpdateRequest {
        event_data_store,
        name,
        advanced_event_selectors,
        multi_region_enabled,
        organization_enabled,
        retention_period,
        termination_protection_enabled,
        kms_key_id,
        billing_mode,
    } = request;
    let changes_something = name.is_some()
        || advanced_event_selectors.is_some()
        || multi_region_enabled.is_some()
        || organization_enabled.is_some()
        || retention_period.is_some()
        || termination_protection_enabled.is_some()
        || kms_key_id.is_some()
        || billing_mode.is_some();
    if !changes_something {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "UpdateEventDataStore needs at least one member to change besides EventDataStore.",
        ));
    }
    refuse_unsupported(kms_key_id.as_deref(), organization_enabled)?;
    let mut edit = stores.edit(now)?;
    let at = edit.find_active(scope, &event_data_store)?;
    let mut store = edit.items[at].clone();
    if let Some(name) = name {
        validate_name(&name)?;
        edit.check_name_free(scope, &name, Some(at))?;
        store.name = name;
    }
    if let Some(mode) = billing_mode {
        let mode = BillingMode::parse(&mode)?;
        if store.billing_mode == BillingMode::ExtendableRetentionPricing
            && mode == BillingMode::FixedRetentionPricing
        {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "The billing mode of an event data store cannot change from \
                 EXTENDABLE_RETENTION_PRICING to FIXED_RETENTION_PRICING.",
            ));
        }
        store.billing_mode = mode;
    }
    store.retention_period = validate_retention(
        retention_period.unwrap_or(i64::from(store.retention_period)),
        store.billing_mode,
    )?;
    let takes_before = (
        store.advanced_event_selectors.clone(),
        store.multi_region_enabled,
    );
    if advanced_event_selectors.is_some() {
        store.advanced_event_selectors = Selectors::for_event_data_store(advanced_event_selectors)?;
    }
    if let Some(multi_region) = multi_region_enabled {
        store.multi_region_enabled = multi_region;
    }
    // New selectors or region scope apply to the events from now on: a new window.
    let takes_now = (
        store.advanced_event_selectors.clone(),
        store.multi_region_enabled,
    );
    if store.takes_events() && takes_now != takes_before {
        let at = edit.cut_log()?;
        store.close_window(at);
        store.open_window(at);
    }
    if let Some(protected) = termination_protection_enabled {
        store.termination_protection_enabled = protected;
    }
    store.updated = now;
    let out = with_federation(store.description(store.status()));
    edit.items[at] = store;
    edit.save()?;
    Ok(out)
}

pub fn delete(
    stores: &EventDataStores,
    scope: &Scope,
    request: StoreRequest,
    now: f64,
) -> Result<Value, ApiError> {
    let mut edit = stores.edit(now)?;
    let at = edit.find_active(scope, &request.event_data_store)?;
    let cut = if edit.items[at].takes_events() {
        Some(edit.cut_log()?)
    } else {
        None
    };
    let store = &mut edit.items[at];
    if store.termination_protection_enabled {
        return Err(ApiError::new(
            ErrorCode::EventDataStoreTerminationProtected,
            format!(
                "Event data store {} has termination protection enabled: turn it off with \
                 UpdateEventDataStore first.",
                store.arn()
            ),
        ));
    }
    if let Some(cut) = cut {
        store.close_window(cut);
    }
    store.deleted = Some(now);
    store.updated = now;
    edit.save()?;
    Ok(json!({}))
}

pub fn restore(
    stores: &EventDataStores,
    scope: &Scope,
    request: StoreRequest,
    now: f64,
) -> Result<Value, ApiError> {
    let mut edit = stores.edit(now)?;
    let at = edit.find(scope, &request.event_data_store)?;
    let store = &edit.items[at];
    if store.deleted.is_none() {
        return Err(status_error(
            store,
            "RestoreEventDataStore",
            "PENDING_DELETION",
        ));
    }
    let cut = if store.ingesting {
        Some(edit.cut_log()?)
    } else {
        None
    };
    let store = &mut edit.items[at];
    store.deleted = None;
    store.updated = now;
    if let Some(cut) = cut {
        store.open_window(cut);
    }
    let out = store.description(store.status());
    edit.save()?;
    Ok(out)
}

/// StartEventDataStoreIngestion (`start`) or StopEventDataStoreIngestion.
pub fn ingestion(
    stores: &EventDataStores,
    scope: &Scope,
    request: StoreRequest,
    start: bool,
    now: f64,
) -> Result<Value, ApiError> {
    let mut edit = stores.edit(now)?;
    let at = edit.find(scope, &request.event_data_store)?;
    let store = &edit.items[at];
    let operation = if start {
        "StartEventDataStoreIngestion"
    } else {
        "StopEventDataStoreIngestion"
    };
    let stoppable = ["Management", "Data", "NetworkActivity", "ConfigurationItem"];
    if let Some(other) = store
        .categories()
        .into_iter()
        .find(|c| !stoppable.contains(c))
    {
        return Err(ApiError::new(
            ErrorCode::InvalidEventDataStoreCategory,
            format!(
                "{operation} applies to event data stores of Management, Data, NetworkActivity \
                 or ConfigurationItem events; {} selects {other} events.",
                store.arn()
            ),
        ));
    }
    let needed = if start {
        "STOPPED_INGESTION"
    } else {
        "ENABLED"
    };
    if store.status() != needed {
        return Err(status_error(store, operation, needed));
    }
    let cut = edit.cut_log()?;
    let store = &mut edit.items[at];
    if start {
        store.open_window(cut);
    } else {
        store.close_window(cut);
    }
    store.ingesting = start;
    store.updated = now;
    edit.save()?;
    Ok(json!({}))
}

fn status_error(store: &EventDataStore, operation: &str, needed: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidEventDataStoreStatus,
        format!(
            "{operation} needs event data store {} to be {needed}; it is {}.",
            store.arn(),
            store.status()
        ),
    )
}
