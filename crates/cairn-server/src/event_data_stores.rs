//! Event data stores (CloudTrail Lake, spec §7.1): the model, AWS's rules for them, and the
//! `event-data-stores.json` catalog document.
//!
//! An event data store (EDS) belongs to an account and lives in its home region, where it is
//! addressed by its ARN, `arn:aws:cloudtrail:<region>:<account>:eventdatastore/<id>`, or by the
//! id alone (a UUID, which is also its SQL table name). Its life:
//!
//! ```text
//! CreateEventDataStore ──► ENABLED ◄──Start/StopEventDataStoreIngestion──► STOPPED_INGESTION
//!                             │ DeleteEventDataStore (termination protection off)
//!                             ▼
//!                      PENDING_DELETION ──RestoreEventDataStore (within 7 days)──► as before
//!                             │ 7 days
//!                             ▼ gone
//! ```
//!
//! (AWS passes through CREATED, STARTING_INGESTION and STOPPING_INGESTION on the way; cairn's
//! changes are immediate, so it answers CreateEventDataStore with CREATED, as AWS does, and is
//! ENABLED from then on.) At most 10 stores an account and region, in any status, as AWS's
//! current quota page counts them. cairn has no KMS and no Organizations: a store naming a KMS
//! key or asking to be an organization store is refused, as trails refuse them.
//!
//! # What a store holds
//!
//! Every event stored while it is ingesting (captured calls, cairn's own API calls, imports:
//! anything appended) that its selectors take, of its account and (unless multi-region) its
//! home region, while the event's `eventTime` is within its retention period. cairn keeps no
//! copy and no per-event mark: a store keeps its [`IngestionWindow`]s, the stretches of the
//! event log it ingested, each with the selectors and region scope then in force. Every change
//! that opens or closes a window (create, start, stop, delete, restore, new selectors) first
//! seals the log ([`cairn_store::Store::seal`]), so that a window's ends are log file
//! boundaries and its events are whole segments and memtables
//! ([`cairn_store::Store::for_each_record_in_log_files`]); [`events`] reads them. `cairn
//! import --event-data-store` adds an *imported* window over the log files its import appended
//! to: every event there is the store's ([`EventDataStores::import_into`]). Events the store of
//! events already held (duplicates the import did not append) and this store did not are
//! [`AddedEvents`]: their event IDs are kept in a catalog document of their own, a few bytes an
//! event, and read wherever they are stored.
//!
//! The catalog document: `{"version": 1, "event_data_stores": [EventDataStore...]}`, the
//! members of [`EventDataStore`] in snake case.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog_list::{CatalogList, ListDocument, ListEdit};
use crate::error::{ApiError, ErrorCode};
use crate::selectors::AdvancedEventSelector;
use crate::trails::{Scope, Tag};

const DOCUMENT: ListDocument = ListDocument {
    name: "event-data-stores.json",
    version: 1,
    member: "event_data_stores",
    visibility: cairn_store::Visibility::Plain,
};

/// AWS's quota: event data stores per account and region.
pub const MAX_PER_REGION: usize = 10;
/// How long a deleted store can be restored, in seconds: 7 days.
pub const RESTORE_WINDOW_SECS: f64 = 7.0 * 86_400.0;

/// How a store's retention is billed; it decides the retention range and default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillingMode {
    ExtendableRetentionPricing,
    FixedRetentionPricing,
}

