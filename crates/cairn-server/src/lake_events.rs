//! An event data store's events as a Lake table's source: the store's field scans over each
//! of its ingestion windows, within the store's retention (the scans' times, which the store
//! keeps to), kept to the events the store holds (its account and region, its selectors;
//! everything of an imported window), decided member by member, then the events added to it by ID (an import's events that were stored
//! already), wherever they are stored (a test in `event_data_stores.rs` checks it against the same rule applied
//! to whole records).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch, StringViewArray};
use cairn_lake::table::prefilter::Condition;
use cairn_lake::table::{EventSource, ScanRequest};
use cairn_store::segment::scan::ACCOUNT_COLUMN;
use cairn_store::{FieldScan, Snapshot, Store, StoreError, ValueSet, Wanted};
use serde_json::value::RawValue;

use crate::event_data_stores::{AddedEvents, EventDataStore, IngestionWindow};
use crate::selectors::{EventView, Selectors};

/// What a query read: events and their bytes (Lake's `EventsScanned`, `BytesScanned`).
#[derive(Debug, Default)]
pub struct ScanCounters {
    pub events: AtomicU64,
    pub bytes: AtomicU64,
}

/// Row `row` of a text column.
fn value(column: &StringViewArray, row: usize) -> Option<&str> {
    column.is_valid(row).then(|| column.value(row))
}

/// One event data store's events at one moment.
pub struct EventDataStoreEvents {
    pub store: Arc<Store>,
    /// The store's events as the query found them: every scan of the query reads these.
    pub snapshot: Snapshot,
    pub eds: EventDataStore,
    /// Now, in seconds since the epoch: retention counts back from it.
    pub now: f64,
    pub counters: Arc<ScanCounters>,
    /// Asked before each batch is handed on: a reason to stop reading (the query was
    /// cancelled, or ran out of time), or `None` to go on.
    pub interrupt: Option<Interrupt>,
    /// The IDs of the store's added events, read once for all of a query's scans.
    pub added_ids: OnceLock<Result<Vec<Arc<ValueSet>>, String>>,
}

/// Why a query must stop now, if it must; see [`EventDataStoreEvents::interrupt`].
pub type Interrupt = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl std::fmt::Debug for EventDataStoreEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventDataStoreEvents")
            .field("eds", &self.eds.id)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl EventDataStoreEvents {
    fn oldest_ms(&self) -> i64 {
        (self.now * 1000.0) as i64 - i64::from(self.eds.retention_period) * 86_400_000
    }

    /// Which rows of `batch` (a scan of `rule`'s window, of the times the store keeps: the
    /// store's scans take out the others) the store holds; `None` for all of them (an
    /// imported window takes everything).
    fn members(
        &self,
        batch: &RecordBatch,
        rule: &WindowRule,
    ) -> Result<Option<BooleanArray>, String> {
        if rule.window.imported {
            return Ok(None);
        }
        let text = |path: &str| -> Result<&StringViewArray, String> {
            batch
                .column_by_name(path)
                .and_then(|c| c.as_string_view_opt())
                .ok_or_else(|| format!("a scan without {path}"))
        };
        let accounts = text(ACCOUNT_COLUMN)?;
        let regions = text(REGION_PATH)?;
        let members: Vec<(&str, &StringViewArray)> = rule
            .member_paths
            .iter()
            .map(|p| Ok((p.as_str(), text(p)?)))
            .collect::<Result<_, String>>()?;
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let in_scope = value(accounts, row) == Some(self.eds.account_id.as_str())
                && (rule.window.multi_region
                    || value(regions, row) == Some(self.eds.home_region.as_str()));
            if !in_scope {
                out.push(in_scope);
                continue;
            }
            let member = |path: &str| {
                let column = members.iter().find(|(p, _)| *p == path)?.1;
                value(column, row)
            };
            let resources = match member("resources").filter(|_| rule.resources_selected) {
                Some(text) => {
                    cairn_model::resources::recorded(serde_json::from_str::<&RawValue>(text).ok())
                }
                None => Vec::new(),
            };
            let others = rule
                .others
                .iter()
                .map(|p| (p.as_str(), member(p)))
                .collect();
            let view = EventView::of_members(&member, &resources, others);
            out.push(rule.selectors.matches(&view));
        }
        Ok(Some(BooleanArray::from(out)))
    }
}

/// The member holding an event's region.
const REGION_PATH: &str = "awsRegion";