impl BillingMode {
    pub fn parse(text: &str) -> Result<BillingMode, ApiError> {
        match text {
            "EXTENDABLE_RETENTION_PRICING" => Ok(BillingMode::ExtendableRetentionPricing),
            "FIXED_RETENTION_PRICING" => Ok(BillingMode::FixedRetentionPricing),
            other => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                format!(
                    "BillingMode {other:?} is not valid: use EXTENDABLE_RETENTION_PRICING or \
                     FIXED_RETENTION_PRICING."
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BillingMode::ExtendableRetentionPricing => "EXTENDABLE_RETENTION_PRICING",
            BillingMode::FixedRetentionPricing => "FIXED_RETENTION_PRICING",
        }
    }

    /// Retention in days: (least, most, default) (spec §7.1).
    pub fn retention_days(self) -> (u32, u32, u32) {
        match self {
            BillingMode::ExtendableRetentionPricing => (7, 3653, 366),
            BillingMode::FixedRetentionPricing => (7, 2557, 2557),
        }
    }
}

/// An event data store as cairn keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDataStore {
    /// A UUID: the ARN's last part and the store's SQL table name.
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub home_region: String,
    pub advanced_event_selectors: Vec<AdvancedEventSelector>,
    pub multi_region_enabled: bool,
    pub retention_period: u32,
    pub termination_protection_enabled: bool,
    pub billing_mode: BillingMode,
    pub tags: Vec<Tag>,
    /// Whether it takes new events (ENABLED) or not (STOPPED_INGESTION).
    pub ingesting: bool,
    pub created: f64,
    pub updated: f64,
    /// When DeleteEventDataStore was called: it is PENDING_DELETION since then.
    pub deleted: Option<f64>,
    /// The stretches of the log it ingested, oldest first; the last is open while it ingests.
    #[serde(default)]
    pub windows: Vec<IngestionWindow>,
    /// Events stored before an import into this store read them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<AddedEvents>,
}

/// Events an import gave a store that were stored already (so not in its imported window):
/// held by event ID, wherever they are stored. Like an imported window's, they are the store's
/// whatever its selectors, account and region (retention still applies).
///
/// The IDs are the catalog document `document`: gzip of the IDs, one a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedEvents {
    pub document: String,
    pub events: u64,
    /// The events' times (ms): stored events outside them are not read.
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

impl AddedEvents {
    /// Keeps `ids` (event IDs of events of `min_time_ms..=max_time_ms`) as the `n`th added
    /// batch of store `eds_id`.
    pub fn write(
        store: &Store,
        eds_id: &str,
        n: usize,
        ids: &[&str],
        (min_time_ms, max_time_ms): (i64, i64),
    ) -> Result<AddedEvents, ApiError> {
        let document = format!("eds-{eds_id}-added-{n}");
        let text = ids.join("\n");
        store
            .write_document(
                &document,
                &crate::delivery::gzip(text.as_bytes()),
                cairn_store::Visibility::Plain,
            )
            .map_err(ApiError::internal)?;
        Ok(AddedEvents {
            document,
            events: ids.len() as u64,
            min_time_ms,
            max_time_ms,
        })
    }

    /// The event IDs.
    pub fn read(&self, store: &Store) -> Result<std::collections::HashSet<String>, String> {
        use std::io::Read;
        let bytes = store
            .read_document(&self.document)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("catalog document {} is missing", self.document))?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| format!("catalog document {}: {e}", self.document))?;
        Ok(text.lines().map(str::to_owned).collect())
    }
}

/// Log files `from..to` (`to` `None`: still ingesting), and what the store took from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestionWindow {
    pub from: u64,
    pub to: Option<u64>,
    pub selectors: Vec<AdvancedEventSelector>,
    pub multi_region: bool,
    /// Appended by `cairn import --event-data-store`: every event there is the store's, whatever
    /// its selectors, account and region (retention still applies).
    #[serde(default)]
    pub imported: bool,
}

impl EventDataStore {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:eventdatastore/{}",
            self.home_region, self.account_id, self.id
        )
    }

    /// AWS's `Status`.
    pub fn status(&self) -> &'static str {
        match (self.deleted, self.ingesting) {
            (Some(_), _) => "PENDING_DELETION",
            (None, true) => "ENABLED",
            (None, false) => "STOPPED_INGESTION",
        }
    }

    /// Whether it takes new events now: ingesting and not pending deletion.
    pub fn takes_events(&self) -> bool {
        self.ingesting && self.deleted.is_none()
    }

    /// Opens a window at log file `at` with the settings now in force.
    pub fn open_window(&mut self, at: u64) {
        self.windows.push(IngestionWindow {
            from: at,
            to: None,
            selectors: self.advanced_event_selectors.clone(),
            multi_region: self.multi_region_enabled,
            imported: false,
        });
    }

    /// Adds log files `from..to`, where an import appended its events, as an imported window;
    /// an open window is closed at `from` and opened again at `to`, so windows never overlap.
    pub fn add_import(&mut self, from: u64, to: u64) {
        let ingesting = self.windows.last().is_some_and(|w| w.to.is_none());
        if ingesting {
            self.close_window(from);
        }
        self.windows.push(IngestionWindow {
            from,
            to: Some(to),
            selectors: Vec::new(),
            multi_region: true,
            imported: true,
        });
        if ingesting {
            self.open_window(to);
        }
    }

    /// Closes the open window at log file `at`.
    pub fn close_window(&mut self, at: u64) {
        if let Some(window) = self.windows.last_mut().filter(|w| w.to.is_none()) {
            window.to = Some(at);
        }
    }

    /// The event categories its selectors take (`eventCategory` Equals of each selector).
    pub fn categories(&self) -> Vec<&str> {
        let mut categories: Vec<&str> = self
            .advanced_event_selectors
            .iter()
            .flat_map(|s| &s.field_selectors)
            .filter(|f| f.field == "eventCategory")
            .flat_map(|f| f.equals.iter().flatten())
            .map(String::as_str)
            .collect();
        categories.sort_unstable();
        categories.dedup();
        categories
    }

    /// The members Create, Update, Restore and Get answer with, `Status` as given.
    pub fn description(&self, status: &str) -> Value {
        json!({
            "EventDataStoreArn": self.arn(),
            "Name": self.name,
            "Status": status,
            "AdvancedEventSelectors": self.advanced_event_selectors,
            "MultiRegionEnabled": self.multi_region_enabled,
            "OrganizationEnabled": false,
            "RetentionPeriod": self.retention_period,
            "TerminationProtectionEnabled": self.termination_protection_enabled,
            "CreatedTimestamp": self.created,
            "UpdatedTimestamp": self.updated,
            "BillingMode": self.billing_mode.as_str(),
        })
    }
}

/// Every event data store of every account.
#[derive(Debug)]
pub struct EventDataStores {
    list: CatalogList<EventDataStore>,
}

impl EventDataStores {
    /// The stores the store's catalog holds (none on a new store).
    pub fn load(store: Arc<Store>) -> Result<EventDataStores, String> {
        Ok(EventDataStores {
            list: CatalogList::load(store, DOCUMENT)?,
        })
    }

    /// The store of events the stores read.
    pub fn store(&self) -> &Arc<Store> {
        self.list.store()
    }