/// What deciding membership in one window reads, worked out once per scan of it.
struct WindowRule<'w> {
    window: &'w IngestionWindow,
    selectors: Selectors,
    /// The members the selectors read (none for an imported window, which takes everything).
    member_paths: Vec<String>,
    /// Those of them that are fields an event view does not derive.
    others: Vec<String>,
    resources_selected: bool,
}

impl<'w> WindowRule<'w> {
    fn of(window: &'w IngestionWindow) -> WindowRule<'w> {
        let selectors = Selectors::Advanced(window.selectors.clone());
        let member_paths = if window.imported {
            Vec::new()
        } else {
            selectors.member_paths()
        };
        WindowRule {
            window,
            others: member_paths
                .iter()
                .skip(Selectors::VIEW_PATHS.len())
                .cloned()
                .collect(),
            resources_selected: selectors.selects_resources(),
            member_paths,
            selectors,
        }
    }
}

/// The store's field scans take out every row failing a condition, as Lake's sources must
/// (they check a member's text; Lake's conditions are on text members, never on the text of
/// `eventTime`, the one member whose holes a scan leaves to the filters that follow).
impl EventSource for EventDataStoreEvents {
    fn scan(
        &self,
        request: &ScanRequest,
        f: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let conditions = request
            .conditions
            .iter()
            .map(|c| match c {
                Condition::Equals(path, value) => (path.clone(), Wanted::Value(value.clone())),
                Condition::NotNull(path) => (path.clone(), Wanted::Present),
            })
            .collect();
        let scan = FieldScan {
            paths: request.paths.clone(),
            record_text: request.record_text,
            min_time_ms: request.min_time_ms,
            max_time_ms: request.max_time_ms,
            conditions,
            part: request.part,
            without_time: !request.times,
            without_account: true,
        };
        self.scan_members(&scan, f)
    }
}

/// The member holding an event's ID.
const EVENT_ID_PATH: &str = "eventID";

/// What decides whether an added event is the store's: as for an imported window, retention
/// alone (the ID set chose it).
static ADDED: IngestionWindow = IngestionWindow {
    from: 0,
    to: None,
    selectors: Vec::new(),
    multi_region: true,
    imported: true,
};

impl EventDataStoreEvents {
    /// Which of `ids` are the event IDs of events the store holds.
    pub fn held_event_ids(&self, ids: HashSet<String>) -> Result<HashSet<String>, String> {
        let scan = FieldScan {
            paths: vec![EVENT_ID_PATH.to_owned()],
            conditions: vec![(
                EVENT_ID_PATH.to_owned(),
                Wanted::OneOf(Arc::new(ValueSet::new(ids))),
            )],
            without_time: true,
            without_account: true,
            ..FieldScan::default()
        };
        let mut held = HashSet::new();
        self.scan_members(&scan, &mut |batch| {
            let column = batch
                .column_by_name(EVENT_ID_PATH)
                .and_then(|c| c.as_string_view_opt())
                .ok_or("a scan without eventID")?;
            held.extend(column.iter().flatten().map(str::to_owned));
            Ok(())
        })?;
        Ok(held)
    }

    /// `scan` (its members, times and conditions) of the events the store holds: each window's
    /// log files, kept to what the window took, then each batch of added events, wherever
    /// they are stored.
    fn scan_members(
        &self,
        scan: &FieldScan,
        f: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
    ) -> Result<(), String> {
        let oldest_ms = self.oldest_ms();
        let min_time_ms = Some(scan.min_time_ms.map_or(oldest_ms, |m| m.max(oldest_ms)));
        for window in &self.eds.windows {
            let rule = WindowRule::of(window);
            let mut paths = scan.paths.clone();
            let region = (!window.imported).then(|| REGION_PATH.to_owned());
            for path in rule.member_paths.iter().chain(region.as_ref()) {
                if !paths.contains(path) {
                    paths.push(path.clone());
                }
            }
            let window_scan = FieldScan {
                paths,
                min_time_ms,
                // The selectors' rule reads the account (an imported window's, nothing).
                without_account: window.imported,
                ..scan.clone()
            };
            self.scan_taking(&rule, f, |each| {
                self.snapshot
                    .scan_log_files(window.from, window.to, &window_scan, each)
            })?;
        }
        let rule = WindowRule::of(&ADDED);
        let added_ids = self
            .added_ids
            .get_or_init(|| {
                let read = |a: &AddedEvents| Ok(Arc::new(ValueSet::new(a.read(&self.store)?)));
                self.eds.added.iter().map(read).collect()
            })
            .as_ref()
            .map_err(|e: &String| e.clone())?;
        for (added, ids) in self.eds.added.iter().zip(added_ids) {
            let mut paths = scan.paths.clone();
            if !paths.iter().any(|p| p == EVENT_ID_PATH) {
                paths.push(EVENT_ID_PATH.to_owned());
            }
            let mut conditions = scan.conditions.clone();
            conditions.push((EVENT_ID_PATH.to_owned(), Wanted::OneOf(ids.clone())));
            let added_scan = FieldScan {
                paths,
                min_time_ms: min_time_ms.map(|m| m.max(added.min_time_ms)),
                max_time_ms: Some(
                    scan.max_time_ms
                        .map_or(added.max_time_ms, |m| m.min(added.max_time_ms)),
                ),
                conditions,
                ..scan.clone()
            };
            self.scan_taking(&rule, f, |each| self.snapshot.scan_all(&added_scan, each))?;
        }
        Ok(())
    }