    /// Runs `import`, which appends events to the event log, and makes every event it appended
    /// the store `reference`'s (an ID or ARN, any account's: `cairn import --event-data-store`
    /// on a data directory). Answers the store's ARN and what `import` answered.
    ///
    /// `import` also answers the events it did not append because they were stored already
    /// (event ID, time in ms): those the store does not hold yet become [`AddedEvents`].
    pub fn import_into<T, E: std::fmt::Display>(
        &self,
        reference: &str,
        now: f64,
        import: impl FnOnce() -> Result<(T, Vec<(String, i64)>), E>,
    ) -> Result<(String, T), String> {
        let mut edit = self.edit(now).map_err(|e| e.message)?;
        let at = edit.find_id_anywhere(reference).map_err(|e| e.message)?;
        let from = edit.cut_log().map_err(|e| e.message)?;
        let (answer, already_stored) = import().map_err(|e| e.to_string())?;
        let to = edit.cut_log().map_err(|e| e.message)?;
        let store = edit.store().clone();
        let eds = &mut edit.items[at];
        eds.add_import(from, to);
        if !already_stored.is_empty() {
            let asked: HashSet<String> = already_stored.iter().map(|(id, _)| id.clone()).collect();
            // Held whatever their times: retention hides events, and may be lengthened.
            let mut unbounded = eds.clone();
            unbounded.retention_period = u32::MAX;
            let events = crate::lake_events::EventDataStoreEvents {
                store: store.clone(),
                snapshot: store.snapshot().map_err(|e| e.to_string())?,
                eds: unbounded,
                now,
                counters: Arc::default(),
                interrupt: None,
                added_ids: Default::default(),
            };
            let held = events.held_event_ids(asked)?;
            let mut new_ids: Vec<&str> = Vec::new();
            let mut seen: HashSet<&str> = HashSet::new();
            let (mut min_ms, mut max_ms) = (i64::MAX, i64::MIN);
            for (id, time_ms) in &already_stored {
                if !held.contains(id) && seen.insert(id) {
                    new_ids.push(id);
                    min_ms = min_ms.min(*time_ms);
                    max_ms = max_ms.max(*time_ms);
                }
            }
            if !new_ids.is_empty() {
                let n = eds.added.len();
                let added = AddedEvents::write(&store, &eds.id, n, &new_ids, (min_ms, max_ms))
                    .map_err(|e| e.message)?;
                eds.added.push(added);
            }
        }
        let arn = eds.arn();
        edit.save().map_err(|e| e.message)?;
        Ok((arn, answer))
    }

    /// The stores, locked, with those deleted more than 7 days before `now` gone for good.
    pub fn edit(&self, now: f64) -> Result<Edit<'_>, ApiError> {
        let mut edit = self.list.edit()?;
        let gone: Vec<String> = edit
            .items
            .iter()
            .filter(|s| s.deleted.is_some_and(|at| now - at >= RESTORE_WINDOW_SECS))
            .flat_map(|s| s.added.iter().map(|a| a.document.clone()))
            .collect();
        let before = edit.items.len();
        edit.items
            .retain(|s| s.deleted.is_none_or(|at| now - at < RESTORE_WINDOW_SECS));
        if edit.items.len() != before {
            edit.save()?;
            for document in gone {
                edit.store()
                    .remove_document(&document)
                    .map_err(ApiError::internal)?;
            }
        }
        Ok(edit)
    }
}

/// The locked list of event data stores.
pub type Edit<'a> = ListEdit<'a, EventDataStore>;

impl ListEdit<'_, EventDataStore> {
    /// Seals the event log and answers the log file that events appended from now on go to:
    /// where a window opens or closes.
    pub fn cut_log(&self) -> Result<u64, ApiError> {
        let store = self.store();
        store.seal().map_err(ApiError::internal)?;
        Ok(store.log_end().map_err(ApiError::internal)?.file)
    }

    /// The stores of `scope`'s account in its region, in creation order.
    pub fn in_scope<'s>(&'s self, scope: &'s Scope) -> impl Iterator<Item = &'s EventDataStore> {
        self.items
            .iter()
            .filter(move |s| s.account_id == scope.account_id && s.home_region == scope.region)
    }

    /// The index of the store `reference` (an ARN or an id) names, among `scope`'s.
    pub fn find(&self, scope: &Scope, reference: &str) -> Result<usize, ApiError> {
        let id = parse_reference(reference)?;
        self.items
            .iter()
            .position(|s| {
                s.account_id == scope.account_id && s.home_region == scope.region && id.names(s)
            })
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::EventDataStoreNotFound,
                    format!("Event data store {reference} not found."),
                )
            })
    }

    /// The index of the active store `reference` (an ID or an ARN) names, whatever its
    /// account and region (for `cairn query` and `cairn import` on a data directory, which
    /// have no caller).
    pub fn find_id_anywhere(&self, reference: &str) -> Result<usize, ApiError> {
        let id = parse_reference(reference)?;
        self.items
            .iter()
            .position(|s| {
                s.deleted.is_none()
                    && s.id.eq_ignore_ascii_case(id.id)
                    && id.arn.is_none_or(|(region, account)| {
                        s.home_region == region && s.account_id == account
                    })
            })
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::EventDataStoreNotFound,
                    format!("No active event data store is {reference}."),
                )
            })
    }

    /// Like [`Self::find`], for a store that must not be pending deletion.
    pub fn find_active(&self, scope: &Scope, reference: &str) -> Result<usize, ApiError> {
        let at = self.find(scope, reference)?;
        if self.items[at].deleted.is_some() {
            return Err(ApiError::new(
                ErrorCode::InactiveEventDataStore,
                format!(
                    "Event data store {} is pending deletion: restore it first.",
                    self.items[at].arn()
                ),
            ));
        }
        Ok(at)
    }

    /// Refuses `name` when another of `scope`'s stores has it (`except` is the one renamed).
    pub fn check_name_free(
        &self,
        scope: &Scope,
        name: &str,
        except: Option<usize>,
    ) -> Result<(), ApiError> {
        let taken = self.items.iter().enumerate().any(|(i, s)| {
            Some(i) != except
                && s.account_id == scope.account_id
                && s.home_region == scope.region
                && s.name == name
        });
        if taken {
            return Err(ApiError::new(
                ErrorCode::EventDataStoreAlreadyExists,
                format!("An event data store named {name} already exists."),
            ));
        }
        Ok(())
    }
}

/// How a request names a store: the id, from an ARN or alone.
struct StoreId<'a> {
    id: &'a str,
    /// (region, account) when named by ARN.
    arn: Option<(&'a str, &'a str)>,
}

impl StoreId<'_> {
    fn names(&self, store: &EventDataStore) -> bool {
        store.id == self.id
            && self.arn.is_none_or(|(region, account)| {
                store.home_region == region && store.account_id == account
            })
    }
}

/// An `EventDataStore` member: 3-256 of letters, digits and `._/-:`; an ARN must be an event
/// data store's.
fn parse_reference(text: &str) -> Result<StoreId<'_>, ApiError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._/-:".contains(&b);
    if !(3..=256).contains(&text.len()) || !text.bytes().all(allowed) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "EventDataStore {text:?} is not valid: give the event data store's ARN or ID \
                 (3-256 letters, digits, and . _ / - :)."
            ),
        ));
    }
    if !text.starts_with("arn:") {
        return Ok(StoreId {
            id: text,
            arn: None,
        });
    }
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    match parts[..] {
        [_, partition, "cloudtrail", region, account, resource]
            if !partition.is_empty() && !region.is_empty() && account.len() == 12 =>
        {
            match resource.strip_prefix("eventdatastore/") {
                Some(id) if !id.is_empty() => Ok(StoreId {
                    id,
                    arn: Some((region, account)),
                }),
                _ => Err(arn_invalid(text)),
            }
        }
        _ => Err(arn_invalid(text)),
    }
}

fn arn_invalid(text: &str) -> ApiError {
    ApiError::new(
        ErrorCode::EventDataStoreArnInvalid,
        format!(
            "{text} is not a valid event data store ARN: the format is \
             arn:aws:cloudtrail:us-east-2:123456789012:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"
        ),
    )
}

/// AWS's name rules: 3-128 of letters, digits, `.`, `_` and `-`.
pub fn validate_name(name: &str) -> Result<(), ApiError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
    if !(3..=128).contains(&name.len()) || !name.bytes().all(allowed) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "Event data store name {name:?} is not valid: 3-128 letters, digits, periods, \
                 underscores and dashes."
            ),
        ));
    }
    Ok(())
}