    /// Runs `scan` (one of the store's scans), handing `f` the rows of each batch `rule`
    /// takes, and counting them.
    fn scan_taking(
        &self,
        rule: &WindowRule,
        f: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
        scan: impl FnOnce(
            &mut dyn FnMut(RecordBatch) -> cairn_store::Result<()>,
        ) -> cairn_store::Result<()>,
    ) -> Result<(), String> {
        let mut failure = None;
        let scanned = scan(&mut |batch| {
            let interrupted = self.interrupt.as_ref().and_then(|stop| stop());
            let taken = interrupted
                .map_or(Ok(()), Err)
                .and_then(|()| self.members(&batch, rule))
                .and_then(|mask| match mask {
                    Some(mask) if mask.true_count() < batch.num_rows() => {
                        arrow_select::filter::filter_record_batch(&batch, &mask)
                            .map_err(|e| e.to_string())
                    }
                    _ => Ok(batch),
                })
                .and_then(|taken| {
                    self.counters
                        .events
                        .fetch_add(taken.num_rows() as u64, Ordering::Relaxed);
                    self.counters
                        .bytes
                        .fetch_add(taken.get_array_memory_size() as u64, Ordering::Relaxed);
                    f(taken)
                });
            taken.map_err(|e| {
                failure = Some(e);
                StoreError::Failed("the query stopped reading".to_owned())
            })
        });
        if let Some(failure) = failure {
            return Err(failure);
        }
        scanned.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stores_scans_name_their_columns_as_lake_tables_read_them() {
        use cairn_lake::table::columns;
        use cairn_store::segment::scan;
        assert_eq!(scan::TIME_COLUMN, columns::TIME_MEMBER);
        assert_eq!(scan::RECORD_COLUMN, columns::RECORD_MEMBER);
    }

    #[test]
    fn an_interrupted_scan_stops_at_its_next_batch_and_says_why() {
        use super::*;
        use crate::actions::event_data_stores as ops;
        use crate::event_data_stores::EventDataStores;
        use crate::trails::Scope;
        use cairn_model::Record;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
        let stores = EventDataStores::load(store.clone()).unwrap();
        let scope = Scope {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
        };
        let now = cairn_model::time::now_secs();
        ops::create(
            &stores,
            &scope,
            serde_json::from_str(r#"{"Name":"lake"}"#).unwrap(),
            now,
        )
        .unwrap();
        let time = cairn_model::time::format_event_time(cairn_model::time::now_ms());
        let records: Vec<Record> = (0..20_000)
            .map(|i| {
                Record::parse(&format!(
                    r#"{{"eventVersion":"1.09","eventTime":"{time}","eventID":"e-{i}","eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111111111111"}}"#
                ))
                .unwrap()
            })
            .collect();
        store.append(records).unwrap();
        let asked = Arc::new(AtomicU64::new(0));
        let counted = asked.clone();
        let source = EventDataStoreEvents {
            store: store.clone(),
            snapshot: store.snapshot().unwrap(),
            eds: stores.edit(now).unwrap().items[0].clone(),
            now,
            counters: Arc::default(),
            interrupt: Some(Arc::new(move || {
                (counted.fetch_add(1, Ordering::Relaxed) >= 1).then(|| "enough".to_owned())
            })),
            added_ids: OnceLock::new(),
        };
        let request = cairn_lake::table::ScanRequest {
            paths: vec!["eventID".into()],
            ..Default::default()
        };
        let mut batches = 0;
        let outcome = cairn_lake::table::EventSource::scan(&source, &request, &mut |_| {
            batches += 1;
            Ok(())
        });
        assert_eq!(outcome, Err("enough".to_owned()));
        assert_eq!((batches, asked.load(Ordering::Relaxed)), (1, 2));
    }
}