/// Retention in days for `mode` (spec §7.1): in its range.
pub fn validate_retention(days: i64, mode: BillingMode) -> Result<u32, ApiError> {
    let (least, most, _) = mode.retention_days();
    match u32::try_from(days) {
        Ok(days) if (least..=most).contains(&days) => Ok(days),
        _ => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "RetentionPeriod {days} is not valid for {}: it is {least} to {most} days.",
                mode.as_str()
            ),
        )),
    }
}

/// What cairn cannot do: a KMS key or an organization store.
pub fn refuse_unsupported(
    kms_key_id: Option<&str>,
    organization: Option<bool>,
) -> Result<(), ApiError> {
    let unsupported = |member: &str| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!("{member} is not supported by cairn: it has no such service."),
        )
    };
    if kms_key_id.is_some() {
        return Err(unsupported("KmsKeyId"));
    }
    if organization == Some(true) {
        return Err(unsupported("OrganizationEnabled"));
    }
    Ok(())
}

/// A new store id: a lowercase UUID, as Lake's are.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selectors::{EventView, Selectors};
    use cairn_model::Record;

    /// The events `eds` holds at `now` (seconds since the epoch), record by record: the rule of
    /// the module docs written plainly, against which `lake_events` (the rule member by member,
    /// what queries read) is checked.
    fn events(store: &Store, eds: &EventDataStore, now: f64) -> Result<Vec<Record>, ApiError> {
        let oldest_ms = (now * 1000.0) as i64 - i64::from(eds.retention_period) * 86_400_000;
        let mut out = Vec::new();
        for window in &eds.windows {
            let selectors = Selectors::Advanced(window.selectors.clone());
            let mut failure = None;
            store
                .for_each_record_in_log_files(window.from, window.to, |text| {
                    let record = match Record::parse(text) {
                        Ok(record) => record,
                        Err(e) => {
                            failure.get_or_insert(e);
                            return;
                        }
                    };
                    let f = &record.fields;
                    let takes = f.event_time_ms >= oldest_ms
                        && (window.imported
                            || (f.account_id.as_deref() == Some(eds.account_id.as_str())
                                && (window.multi_region
                                    || f.aws_region.as_deref() == Some(eds.home_region.as_str()))
                                && selectors.matches(&EventView::of(&record))));
                    if takes {
                        out.push(record);
                    }
                })
                .map_err(ApiError::internal)?;
            if let Some(e) = failure {
                return Err(ApiError::internal(format!("a stored record: {e}")));
            }
        }
        for added in &eds.added {
            let ids = added.read(store).map_err(ApiError::internal)?;
            store
                .for_each_record(|text| {
                    if let Ok(record) = Record::parse(text)
                        && ids.contains(&record.fields.event_id)
                        && record.fields.event_time_ms >= oldest_ms
                    {
                        out.push(record);
                    }
                })
                .map_err(ApiError::internal)?;
        }
        Ok(out)
    }

    #[test]
    fn stores_are_named_by_arn_or_id() {
        let id = parse_reference("EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE").unwrap();
        assert!(id.arn.is_none());
        let arn = parse_reference(
            "arn:aws:cloudtrail:us-east-2:123456789012:eventdatastore/EXAMPLE-f852-4e8f",
        )
        .unwrap();
        assert_eq!(arn.id, "EXAMPLE-f852-4e8f");
        assert_eq!(arn.arn, Some(("us-east-2", "123456789012")));
        for bad in [
            "arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail",
            "arn:aws:cloudtrail:us-east-2:1234:eventdatastore/x",
            "arn:aws:cloudtrail:us-east-2:123456789012:eventdatastore/",
        ] {
            assert_eq!(
                parse_reference(bad).err().map(|e| e.code),
                Some(ErrorCode::EventDataStoreArnInvalid),
                "{bad}"
            );
        }
        for bad in ["ab", "has space", &"x".repeat(257)] {
            assert_eq!(
                parse_reference(bad).err().map(|e| e.code),
                Some(ErrorCode::InvalidParameter),
                "{bad}"
            );
        }
    }

    #[test]
    fn retention_follows_the_billing_mode() {
        let extendable = BillingMode::ExtendableRetentionPricing;
        let fixed = BillingMode::FixedRetentionPricing;
        assert_eq!(validate_retention(3653, extendable), Ok(3653));
        assert!(validate_retention(3653, fixed).is_err());
        assert_eq!(validate_retention(2557, fixed), Ok(2557));
        assert!(validate_retention(6, extendable).is_err());
        assert!(validate_retention(-1, fixed).is_err());
        assert_eq!(extendable.retention_days().2, 366);
        assert_eq!(fixed.retention_days().2, 2557);
    }

    #[test]
    fn a_deleted_store_is_kept_seven_days_then_gone_and_stores_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let scope = Scope {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
        };
        let store = |id: &str, deleted: Option<f64>| EventDataStore {
            id: id.into(),
            name: format!("store-{id}"),
            account_id: scope.account_id.clone(),
            home_region: scope.region.clone(),
            advanced_event_selectors: Vec::new(),
            multi_region_enabled: true,
            retention_period: 366,
            termination_protection_enabled: false,
            billing_mode: BillingMode::ExtendableRetentionPricing,
            tags: Vec::new(),
            ingesting: true,
            created: 0.0,
            updated: 0.0,
            deleted,
            windows: Vec::new(),
            added: Vec::new(),
        };
        let day = 86_400.0;
        {
            let cairn = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
            let stores = EventDataStores::load(cairn.clone()).unwrap();
            let mut edit = stores.edit(0.0).unwrap();
            edit.items.push(store("kept", None));
            edit.items.push(store("deleted", Some(day)));
            edit.save().unwrap();
            drop(edit);
            // Six days after deletion it can still be restored.
            let edit = stores.edit(7.0 * day).unwrap();
            assert!(edit.find(&scope, "deleted").is_ok());
            drop(edit);
            drop(stores);
            Arc::try_unwrap(cairn).unwrap().close();
        }
        let cairn = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
        let stores = EventDataStores::load(cairn).unwrap();
        let edit = stores.edit(8.0 * day + 1.0).unwrap();
        assert!(edit.find(&scope, "kept").is_ok());
        assert_eq!(
            edit.find(&scope, "deleted").err().map(|e| e.code),
            Some(ErrorCode::EventDataStoreNotFound)
        );
    }

    #[test]
    fn a_store_holds_what_its_windows_and_selectors_take_within_retention() {
        use crate::actions::event_data_stores as ops;
        let dir = tempfile::tempdir().unwrap();
        let cairn = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
        let stores = EventDataStores::load(cairn.clone()).unwrap();
        let scope = Scope {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
        };
        let now = cairn_model::time::now_secs();
        let today = cairn_model::time::format_event_time(cairn_model::time::now_ms() - 3_600_000);
        let append = |id: &str, account: &str, region: &str, category: &str, time: &str| {
            let json = format!(
                r#"{{"eventVersion":"1.09","eventTime":"{time}","eventID":"{id}","eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"{region}","recipientAccountId":"{account}","eventCategory":"{category}"}}"#
            );
            cairn.append(vec![Record::parse(&json).unwrap()]).unwrap();
        };
        let held = |stores: &EventDataStores| {
            let edit = stores.edit(now).unwrap();
            let eds = &edit.items[0];
            let mut ids: Vec<String> = events(&cairn, eds, now)
                .unwrap()
                .into_iter()
                .map(|r| r.fields.event_id)
                .collect();
            ids.sort();
            // Read member by member, as queries read it, the store holds the same events.
            let mut scanned = Vec::new();
            let source = crate::lake_events::EventDataStoreEvents {
                store: cairn.clone(),
                snapshot: cairn.snapshot().unwrap(),
                eds: eds.clone(),
                now,
                counters: Default::default(),
                interrupt: None,
                added_ids: Default::default(),
            };
            let request = cairn_lake::table::ScanRequest {
                paths: vec!["eventID".into()],
                ..Default::default()
            };
            cairn_lake::table::EventSource::scan(&source, &request, &mut |batch| {
                use arrow_array::cast::AsArray;
                let column = batch.column_by_name("eventID").unwrap().as_string_view();
                scanned.extend(column.iter().map(|id| id.unwrap().to_owned()));
                Ok(())
            })
            .unwrap();
            scanned.sort();
            assert_eq!(scanned, ids);
            ids
        };
        append(
            "a-before",
            "111111111111",
            "us-east-1",
            "Management",
            &today,
        );
        fn request<T: serde::de::DeserializeOwned>(json: &str) -> T {
            serde_json::from_str(json).unwrap()
        }
        let made = ops::create(&stores, &scope, request(r#"{"Name":"lake"}"#), now).unwrap();
        let arn = made["EventDataStoreArn"].as_str().unwrap().to_owned();
        append("b-taken", "111111111111", "us-east-1", "Management", &today);
        append(
            "c-other-account",
            "222222222222",
            "us-east-1",
            "Management",
            &today,
        );
        append("d-data-event", "111111111111", "us-east-1", "Data", &today);
        append(
            "e-other-region",
            "111111111111",
            "eu-west-1",
            "Management",
            &today,
        );
        append(
            "h-too-old",
            "111111111111",
            "us-east-1",
            "Management",
            "2001-01-01T00:00:00Z",
        );
        assert_eq!(held(&stores), ["b-taken", "e-other-region"]);
        let store_request =
            || -> ops::StoreRequest { request(&format!(r#"{{"EventDataStore":"{arn}"}}"#)) };
        ops::ingestion(&stores, &scope, store_request(), false, now).unwrap();
        append(
            "f-while-stopped",
            "111111111111",
            "us-east-1",
            "Management",
            &today,
        );
        ops::ingestion(&stores, &scope, store_request(), true, now).unwrap();
        append(
            "g-after-restart",
            "111111111111",
            "us-east-1",
            "Management",
            &today,
        );
        assert_eq!(
            held(&stores),
            ["b-taken", "e-other-region", "g-after-restart"]
        );
        // Single-region from now on: a new window with the new scope.
        ops::update(
            &stores,
            &scope,
            request(&format!(
                r#"{{"EventDataStore":"{arn}","MultiRegionEnabled":false}}"#
            )),
            now,
        )
        .unwrap();
        append(
            "i-other-region-later",
            "111111111111",
            "eu-west-1",
            "Management",
            &today,
        );
        assert_eq!(
            held(&stores),
            ["b-taken", "e-other-region", "g-after-restart"]
        );
        // An import of events stored already (it appends nothing): those the store does not
        // hold become its own, by ID, once each; retention still applies.
        let at = cairn_model::time::parse_event_time(&today).unwrap();
        let old = cairn_model::time::parse_event_time("2001-01-01T00:00:00Z").unwrap();
        let stored_before: Vec<(String, i64)> = [
            ("c-other-account", at),
            ("f-while-stopped", at),
            ("b-taken", at),
            ("c-other-account", at),
            ("h-too-old", old),
        ]
        .into_iter()
        .map(|(id, time)| (id.to_owned(), time))
        .collect();
        for _ in 0..2 {
            let batch = stored_before.clone();
            stores
                .import_into(&arn, now, || Ok::<_, String>(((), batch)))
                .unwrap();
            assert_eq!(
                held(&stores),
                [
                    "b-taken",
                    "c-other-account",
                    "e-other-region",
                    "f-while-stopped",
                    "g-after-restart"
                ]
            );
        }
        assert_eq!(stores.edit(now).unwrap().items[0].added.len(), 1);
        drop(stores);
        Arc::try_unwrap(cairn).unwrap().close();
    }

    #[test]
    fn names_follow_aws_rules() {
        for good in ["abc", "my-store.2_x", &"x".repeat(128)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "has space", "slash/no", &"x".repeat(129)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
